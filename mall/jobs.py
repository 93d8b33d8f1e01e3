"""Background job dispatch, shared by every app.

Services schedule side effects with ``job_enqueue`` inside their transaction; the job is handed to RQ only
after the transaction commits. Without ``REDIS_URL`` the job runs in this process right after the commit,
so the embedded default needs no worker. A job that could not be handed over (Redis down at commit time)
is not lost: every piece of work is also visible in the database, and the re-dispatch sweeps pick it up.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.functional import Promise
from django.utils.module_loading import import_string

from mall.logging import job_log_scope, job_meta

logger = logging.getLogger(__name__)

# Retry delays (seconds) for temporary errors; the number of entries is the number of retries.
DEFAULT_RETRY_INTERVALS = (10, 30, 60)
ENQUEUE_CHUNK = 500  # jobs per Redis pipeline, and per fan-out job
FAN_OUT_ABOVE = 50  # job_enqueue_many hands more jobs than this to fan-out jobs


@functools.lru_cache(maxsize=32)
def _queue(name: str, url: str) -> Any:
    """One queue object (and connection pool) per queue and Redis URL for the life of the process."""
    import django_rq

    return django_rq.get_queue(name)


def _retry(intervals: tuple[int, ...]) -> Any:
    from rq import Retry

    return Retry(max=len(intervals), interval=list(intervals)) if intervals else None


def _dispatch(
    func: Callable[..., Any] | str, args: tuple[Any, ...], queue: str, retry_intervals: tuple[int, ...]
) -> None:
    # A dotted path (late binding) lets an app schedule work owned by an app that depends on it.
    if settings.JOBS_IN_PROCESS:
        # Its lines keep the request id of the request that scheduled it, as a job on a worker would.
        with job_log_scope(func=_job_name(func), queue=queue) as outcome:
            try:
                (import_string(func) if isinstance(func, str) else func)(*args)
            except Exception:
                # In-process jobs have no worker to retry them: the sweeps find the work again from the database.
                outcome.status = "failed"
                logger.exception("in-process job %s%r failed", getattr(func, "__name__", func), args)
        return
    try:
        _queue(queue, settings.RQ_QUEUES[queue]["URL"]).enqueue(
            func, *args, retry=_retry(retry_intervals), meta=job_meta()
        )
    except Exception as error:  # noqa: BLE001 - logged (a bug with its traceback); the sweeps redo the work
        _log_not_enqueued(error, "%s%r on %s", _job_name(func), args, queue, them="it")


def _log_not_enqueued(error: Exception, what: str, *what_args: Any, them: str) -> None:
    """Work not handed to RQ is not lost (the re-dispatch sweeps find it in the database). Redis away is an
    outage, said in one line without a traceback (one per job during an outage); anything else is a bug."""
    from mall.outage import unavailable_dependency

    if unavailable_dependency(error) == "redis":
        logger.warning(
            f"could not enqueue {what}: Redis unavailable (%s); the re-dispatch sweep will pick {them} up",
            *what_args,
            type(error).__name__,
        )
    else:
        logger.exception(f"could not enqueue {what}; the re-dispatch sweep will pick {them} up", *what_args)


def _job_name(func: Callable[..., Any] | str) -> str:
    return func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"


def _enqueue_many(
    func: Callable[..., Any] | str, arg_lists: Sequence[tuple[Any, ...]], queue: str, retry_intervals: tuple[int, ...]
) -> None:
    """Hand ``func(*args)`` for each of ``arg_lists`` to RQ, one pipeline per ``ENQUEUE_CHUNK`` jobs."""
    from rq import Queue

    rq_queue = _queue(queue, settings.RQ_QUEUES[queue]["URL"])
    target: Any = func  # a callable or its dotted path; RQ takes both
    retry = _retry(retry_intervals)
    meta = job_meta()
    for start in range(0, len(arg_lists), ENQUEUE_CHUNK):
        chunk = arg_lists[start : start + ENQUEUE_CHUNK]
        rq_queue.enqueue_many([Queue.prepare_data(target, args, retry=retry, meta=meta) for args in chunk])


def jobs_fan_out(func: str, arg_lists: list[tuple[Any, ...]], queue: str, retry_intervals: tuple[int, ...]) -> int:
    """The job that hands a chunk of jobs to RQ on a worker (``job_enqueue_many``); returns how many."""
    _enqueue_many(func, arg_lists, queue, retry_intervals)
    return len(arg_lists)


def _dispatch_many(
    func: Callable[..., Any] | str, arg_lists: list[tuple[Any, ...]], queue: str, retry_intervals: tuple[int, ...]
) -> None:
    if settings.JOBS_IN_PROCESS:
        for args in arg_lists:
            _dispatch(func, args, queue, retry_intervals)
        return
    try:
        if len(arg_lists) <= FAN_OUT_ABOVE:
            _enqueue_many(func, arg_lists, queue, retry_intervals)
        else:
            chunks = [
                (_job_name(func), arg_lists[start : start + ENQUEUE_CHUNK], queue, retry_intervals)
                for start in range(0, len(arg_lists), ENQUEUE_CHUNK)
            ]
            # No retries of the fan-out itself: one that failed half way is the re-dispatch sweeps' to repair.
            _enqueue_many(jobs_fan_out, chunks, queue, ())
    except Exception as error:  # noqa: BLE001 - logged (a bug with its traceback); the sweeps redo the work
        _log_not_enqueued(error, "%d jobs %s on %s", len(arg_lists), _job_name(func), queue, them="them")


def job_enqueue_many(
    func: Callable[..., Any] | str,
    arg_lists: Sequence[tuple[Any, ...]],
    *,
    queue: str = "default",
    retry_intervals: tuple[int, ...] = DEFAULT_RETRY_INTERVALS,
) -> None:
    """``job_enqueue`` for many calls of one function, handed to RQ after commit.

    Up to ``FAN_OUT_ABOVE`` jobs go to RQ at once, in one pipeline. More go as fan-out jobs of
    ``ENQUEUE_CHUNK`` each, on the same queue, which hand the individual jobs to RQ from a worker: a sweep that
    approves a large backlog commits in a few statements and does not spend its time creating jobs (about
    0.3 ms each in RQ). Each individual job keeps its own retries.
    """
    if not arg_lists:
        return
    calls = [tuple(args) for args in arg_lists]
    transaction.on_commit(lambda: _dispatch_many(func, calls, queue, retry_intervals), robust=True)


def job_enqueue(
    func: Callable[..., Any] | str,
    *args: Any,
    queue: str = "default",
    retry_intervals: tuple[int, ...] = DEFAULT_RETRY_INTERVALS,
) -> None:
    """Run ``func(*args)`` as a background job once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _dispatch(func, args, queue, retry_intervals), robust=True)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: Callable[..., Any]
    description: str | Promise  # shown by `manage.py run_job --list`; a lazy translation where it can be
    queue: str = "default"
    cron: str | None = None  # rq 2.x reads cron strings in UTC
    interval: int | None = None  # seconds
    kwargs: dict[str, Any] = field(default_factory=dict)


PERIODIC_JOBS: list[PeriodicJob] = []


def periodic_job_register(job: PeriodicJob) -> PeriodicJob:
    if any(existing.name == job.name for existing in PERIODIC_JOBS):
        raise ValueError(f"periodic job {job.name!r} registered twice")
    PERIODIC_JOBS.append(job)
    return job
