"""Every periodic job can be run once by hand (`manage.py run_job`), listed with its schedule, and dry-run
without changing anything; the scheduler (`run_scheduler mall.cron`) registers the same jobs."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter
from django.core.management import CommandError, call_command

from mall.jobs import PERIODIC_JOBS, PeriodicJob
from mall.models import Order, OrderEvent, Stock, StockMovement
from refunds.models import Refund, RefundEvent
from tests.sweeps.conftest import T0, paid_order, product

REFUND_JOBS = {
    "refunds.auto_approval": "*/5 * * * *",
    "refunds.shipping_timeout": "1-59/15 * * * *",
    "refunds.price_anomaly": "8-59/15 * * * *",
    "refunds.out_of_stock": "*/2 * * * *",
}


def run_job(*args: str) -> str:
    out = StringIO()
    call_command("run_job", *args, stdout=out)
    return out.getvalue()


def _snapshot() -> tuple[int, ...]:
    return (
        Refund.objects.count(),
        RefundEvent.objects.count(),
        OrderEvent.objects.count(),
        StockMovement.objects.count(),
        int(sum(Stock.objects.values_list("quantity", flat=True))),
        Order.objects.filter(status="paid").count(),
    )


def test_list_names_each_job_with_its_schedule() -> None:
    out = run_job("--list")
    for name, cron in REFUND_JOBS.items():
        assert name in out
        assert f"cron “{cron}” (UTC)" in out
    assert "Approve refunds nobody reviewed in time" in out


def test_schedules_are_valid_cron_in_utc() -> None:
    run_job("--list")  # discovers every app's jobs
    jobs = {job.name: job for job in PERIODIC_JOBS}
    for name, cron in REFUND_JOBS.items():
        assert jobs[name].cron == cron
        assert croniter.is_valid(cron)


@pytest.mark.django_db
def test_dry_run_prints_and_changes_nothing_then_the_run_acts(customer: Any, clock: Any) -> None:
    order = paid_order(customer, [(product("20.00", stock="1"), "3")], shipping_fee="6.00")
    clock.move_to(T0 + timedelta(hours=48))
    for name in REFUND_JOBS:
        before = _snapshot()
        out = run_job(name, "--dry-run")
        assert "dry run, nothing changed" in out
        assert _snapshot() == before, name
    assert order.order_no in run_job("refunds.out_of_stock", "--dry-run")
    assert order.order_no in run_job("refunds.shipping_timeout", "--dry-run")

    out = run_job("refunds.out_of_stock")
    assert "refund 1" in out
    assert Refund.objects.get().amount == Decimal("40.00")


def test_unknown_job_is_refused() -> None:
    with pytest.raises(CommandError, match=r"No job named refunds\.nope"):
        run_job("refunds.nope")


@pytest.fixture
def job_without_dry_run() -> Iterator[list[int]]:
    calls: list[int] = []
    job = PeriodicJob(name="tests.no_dry_run", func=lambda: calls.append(1), description="counts calls", interval=60)
    run_job("--list")
    PERIODIC_JOBS.append(job)
    yield calls
    PERIODIC_JOBS.remove(job)


def test_dry_run_of_a_job_that_cannot_is_refused_and_runs_nothing(job_without_dry_run: list[int]) -> None:
    with pytest.raises(CommandError, match="cannot do a dry run"):
        run_job("tests.no_dry_run", "--dry-run")
    assert job_without_dry_run == []
    run_job("tests.no_dry_run")
    assert job_without_dry_run == [1]


def test_the_scheduler_registers_every_job() -> None:
    from rq import cron

    run_job("--list")
    sys.modules.pop("mall.cron", None)
    cron._job_data_registry.clear()
    importlib.import_module("mall.cron")
    registered = {entry["name"]: entry for entry in cron._job_data_registry}
    assert set(registered) == {job.name for job in PERIODIC_JOBS}
    for name, expected in REFUND_JOBS.items():
        assert registered[name]["cron"] == expected


def test_procfile_runs_the_scheduler_on_mall_cron() -> None:
    procfile = Path(__file__).resolve().parents[2] / "Procfile"
    lines = dict(line.split(": ", 1) for line in procfile.read_text().splitlines() if ": " in line)
    assert lines["scheduler"] == "python manage.py run_scheduler mall.cron"
