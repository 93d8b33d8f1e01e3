"""Gray release of a refund policy: stable buckets of customers.

A customer's bucket (0..99) is the SHA-256 of the policy's salt and the customer id, so it never changes
between runs, processes or machines, and a new policy (a new salt) draws its own sample of customers. A policy
is on for the buckets below the rollout percentage: raising the percentage only adds customers to it, and
setting it back to 0 switches it off for everyone.
"""

from __future__ import annotations

import hashlib

from django.conf import settings

REFUND_POLICY_V2 = "refund-policy-v2"
BUCKETS = 100


def rollout_bucket(customer_id: int, *, salt: str = REFUND_POLICY_V2) -> int:
    """The customer's bucket for the policy named by ``salt``, 0..99."""
    digest = hashlib.sha256(f"{salt}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def policy_enabled_for(customer_id: int, *, percent: int | None = None, salt: str = REFUND_POLICY_V2) -> bool:
    """Whether the policy named by ``salt`` applies to the customer. ``percent`` defaults to
    ``REFUND_POLICY_ROLLOUT_PERCENT``, read at each call so that a changed setting takes effect at once."""
    if percent is None:
        percent = settings.REFUND_POLICY_ROLLOUT_PERCENT
    if percent <= 0:
        return False
    if percent >= BUCKETS:
        return True
    return rollout_bucket(customer_id, salt=salt) < percent
