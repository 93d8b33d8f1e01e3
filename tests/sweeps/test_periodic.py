"""``make run``'s scheduler: the periodic jobs run in the web's machine's own process, on the scheduler's
schedules, with no Redis (``manage.py run_periodic``, Procfile.dev)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command, get_commands

from mall.jobs import PeriodicJob
from mall.management.commands.run_job import periodic_jobs
from mall.periodic import PeriodicRunner, next_due
from refunds.models import RefundState
from tests.factories import UserFactory
from tests.sweeps.conftest import T0, paid_order, product, quality_claim
from tests.test_deploy import procfile_lines

START = datetime(2026, 3, 10, 2, 0, 30, tzinfo=UTC)


def test_procfile_dev_runs_the_periodic_jobs_in_process() -> None:
    command = dict(procfile_lines("Procfile.dev"))["scheduler"]
    assert command == "DJANGO_DEBUG=${DJANGO_DEBUG:-1} python manage.py run_periodic"
    assert get_commands()["run_periodic"] == "mall"


def test_interval_jobs_run_at_start_and_cron_jobs_at_their_utc_times() -> None:
    calls: list[str] = []
    jobs = [
        PeriodicJob(name="every", func=lambda: calls.append("every"), description="", interval=60),
        PeriodicJob(
            name="cron",
            func=lambda day: calls.append(f"cron {day}"),
            description="",
            cron="*/5 * * * *",
            kwargs={"day": "today"},
        ),
    ]
    runner = PeriodicRunner(jobs, now=START)

    assert runner.run_due(now=START) == ["every"]
    assert runner.due_at == {"every": START + timedelta(seconds=60), "cron": datetime(2026, 3, 10, 2, 5, tzinfo=UTC)}
    assert runner.seconds_to_next(now=START) == 60.0
    assert runner.run_due(now=START + timedelta(seconds=59)) == []
    assert runner.run_due(now=datetime(2026, 3, 10, 2, 5, tzinfo=UTC)) == ["cron", "every"]
    assert calls == ["every", "cron today", "every"]
    assert runner.due_at == {
        "every": datetime(2026, 3, 10, 2, 6, tzinfo=UTC),
        "cron": datetime(2026, 3, 10, 2, 10, tzinfo=UTC),
    }


def test_a_failing_job_is_logged_and_the_others_still_run(caplog: Any) -> None:
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    jobs = [
        PeriodicJob(name="a.broken", func=broken, description="", interval=10),
        PeriodicJob(name="b.fine", func=lambda: calls.append("fine"), description="", interval=10),
    ]
    runner = PeriodicRunner(jobs, now=START)

    assert runner.run_due(now=START) == ["a.broken", "b.fine"]
    assert calls == ["fine"]
    assert "periodic job a.broken failed" in caplog.text
    assert runner.due_at["a.broken"] == START + timedelta(seconds=10)


def test_next_due_reads_cron_strings_in_utc() -> None:
    daily = periodic_jobs()["reconciliation.daily"]
    assert next_due(daily, START) == datetime(2026, 3, 10, 2, 30, tzinfo=UTC)  # 10:30 in Asia/Shanghai


@pytest.mark.django_db
def test_one_tick_without_redis_runs_the_jobs_due_in_this_process(settings: Any) -> None:
    settings.REDIS_URL = ""
    settings.JOBS_IN_PROCESS = True
    out = io.StringIO()

    call_command("run_periodic", "--once", stdout=out)

    assert out.getvalue() == (
        "logistics.interception_sweep, logistics.replacement_sweep, notices.sweep_deliveries, "
        "notices.sweep_untold_steps, payments.sweep_after_refund, payments.sweep_refunding\n"
    )


@pytest.mark.django_db
def test_auto_approval_happens_at_its_time(settings: Any, clock: Any) -> None:
    settings.REDIS_URL = ""
    settings.JOBS_IN_PROCESS = True
    customer = UserFactory()
    refund = quality_claim(customer, paid_order(customer, [(product("50.00"), "1")], status="delivered"))

    due = T0 + timedelta(hours=2)  # REFUND_AUTO_APPROVE_HOURS; 04:00 UTC, an auto-approval minute
    assert refund.due_at == due
    runner = PeriodicRunner([periodic_jobs()["refunds.auto_approval"]], now=due - timedelta(minutes=4))
    assert runner.run_due(now=due - timedelta(seconds=1)) == []
    clock.move_to(due)
    assert runner.run_due(now=due) == ["refunds.auto_approval"]

    refund.refresh_from_db()
    # Approved, then straight to the channel (nothing to send back).
    assert refund.state == RefundState.REFUNDING
    assert runner.due_at == {"refunds.auto_approval": due + timedelta(minutes=5)}
