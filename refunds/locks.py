"""The per-order application lock: Redis serialises applications across processes; the database's row
lock (taken inside the service) holds the line on its own when Redis is not configured, or does not answer.

The lock is named by the order's number, which a customer's application carries: the application takes it
before it reads anything, and finds (and locks) the order itself inside its transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from redis.exceptions import LockNotOwnedError

from mall.outage import REDIS_DOWN
from refunds.exceptions import RefundBusy

logger = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 15  # a crashed holder frees the lock after this
LOCK_WAIT_SECONDS = 5


@contextmanager
def order_lock(order_no: str) -> Iterator[None]:
    if not settings.REDIS_URL:
        yield
        return
    from django_redis import get_redis_connection

    lock = get_redis_connection("default").lock(
        f"mall:lock:refund-order:{order_no}", timeout=LOCK_TIMEOUT_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS
    )
    try:
        acquired: bool | None = lock.acquire()
    except REDIS_DOWN as error:
        logger.warning(
            "Redis unreachable (%s); the application on order %s relies on the database row lock alone",
            type(error).__name__,
            order_no,
        )
        acquired = None
    if acquired is None:
        # Without Redis the application goes on under the order's row lock alone, as with no Redis configured:
        # the database refuses any claim above what was paid either way.
        yield
        return
    if not acquired:
        raise RefundBusy()
    try:
        yield
    finally:
        try:
            lock.release()  # one round trip: a script that deletes the key only if it still holds our token
        except LockNotOwnedError:
            # The holder overran the lock's expiry (and someone may hold it now); the row lock still protected
            # the data, and the work done stands.
            logger.warning("refund lock of order %s expired before its holder finished", order_no)
        except REDIS_DOWN as error:
            logger.warning(
                "Redis unreachable (%s) releasing the refund lock of order %s; it expires within %d s",
                type(error).__name__,
                order_no,
                LOCK_TIMEOUT_SECONDS,
            )
