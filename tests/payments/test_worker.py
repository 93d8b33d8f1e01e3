"""The worker the Procfile runs: jobs in the worker process itself, channel adapters built before the first job,
the database connection checked around every job, and a job's time limit still enforced."""

from __future__ import annotations

import os
import shlex
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.utils.module_loading import import_string
from rq import Queue

from payments import worker
from payments.channels import registry
from payments.simulator.server import ChannelSimulator
from payments.worker import JobWorker

ROOT = Path(__file__).resolve().parents[2]


def where_it_ran() -> dict[str, int]:
    return {"pid": os.getpid(), "adapters built": registry._built.cache_info().currsize}


def too_slow() -> None:
    time.sleep(5)


@pytest.fixture
def queue() -> Iterator[Queue]:
    connection = redis.Redis.from_url(settings.REDIS_URL)
    queue = Queue(f"test-worker-{uuid.uuid4().hex[:8]}", connection=connection)
    yield queue
    queue.empty()
    connection.close()


@pytest.mark.services
def test_jobs_run_in_the_worker_process_with_adapters_built_before_and_connections_checked(
    channel_simulator: ChannelSimulator, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    monkeypatch.setattr(worker, "close_old_connections", lambda: checks.append("checked"))
    registry._built.cache_clear()
    first = queue.enqueue(where_it_ran)
    second = queue.enqueue(where_it_ran)

    assert JobWorker([queue], connection=queue.connection).work(burst=True) is True

    assert [first.return_value(), second.return_value()] == [{"pid": os.getpid(), "adapters built": 2}] * 2
    assert checks == ["checked"] * 5  # once at start, then before and after each of the two jobs


@pytest.mark.services
def test_a_job_over_its_time_limit_is_stopped(queue: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "warm_up", lambda: None)
    monkeypatch.setattr(worker, "close_old_connections", lambda: None)
    job = queue.enqueue(too_slow, job_timeout=1)
    started = time.monotonic()

    JobWorker([queue], connection=queue.connection).work(burst=True)

    assert time.monotonic() - started < 4
    job.refresh()
    assert job.get_status() == "failed"
    result: Any = job.latest_result()
    assert "JobTimeoutException" in result.exc_string


def test_the_procfile_worker_runs_this_class_and_serves_refunds_first() -> None:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("worker:"))
    argv = shlex.split(line.split(":", 1)[1])
    assert argv[:5] == ["python", "manage.py", "rqworker", "--worker-class", "payments.worker.JobWorker"]
    assert import_string(argv[4]) is JobWorker
    assert [arg for arg in argv[5:] if not arg.startswith("-")] == [
        "refunds",
        "notifications",
        "default",
        "stock",
        "reconciliation",
    ]
    assert set(argv[5:]) - {"--with-scheduler"} == set(settings.RQ_QUEUES)
