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

A worker that dies mid-job (killed, out of memory) leaves the job in RQ's started registry; RQ fails it once the
worker's heartbeat expires, and the sweeps in ``payments.jobs`` hand its refund out again from the database.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from django.db import close_old_connections
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker

from mall.logging import rq_job_log_scope
from mall.metrics_dir import mark_process_dead

logger = logging.getLogger(__name__)


def warm_up() -> None:
    """What every job would otherwise build or import on first use."""
    import payments.jobs  # noqa: F401 - job functions and everything they import
    import refunds.restock  # noqa: F401
    from payments.channels.registry import warm_channels
    from payments.vouchers import register_font

    warm_channels()
    register_font()


class JobWorker(SimpleWorker):
    """A SimpleWorker that warms up before its first job and keeps Django's database connection healthy."""

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)
        warm_up()
        close_old_connections()

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        finally:
            # As gunicorn's child_exit does for a web worker: this process's live gauges leave the host's sums.
            mark_process_dead(os.getpid())

    def execute_job(self, job: Job, queue: Queue) -> None:
        close_old_connections()
        try:
            with rq_job_log_scope(job, queue):  # the job's lines carry its request id; its own line ends them
                super().execute_job(job, queue)
        finally:
            close_old_connections()
