"""Job dispatch: work is handed to RQ only once the transaction that scheduled it commits; many jobs of one
function go in pipelines; without Redis they run in this process; a failed hand-over loses nothing but the job
(the re-dispatch sweeps find the work in the database)."""

from __future__ import annotations

from typing import Any

import pytest

from mall import jobs

CALLS: list[tuple[Any, ...]] = []


def record(*args: Any) -> None:
    if args == ("boom",):
        raise RuntimeError("a job that fails")
    CALLS.append(args)


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    CALLS.clear()


def test_in_process_jobs_run_after_commit_and_one_failure_stops_none(
    settings: Any, django_capture_on_commit_callbacks: Any, db: None
) -> None:
    settings.JOBS_IN_PROCESS = True
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        jobs.job_enqueue_many(record, [(1,), ("boom",), (2, "x")], queue="default")
        jobs.job_enqueue_many(record, [], queue="default")
    assert CALLS == []  # nothing runs before the commit
    assert len(callbacks) == 1  # an empty list schedules nothing
    callbacks[0]()
    assert CALLS == [(1,), (2, "x")]


@pytest.mark.services
def test_many_jobs_go_to_rq_in_pipelines_after_commit(
    settings: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, db: None
) -> None:
    import django_rq

    settings.JOBS_IN_PROCESS = False
    monkeypatch.setattr(jobs, "ENQUEUE_CHUNK", 2)
    queue = django_rq.get_queue("stock")
    queue.empty()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            jobs.job_enqueue_many("tests.test_jobs.record", [(n,) for n in range(5)], queue="stock")
            assert queue.count == 0
        enqueued = queue.get_jobs()
        assert [(job.func_name, job.args, job.retries_left) for job in enqueued] == [
            ("tests.test_jobs.record", (n,), 3) for n in range(5)
        ]
        assert [job.retry_intervals for job in enqueued] == [[10, 30, 60]] * 5
    finally:
        queue.empty()


@pytest.mark.services
def test_a_large_batch_goes_as_fan_out_jobs_that_enqueue_the_rest_from_a_worker(
    settings: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, db: None
) -> None:
    import django_rq

    settings.JOBS_IN_PROCESS = False
    monkeypatch.setattr(jobs, "ENQUEUE_CHUNK", 2)
    monkeypatch.setattr(jobs, "FAN_OUT_ABOVE", 4)
    queue = django_rq.get_queue("stock")
    queue.empty()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            jobs.job_enqueue_many(record, [(n,) for n in range(5)], queue="stock")
        fan_outs = queue.get_jobs()
        assert [(job.func_name, job.args, job.retries_left) for job in fan_outs] == [
            ("mall.jobs.jobs_fan_out", ("tests.test_jobs.record", [(0,), (1,)], "stock", (10, 30, 60)), None),
            ("mall.jobs.jobs_fan_out", ("tests.test_jobs.record", [(2,), (3,)], "stock", (10, 30, 60)), None),
            ("mall.jobs.jobs_fan_out", ("tests.test_jobs.record", [(4,)], "stock", (10, 30, 60)), None),
        ]
        queue.empty()
        assert [job.perform() for job in fan_outs] == [2, 2, 1]  # what a worker runs
        assert [(job.func_name, job.args, job.retries_left) for job in queue.get_jobs()] == [
            ("tests.test_jobs.record", (n,), 3) for n in range(5)
        ]
    finally:
        queue.empty()


def test_a_failed_hand_over_is_logged_not_raised(
    settings: Any, django_capture_on_commit_callbacks: Any, caplog: Any, db: None
) -> None:
    settings.JOBS_IN_PROCESS = False
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "stock": {"URL": "redis://127.0.0.1:1/0"}}  # nothing listens
    jobs._queue.cache_clear()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            jobs.job_enqueue_many(record, [(1,), (2,)], queue="stock")
    finally:
        jobs._queue.cache_clear()
    assert CALLS == []
    assert [r.getMessage() for r in caplog.records if r.name == "mall.jobs"] == [
        "could not enqueue 2 jobs tests.test_jobs.record on stock: Redis unavailable (ConnectionError); "
        "the re-dispatch sweep will pick them up"
    ]
    # An outage is said without a traceback: the sweeps repair it, nothing is to be debugged.
    assert [r.exc_info for r in caplog.records if r.name == "mall.jobs"] == [None]
