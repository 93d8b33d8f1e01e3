"""The carrier notification endpoint: only a message signed with the shared secret, within five minutes, acts;
anything else is refused with 4xx and changes nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from logistics import jobs
from logistics.carriers import signing
from logistics.models import CarrierEvent, Interception, InterceptionStatus
from logistics.simulator import client as carrier
from refunds.models import RefundEvent, RefundState
from tests.factories import reload
from tests.logistics.helpers import apply, fruit, shipped_order

pytestmark = pytest.mark.django_db
URL = "/logistics/notify/"


@pytest.fixture
def intercepting(customer: Any, carrier_simulator: Any) -> Any:
    order = shipped_order(customer, fruit("25.00"), "2")
    refund = apply(customer, order, "not_received", "refund_only")
    carrier.set_outcome(tracking_no=order.shipment.tracking_no, outcome="silent")
    jobs.interception_request(refund.pk)
    return refund


def _event(refund: Any, status: str = "succeeded") -> dict[str, Any]:
    return {
        "event_id": "evt-0001",
        "type": "interception",
        "carrier": "SF",
        "tracking_no": refund.order.shipment.tracking_no,
        "status": status,
        "reference": refund.refund_no,
        "occurred_at": "2026-11-24T10:00:00+08:00",
    }


def _post(headers: dict[str, str], body: bytes) -> Any:
    return Client().post(URL, data=body, content_type="application/json", headers=headers)


def _nothing_changed(refund: Any) -> None:
    assert reload(refund).state == RefundState.INTERCEPTING
    assert Interception.objects.get(refund=refund).status == InterceptionStatus.PENDING
    assert not CarrierEvent.objects.exists()
    assert not RefundEvent.objects.filter(refund=refund, to_state=RefundState.REFUNDING).exists()


def test_a_valid_notification_acts(intercepting: Any, carrier_simulator: Any) -> None:
    headers, body = carrier_simulator.build(_event(intercepting))
    response = _post(headers, body)
    assert (response.status_code, response.json()) == (200, {"code": "SUCCESS"})
    assert reload(intercepting).state == RefundState.REFUNDING


def test_a_forged_signature_is_refused(intercepting: Any) -> None:
    body = json.dumps(_event(intercepting)).encode()
    response = _post(signing.signed_headers("not-the-shared-secret", body), body)
    assert response.status_code == 400
    assert response.json()["code"] == "FAIL"
    _nothing_changed(intercepting)


def test_a_stale_notification_is_refused(intercepting: Any, carrier_simulator: Any) -> None:
    built = carrier.build_notification(age_seconds=301, **_event(intercepting))
    response = _post(built["headers"], built["body"].encode())
    assert response.status_code == 400
    _nothing_changed(intercepting)


def test_a_notification_from_the_future_is_refused(intercepting: Any, carrier_secret: str) -> None:
    body = json.dumps(_event(intercepting)).encode()
    response = _post(signing.signed_headers(carrier_secret, body, now=time.time() + 600), body)
    assert response.status_code == 400
    _nothing_changed(intercepting)


@pytest.mark.parametrize(
    "stamp", ["\u00b2", "\u00b9\u00b2\u00b3", "1\u00b2"], ids=["superscript", "superscripts", "mixed"]
)
def test_a_timestamp_of_digits_that_are_not_ascii_is_refused(
    intercepting: Any, carrier_secret: str, stamp: str
) -> None:
    """HTTP headers arrive decoded as Latin-1, where "\u00b2" counts as a digit to str.isdigit() but not to int()."""
    _refused_with_header(intercepting, carrier_secret, signing.TIMESTAMP_HEADER, stamp)


def _refused_with_header(intercepting: Any, carrier_secret: str, name: str, value: str) -> None:
    """A correctly signed notification with header ``name`` replaced by ``value``: refused, nothing changed."""
    body = json.dumps(_event(intercepting)).encode()
    headers = {**signing.signed_headers(carrier_secret, body), name: value}
    response = Client(headers={"accept-language": "en"}).post(
        URL, data=body, content_type="application/json", headers=headers
    )
    assert (response.status_code, response.json()) == (
        400,
        {"code": "FAIL", "message": "The notification could not be verified."},
    )
    _nothing_changed(intercepting)


def test_a_tampered_body_is_refused(intercepting: Any, carrier_simulator: Any) -> None:
    headers, body = carrier_simulator.build(_event(intercepting, status="failed"))
    response = _post(headers, body.replace(b'"failed"', b'"succeeded"'))
    assert response.status_code == 400
    _nothing_changed(intercepting)


def test_missing_signature_headers_and_bad_bodies_are_refused(intercepting: Any, carrier_secret: str) -> None:
    body = json.dumps(_event(intercepting)).encode()
    assert _post({}, body).status_code == 400
    garbage = b"not json"
    assert _post(signing.signed_headers(carrier_secret, garbage), garbage).status_code == 400
    no_outcome = json.dumps({**_event(intercepting), "status": "pending"}).encode()
    assert _post(signing.signed_headers(carrier_secret, no_outcome), no_outcome).status_code == 400
    assert Client().get(URL).status_code == 405
    _nothing_changed(intercepting)


def test_without_a_configured_secret_everything_is_refused(
    intercepting: Any, carrier_simulator: Any, settings: Any
) -> None:
    headers, body = carrier_simulator.build(_event(intercepting))
    settings.CARRIER_NOTIFY_SECRET = ""
    assert _post(headers, body).status_code == 400
    _nothing_changed(intercepting)


def test_a_delivered_event_for_an_unknown_parcel_is_acknowledged_and_changes_nothing(
    intercepting: Any, carrier_simulator: Any
) -> None:
    headers, body = carrier_simulator.build({"event_id": "d-1", "type": "delivered", "tracking_no": "NOPE123"})
    assert _post(headers, body).status_code == 200
    assert CarrierEvent.objects.get().outcome == "not a return we wait for"
    assert reload(intercepting).state == RefundState.INTERCEPTING


@pytest.mark.parametrize("signature", ["\u00e9", "\u00c3\u00a9" * 32, "a" * 63 + "\u00ff"], ids=["one", "long", "last"])
def test_a_signature_that_is_not_ascii_is_refused(intercepting: Any, carrier_secret: str, signature: str) -> None:
    """A current timestamp is all it takes to reach the comparison, which refuses non-ASCII text (a 500 before)."""
    _refused_with_header(intercepting, carrier_secret, signing.SIGNATURE_HEADER, signature)
