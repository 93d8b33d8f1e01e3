"""System checks of the deployment (``manage.py check --deploy``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Info, Tags, Warning, register


@register(Tags.security, deploy=True)
def secret_key_from_environment(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    # The generated key (mall/secret_key.py) keeps one host running; several hosts would each sign with their own.
    if not getattr(settings, "SECRET_KEY_GENERATED", False):
        return []
    return [
        Warning(
            f"DJANGO_SECRET_KEY is not set: this host signs with the key generated into {settings.SECRET_KEY_FILE}.",
            hint="Set DJANGO_SECRET_KEY (the same on every host), e.g. in /etc/fruit-mall/env.",
            id="mall.W001",
        )
    ]


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")


@register(Tags.security, deploy=True)
def public_addresses(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    # The defaults suit one developer's machine; in production customers, channels and the carrier would be sent to
    # an address that only this host can open. Said, not refused: a trial on one machine rightly keeps them.
    found: list[CheckMessage] = []
    if _loopback(settings.SHOP_URL):
        found.append(
            Info(
                f"SHOP_URL is {settings.SHOP_URL}: the links in customers' emails would open this host only.",
                hint="Set SHOP_URL to the shop's public address, e.g. https://mall.example.com.",
                id="mall.I002",
            )
        )
    if not settings.CHANNEL_SIMULATOR_ENABLED:
        for name in ("PAYMENTS_NOTIFY_BASE_URL", "LOGISTICS_NOTIFY_BASE_URL"):
            if _loopback(getattr(settings, name)):
                found.append(
                    Info(
                        f"{name} is {getattr(settings, name)}: the payment channels and the carrier could not "
                        "reach it with their notifications.",
                        hint=f"Set {name} to this site's public address (https).",
                        id="mall.I003",
                    )
                )
    return found
