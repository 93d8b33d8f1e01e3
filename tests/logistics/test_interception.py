"""Interception against the carrier simulator: answers that arrive by query (the notification was lost), a
carrier that never answers (counts as failed after the time limit), one that refuses at once, one that is down,
and an answer that arrives after the customer withdrew."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from logistics import jobs
from logistics.carriers import CarrierTemporaryError
from logistics.models import Interception, InterceptionStatus
from logistics.simulator import client as carrier
from mall.models import StockMovement
from refunds import services as refund_services
from refunds.models import RefundEvent, RefundState
from tests.factories import reload
from tests.logistics.helpers import apply, claims, fruit, relay_all, shipped_order, stock_of

pytestmark = pytest.mark.django_db
S = RefundState


def _intercepting(customer: Any, quantity: str = "2") -> Any:
    order = shipped_order(customer, fruit("25.00"), quantity)
    refund = apply(customer, order, "not_received", "refund_only")
    assert refund.state == S.INTERCEPTING
    return refund


def _decided(simulator: Any, tracking_no: str, status: str) -> None:
    """Wait (bounded) until the simulator has decided the interception."""
    for _attempt in range(100):
        states = {i["tracking_no"]: i["status"] for i in carrier.state(base_url=simulator.url)["interceptions"]}
        if states.get(tracking_no) == status:
            return
        time.sleep(0.02)
    pytest.fail(f"the simulator did not decide {tracking_no} as {status}")


def test_the_sweep_asks_the_carrier_when_its_notification_was_lost(
    customer: Any, carrier_simulator: Any, carrier_inbox: Any
) -> None:
    refund = _intercepting(customer)
    tracking_no = refund.order.shipment.tracking_no
    jobs.interception_request(refund.pk)
    _decided(carrier_simulator, tracking_no, "succeeded")
    carrier_inbox.wait_for(1)  # delivered to the inbox, never handed to the app

    counts = jobs.interception_sweep()
    assert counts["concluded"] == 1
    refund = reload(refund)
    assert refund.state == S.REFUNDING
    assert Interception.objects.get(refund=refund).status == InterceptionStatus.SUCCEEDED
    assert jobs.interception_sweep()["concluded"] == 0


def test_a_carrier_that_does_not_answer_in_time_counts_as_failed(
    customer: Any, carrier_simulator: Any, settings: Any
) -> None:
    settings.INTERCEPTION_TIMEOUT_MINUTES = 30
    refund = _intercepting(customer)
    carrier.set_outcome(tracking_no=refund.order.shipment.tracking_no, outcome="silent")
    jobs.interception_request(refund.pk)

    assert jobs.interception_sweep()["concluded"] == 0  # still within the time limit: keep waiting
    assert reload(refund).state == S.INTERCEPTING

    with time_machine.travel(timezone.now() + timedelta(minutes=31), tick=True):
        assert jobs.interception_sweep()["concluded"] == 1
    refund = reload(refund)
    assert refund.state == S.AWAITING_RETURN
    interception = Interception.objects.get(refund=refund)
    assert interception.status == InterceptionStatus.TIMED_OUT
    assert claims(refund.order) == (Decimal("2.000"), Decimal("50.00"))  # the refund still holds its amount
    assert "未能及时确认拦截" in RefundEvent.objects.filter(refund=refund, to_state=S.AWAITING_RETURN).get().note


def test_a_late_success_after_the_time_limit_is_only_noted_for_staff(customer: Any, carrier_simulator: Any) -> None:
    refund = _intercepting(customer)
    tracking_no = refund.order.shipment.tracking_no
    carrier.set_outcome(tracking_no=tracking_no, outcome="silent")
    jobs.interception_request(refund.pk)
    with time_machine.travel(timezone.now() + timedelta(minutes=31), tick=True):
        jobs.interception_sweep()
    assert reload(refund).state == S.AWAITING_RETURN

    headers, body = carrier_simulator.build(
        {
            "event_id": "late-1",
            "type": "interception",
            "carrier": "SF",
            "tracking_no": tracking_no,
            "status": "succeeded",
            "reference": refund.refund_no,
        }
    )
    answer = Client().post("/logistics/notify/", data=body, content_type="application/json", headers=headers)
    assert answer.status_code == 200
    refund = reload(refund)
    assert refund.state == S.AWAITING_RETURN
    assert Interception.objects.get(refund=refund).status == InterceptionStatus.TIMED_OUT
    note = RefundEvent.objects.filter(refund=refund).order_by("-id").first()
    assert note is not None and note.internal and "时限后才拦截成功" in note.note
    jobs.restock_intercepted(refund.pk)
    assert not StockMovement.objects.filter(reference__startswith=f"intercept:{refund.refund_no}:").exists()


def test_a_carrier_that_refuses_at_once_sends_the_refund_to_wait_for_the_goods(
    customer: Any, carrier_simulator: Any
) -> None:
    refund = _intercepting(customer)
    carrier.set_outcome(tracking_no=refund.order.shipment.tracking_no, outcome="rejected", note="已签收")
    jobs.interception_request(refund.pk)
    assert reload(refund).state == S.AWAITING_RETURN
    interception = Interception.objects.get(refund=refund)
    assert (interception.status, interception.carrier_note) == (InterceptionStatus.FAILED, "已签收")


def test_a_carrier_that_is_down_is_asked_again_by_the_sweep(customer: Any, carrier_simulator: Any) -> None:
    refund = _intercepting(customer)
    tracking_no = refund.order.shipment.tracking_no
    carrier.set_outcome(tracking_no=tracking_no, outcome="error")
    with pytest.raises(CarrierTemporaryError):
        jobs.interception_request(refund.pk)  # raises so that the job queue retries it
    interception = Interception.objects.get(refund=refund)
    assert (interception.status, interception.requested_at, interception.attempts) == ("pending", None, 1)
    assert interception.last_error
    assert reload(refund).state == S.INTERCEPTING

    carrier.set_outcome(tracking_no=tracking_no, outcome="failed")
    jobs.interception_sweep()
    interception.refresh_from_db()
    assert interception.requested_at is not None and interception.attempts == 2


def test_an_answer_after_the_customer_withdrew_moves_nothing(
    customer: Any, carrier_simulator: Any, carrier_inbox: Any
) -> None:
    refund = _intercepting(customer)
    product = refund.items.get().order_item.product
    jobs.interception_request(refund.pk)
    refund_services.refund_cancel(refund=refund, actor=customer)
    assert [r.status_code for r in relay_all(carrier_inbox, 1)] == [200]
    assert reload(refund).state == S.CANCELLED
    assert Interception.objects.get(refund=refund).status == InterceptionStatus.SUCCEEDED
    jobs.restock_intercepted(refund.pk)
    assert stock_of(product) == Decimal("100.000")
    assert not StockMovement.objects.filter(reference__startswith=f"intercept:{refund.refund_no}:").exists()
    note = RefundEvent.objects.filter(refund=refund).order_by("-id").first()
    assert note is not None and note.internal and "请重新安排发货" in note.note


def test_the_sweep_requests_interceptions_whose_job_was_lost(
    customer: Any, carrier_simulator: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _intercepting(customer)  # its job, scheduled on commit, never ran here
    assert not Interception.objects.filter(refund=refund).exists()
    settings.JOBS_IN_PROCESS = True
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.interception_sweep()["requested"] == 1
    interception = Interception.objects.get(refund=refund)
    assert interception.requested_at is not None
    assert [i["reference"] for i in carrier.state()["interceptions"]] == [refund.refund_no]
