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


def other_callback() -> None:
    CALLS.append(("another on_commit callback",))


def test_a_transactions_jobs_go_together_in_order_and_a_rolled_back_savepoint_takes_its_own(
    settings: Any, django_capture_on_commit_callbacks: Any, db: None
) -> None:
    from django.db import transaction

    settings.JOBS_IN_PROCESS = True
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        jobs.job_enqueue(record, 1)
        jobs.job_enqueue_many(record, [(2,), (3,)])
        try:
            with transaction.atomic():
                jobs.job_enqueue(record, "rolled back")
                raise RuntimeError("the savepoint rolls back")
        except RuntimeError:
            pass
        jobs.job_enqueue(record, 4)
        transaction.on_commit(other_callback)
        jobs.job_enqueue(record, 5)
    # one batch for 1-4 (the rolled back savepoint's own batch went with it), the other callback, a batch for 5
    assert len(callbacks) == 3
    assert CALLS == [(1,), (2,), (3,), (4,), ("another on_commit callback",), (5,)]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_job_is_handed_over_at_once(settings: Any) -> None:
    settings.JOBS_IN_PROCESS = True
    jobs.job_enqueue(record, 1)
    assert CALLS == [(1,)]


@pytest.mark.services
def test_the_jobs_of_one_commit_reach_rq_in_one_round_trip_in_their_order(
    settings: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, db: None
) -> None:
    import django_rq
    from redis.connection import Connection

    settings.JOBS_IN_PROCESS = False
    stock, default = django_rq.get_queue("stock"), django_rq.get_queue("default")
    stock.empty()
    default.empty()
    sent: list[int] = []
    send = Connection.send_packed_command

    def counted(self: Connection, command: Any, check_health: bool = True) -> None:
        sent.append(1)
        send(self, command, check_health)

    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            jobs.job_enqueue(record, 1, queue="stock")
            jobs.job_enqueue(record, 2, queue="default", retry_intervals=())
            jobs.job_enqueue_many(record, [(3,), (4,)], queue="stock")
        [batch] = callbacks
        for name in ("stock", "default"):  # connected, and the server's version known (once per process)
            used = jobs._queue(name, settings.RQ_QUEUES[name]["URL"])
            used.connection.ping()
            used.get_redis_server_version()
        monkeypatch.setattr(Connection, "send_packed_command", counted)
        batch()
        monkeypatch.undo()
        assert len(sent) == 1
        assert [(job.args, job.retries_left) for job in stock.get_jobs()] == [((1,), 3), ((3,), 3), ((4,), 3)]
        assert [(job.args, job.retries_left) for job in default.get_jobs()] == [((2,), None)]
    finally:
        stock.empty()
        default.empty()


def test_a_failed_hand_over_is_logged_per_call_and_other_servers_still_get_theirs(
    settings: Any, django_capture_on_commit_callbacks: Any, caplog: Any, db: None
) -> None:
    settings.JOBS_IN_PROCESS = False
    dead = {"URL": "redis://127.0.0.1:1/0"}  # nothing listens
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "stock": dead, "default": dead}
    jobs._queue.cache_clear()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            jobs.job_enqueue(record, 1, queue="stock")
            jobs.job_enqueue_many(record, [(2,), (3,)], queue="default")
    finally:
        jobs._queue.cache_clear()
    assert [r.getMessage() for r in caplog.records if r.name == "mall.jobs"] == [
        "could not enqueue tests.test_jobs.record(1,) on stock: Redis unavailable (ConnectionError); "
        "the re-dispatch sweep will pick it up",
        "could not enqueue 2 jobs tests.test_jobs.record on default: Redis unavailable (ConnectionError); "
        "the re-dispatch sweep will pick them up",
    ]


def test_a_batch_once_handed_over_takes_no_more_jobs(
    settings: Any, django_capture_on_commit_callbacks: Any, db: None
) -> None:
    """Under a test's capture of on_commit callbacks the transaction never commits: the next capture's jobs must
    not join a batch that already ran."""
    settings.JOBS_IN_PROCESS = True
    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_enqueue(record, 1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        jobs.job_enqueue(record, 2)
    assert len(callbacks) == 1
    assert CALLS == [(1,), (2,)]
