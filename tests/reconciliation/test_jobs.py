"""The daily job: registered for the scheduler, listed by run_job, a dry run changes nothing, and a real run
reconciles the day before for every configured channel (and days whose run failed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from croniter import croniter
from django.core.management import CommandError, call_command
from django.utils import timezone, translation

from mall.jobs import PERIODIC_JOBS
from mall.shoptime import SHOP_TZ, shop_today
from payments.simulator.server import ChannelSimulator
from reconciliation.jobs import reconcile_daily
from reconciliation.models import Discrepancy, ReconciliationRun, RunStatus
from tests.reconciliation.helpers import our_refund

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # Commands speak the shop's language (Chinese); these tests read the English msgids.
    with translation.override("en"):
        yield


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_daily_job_is_registered_for_10_30_in_shanghai() -> None:
    out = command("run_job", "--list")
    assert "reconciliation.daily" in out
    assert "cron “30 2 * * *” (UTC), queue reconciliation, dry run: yes" in out
    job = next(job for job in PERIODIC_JOBS if job.name == "reconciliation.daily")
    assert croniter.is_valid(job.cron)
    utc = croniter(job.cron, timezone.now()).get_next(type(timezone.now()))
    assert (utc.astimezone(SHOP_TZ).hour, utc.astimezone(SHOP_TZ).minute) == (10, 30)


def test_a_dry_run_changes_nothing(channel_simulator: ChannelSimulator) -> None:
    our_refund("wechat", "30.00", refunded_at=timezone.now() - timedelta(days=1))
    yesterday = shop_today() - timedelta(days=1)
    out = command("run_job", "reconciliation.daily", "--dry-run")
    assert f"alipay {yesterday}: would reconcile" in out
    assert f"wechat {yesterday}: would reconcile" in out
    assert (ReconciliationRun.objects.count(), Discrepancy.objects.count()) == (0, 0)


def test_the_job_reconciles_the_day_before_for_each_channel(channel_simulator: ChannelSimulator, settings: Any) -> None:
    settings.JOBS_IN_PROCESS = True  # as without Redis: each day runs in this process
    refund = our_refund("wechat", "30.00", refunded_at=timezone.now() - timedelta(days=1))
    yesterday = shop_today() - timedelta(days=1)
    out = command("run_job", "reconciliation.daily")
    assert f"alipay {yesterday}: 0 lines, 0 matched, 0 discrepancies" in out
    assert f"wechat {yesterday}: 0 lines, 0 matched, 1 discrepancies" in out
    runs = ReconciliationRun.objects.order_by("channel").values_list("channel", "business_day", "status")
    assert list(runs) == [("alipay", yesterday, RunStatus.SUCCEEDED), ("wechat", yesterday, RunStatus.SUCCEEDED)]
    assert list(Discrepancy.objects.values_list("kind", "refund_id")) == [("missing_at_channel", refund.pk)]

    # Again: a reconciled day is left alone.
    assert reconcile_daily() == []
    assert ReconciliationRun.objects.count() == 2


def test_the_job_takes_up_failed_days_again(channel_simulator: ChannelSimulator, settings: Any) -> None:
    settings.RECONCILIATION_CHANNELS = ["alipay"]
    settings.JOBS_IN_PROCESS = True
    today = shop_today()
    now = timezone.now()
    ReconciliationRun.objects.create(
        channel="alipay", business_day=today - timedelta(days=3), status=RunStatus.FAILED, started_at=now,
        heartbeat_at=now, error="[alipay] statement: timeout",
    )  # fmt: skip
    ReconciliationRun.objects.create(
        channel="alipay", business_day=today - timedelta(days=2), status=RunStatus.SUCCEEDED, started_at=now,
        heartbeat_at=now,
    )  # fmt: skip
    assert reconcile_daily(dry_run=True) == [
        f"alipay {today - timedelta(days=3)}: would reconcile",
        f"alipay {today - timedelta(days=1)}: would reconcile",
    ]
    reconcile_daily()
    assert list(ReconciliationRun.objects.order_by("business_day").values_list("status", "error")) == [
        (RunStatus.SUCCEEDED, ""),
        (RunStatus.SUCCEEDED, ""),
        (RunStatus.SUCCEEDED, ""),
    ]
    # A run that stopped moving (killed) is taken up once stale.
    ReconciliationRun.objects.filter(business_day=today - timedelta(days=1)).update(status=RunStatus.RUNNING)
    assert reconcile_daily(dry_run=True) == []
    with time_machine.travel(now + timedelta(minutes=31)):
        assert reconcile_daily(dry_run=True) == [f"alipay {today - timedelta(days=1)}: would reconcile"]


def test_reconcile_command_refuses_a_reconciled_day_without_force(channel_simulator: ChannelSimulator) -> None:
    day = (shop_today() - timedelta(days=1)).isoformat()
    assert "0 lines, 0 matched, 0 discrepancies" in command("reconcile", "--channel", "alipay", "--day", day)
    finished = ReconciliationRun.objects.get().finished_at
    with pytest.raises(CommandError, match="already reconciled"):
        command("reconcile", "--channel", "alipay", "--day", day)
    assert ReconciliationRun.objects.get().finished_at == finished
    command("reconcile", "--channel", "alipay", "--day", day, "--force")
    assert ReconciliationRun.objects.get().finished_at > finished
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        command("reconcile", "--channel", "alipay", "--day", "yesterday")


@pytest.mark.services
def test_with_redis_each_day_is_a_job_of_its_own_with_a_long_time_limit(
    channel_simulator: ChannelSimulator, settings: Any
) -> None:
    import django_rq
    from rq import SimpleWorker

    settings.JOBS_IN_PROCESS = False
    settings.RECONCILIATION_JOB_TIMEOUT_SECONDS = 1800
    queue = django_rq.get_queue("reconciliation")
    queue.empty()
    refund = our_refund("alipay", "30.00", refunded_at=timezone.now() - timedelta(days=1))
    yesterday = shop_today() - timedelta(days=1)
    try:
        assert reconcile_daily() == [f"alipay {yesterday}: queued", f"wechat {yesterday}: queued"]
        jobs = queue.get_jobs()
        assert [(job.func_name, job.args, job.timeout, job.retries_left) for job in jobs] == [
            ("reconciliation.jobs.reconcile_day", ("alipay", yesterday.isoformat(), False, None), 1800, 3),
            ("reconciliation.jobs.reconcile_day", ("wechat", yesterday.isoformat(), False, None), 1800, 3),
        ]
        assert ReconciliationRun.objects.count() == 0
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    finally:
        queue.empty()
    runs = ReconciliationRun.objects.order_by("channel").values_list("channel", "status", "missing_at_channel_count")
    assert list(runs) == [("alipay", RunStatus.SUCCEEDED, 1), ("wechat", RunStatus.SUCCEEDED, 0)]
    assert list(Discrepancy.objects.values_list("refund_id", flat=True)) == [refund.pk]


def test_the_command_speaks_chinese_by_default(channel_simulator: ChannelSimulator) -> None:
    day = shop_today() - timedelta(days=1)
    with translation.override("zh-hans"):
        out = command("reconcile", "--channel", "alipay", "--day", day.isoformat())
    assert out == f"支付宝 {day}：对账单 0 笔，匹配 0 笔，差异 0 笔\n"
