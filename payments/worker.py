"""The RQ worker class the Procfile runs (``manage.py rqworker --worker-class payments.worker.JobWorker``).

Jobs run in the worker process itself, one after the other, instead of in a work horse forked per job: a fork
costs more CPU than a refund job does (the child starts with no built channel adapters, no warm imports and no
database connection of its own), and every job here is short, trusted code of the shop. What the fork used to
give is kept by other means:

- a job's time limit is still enforced (RQ's timer signal works the same without a fork);
- the database connection is checked before and after every job (``close_old_connections``: a connection
  broken by the server or by a failed job, or older than ``CONN_MAX_AGE``, is dropped and reopened by the next
  query), as Django does around every web request;
- the channel adapters, the job modules and the voucher font are made ready once, when the worker starts.

RQ's record of each job (started, finished, the worker's state and heartbeat) is written in 5 round trips to Redis
instead of 18 (``payments.rq_bookkeeping``): the same records, fewer trips.

A worker that dies mid-job (killed, out of memory) leaves the job in RQ's started registry; RQ fails it once the
worker's heartbeat expires, and the sweeps in ``payments.jobs`` hand its refund out again from the database.

Redis going away does not end the worker (RQ's own loop quits on most Redis errors, and under a Procfile runner
one process ending stops them all). Each step of RQ's loop that talks to Redis (registration, suspension check,
maintenance, heartbeat, state, dequeue) is retried with a capped backoff (``mall.outage.Backoff``: 0.5 s doubling
to 10 s) until Redis answers again, with one warning when the outage starts and one line when it ends. A job that
ran while Redis went away keeps its effects in the database; only RQ's record of its outcome is lost, and the
sweeps hand out again whatever the database shows unfinished. RQ's scheduler process (``--with-scheduler``, which
enqueues retries when their time comes) waits out the outage the same way.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import close_old_connections
from redis import Redis
from rq import worker_registration
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import StopRequested
from rq.job import Job
from rq.queue import Queue
from rq.scheduler import RQScheduler

from mall.logging import rq_job_log_scope
from mall.metrics_dir import mark_process_dead
from mall.outage import REDIS_DOWN, Backoff, ride_out
from payments.rq_bookkeeping import LeanBookkeeping

logger = logging.getLogger(__name__)
T = TypeVar("T")


def warm_up() -> None:
    """What every job would otherwise build or import on first use."""
    import payments.jobs  # noqa: F401 - job functions and everything they import
    import refunds.restock  # noqa: F401
    from payments.channels.registry import warm_channels
    from payments.vouchers import register_font

    warm_channels()
    register_font()


class OutageTolerantScheduler(RQScheduler):
    """RQ's scheduler process, waiting out a Redis outage instead of exiting on the first error. Asked to stop
    during an outage, it gives up waiting and its loop ends at the next turn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redis_backoff = Backoff("Redis (RQ scheduler)")

    def _redis(self, call: Callable[[], T], stopped: T) -> T:
        try:
            return ride_out(call, self._redis_backoff, stopping=lambda: bool(self._stop_requested))
        except REDIS_DOWN:
            return stopped

    def acquire_locks(self, auto_start: bool = False) -> set[str]:
        return self._redis(functools.partial(super().acquire_locks, auto_start), set())

    def register_birth(self) -> None:
        self._redis(super().register_birth, None)

    def heartbeat(self) -> None:
        self._redis(super().heartbeat, None)

    def enqueue_scheduled_jobs(self) -> None:
        self._redis(super().enqueue_scheduled_jobs, None)

    def stop(self) -> None:
        try:
            super().stop()  # type: ignore[no-untyped-call]
        except REDIS_DOWN as error:
            # Its locks and record expire by themselves within a minute; another worker's scheduler takes over.
            logger.warning("RQ scheduler %s stopped while Redis was unreachable (%s)", self.name, type(error).__name__)


class JobWorker(LeanBookkeeping):
    """A SimpleWorker that warms up before its first job, keeps Django's database connection healthy, waits
    out a Redis outage instead of exiting, and records each job in 5 round trips to Redis (``LeanBookkeeping``)."""

    # RQ's own wait between dequeues that Redis refused grows to this (RQ's default is a minute).
    max_connection_wait_time = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before RQ's constructor: it already asks Redis for this worker's address.
        self._redis_backoff = Backoff("Redis (worker)")
        self._command_backoff = Backoff("Redis (worker command channel)", quiet=True)
        self._outages_seen = 0
        super().__init__(*args, **kwargs)

    def _redis(self, call: Callable[[], T]) -> T:
        """``call()``, retried with backoff while Redis does not answer; a stop request ends the wait."""
        stopping = lambda: bool(getattr(self, "_stop_requested", False))  # noqa: E731 - not set yet in __init__
        try:
            return ride_out(call, self._redis_backoff, stopping=stopping)
        except REDIS_DOWN as error:
            raise StopRequested() from error

    def _set_ip_address(self, connection: Redis) -> None:
        self._redis(functools.partial(super()._set_ip_address, connection))

    def register_birth(self) -> None:
        self._redis(super().register_birth)

    def subscribe(self) -> None:
        self._redis(super().subscribe)

    def check_for_suspension(self, burst: bool) -> None:
        self._redis(functools.partial(super().check_for_suspension, burst))

    def run_maintenance_tasks(self) -> None:
        self._redis(super().run_maintenance_tasks)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        # RQ retries a refused dequeue itself; a Redis that hangs (a timeout) or fails around the dequeue is ours.
        return self._redis(functools.partial(super().dequeue_job_and_maintain_ttl, timeout, max_idle_time))

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is not None:  # queued on a pipeline: no round trip here
            super().heartbeat(timeout, pipeline)
            return
        self._redis(functools.partial(super().heartbeat, timeout))
        if self._redis_backoff.outages != self._outages_seen:
            self._register_again()
        self._restart_dead_scheduler()

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is not None:
            super().set_state(state, pipeline)
            return
        self._redis(functools.partial(super().set_state, state))

    def set_shutdown_requested_date(self) -> None:
        # Called from the stop signal's handler, in the middle of a job: a Redis outage must not break the job.
        try:
            super().set_shutdown_requested_date()  # type: ignore[no-untyped-call]
        except REDIS_DOWN:
            logger.warning("worker %s: stop requested while Redis is unreachable; not recorded there", self.name)

    def _pubsub_exception_handler(self, exc: Exception, pubsub: Any, pubsub_thread: Any) -> None:
        """The thread that listens for commands (stop, kill a job) waits out an outage too, quietly: the main loop
        already reports it. Any other error ends that thread, as in RQ."""
        if not isinstance(exc, REDIS_DOWN):
            super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)
            return
        self._command_backoff.wait(exc)
        if self._redis_backoff.down_since is None:  # the main loop reached Redis again: start the next wait short
            self._command_backoff.recovered()

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """RQ's own, with the scheduler that waits out an outage (RQ names its class in the method's body)."""
        self.scheduler = OutageTolerantScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return  # another worker's scheduler serves these queues
        if not burst:
            self.scheduler.start()  # type: ignore[no-untyped-call]
            return
        try:
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()  # type: ignore[no-untyped-call]
            self.scheduler.register_death()

    def _register_again(self) -> None:
        """A Redis that came back empty has forgotten this worker: list it again, so that the queues' dashboard and
        ``rq info`` still show it (RQ's heartbeat alone would leave a record without its birth or queues)."""
        try:
            if not self.connection.hexists(self.key, "birth"):
                with self.connection.pipeline() as pipeline:
                    pipeline.hset(self.key, mapping=self.serialize())
                    worker_registration.register(self, pipeline)
                    pipeline.expire(self.key, self.worker_ttl + 60)
                    pipeline.execute()
                logger.warning("worker %s: registered again after the outage", self.name)
        except REDIS_DOWN:
            return  # at the next heartbeat
        self._outages_seen = self._redis_backoff.outages

    def _restart_dead_scheduler(self) -> None:
        """Should RQ's scheduler process have died all the same, start it again once Redis answers rather than at
        RQ's next maintenance (up to 10 minutes later), so that retries falling due are not held back."""
        scheduler = self.scheduler
        if scheduler is None or scheduler._process is None or scheduler._process.is_alive() or self._stop_requested:
            return
        logger.warning("worker %s: starting RQ's scheduler process again", self.name)
        try:
            scheduler.acquire_locks(auto_start=True)
        except REDIS_DOWN as error:
            logger.warning("worker %s: scheduler not started again yet (%s)", self.name, type(error).__name__)

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)
        warm_up()
        close_old_connections()

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        except REDIS_DOWN as error:
            # Stopping during an outage: RQ's record of this worker expires by itself.
            logger.warning("worker %s stopped while Redis was unreachable (%s)", self.name, type(error).__name__)
        finally:
            # As gunicorn's child_exit does for a web worker: this process's live gauges leave the host's sums.
            mark_process_dead(os.getpid())

    def execute_job(self, job: Job, queue: Queue) -> None:
        close_old_connections()
        try:
            with rq_job_log_scope(job, queue):  # the job's lines carry its request id; its own line ends them
                super().execute_job(job, queue)
        except REDIS_DOWN as error:
            # RQ could not record the job's start or outcome. What the job did is in the database; a refund it did
            # not finish is still `refunding` there, and the sweeps hand it out again.
            logger.warning(
                "worker %s: Redis unreachable (%s) around job %s; its outcome is not recorded in RQ",
                self.name,
                type(error).__name__,
                job.id,
            )
        finally:
            close_old_connections()
