"""The per-order application lock: Redis serialises applications across processes; the database's row
lock (taken inside the service) holds the line on its own when Redis is not configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from redis.exceptions import LockNotOwnedError

from refunds.exceptions import RefundBusy

logger = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 15  # a crashed holder frees the lock after this
LOCK_WAIT_SECONDS = 5


@contextmanager
def order_lock(order_id: int) -> Iterator[None]:
    if not settings.REDIS_URL:
        yield
        return
    from django_redis import get_redis_connection

    lock = get_redis_connection("default").lock(
        f"mall:lock:refund-order:{order_id}", timeout=LOCK_TIMEOUT_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS
    )
    if not lock.acquire():
        raise RefundBusy()
    try:
        yield
    finally:
        try:
            lock.release()  # one round trip: a script that deletes the key only if it still holds our token
        except LockNotOwnedError:
            # The holder overran the lock's expiry (and someone may hold it now); the row lock still protected
            # the data, and the work done stands.
            logger.warning("refund lock of order %s expired before its holder finished", order_id)
