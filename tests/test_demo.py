"""The demo: ``seed_demo --json`` keeps the contract of API.md; ``seed_demo`` (``make run``) leaves work for each role,
paid and refunded through the channel simulator, and prints the same logins on every run."""

from __future__ import annotations

import io
import json
import re
import socket
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from logistics.models import Inspection, InspectionStatus
from mall.models import Order
from mall.shoptime import shop_today
from payments.models import AttemptOutcome, ChannelAttempt
from payments.simulator.ledger import Ledger
from payments.simulator.server import ChannelSimulator
from reconciliation.models import Discrepancy, DiscrepancyKind, ReconciliationRun, RunStatus
from refunds.jobs import auto_approval
from refunds.models import Dispute, DisputeStatus, Refund, RefundState
from tests.channel_simulator import (  # noqa: F401 - fixtures
    channel_keys,
    channel_simulator,
    channel_simulator_server,
    notification_inbox,
    notification_inbox_server,
)
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

LOGIN_LINE = re.compile(r"^  (staff|customer) .*$", re.MULTILINE)


def _demo_mode(settings: Any, tmp_path: Path) -> None:
    """The channels as ``make run`` has them: the simulator's gateway with the demo keys."""
    settings.ALIPAY_APP_ID = ""
    settings.WECHAT_MCH_ID = ""
    settings.CHANNEL_SIMULATOR_ENABLED = True
    settings.CHANNEL_SIMULATOR_STATE_FILE = tmp_path / "var" / "channel-simulator.json"


@pytest.fixture
def demo_channels(channel_simulator: ChannelSimulator, settings: Any, tmp_path: Path) -> ChannelSimulator:  # noqa: F811
    """A simulator already running where the adapters look for it (the session's), answering within the
    timeouts ``make run`` has (the fixture's half second is for tests of timeouts)."""
    _demo_mode(settings, tmp_path)
    settings.CHANNEL_TIMEOUT_SECONDS = 10.0
    return channel_simulator


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _seed_json() -> dict[str, Any]:
    return json.loads(_seed("--json"))


def _console(username: str) -> Client:
    client = Client(headers={"accept-language": "zh-hans"})
    client.force_login(get_user_model().objects.get(username=username))
    return client


def _refund_of(sku: str, state: str = RefundState.PENDING_REVIEW) -> Refund:
    return Refund.objects.get(state=state, items__order_item__sku=sku)


# --- the JSON contract ------------------------------------------------------------------------------------
def test_seed_demo_json_shape_and_states(demo_channels: ChannelSimulator) -> None:
    data = _seed_json()
    assert set(data) == {"customers", "staff"}
    assert len(data["customers"]) == 3
    customer = data["customers"][0]
    assert set(customer) == {"username", "password", "token", "orders"}
    statuses = {order["status"] for order in customer["orders"]}
    assert {"pending_payment", "paid", "shipped", "delivered", "completed", "partially_refunded"} <= statuses
    assert {order["channel"] for order in customer["orders"] if order["channel"]} == {"alipay", "wechat"}
    order = customer["orders"][1]
    assert set(order) == {"order_no", "status", "channel", "total_amount", "items"}
    assert set(order["items"][0]) == {"id", "sku", "quantity", "unit_price"}
    assert order["total_amount"] == "136.80"
    assert {tuple(s["groups"]) for s in data["staff"]} == {
        ("customer_service",),
        ("cs_supervisor",),
        ("finance",),
        ("operations",),
    }


def test_seed_demo_credentials_work(demo_channels: ChannelSimulator) -> None:
    data = _seed_json()
    for customer in data["customers"]:
        user = get_user_model().objects.get(username=customer["username"])
        assert user.check_password(customer["password"])
        response = client_for(user).get("/api/v1/orders/?page_size=100")
        assert response.json()["count"] == len(customer["orders"])
        assert [o["order_no"] for o in response.json()["results"]] == [
            o["order_no"] for o in reversed(customer["orders"])
        ]
    staff = data["staff"][0]
    staff_user = get_user_model().objects.get(username=staff["username"])
    assert staff_user.is_staff and staff_user.check_password(staff["password"])
    assert list(staff_user.groups.values_list("name", flat=True)) == staff["groups"]


def test_seed_demo_twice_adds_a_fresh_set(demo_channels: ChannelSimulator) -> None:
    first = _seed_json()
    count = Order.objects.count()
    second = _seed_json()
    assert Order.objects.count() == 2 * count
    assert {c["username"] for c in first["customers"]}.isdisjoint({c["username"] for c in second["customers"]})
    # Each set brings its refund made by hand at the channel: the day's reconciliation lists both.
    assert Discrepancy.objects.filter(kind=DiscrepancyKind.MISSING_WITH_US).count() == 2
    assert Discrepancy.objects.count() == 2


def test_seed_demo_json_leaves_a_day_being_reconciled_elsewhere_to_that_run(demo_channels: ChannelSimulator) -> None:
    now = timezone.now()
    moving = ReconciliationRun.objects.create(
        channel="alipay", business_day=shop_today(), status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
    )

    data = _seed_json()

    assert len(data["customers"]) == 3
    runs = ReconciliationRun.objects.filter(business_day=shop_today())
    assert sorted(runs.values_list("channel", "status", "matched_count")) == [
        ("alipay", RunStatus.RUNNING, 0),
        ("wechat", RunStatus.SUCCEEDED, 3),
    ]
    assert ReconciliationRun.objects.get(channel="alipay").started_at == moving.started_at


# --- the standing demo of make run ------------------------------------------------------------------------
def test_make_run_prints_the_same_logins_on_every_run_and_adds_nothing_the_second_time(
    demo_channels: ChannelSimulator,
) -> None:
    first = _seed("--customers", "1")
    counts = (get_user_model().objects.count(), Order.objects.count(), Refund.objects.count())

    second = _seed("--customers", "1")

    logins = LOGIN_LINE.findall(first)
    assert [line.group(0) for line in LOGIN_LINE.finditer(second)] == [
        line.group(0) for line in LOGIN_LINE.finditer(first)
    ]
    assert logins == ["staff", "staff", "staff", "staff", "customer"]
    assert first.startswith("Demo data created.") and second.startswith("Demo data already here: nothing added.")
    assert (get_user_model().objects.count(), Order.objects.count(), Refund.objects.count()) == counts
    for line in LOGIN_LINE.finditer(second):
        kind, username, password = line.group(0).split()[:3]
        user = get_user_model().objects.get(username=username)
        assert user.check_password(password)
        assert username in {"agent", "supervisor", "finance", "operator", "alice"}
        if kind == "customer":
            token = line.group(0).split()[-1]
            assert Client(headers={"authorization": f"Token {token}"}).get("/api/v1/orders/").status_code == 200


def test_a_standing_password_is_the_same_for_the_same_user_and_key_and_differs_otherwise(settings: Any) -> None:
    from mall.demo.accounts import standing_password

    agent = get_user_model().objects.create_user(username="agent")
    first = standing_password(agent)
    assert standing_password(get_user_model().objects.get(pk=agent.pk)) == first
    assert re.fullmatch(r"demo-[0-9a-f]{6}-[0-9a-f]{6}", first)
    # Another demo database: the same username made at another moment.
    agent.date_joined += timedelta(microseconds=1)
    assert standing_password(agent) != first
    agent.date_joined -= timedelta(microseconds=1)
    settings.SECRET_KEY = "another-" + settings.SECRET_KEY
    assert standing_password(agent) != first


def test_each_role_sees_its_work_in_the_console(demo_channels: ChannelSimulator) -> None:
    output = _seed()

    assert output.rstrip().splitlines()[-1] == (
        "Waiting: refunds to review 4 (above the cap, for a supervisor: 1; overdue: 1), open disputes 1, "
        f"returns to inspect 1, open reconciliation discrepancies 1, last reconciled day {shop_today():%Y-%m-%d}."
    )
    agent = _console("agent")
    queue = agent.get("/admin/refunds/refund/?state__exact=pending_review").content.decode()
    amounts = sorted(re.findall(r"¥[\d,]+\.\d\d", queue.split('id="result_list"')[1]))
    assert amounts == ["¥45.00", "¥49.00", "¥5,888.00", "¥596.00"]
    overdue = agent.get("/admin/refunds/refund/?overdue=yes").content.decode()
    assert re.findall(r'class="refund-no">(R\d+)<', overdue) == [_refund_of("DUR-MSW-1").refund_no]

    gift_box = _refund_of("GFT-LUX-1")
    page = agent.get(f"/admin/refunds/refund/{gift_box.pk}/change/").content.decode()
    assert 'id="act-approve"' not in page and 'id="approve-blocker"' in page
    assert "需主管审批" in page and "¥5,888.00" in page
    supervisor_page = _console("supervisor").get(f"/admin/refunds/refund/{gift_box.pk}/change/").content.decode()
    assert 'id="act-approve"' in supervisor_page

    strawberries = _refund_of("STR-DD-500")
    assert strawberries.evidence.count() == 2
    assert (strawberries.amount, strawberries.requires_supervisor) == (Decimal("49.00"), False)

    dispute = Dispute.objects.get(status=DisputeStatus.OPEN)
    assert dispute.refund == _refund_of("CHR-JL-KG", RefundState.REJECTED)
    disputes = agent.get("/admin/refunds/dispute/?status__exact=open").content.decode()
    assert dispute.dispute_no in disputes

    inspection = Inspection.objects.get(status=InspectionStatus.OPEN)
    assert inspection.refund == _refund_of("APL-FUJI-5", RefundState.INSPECTING)
    assert inspection.refund.return_shipment.received_at is not None
    inspections = agent.get("/admin/logistics/inspection/?status__exact=open").content.decode()
    assert inspection.refund.refund_no in inspections

    finance = _console("finance")
    runs = finance.get("/admin/reconciliation/reconciliationrun/").content.decode()
    open_counts = re.findall(r"resolved=no\">(\d+)</a>", runs)
    assert sorted(open_counts) == ["0", "1"]
    discrepancies = finance.get("/admin/reconciliation/discrepancy/?resolved=no").content.decode()
    assert Discrepancy.objects.get().out_refund_no in discrepancies


def test_the_demo_day_reconciles_to_exactly_the_one_refund_made_by_hand(demo_channels: ChannelSimulator) -> None:
    _seed()

    runs = {run.channel: run for run in ReconciliationRun.objects.filter(business_day=shop_today())}
    assert sorted(runs) == ["alipay", "wechat"]
    # Alipay: the refund before shipping matches; the refund made in the merchant console is not ours.
    assert (runs["alipay"].statement_lines, runs["alipay"].matched_count, runs["alipay"].discrepancy_count) == (2, 1, 1)
    # WeChat Pay: the three partial mango refunds.
    assert (runs["wechat"].statement_lines, runs["wechat"].matched_count, runs["wechat"].discrepancy_count) == (3, 3, 0)
    discrepancy = Discrepancy.objects.get()
    assert (discrepancy.run, discrepancy.kind, discrepancy.refund, discrepancy.channel_amount) == (
        runs["alipay"],
        DiscrepancyKind.MISSING_WITH_US,
        None,
        Decimal("10.00"),
    )
    assert discrepancy.out_refund_no.startswith("HAND")
    # Every refund that says refunded went through the channel: the simulator booked it, the shop recorded the call.
    booked = {
        (r["out_refund_no"], Decimal(r["amount"]), r["status"]) for r in demo_channels.ledger.snapshot()["refunds"]
    }
    refunded = Refund.objects.filter(state=RefundState.REFUNDED)
    assert refunded.count() == 4
    for refund in refunded:
        assert (refund.out_refund_no, refund.amount, "SUCCESS") in booked
        assert ChannelAttempt.objects.filter(refund=refund, outcome=AttemptOutcome.SUCCESS).count() == 1
    assert len(booked) == 5


def test_the_overdue_claim_stays_with_customer_service_after_the_automatic_approval(
    demo_channels: ChannelSimulator,
) -> None:
    _seed("--customers", "1")
    pending = set(Refund.objects.filter(state=RefundState.PENDING_REVIEW).values_list("refund_no", flat=True))
    durians = _refund_of("DUR-MSW-1")
    # Made three hours ago, as all its records say; due an hour ago.
    assert durians.due_at - durians.created_at == timedelta(hours=2)
    assert timedelta(minutes=60) < timezone.now() - durians.due_at < timedelta(minutes=65)
    made = {durians.state_changed_at, *(event.created_at for event in durians.events.all())}
    assert made | {photo.created_at for photo in durians.evidence.all()} == {durians.created_at}

    auto_approval()

    escalated = Refund.objects.filter(escalated_at__isnull=False)
    assert list(escalated.values_list("pk", "state")) == [(durians.pk, RefundState.PENDING_REVIEW)]
    assert set(Refund.objects.filter(state=RefundState.PENDING_REVIEW).values_list("refund_no", flat=True)) == pending


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_make_run_seeds_before_its_simulator_starts_and_that_simulator_holds_the_demo(
    channel_keys: Any,  # noqa: F811
    notification_inbox: Any,  # noqa: F811
    settings: Any,
    tmp_path: Path,
) -> None:
    _demo_mode(settings, tmp_path)
    port = _free_port()
    settings.CHANNEL_SIMULATOR_URL = f"http://127.0.0.1:{port}"
    settings.CHANNEL_SIMULATOR_KEYS_DIR = channel_keys.directory
    settings.PAYMENTS_NOTIFY_BASE_URL = notification_inbox.url

    _seed("--customers", "1")

    with socket.socket() as probe:  # the seeding's own simulator is gone
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    ledger = Ledger(settings.CHANNEL_SIMULATOR_STATE_FILE)
    paid = Order.objects.exclude(payment=None)
    assert {(channel, number) for channel, number in ledger.trades} == {
        (order.channel, order.payment.out_trade_no) for order in paid
    }
    refunded = Refund.objects.filter(state=RefundState.REFUNDED)
    assert sorted(r.out_refund_no for r in ledger.refunds.values() if not r.out_refund_no.startswith("HAND")) == sorted(
        refunded.values_list("out_refund_no", flat=True)
    )
    # The Procfile's simulator starts from that ledger: reconciling the day again against it gives the same result.
    from reconciliation.services import reconciliation_run

    with ChannelSimulator(channel_keys, port=port, state_path=settings.CHANNEL_SIMULATOR_STATE_FILE):
        alipay = reconciliation_run(channel="alipay", day=shop_today(), force=True)
        wechat = reconciliation_run(channel="wechat", day=shop_today(), force=True)
    assert (alipay.matched_count, alipay.missing_with_us_count, alipay.discrepancy_count) == (1, 1, 1)
    assert (wechat.matched_count, wechat.discrepancy_count) == (1, 0)


def test_with_merchant_channels_the_demo_is_refused_and_makes_nothing(
    channel_simulator: ChannelSimulator,  # noqa: F811
) -> None:
    before = (get_user_model().objects.count(), Order.objects.count())

    with pytest.raises(CommandError, match="alipay, wechat are configured with merchant settings"):
        _seed("--json")
    with pytest.raises(CommandError, match="merchant settings"):
        _seed()

    assert (get_user_model().objects.count(), Order.objects.count()) == before
    assert channel_simulator.ledger.trades == {}
