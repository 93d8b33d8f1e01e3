"""Background job dispatch, shared by every app.

Services schedule side effects with ``job_enqueue`` inside their transaction; the job is handed to RQ only
after the transaction commits. Without ``REDIS_URL`` the job runs in this process right after the commit,
so the embedded default needs no worker. A job that could not be handed over (Redis down at commit time)
is not lost: every piece of work is also visible in the database, and the re-dispatch sweeps pick it up.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.functional import Promise
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# Retry delays (seconds) for temporary errors; the number of entries is the number of retries.
DEFAULT_RETRY_INTERVALS = (10, 30, 60)


@functools.lru_cache(maxsize=32)
def _queue(name: str, url: str) -> Any:
    """One queue object (and connection pool) per queue and Redis URL for the life of the process."""
    import django_rq

    return django_rq.get_queue(name)


def _dispatch(
    func: Callable[..., Any] | str, args: tuple[Any, ...], queue: str, retry_intervals: tuple[int, ...]
) -> None:
    # A dotted path (late binding) lets an app schedule work owned by an app that depends on it.
    if settings.JOBS_IN_PROCESS:
        try:
            (import_string(func) if isinstance(func, str) else func)(*args)
        except Exception:
            # In-process jobs have no worker to retry them: the sweeps find the work again from the database.
            logger.exception("in-process job %s%r failed", getattr(func, "__name__", func), args)
        return
    from rq import Retry

    try:
        retry = Retry(max=len(retry_intervals), interval=list(retry_intervals)) if retry_intervals else None
        _queue(queue, settings.RQ_QUEUES[queue]["URL"]).enqueue(func, *args, retry=retry)
    except Exception:
        logger.exception("could not enqueue %s%r on %s; the re-dispatch sweep will pick it up", func, args, queue)


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
