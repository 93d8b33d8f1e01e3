"""Background job dispatch, shared by every app.

Services schedule side effects with ``job_enqueue`` inside their transaction; the job is handed to RQ only
after the transaction commits, together with the other jobs the transaction scheduled (one pipeline). Without
``REDIS_URL`` the job runs in this process right after the commit, so the embedded default needs no worker. A
job that could not be handed over (Redis down at commit time) is not lost: every piece of work is also visible
in the database, and the re-dispatch sweeps pick it up.
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


def _run_here(func: Callable[..., Any] | str, args: tuple[Any, ...], queue: str) -> None:
    """A job run in this process (``JOBS_IN_PROCESS``), right after the commit that scheduled it."""
    # Its lines keep the request id of the request that scheduled it, as a job on a worker would.
    with job_log_scope(func=_job_name(func), queue=queue) as outcome:
        try:
            (import_string(func) if isinstance(func, str) else func)(*args)
        except Exception:
            # In-process jobs have no worker to retry them: the sweeps find the work again from the database.
            outcome.status = "failed"
            logger.exception("in-process job %s%r failed", getattr(func, "__name__", func), args)


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


@dataclass(frozen=True)
class _Scheduled:
    """What one ``job_enqueue`` (``many=False``, one call) or ``job_enqueue_many`` asked for."""

    func: Callable[..., Any] | str
    calls: list[tuple[Any, ...]]
    queue: str
    retry_intervals: tuple[int, ...]
    many: bool

    def log_not_enqueued(self, error: Exception) -> None:
        if self.many:
            _log_not_enqueued(error, "%d jobs %s on %s", len(self.calls), _job_name(self.func), self.queue, them="them")
        else:
            _log_not_enqueued(error, "%s%r on %s", _job_name(self.func), self.calls[0], self.queue, them="it")

    def job_data(self, meta: dict[str, Any]) -> list[tuple[str, Any]]:
        """(queue, RQ's job data) for each job to hand over: the calls themselves, or, for more than
        ``FAN_OUT_ABOVE``, fan-out jobs of ``ENQUEUE_CHUNK`` calls each."""
        from rq import Queue

        if self.many and len(self.calls) > FAN_OUT_ABOVE:
            name = _job_name(self.func)
            chunks = [self.calls[start : start + ENQUEUE_CHUNK] for start in range(0, len(self.calls), ENQUEUE_CHUNK)]
            # No retries of the fan-out itself: one that failed half way is the re-dispatch sweeps' to repair.
            return [
                (
                    self.queue,
                    Queue.prepare_data(jobs_fan_out, (name, chunk, self.queue, self.retry_intervals), meta=meta),
                )
                for chunk in chunks
            ]
        target: Any = self.func  # a callable or its dotted path; RQ takes both
        retry = _retry(self.retry_intervals)
        return [(self.queue, Queue.prepare_data(target, args, retry=retry, meta=meta)) for args in self.calls]


class _CommitBatch:
    """The jobs a transaction scheduled one after the other, handed to RQ together once it commits: one pipeline
    per ``ENQUEUE_CHUNK`` jobs and Redis server, instead of two round trips per job. Django's ``on_commit`` runs it
    (and drops it, with its jobs, when the savepoint it belongs to rolls back)."""

    def __init__(self) -> None:
        self.scheduled: list[_Scheduled] = []
        self.handed_over = False

    def __call__(self) -> None:
        self.handed_over = True
        _hand_over(self.scheduled)


def _commit_batch() -> _CommitBatch | None:
    """The batch this transaction's next job joins: the last ``on_commit`` callback when it is a batch of the same
    savepoints (so jobs keep their order among other callbacks), else a new one. None outside a transaction."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    savepoints = set(connection.savepoint_ids)
    if connection.run_on_commit:
        last_savepoints, last, _robust = connection.run_on_commit[-1]
        # A batch already handed over stays in the list only under a test's capture of on_commit callbacks, where
        # the transaction never commits: what comes after it is a batch of its own.
        if isinstance(last, _CommitBatch) and last_savepoints == savepoints and not last.handed_over:
            return last
    batch = _CommitBatch()
    transaction.on_commit(batch, robust=True)
    return batch


def _schedule(scheduled: _Scheduled) -> None:
    batch = _commit_batch()
    if batch is None:
        _hand_over([scheduled])  # no transaction: at once, as on_commit would
    else:
        batch.scheduled.append(scheduled)


def _hand_over(scheduled: Sequence[_Scheduled]) -> None:
    """Hand the jobs to RQ (or run them here without Redis). A failed hand-over is logged per scheduling call
    and raises nothing: the re-dispatch sweeps redo the work."""
    if settings.JOBS_IN_PROCESS:
        for item in scheduled:
            for args in item.calls:
                _run_here(item.func, args, item.queue)
        return
    try:
        meta = job_meta()
        by_url: dict[str, list[tuple[int, str, Any]]] = {}
        for index, item in enumerate(scheduled):
            url = str(settings.RQ_QUEUES[item.queue]["URL"])
            by_url.setdefault(url, []).extend((index, queue, data) for queue, data in item.job_data(meta))
    except Exception as error:  # noqa: BLE001 - logged (a bug with its traceback); the sweeps redo the work
        for item in scheduled:
            item.log_not_enqueued(error)
        return
    failed: dict[int, Exception] = {}
    for url, jobs in by_url.items():
        for start in range(0, len(jobs), ENQUEUE_CHUNK):
            chunk = jobs[start : start + ENQUEUE_CHUNK]
            try:
                _enqueue_chunk(url, chunk)
            except Exception as error:  # noqa: BLE001 - logged below, once per scheduling call
                failed.update((index, error) for index, _queue_name, _data in chunk if index not in failed)
    for index, reason in sorted(failed.items()):
        scheduled[index].log_not_enqueued(reason)


def _enqueue_chunk(url: str, chunk: Sequence[tuple[int, str, Any]]) -> None:
    """One pipeline (one round trip) for jobs of any queues on one Redis server, in their order per queue."""
    per_queue: dict[str, list[Any]] = {}
    for _index, queue, data in chunk:
        per_queue.setdefault(queue, []).append(data)
    queues = {name: _queue(name, url) for name in per_queue}
    with next(iter(queues.values())).connection.pipeline() as pipeline:
        for name, datas in per_queue.items():
            queues[name].enqueue_many(datas, pipeline=pipeline)
        pipeline.execute()


def job_enqueue_many(
    func: Callable[..., Any] | str,
    arg_lists: Sequence[tuple[Any, ...]],
    *,
    queue: str = "default",
    retry_intervals: tuple[int, ...] = DEFAULT_RETRY_INTERVALS,
) -> None:
    """``job_enqueue`` for many calls of one function, handed to RQ after commit.

    Up to ``FAN_OUT_ABOVE`` jobs go to RQ at once, with the transaction's other jobs. More go as fan-out jobs of
    ``ENQUEUE_CHUNK`` each, on the same queue, which hand the individual jobs to RQ from a worker: a sweep that
    approves a large backlog commits in a few statements and does not spend its time creating jobs (about
    0.3 ms each in RQ). Each individual job keeps its own retries.
    """
    if not arg_lists:
        return
    calls = [tuple(args) for args in arg_lists]
    _schedule(_Scheduled(func, calls, queue, retry_intervals, many=True))


def job_enqueue(
    func: Callable[..., Any] | str,
    *args: Any,
    queue: str = "default",
    retry_intervals: tuple[int, ...] = DEFAULT_RETRY_INTERVALS,
) -> None:
    """Run ``func(*args)`` as a background job once the current transaction commits (at once outside one).
    The jobs a transaction schedules one after the other reach RQ together, in one round trip."""
    _schedule(_Scheduled(func, [args], queue, retry_intervals, many=False))


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
