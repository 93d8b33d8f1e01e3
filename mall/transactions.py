"""Run a whole transaction again when it lost a lock conflict.

Every service takes its row locks in one order (the order row, then the refund, then the rows that hang off
them), so two of them never wait on each other in a circle. InnoDB can still choose a victim now and then (a
foreign key check, a unique index, a statement outside that order), and its answer to the victim, error 1213,
means the transaction was rolled back entirely: the one correct reaction is to run it again from the start. A
lock wait timeout (1205) only ends the statement that waited; rolling back and rerunning the whole block is
safe too, but it makes a caller that already waited wait again, so a service opts in.

Only the outermost transaction can be rerun: inside a caller's transaction the block runs once, and the error
goes to whoever owns that transaction. The block must hold no side effect outside the database (a channel call
goes before it; jobs and messages are scheduled with ``transaction.on_commit``, which a rollback discards).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar, overload

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from prometheus_client import Counter

DEADLOCK = 1213
LOCK_WAIT_TIMEOUT = 1205
ATTEMPTS = 4  # the first run and three reruns
BACKOFF_SECONDS = 0.05  # the longest pause before the first rerun; doubled before each further one

CONFLICT_NAMES = {DEADLOCK: "deadlock", LOCK_WAIT_TIMEOUT: "lock_wait_timeout"}
TRANSACTION_CONFLICTS = Counter(
    "db_transaction_conflicts_total",
    "Transactions that lost a lock conflict, by error and by what followed (retried, gave_up).",
    ["error", "outcome"],
)

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def conflict_code(error: BaseException, *, lock_wait_timeout: bool = False) -> int | None:
    """The MySQL error code of ``error`` if rerunning its transaction is the remedy, else None."""
    if not isinstance(error, OperationalError) or not error.args:
        return None
    code = error.args[0]
    if code == DEADLOCK or (lock_wait_timeout and code == LOCK_WAIT_TIMEOUT):
        return int(code)
    return None


@overload
def atomic_with_retry(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def atomic_with_retry(
    *, attempts: int = ATTEMPTS, lock_wait_timeout: bool = False, using: str = DEFAULT_DB_ALIAS
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def atomic_with_retry(
    func: Callable[P, R] | None = None,
    /,
    *,
    attempts: int = ATTEMPTS,
    lock_wait_timeout: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function in ``transaction.atomic``; rerun it (up to ``attempts`` runs in all, after a
    short random pause) when it lost a deadlock, or a lock wait timeout with ``lock_wait_timeout``. Each run
    starts afresh, so the function reads everything it decides on inside the transaction."""

    def decorate(body: Callable[P, R]) -> Callable[P, R]:
        name = getattr(body, "__qualname__", repr(body))

        @functools.wraps(body)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if connections[using].in_atomic_block:
                with transaction.atomic(using=using):
                    return body(*args, **kwargs)
            attempt = 1
            while True:
                try:
                    with transaction.atomic(using=using):
                        return body(*args, **kwargs)
                except OperationalError as error:
                    code = conflict_code(error, lock_wait_timeout=lock_wait_timeout)
                    if code is None:
                        raise
                    if attempt >= attempts:
                        TRANSACTION_CONFLICTS.labels(CONFLICT_NAMES[code], "gave_up").inc()
                        logger.error(
                            "%s lost a %s on each of %d runs; giving up",
                            name,
                            CONFLICT_NAMES[code],
                            attempts,
                            extra={"db_error_code": code, "transaction": name, "attempt": attempt},
                        )
                        raise
                    TRANSACTION_CONFLICTS.labels(CONFLICT_NAMES[code], "retried").inc()
                    logger.warning(
                        "%s lost a %s (run %d of %d); running it again",
                        name,
                        CONFLICT_NAMES[code],
                        attempt,
                        attempts,
                        extra={"db_error_code": code, "transaction": name, "attempt": attempt},
                    )
                    # Full jitter: the transactions that collided do not meet again at the same moment.
                    time.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** (attempt - 1)))  # noqa: S311
                    attempt += 1

        return run

    if func is not None:
        return decorate(func)
    return decorate


__all__ = ["ATTEMPTS", "DEADLOCK", "LOCK_WAIT_TIMEOUT", "atomic_with_retry", "conflict_code"]
