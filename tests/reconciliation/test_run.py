"""A day's statement against our refunds, on both channels, through the real adapters and the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from mall.shoptime import SHOP_TZ, shop_today
from payments.channels import RefundStatus, StatementLine
from payments.simulator.server import ChannelSimulator
from reconciliation import services
from reconciliation.exceptions import DayInFuture, RunExists, RunInProgress, UnknownChannel
from reconciliation.matching import DayLedger
from reconciliation.models import Discrepancy, ReconciliationRun, RunStatus
from refunds.models import RefundState
from tests.reconciliation.helpers import channel_refund, our_refund

pytestmark = pytest.mark.django_db
CHANNELS = ["alipay", "wechat"]
OTHER = {"alipay": "wechat", "wechat": "alipay"}


def counts(run: ReconciliationRun) -> dict[str, Any]:
    run.refresh_from_db()
    return {
        "status": run.status,
        "lines": run.statement_lines,
        "total": run.statement_total,
        "matched": run.matched_count,
        "missing_at_channel": run.missing_at_channel_count,
        "missing_with_us": run.missing_with_us_count,
        "amount_differs": run.amount_differs_count,
        "status_differs": run.status_differs_count,
        "listed_twice": run.listed_twice_count,
        "error": run.error,
    }


def rows(run: ReconciliationRun) -> list[tuple[Any, ...]]:
    return list(
        Discrepancy.objects.filter(run=run)
        .order_by("kind", "out_refund_no")
        .values_list(
            "kind", "out_refund_no", "refund_id", "our_amount", "our_state", "channel_amount", "channel_status"
        )
    )


def a_day_with_every_case(simulator: ChannelSimulator, channel: str) -> dict[str, Any]:
    """Two matched refunds, one missing at the channel, one missing with us, an amount and a status difference;
    plus refunds the day's statement must not concern (another day, another channel)."""
    matched = [our_refund(channel, "30.00"), our_refund(channel, "12.50")]
    for refund in matched:
        channel_refund(simulator, channel, refund.out_refund_no, f"{refund.amount:.2f}")
    missing_at_channel = our_refund(channel, "40.00")
    channel_refund(simulator, channel, "RQFOREIGN0001", "8.80")
    amount = our_refund(channel, "30.00")
    channel_refund(simulator, channel, amount.out_refund_no, "25.00")
    status = our_refund(channel, "18.00", state=RefundState.FAILED)
    channel_refund(simulator, channel, status.out_refund_no, "18.00")
    our_refund(channel, "50.00", refunded_at=timezone.now() - timedelta(days=2))
    our_refund(OTHER[channel], "60.00")
    return {"missing_at_channel": missing_at_channel, "amount": amount, "status": status}


def expected_rows(case: dict[str, Any]) -> list[tuple[Any, ...]]:
    missing, amount, status = case["missing_at_channel"], case["amount"], case["status"]
    return [
        ("amount_differs", amount.out_refund_no, amount.pk, Decimal("30.00"), "refunded", Decimal("25.00"), "success"),
        ("missing_at_channel", missing.out_refund_no, missing.pk, Decimal("40.00"), "refunded", None, ""),
        ("missing_with_us", "RQFOREIGN0001", None, None, "", Decimal("8.80"), "success"),
        ("status_differs", status.out_refund_no, status.pk, Decimal("18.00"), "failed", Decimal("18.00"), "success"),
    ]


EXPECTED_COUNTS = {
    "status": RunStatus.SUCCEEDED,
    "lines": 5,
    "total": Decimal("94.30"),  # 30.00 + 12.50 + 8.80 + 25.00 + 18.00
    "matched": 2,
    "missing_at_channel": 1,
    "missing_with_us": 1,
    "amount_differs": 1,
    "status_differs": 1,
    "listed_twice": 0,
    "error": "",
}


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_day_is_classified_exactly(channel_simulator: ChannelSimulator, channel: str) -> None:
    case = a_day_with_every_case(channel_simulator, channel)
    run = services.reconciliation_run(channel=channel, day=shop_today())
    assert counts(run) == EXPECTED_COUNTS
    assert rows(run) == expected_rows(case)
    assert run.finished_at is not None
    assert Discrepancy.objects.filter(resolved_at__isnull=False).count() == 0


@pytest.mark.parametrize("channel", CHANNELS)
def test_running_a_reconciled_day_again_is_refused_unless_forced(
    channel_simulator: ChannelSimulator, channel: str, finance: Any
) -> None:
    case = a_day_with_every_case(channel_simulator, channel)
    day = shop_today()
    run = services.reconciliation_run(channel=channel, day=day)
    before = (counts(run), sorted(Discrepancy.objects.values_list("id", flat=True)), run.finished_at)

    with pytest.raises(RunExists):
        services.reconciliation_run(channel=channel, day=day)
    run.refresh_from_db()
    assert (counts(run), sorted(Discrepancy.objects.values_list("id", flat=True)), run.finished_at) == before

    # A resolution made on the first results survives the forced re-run, on the same request number and class.
    resolved = Discrepancy.objects.get(run=run, kind="missing_with_us")
    services.discrepancy_resolve(discrepancy=resolved, actor=finance, note="test refund made in the channel's portal")
    again = services.reconciliation_run(channel=channel, day=day, force=True)
    assert again.pk == run.pk
    assert counts(again) == EXPECTED_COUNTS
    assert rows(again) == expected_rows(case)
    assert ReconciliationRun.objects.count() == 1
    assert list(
        Discrepancy.objects.filter(resolved_at__isnull=False).values_list(
            "kind", "out_refund_no", "resolved_by__username", "resolution_note"
        )
    ) == [("missing_with_us", "RQFOREIGN0001", "finance", "test refund made in the channel's portal")]


def test_a_quiet_day_reconciles_to_nothing(channel_simulator: ChannelSimulator) -> None:
    run = services.reconciliation_run(channel="wechat", day=shop_today() - timedelta(days=30))
    assert counts(run) == {**EXPECTED_COUNTS, "lines": 0, "total": Decimal("0.00")} | dict.fromkeys(
        ["matched", "missing_at_channel", "missing_with_us", "amount_differs", "status_differs"], 0
    )
    assert Discrepancy.objects.count() == 0


def test_a_statement_that_cannot_be_read_fails_the_run(channel_simulator: ChannelSimulator) -> None:
    from payments.channels import ChannelTemporaryError
    from payments.simulator import client

    our_refund("wechat", "30.00")
    client.add_fault(channel="wechat", kind="http_500", operation="statement", base_url=channel_simulator.url)
    with CaptureQueriesContext(connection) as queries, pytest.raises(ChannelTemporaryError):
        services.reconciliation_run(channel="wechat", day=shop_today())
    # The statement is asked for first: our refunds of the day are not read for a run that cannot go on.
    assert [q["sql"] for q in queries if "refunds_refund" in q["sql"]] == []
    run = ReconciliationRun.objects.get()
    assert (run.status, run.statement_lines, run.missing_at_channel_count, Discrepancy.objects.count()) == (
        RunStatus.FAILED,
        0,
        0,
        0,
    )
    assert run.error.startswith("[wechat] statement: HTTP 500")
    # A failed day is run again without force once the channel answers.
    again = services.reconciliation_run(channel="wechat", day=shop_today())
    assert (again.pk, again.status, again.missing_at_channel_count, again.error) == (
        run.pk,
        RunStatus.SUCCEEDED,
        1,
        "",
    )


def test_a_failure_while_reading_our_refunds_fails_the_run_and_leaves_the_connection_usable(
    channel_simulator: ChannelSimulator, monkeypatch: Any
) -> None:
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    refunds = [our_refund("alipay", "30.00") for _ in range(5)]
    for refund in refunds:
        channel_refund(channel_simulator, "alipay", refund.out_refund_no, "30.00")
    added: list[list[tuple[int, str, Decimal]]] = []

    def add_ours(ledger: DayLedger, page: list[tuple[int, str, Decimal]]) -> None:
        if added:
            raise OSError(28, "No space left on device")
        added.append(page)

    monkeypatch.setattr(DayLedger, "add_ours", add_ours)
    with pytest.raises(OSError, match="No space left"):
        services.reconciliation_run(channel="alipay", day=shop_today())

    # The day's query was left with rows unread; its cursor was closed, so the failure was written on the same
    # connection (MySQL refuses any other statement while an unbuffered answer is still coming).
    assert len(added) == 1
    run = ReconciliationRun.objects.get()
    assert (run.status, run.statement_lines, run.error, Discrepancy.objects.count()) == (
        RunStatus.FAILED,
        0,
        "[Errno 28] No space left on device",
        0,
    )
    monkeypatch.undo()
    again = services.reconciliation_run(channel="alipay", day=shop_today())
    assert counts(again) | {"total": None} == {
        **EXPECTED_COUNTS,
        "lines": 5,
        "total": None,
        "matched": 5,
        "missing_at_channel": 0,
        "missing_with_us": 0,
        "amount_differs": 0,
        "status_differs": 0,
    }


def line(number: str, amount: str = "30.00", status: RefundStatus = RefundStatus.SUCCESS) -> StatementLine:
    return StatementLine(
        out_trade_no="ORD1",
        trade_no="T1",
        out_refund_no=number,
        channel_refund_id=None,
        amount=Decimal(amount),
        status=status,
        refunded_at=None,
    )


def test_a_run_killed_midway_is_replaced_once_it_stopped_moving(monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    refunds = [our_refund("alipay", "30.00") for _ in range(3)]
    day = shop_today()

    def killed() -> Iterator[StatementLine]:
        yield from (line(refund.out_refund_no) for refund in refunds[:2])
        yield line("RQFOREIGN0002")
        raise KeyboardInterrupt  # the process dies here: nothing after the first batch is written

    current = services.reconciliation_start(channel="alipay", day=day)
    with pytest.raises(KeyboardInterrupt):
        services.reconciliation_complete(current, killed())
    run = ReconciliationRun.objects.get()
    assert (run.status, run.statement_lines, run.matched_count, Discrepancy.objects.count()) == (
        RunStatus.RUNNING,
        2,
        2,
        0,
    )
    with pytest.raises(RunInProgress):
        services.reconciliation_start(channel="alipay", day=day)

    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        current = services.reconciliation_start(channel="alipay", day=day)
        run = services.reconciliation_complete(current, iter([line(r.out_refund_no) for r in refunds[:2]]))
    assert counts(run) | {"total": None} == {
        **EXPECTED_COUNTS,
        "lines": 2,
        "total": None,
        "matched": 2,
        "missing_at_channel": 1,
        "missing_with_us": 0,
        "amount_differs": 0,
        "status_differs": 0,
    }
    assert rows(run) == [
        ("missing_at_channel", refunds[2].out_refund_no, refunds[2].pk, Decimal("30.00"), "refunded", None, "")
    ]


def test_lines_are_matched_across_batches_and_repeats_are_flagged(monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    refunds = [our_refund("wechat", "20.00") for _ in range(3)]
    refunding = our_refund("wechat", "20.00", state=RefundState.REFUNDING)
    numbers = [r.out_refund_no for r in refunds]
    statement = [
        line(numbers[0], "20.00"),
        line(numbers[1], "20.00"),
        line(numbers[0], "20.00"),  # listed again, in a later batch
        line(refunding.out_refund_no, "20.00", RefundStatus.PROCESSING),  # agrees: both still under way
        line(numbers[2], "20.00"),
        line(numbers[2], "20.00"),  # listed again, in the same batch
    ]
    current = services.reconciliation_start(channel="wechat", day=shop_today())
    run = services.reconciliation_complete(current, iter(statement))
    assert (run.statement_lines, run.matched_count, run.listed_twice_count, run.missing_at_channel_count) == (
        6,
        4,
        2,
        0,
    )
    assert [(kind, number) for kind, number, *_ in rows(run)] == sorted(
        [("listed_twice", numbers[0]), ("listed_twice", numbers[2])]
    )


def test_unknown_channel_and_future_days_are_refused() -> None:
    with pytest.raises(UnknownChannel):
        services.reconciliation_run(channel="paypal", day=shop_today())
    with pytest.raises(DayInFuture):
        services.reconciliation_run(channel="wechat", day=shop_today() + timedelta(days=1))
    assert ReconciliationRun.objects.count() == 0


def test_resolving_needs_the_permission_and_a_note(finance: Any, agent: Any) -> None:
    from reconciliation.exceptions import AlreadyResolved, NotAllowed, NoteRequired

    refund = our_refund("alipay", "30.00")
    current = services.reconciliation_start(channel="alipay", day=shop_today())
    services.reconciliation_complete(current, iter([]))
    row = Discrepancy.objects.get()
    assert (row.kind, row.refund_id) == ("missing_at_channel", refund.pk)

    def state() -> tuple[Any, ...]:
        return Discrepancy.objects.values_list("resolved_by_id", "resolved_at", "resolution_note").get()

    with pytest.raises(NotAllowed):
        services.discrepancy_resolve(discrepancy=row, actor=agent, note="looked at it")
    with pytest.raises(NoteRequired) as blank:
        services.discrepancy_resolve(discrepancy=row, actor=finance, note=" \n ")
    assert (blank.value.field, blank.value.http_status) == ("note", 400)
    assert state() == (None, None, "")

    services.discrepancy_resolve(discrepancy=row, actor=finance, note="refund confirmed by Alipay support, case 7731")
    resolved = state()
    assert resolved[0] == finance.pk
    assert resolved[2] == "refund confirmed by Alipay support, case 7731"
    with pytest.raises(AlreadyResolved):
        services.discrepancy_resolve(discrepancy=row, actor=finance, note="again")
    assert state() == resolved


def test_a_refund_still_processing_at_wechat_differs_from_ours_refunded(channel_simulator: ChannelSimulator) -> None:
    from payments.channels import RefundRequest, get_channel
    from payments.simulator import client
    from tests.payments.helpers import paid_trade

    ours = our_refund("wechat", "30.00")
    processing = our_refund("wechat", "20.00", state=RefundState.REFUNDING)
    client.add_fault(channel="wechat", kind="processing", count=2, settle_after=3600, base_url=channel_simulator.url)
    for refund in (ours, processing):
        trade = paid_trade(channel_simulator, "wechat", "500.00")
        request = RefundRequest(trade[0], trade[1], refund.out_refund_no, refund.amount, Decimal("500.00"))
        assert get_channel("wechat").refund(request).status == RefundStatus.PROCESSING

    run = services.reconciliation_run(channel="wechat", day=shop_today())
    assert (run.statement_lines, run.matched_count, run.status_differs_count, run.missing_at_channel_count) == (
        2,
        1,
        1,
        0,
    )
    assert rows(run) == [
        ("status_differs", ours.out_refund_no, ours.pk, Decimal("30.00"), "refunded", Decimal("30.00"), "processing")
    ]


def test_a_stalled_run_that_was_taken_over_adds_nothing_to_the_new_one(monkeypatch: Any) -> None:
    from reconciliation.exceptions import RunSuperseded

    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    refunds = [our_refund("alipay", "30.00") for _ in range(2)]
    day = shop_today()
    stalled = services.reconciliation_start(channel="alipay", day=day)
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        taken_over = services.reconciliation_start(channel="alipay", day=day)
        run = services.reconciliation_complete(taken_over, iter([line(r.out_refund_no) for r in refunds]))
    after = (counts(run), rows(run))
    assert after[0]["matched"] == 2

    # The stalled pass wakes up: its first batch is refused and rolled back, the new results stand.
    with pytest.raises(RunSuperseded):
        services.reconciliation_complete(stalled, iter([line("RQFOREIGN0003"), line("RQFOREIGN0004")]))
    assert (counts(run), rows(run)) == after
    assert Discrepancy.objects.count() == 0


@pytest.mark.parametrize("held", [True, False], ids=["candidates held", "asked per batch"])
def test_a_refund_listed_a_day_late_resolves_the_earlier_missing_at_channel(
    settings: Any, monkeypatch: Any, held: bool
) -> None:
    if not held:  # more open discrepancies of earlier days than a run holds: each batch asks the database
        monkeypatch.setattr(services, "LATE_CANDIDATES_MAX", 1)
    today = shop_today()
    yesterday = today - timedelta(days=1)
    just_before_midnight = datetime.combine(today, time(0, 0), tzinfo=SHOP_TZ) - timedelta(seconds=10)
    late = our_refund("alipay", "30.00", refunded_at=just_before_midnight)
    never_listed = our_refund("alipay", "12.00", refunded_at=just_before_midnight)
    amount = our_refund("alipay", "25.00", refunded_at=just_before_midnight - timedelta(hours=1))
    long_ago = our_refund("alipay", "40.00", refunded_at=just_before_midnight - timedelta(days=5))
    for day in (yesterday - timedelta(days=5), yesterday):
        listed = [line(amount.out_refund_no, "20.00")] if day == yesterday else []
        services.reconciliation_complete(services.reconciliation_start(channel="alipay", day=day), iter(listed))
    earlier = ReconciliationRun.objects.get(business_day=yesterday)
    assert sorted(rows(earlier)) == sorted(
        [
            ("missing_at_channel", late.out_refund_no, late.pk, Decimal("30.00"), "refunded", None, ""),
            ("missing_at_channel", never_listed.out_refund_no, never_listed.pk, Decimal("12.00"), "refunded", None, ""),
            (
                "amount_differs",
                amount.out_refund_no,
                amount.pk,
                Decimal("25.00"),
                "refunded",
                Decimal("20.00"),
                "success",
            ),
        ]
    )

    statement = [
        line(late.out_refund_no, "30.00"),
        line(amount.out_refund_no, "20.00"),
        line(long_ago.out_refund_no, "40.00"),
    ]
    with translation.override("zh-hans"):  # as the worker runs the daily job: in the shop's language
        current = services.reconciliation_start(channel="alipay", day=today)
        run = services.reconciliation_complete(current, iter(statement))
    assert current.listed_late == 1
    assert current.late_candidates == ({late.out_refund_no, never_listed.out_refund_no} if held else None)

    assert (run.matched_count, run.amount_differs_count, run.missing_at_channel_count) == (2, 1, 0)
    resolved = {
        number: (by, note)
        for number, by, note in Discrepancy.objects.filter(run=earlier, resolved_at__isnull=False).values_list(
            "out_refund_no", "resolved_by_id", "resolution_note"
        )
    }
    assert resolved == {late.out_refund_no: (None, f"迟列：已列入渠道 {today:%Y-%m-%d} 的对账单。")}
    # Never listed, the amount that differed, and a refund older than the window: still for a person.
    assert set(
        Discrepancy.objects.filter(resolved_at__isnull=True).values_list("run__business_day", "out_refund_no")
    ) == {
        (yesterday, never_listed.out_refund_no),
        (yesterday, amount.out_refund_no),
        (today, amount.out_refund_no),
        (yesterday - timedelta(days=5), long_ago.out_refund_no),
    }

    # Running the earlier day again keeps the resolution.
    services.reconciliation_complete(
        services.reconciliation_start(channel="alipay", day=yesterday, force=True), iter([])
    )
    again = Discrepancy.objects.get(run=earlier, out_refund_no=late.out_refund_no)
    assert (again.resolved_at is not None, again.resolution_note) == (True, resolved[late.out_refund_no][1])
