"""The per-order application lock in Redis: one holder at a time, a wait that ends in ``refund_busy``, and a
holder that overran the lock's expiry finishes its work without an error and without freeing the next
holder's lock."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from refunds.exceptions import RefundBusy
from refunds.locks import order_lock

pytestmark = pytest.mark.services
KEY = "mall:lock:refund-order:OL424242"


@pytest.fixture
def redis() -> Any:
    from django_redis import get_redis_connection

    connection = get_redis_connection("default")
    connection.delete(KEY)
    yield connection
    connection.delete(KEY)


def test_the_lock_is_held_inside_and_freed_after(redis: Any) -> None:
    with order_lock("OL424242"):
        assert redis.exists(KEY) == 1
        assert 0 < redis.pttl(KEY) <= 15_000
    assert redis.exists(KEY) == 0


def test_a_second_holder_waits_then_is_told_busy(redis: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("refunds.locks.LOCK_WAIT_SECONDS", 0.2)
    redis.set(KEY, "another holder", px=10_000)
    with pytest.raises(RefundBusy), order_lock("OL424242"):
        pytest.fail("entered a lock somebody else holds")
    assert redis.get(KEY) == b"another holder"


def test_a_holder_that_overran_the_expiry_finishes_without_error(redis: Any, caplog: Any, monkeypatch: Any) -> None:
    from redis.lock import Lock

    # The race a check-then-release would lose: the lock still looks ours when checked, and is gone by the release.
    monkeypatch.setattr(Lock, "owned", lambda self: True)
    done = []
    with caplog.at_level(logging.WARNING, logger="refunds.locks"), order_lock("OL424242"):
        redis.set(KEY, "the next holder", px=10_000)  # ours expired; somebody else took the order
        done.append("work")
    assert done == ["work"]
    assert redis.get(KEY) == b"the next holder"  # not freed by the late holder
    assert [r.getMessage() for r in caplog.records] == [
        "refund lock of order OL424242 expired before its holder finished"
    ]
