"""RQ's record of each job, written by the worker in 5 round trips instead of 18 (payments/rq_bookkeeping.py): the
same records as RQ's own (started while it runs, finished or failed after, the worker's counters, state and
heartbeat), retries and suspension as RQ does them, and nothing in the shop that needs what it leaves out."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from rq import Queue, Retry, get_current_job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.suspension import resume, suspend
from rq.worker import SimpleWorker

from payments import worker
from payments.worker import JobWorker

pytestmark = pytest.mark.services
ROOT = Path(__file__).resolve().parents[2]


class Counting(redis.connection.Connection):
    """Counts each command or pipeline sent: one round trip each."""

    round_trips = 0

    _connecting = False

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        self._connecting = True  # the handshake of a new connection (HELLO, SELECT...) is not the work counted
        try:
            super().connect_check_health(*args, **kwargs)
        finally:
            self._connecting = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._connecting:
            type(self).round_trips += 1
        super().send_packed_command(command, check_health)


def nothing() -> str:
    return "done"


def fails() -> None:
    raise RuntimeError("a job that fails")


def what_redis_shows_while_running() -> dict[str, Any]:
    job = get_current_job()
    assert job is not None
    connection = redis.Redis.from_url(settings.REDIS_URL)
    [worker_key] = [key for key in connection.smembers("rq:workers") if connection.hget(key, "current_job")]
    return {
        "started": StartedJobRegistry(job.origin, connection=connection).get_job_ids(),
        "status": connection.hget(job.key, "status"),
        "worker state": connection.hget(worker_key, "state"),
        "current job": connection.hget(worker_key, "current_job"),
    }


@pytest.fixture
def connection() -> Iterator[redis.Redis]:
    pool = redis.ConnectionPool.from_url(settings.REDIS_URL, connection_class=Counting)
    connection = redis.Redis(connection_pool=pool)
    yield connection
    connection.close()


@pytest.fixture
def queues(connection: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Queue]]:
    """Two queues, as the Procfile's worker serves several (RQ then dequeues with LPOP/BLPOP)."""
    monkeypatch.setattr(worker, "warm_up", lambda: None)
    name = f"test-bookkeeping-{uuid.uuid4().hex[:8]}"
    made = [Queue(name, connection=connection), Queue(f"{name}-other", connection=connection)]
    yield made
    for queue in made:
        queue.empty()
        for registry in (queue.finished_job_registry, queue.failed_job_registry, queue.scheduled_job_registry):
            for job_id in registry.get_job_ids():
                registry.remove(job_id, delete_job=True)


def _round_trips(worker_class: type, queues: list[Queue], jobs: int) -> int:
    for _ in range(jobs):
        queues[0].enqueue(nothing, retry=Retry(max=3, interval=[10, 30, 60]))
    before = Counting.round_trips
    worker_class(queues, connection=queues[0].connection).work(burst=True)
    return Counting.round_trips - before


def test_a_job_costs_5_round_trips_where_rq_spends_18(queues: list[Queue]) -> None:
    # The difference between a run of 7 jobs and one of 2 is what 5 more jobs cost, the start and end left out.
    lean = (_round_trips(JobWorker, queues, 7) - _round_trips(JobWorker, queues, 2)) / 5
    rq = (_round_trips(SimpleWorker, queues, 7) - _round_trips(SimpleWorker, queues, 2)) / 5
    # dequeue, the job's hash, its start (one transaction), RQ's PERSIST of the job, its success (one transaction)
    assert lean == 5
    assert rq == 18


def test_a_finished_job_leaves_the_records_rq_leaves(queues: list[Queue], connection: redis.Redis) -> None:
    jobs = [queues[0].enqueue(nothing) for _ in range(3)]
    job_worker = JobWorker(queues, connection=connection)

    assert job_worker.work(burst=True) is True

    for job in jobs:
        job.refresh()
        assert (job.get_status(), job.return_value(), job.worker_name) == ("finished", "done", job_worker.name)
        assert job.started_at is not None and job.ended_at is not None and job.started_at <= job.ended_at
        assert connection.ttl(job.key) == pytest.approx(500, abs=5)  # RQ's default result TTL
    assert sorted(FinishedJobRegistry(queue=queues[0]).get_job_ids()) == sorted(job.id for job in jobs)
    assert StartedJobRegistry(queue=queues[0]).get_job_ids() == []
    assert not connection.keys("rq:execution:*")
    record = connection.hgetall(job_worker.key)
    assert (record[b"successful_job_count"], record.get(b"failed_job_count", b"0")) == (b"3", b"0")
    assert b"current_job" not in record
    assert record[b"death"]  # the burst ended, as RQ records it


def test_while_a_job_runs_it_is_started_and_the_worker_busy_with_it(queues: list[Queue]) -> None:
    job = queues[0].enqueue(what_redis_shows_while_running)

    JobWorker(queues, connection=queues[0].connection).work(burst=True)

    seen = job.return_value()
    assert seen["started"] == [job.id]
    assert (seen["status"], seen["worker state"], seen["current job"]) == (b"started", b"busy", job.id.encode())


def test_between_jobs_the_worker_is_idle_with_a_heartbeat_of_its_ttl(queues: list[Queue]) -> None:
    queues[0].enqueue(nothing)
    job_worker = JobWorker(queues, connection=queues[0].connection)
    states: list[tuple[bytes, int]] = []
    real = job_worker.execute_job

    def execute_then_look(job: Any, queue: Queue) -> None:
        real(job, queue)
        states.append((queue.connection.hget(job_worker.key, "state"), queue.connection.ttl(job_worker.key)))

    job_worker.execute_job = execute_then_look  # type: ignore[method-assign]
    job_worker.work(burst=True)

    [(state, ttl)] = states
    assert state == b"idle"
    assert ttl == pytest.approx(job_worker.worker_ttl + 60, abs=5)


def test_a_failed_job_is_retried_as_rq_does_then_fails(queues: list[Queue], connection: redis.Redis) -> None:
    job = queues[0].enqueue(fails, retry=Retry(max=1, interval=[60]))
    job_worker = JobWorker(queues, connection=connection)

    job_worker.work(burst=True)

    job.refresh()
    assert job.get_status() == "scheduled"
    assert ScheduledJobRegistry(queue=queues[0]).get_job_ids() == [job.id]
    assert StartedJobRegistry(queue=queues[0]).get_job_ids() == []
    assert connection.hget(job_worker.key, "failed_job_count") == b"1"

    spent = queues[0].enqueue(fails)
    JobWorker(queues, connection=connection).work(burst=True)
    spent.refresh()
    assert spent.get_status() == "failed"
    assert FailedJobRegistry(queue=queues[0]).get_job_ids() == [spent.id]
    assert "a job that fails" in (spent.latest_result().exc_string or "")  # type: ignore[union-attr]


def test_a_suspended_worker_takes_no_job(queues: list[Queue], connection: redis.Redis) -> None:
    job = queues[0].enqueue(nothing)
    suspend(connection)
    try:
        assert JobWorker(queues, connection=connection).work(burst=True) is False
    finally:
        resume(connection)
    assert job.get_status() == "queued"
    assert queues[0].job_ids == [job.id]


def test_the_shop_never_enqueues_a_job_that_depends_on_another() -> None:
    """The worker records a success without looking for dependent jobs: there must be none."""
    apps = ["mall", "refunds", "notices", "payments", "logistics", "reconciliation"]
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in apps
        for path in (ROOT / app).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"depends_on|Dependency\(|enqueue_dependents", line)
    ]
    assert found == []
