"""RQ's record of each job in fewer round trips to Redis, for ``payments.worker.JobWorker``.

RQ 2.x (pinned in requirements.txt) spends 18 round trips and 52 commands of bookkeeping on a job that does
nothing: it writes the worker's state and heartbeat before and after every dequeue and job, one command at a time,
records the job's start in two pipelines, its end in a command of its own, and watches the job's dependents key
before recording its success. At a hundred refunds a second that is most of what a worker spends around a job.

The same records, written in 5 round trips per job (36 commands):

1. the dequeue (``BLPOP``/``LPOP``, or ``LMOVE`` on one queue) and
2. the job's hash, as RQ does;
3. the start: the execution, the started registry, the worker busy with its heartbeat, the job started, in one
   transaction (RQ's two pipelines, ``prepare_execution`` and ``prepare_job_execution``, merged);
4. ``PERSIST`` of the job's key, which RQ's ``Job.perform`` sends itself;
5. the success: result, finished registry, counters, execution removed, worker idle with its heartbeat, in one
   transaction, with no ``WATCH`` of the dependents key: the shop never enqueues a job that depends on another
   (``tests/payments/test_worker_bookkeeping.py`` checks it), so there are no dependents to enqueue.

What is left out is only what repeats a record already made: a state already written (``idle`` after ``idle``), a
heartbeat written less than ``HEARTBEAT_FRESH`` ago (the worker's key lives ``worker_ttl`` + 60 s, minutes), the
job's end time (the success transaction saves the job's whole hash anyway), and the suspension flag read more than
once per ``SUSPENSION_CHECK_EVERY``. A failed job, a retry and a stop take RQ's own paths unchanged.

What protects a job is kept as it was: it is in the started registry, with its execution and their TTLs, before
it runs, and leaves it in the same transaction that records its result; a worker that dies mid-job leaves it
there for RQ to fail once the TTL passes (and the sweeps hand its refund out again from the database).
"""

from __future__ import annotations

import time
from typing import Any

from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.utils import now
from rq.worker import SimpleWorker
from rq.worker.base import WorkerStatus

HEARTBEAT_FRESH = 5.0  # seconds: a heartbeat younger than this is not written again
SUSPENSION_CHECK_EVERY = 1.0  # seconds: how late a worker may notice `rq suspend`


class LeanBookkeeping(SimpleWorker):
    """RQ's ``SimpleWorker`` with its per-job records in 5 round trips instead of 18."""

    _suspension_checked = float("-inf")
    _heartbeat_sent = float("-inf")

    # --- what repeats a record already made --------------------------------------------------------------

    def check_for_suspension(self, burst: bool) -> None:
        moment = time.monotonic()
        if moment - self._suspension_checked < SUSPENSION_CHECK_EVERY:
            return
        super().check_for_suspension(burst)
        self._suspension_checked = time.monotonic()

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is None and state == self._state:
            return  # written already (with the job's success, or by the last change)
        super().set_state(state, pipeline)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """The worker's heartbeat: hash field and expiry in one round trip, and not again within
        ``HEARTBEAT_FRESH`` of the last one unless a longer timeout is asked for."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            self._heartbeat_sent = time.monotonic()
            return
        if timeout is None and time.monotonic() - self._heartbeat_sent < HEARTBEAT_FRESH:
            return
        with self.connection.pipeline(transaction=False) as own:
            super().heartbeat(timeout, own)
            own.execute()
        self._heartbeat_sent = time.monotonic()

    # --- a job's start: one transaction ------------------------------------------------------------------

    def prepare_execution(self, job: Job) -> Execution:
        """Recorded with the job's start in ``prepare_job_execution`` (one transaction instead of two)."""
        return None  # type: ignore[return-value]  # SimpleWorker.execute_job does not use it

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        heartbeat_ttl = self.get_heartbeat_ttl(job)
        with self.connection.pipeline() as pipeline:
            # RQ's prepare_execution: the execution and the started registry, the worker busy.
            self.execution = Execution.create(job, heartbeat_ttl, pipeline=pipeline, worker_name=self.name)
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            # RQ's prepare_job_execution: the worker's current job and heartbeat, the job started.
            self.set_current_job_id(job.id, pipeline=pipeline)
            self.set_current_job_working_time(0, pipeline=pipeline)
            self.heartbeat(heartbeat_ttl, pipeline=pipeline)
            job.heartbeat(now(), heartbeat_ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)
            if remove_from_intermediate_queue:
                pipeline.lrem(Queue(job.origin, connection=self.connection).intermediate_queue_key, 1, job.id)
            pipeline.execute()
        title = f"Processing {job.func_name} from {job.origin} since {time.time()}"
        self.procline(title)  # type: ignore[no-untyped-call]

    # --- a job's end -------------------------------------------------------------------------------------

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        if job.get_status(refresh=False) == "failed":
            super().handle_execution_ended(job, queue, heartbeat_ttl)  # RQ's failure path, unchanged
            return
        job.ended_at = now()
        job.last_heartbeat = job.ended_at  # saved with the job's hash by the success transaction

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry) -> None:
        """RQ's success transaction without the dependents (none exist), with the worker back to idle."""
        assert job.started_at is not None and job.ended_at is not None
        with self.connection.pipeline() as pipeline:
            self.increment_successful_job_count(pipeline=pipeline)
            self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
            result_ttl = job.get_result_ttl(self.default_result_ttl)
            if result_ttl != 0:
                execution = self.execution
                job._handle_success(
                    result_ttl,
                    pipeline=pipeline,
                    worker_name=self.name,
                    execution_id=execution.id if execution else None,
                    execution_started_at=execution.created_at if execution else None,
                    execution_ended_at=job.ended_at,
                )
            if job.repeats_left is not None and job.repeats_left > 0:
                from rq.repeat import Repeat

                Repeat.schedule(job, queue, pipeline=pipeline)
            else:
                job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            self.cleanup_execution(job, pipeline=pipeline)
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
            self.heartbeat(pipeline=pipeline)
            pipeline.execute()
        self.log.info(
            "Successfully completed job %s in %ss on worker %s", job.id, job.ended_at - job.started_at, self.name
        )
