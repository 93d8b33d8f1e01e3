"""Reconciliation and the ways money goes back: refunds paid to store credit or by bank transfer are the shop's own
payments, never on a channel's statement and never "missing at the channel"; a channel line saying it could not pay
agrees with a refund a person then paid another way, and one saying it paid such a refund is money out twice.
Finance's report of the day shows what went back per destination."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from mall.shoptime import shop_today
from payments import jobs
from payments.offline import offline_transfer_confirm, offline_transfer_request
from payments.simulator import client as simulator_client
from payments.simulator.server import ChannelSimulator
from reconciliation import reports, services
from reconciliation.models import Discrepancy
from refunds import services as refund_services
from refunds.models import Refund, RefundDestination, RefundState
from refunds.selectors import refunded_by_destination
from tests.admin.conftest import login
from tests.factories import ProductFactory, UserFactory, make_order
from tests.reconciliation.helpers import channel_refund, our_refund, reviewer

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n% transfer receipt\n%%EOF\n"


def store_credit_refund(channel: str, amount: str) -> Refund:
    customer = UserFactory()
    order = make_order(customer, lines=[(ProductFactory(price=Decimal(amount)), "1")], channel=channel)
    refund, _created = refund_services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped",
        kind="refund_only",
        items=refund_services.full_order_items(order),
        destination="store_credit",
    )
    assert jobs.refund_execute(refund.pk) == "credited"
    return Refund.objects.get(pk=refund.pk)


def abnormal_refund_paid_by_transfer(simulator: ChannelSimulator, finance: Any, amount: str) -> Refund:
    """A WeChat Pay refund the channel booked ABNORMAL (so its statement lists it), then paid by bank transfer."""
    customer = UserFactory()
    order = make_order(customer, lines=[(ProductFactory(price=Decimal(amount)), "1")], channel="wechat")
    payment = order.payment
    simulator_client.register_trade(
        channel="wechat",
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        amount=payment.amount,
        refund_outcome="ABNORMAL",
        base_url=simulator.url,
    )
    refund, _created = refund_services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped",
        kind="refund_only",
        items=refund_services.full_order_items(order),
    )
    assert jobs.refund_execute(refund.pk) == "failed"
    refund = offline_transfer_request(refund=refund, actor=reviewer(), note="Wang Wu, BOC 6013 8200")
    offline_transfer_confirm(
        refund=refund, actor=finance, reference="BOC-778", proof=SimpleUploadedFile("r.pdf", PDF, "application/pdf")
    )
    return Refund.objects.get(pk=refund.pk)


def test_store_credit_and_transfers_stay_out_of_channel_matching(
    patient_simulator: ChannelSimulator, finance: Any, media_root: Any
) -> None:
    matched = our_refund("wechat", "30.00")
    channel_refund(patient_simulator, "wechat", matched.out_refund_no, "30.00")
    credited = store_credit_refund("wechat", "45.00")
    transferred = abnormal_refund_paid_by_transfer(patient_simulator, finance, "66.60")
    assert (credited.destination, transferred.destination) == ("store_credit", "offline")

    run = services.reconciliation_run(channel="wechat", day=shop_today())

    # The statement lists the matched refund and the ABNORMAL one (which agrees with our transfer); the store
    # credit refund is on no statement and is not missed.
    assert (run.statement_lines, run.matched_count, run.discrepancy_count) == (2, 2, 0)
    assert Discrepancy.objects.count() == 0


def test_a_channel_that_paid_a_refund_we_paid_otherwise_is_a_status_difference(
    patient_simulator: ChannelSimulator,
) -> None:
    credited = store_credit_refund("alipay", "20.00")
    # The channel says it paid the same request number too: the money went out twice.
    channel_refund(patient_simulator, "alipay", credited.out_refund_no, "20.00")

    run = services.reconciliation_run(channel="alipay", day=shop_today())

    assert list(Discrepancy.objects.values_list("kind", "out_refund_no", "our_state", "channel_status")) == [
        ("status_differs", credited.out_refund_no, "refunded", "success")
    ]
    assert (run.statement_lines, run.matched_count, run.status_differs_count) == (1, 0, 1)


def test_finance_sees_what_went_back_per_destination(
    patient_simulator: ChannelSimulator, finance: Any, media_root: Any
) -> None:
    for amount in ("30.00", "12.50"):
        refund = our_refund("wechat", amount)
        channel_refund(patient_simulator, "wechat", refund.out_refund_no, amount)
    store_credit_refund("wechat", "45.00")
    abnormal_refund_paid_by_transfer(patient_simulator, finance, "1066.60")
    store_credit_refund("alipay", "99.00")  # another channel's orders: not in the WeChat Pay day
    our_refund("wechat", "18.00", state=RefundState.FAILED)  # nothing went back

    day = shop_today()
    totals = [(t.destination, t.count, t.amount) for t in refunded_by_destination(day=day, channel="wechat")]
    assert totals == [
        (RefundDestination.ORIGINAL, 2, Decimal("42.50")),
        (RefundDestination.STORE_CREDIT, 1, Decimal("45.00")),
        (RefundDestination.OFFLINE, 1, Decimal("1066.60")),
    ]
    everything = [(t.destination, t.count, t.amount) for t in refunded_by_destination(day=day)]
    assert everything[1] == (RefundDestination.STORE_CREDIT, 2, Decimal("144.00"))

    run = services.reconciliation_run(channel="wechat", day=day)
    with translation.override("zh-hans"):
        rows = reports.destination_rows(run)
    assert rows == [
        ("退至原支付方式（2 笔）", Decimal("42.50")),
        ("退至店铺余额（1 笔）", Decimal("45.00")),
        ("退至线下银行转账（1 笔）", Decimal("1066.60")),
    ]
    client = login(finance)
    book = load_workbook(
        io.BytesIO(b"".join(client.get(reverse("admin:reconciliation_run_xlsx", args=[run.pk])).streaming_content))
    )
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True)}
    assert summary["Refunded to original payment (2)"] == 42.5
    assert summary["Refunded to store credit (1)"] == 45
    assert summary["Refunded to offline bank transfer (1)"] == 1066.6
    [amount_cell] = [row[1] for row in book["Summary"].iter_rows() if row[0].value == "Refunded to store credit (1)"]
    assert amount_cell.number_format == '"¥"#,##0.00'
    page = client.get(reverse("admin:reconciliation_reconciliationrun_change", args=[run.pk])).content.decode()
    assert (
        "Refunded to original payment (2) ¥42.50 · Refunded to store credit (1) ¥45.00"
        " · Refunded to offline bank transfer (1) ¥1,066.60"
    ) in page


def test_a_day_without_refunds_lists_every_destination_at_zero() -> None:
    assert [(t.destination, t.count, t.amount) for t in refunded_by_destination(day=shop_today())] == [
        ("original", 0, Decimal("0.00")),
        ("store_credit", 0, Decimal("0.00")),
        ("offline", 0, Decimal("0.00")),
    ]
