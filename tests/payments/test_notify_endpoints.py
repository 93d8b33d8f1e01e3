"""Channel notifications: verified, idempotent, answered in each protocol's form; forged or stale ones are
refused and change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from payments import jobs
from payments.channels.base import ChannelTemporaryError
from payments.models import ChannelAttempt
from payments.simulator import client as simulator_client
from refunds.models import Refund, RefundEvent, RefundState
from tests.payments.test_refund_end_to_end import _paid_order_at_simulator

pytestmark = pytest.mark.django_db
OK = {"alipay": (200, b"success"), "wechat": (200, b'{"code": "SUCCESS", "message": ""}')}


def _refund_awaiting_outcome(api: Any, customer: Any, channel: str, simulator: Any) -> Refund:
    order = _paid_order_at_simulator(customer, channel, simulator)
    item = order.items.get()
    body = api.post(
        "/api/v1/refunds/",
        {
            "order_no": order.order_no,
            "reason": "not_shipped",
            "kind": "refund_only",
            "items": [{"order_item_id": item.pk, "quantity": "1"}],
        },
        format="json",
    ).json()
    # The channel refunds but our call times out: the notification is how we learn the outcome.
    simulator_client.add_fault(channel=channel, kind="timeout", count=1, base_url=simulator.url)
    refund = Refund.objects.get(refund_no=body["refund_no"])
    with pytest.raises(ChannelTemporaryError):
        jobs.refund_execute(refund.pk)
    return refund


def _notification_for(refund: Refund, simulator: Any, *, age_seconds: float = 0) -> tuple[dict[str, str], bytes]:
    """The notification the channel sends for ``refund`` (as the simulator holds it), signed ``age_seconds`` ago."""
    return simulator_client.build_notification(
        channel=refund.channel,
        out_refund_no=refund.out_refund_no,
        out_trade_no=refund.order.payment.out_trade_no,
        age_seconds=age_seconds,
        base_url=simulator.url,
    )


def _post(client: Any, channel: str, headers: dict[str, str], body: bytes) -> Any:
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"}
    content_type = headers.get("Content-Type") or headers.get("content-type") or "application/json"
    return client.post(f"/payments/notify/{channel}/", body, content_type=content_type, **extra)


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_valid_notification_settles_once(
    client: Any, api: Any, customer: Any, channel: str, channel_simulator: Any
) -> None:
    refund = _refund_awaiting_outcome(api, customer, channel, channel_simulator)
    # The money went back an hour before the notification reaches us (say, across midnight).
    [booked] = [r for r in channel_simulator.ledger.refunds.values() if r.out_refund_no == refund.out_refund_no]
    booked.succeeded_at = succeeded_at = (timezone.now() - timedelta(hours=1)).replace(microsecond=0)
    headers, body = _notification_for(refund, channel_simulator)
    first = _post(client, channel, headers, body)
    again = _post(client, channel, headers, body)
    assert (first.status_code, first.content) == OK[channel]
    assert (again.status_code, again.content) == OK[channel]
    refund.refresh_from_db()
    assert refund.state == RefundState.REFUNDED
    assert RefundEvent.objects.filter(refund=refund, to_state=RefundState.REFUNDED).count() == 1
    # Filed under the channel's success time, not the time we heard of it: the day reconciliation looks for it.
    assert refund.refunded_at == succeeded_at


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
@pytest.mark.parametrize("attack", ["tampered", "stale"])
def test_forged_or_stale_notification_changes_nothing(
    client: Any, api: Any, customer: Any, channel: str, attack: str, channel_simulator: Any
) -> None:
    refund = _refund_awaiting_outcome(api, customer, channel, channel_simulator)
    headers, body = _notification_for(refund, channel_simulator, age_seconds=600 if attack == "stale" else 0)
    if attack == "tampered":
        body = body.replace(b"1", b"2", 1)
    events = RefundEvent.objects.filter(refund=refund).count()
    response = _post(client, channel, headers, body)
    assert response.status_code == 400
    refund.refresh_from_db()
    assert refund.state == RefundState.REFUNDING
    assert RefundEvent.objects.filter(refund=refund).count() == events


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_a_signed_success_for_a_refund_never_sent_is_acknowledged_kept_on_record_and_changes_nothing(
    client: Any, api: Any, customer: Any, channel: str, channel_simulator: Any, caplog: Any
) -> None:
    refund = _refund_awaiting_outcome(api, customer, channel, channel_simulator)
    # Ours says it was never sent (still under review), while the channel says the money went back under its number.
    Refund.objects.filter(pk=refund.pk).update(state=RefundState.PENDING_REVIEW)
    headers, body = _notification_for(refund, channel_simulator)
    events = RefundEvent.objects.filter(refund=refund).count()
    attempts = list(ChannelAttempt.objects.filter(refund=refund).values_list("operation", "outcome"))
    caplog.clear()

    response = _post(client, channel, headers, body)

    # Acknowledged: the channel would only send it again. Nothing changes; the notification is on record.
    assert (response.status_code, response.content) == OK[channel]
    refund.refresh_from_db()
    assert (refund.state, refund.refunded_at, refund.channel_refund_id) == (RefundState.PENDING_REVIEW, None, "")
    assert RefundEvent.objects.filter(refund=refund).count() == events
    after = list(ChannelAttempt.objects.filter(refund=refund).values_list("operation", "outcome"))
    assert after == [*attempts, ("notification", "success")]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        f"notification success for refund {refund.refund_no}, which is pending_review and was never sent to the channel"
    ]
