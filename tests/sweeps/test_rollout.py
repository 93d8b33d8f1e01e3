"""Gray release: stable buckets on the customer id, near the configured percentage, growing monotonically."""

from __future__ import annotations

from typing import Any

import pytest

from refunds.rollout import REFUND_POLICY_V2, policy_enabled_for, rollout_bucket

IDS = range(1, 10_001)
# sha256("refund-policy-v2:<id>"), first 8 bytes big-endian, modulo 100.
PINNED = [90, 79, 59, 85, 88]


def test_buckets_are_stable_and_pinned() -> None:
    # Pinned values: changing the hashing would silently move customers between policies.
    ids = (1, 2, 3, 1000, 123456789)
    assert [rollout_bucket(n) for n in ids] == PINNED
    assert [rollout_bucket(n, salt=REFUND_POLICY_V2) for n in ids] == PINNED
    assert [policy_enabled_for(n, percent=80) for n in ids] == [False, True, True, False, False]
    assert all(0 <= rollout_bucket(n) < 100 for n in IDS)


@pytest.mark.parametrize("percent", [1, 10, 25, 50, 90])
def test_share_is_near_the_percentage(percent: int) -> None:
    enabled = sum(policy_enabled_for(n, percent=percent) for n in IDS)
    assert abs(enabled - percent * 100) <= 150  # within ±1.5% of 10,000 customers


def test_raising_the_percentage_only_adds_customers() -> None:
    at_10 = {n for n in IDS if policy_enabled_for(n, percent=10)}
    at_25 = {n for n in IDS if policy_enabled_for(n, percent=25)}
    assert at_10 < at_25


def test_none_and_everyone() -> None:
    assert not any(policy_enabled_for(n, percent=0) for n in IDS)
    assert all(policy_enabled_for(n, percent=100) for n in IDS)


def test_another_policy_draws_another_sample() -> None:
    ours = {n for n in IDS if policy_enabled_for(n, percent=10)}
    other = {n for n in IDS if policy_enabled_for(n, percent=10, salt="refund-policy-v3")}
    assert len(ours & other) < 200  # independent samples overlap by about 1%


def test_the_percentage_comes_from_settings_at_each_call(settings: Any) -> None:
    customer = next(n for n in IDS if rollout_bucket(n) == 7)
    settings.REFUND_POLICY_ROLLOUT_PERCENT = 7
    assert not policy_enabled_for(customer)
    settings.REFUND_POLICY_ROLLOUT_PERCENT = 8
    assert policy_enabled_for(customer)
