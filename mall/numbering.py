"""Human-readable business numbers: a prefix, the Asia/Shanghai time, and random digits."""

from __future__ import annotations

import secrets

from django.utils import timezone


def new_number(prefix: str) -> str:
    """E.g. ``R20261124153012123847362`` (time to the millisecond, then six random digits): readable by staff on
    the phone, sortable by time, hard to guess, and a collision needs a million numbers in one millisecond."""
    local = timezone.localtime()
    return f"{prefix}{local:%Y%m%d%H%M%S}{local.microsecond // 1000:03d}{secrets.randbelow(10**6):06d}"
