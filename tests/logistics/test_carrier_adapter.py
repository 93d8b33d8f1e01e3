"""The HTTP carrier adapter against the simulator: signed both ways, pending then decided after the delay,
idempotent requests, refusals and outages mapped to the port's two error kinds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from logistics.carriers import (
    CarrierRejected,
    CarrierTemporaryError,
    HttpCarrier,
    InterceptionOutcome,
    InterceptionRequest,
    get_carrier,
)
from logistics.simulator import client as carrier


def _request(tracking_no: str) -> InterceptionRequest:
    return InterceptionRequest(carrier="SF", tracking_no=tracking_no, reference="R1", notify_url="")


def test_request_then_query_until_decided(carrier_simulator: Any) -> None:
    adapter = get_carrier()
    first = adapter.request_interception(_request("SF100"))
    again = adapter.request_interception(_request("SF100"))
    assert first.outcome == InterceptionOutcome.PENDING
    assert again.carrier_request_id == first.carrier_request_id  # one interception per parcel
    outcome = InterceptionOutcome.PENDING
    for _attempt in range(100):
        outcome = adapter.query_interception(carrier="SF", tracking_no="SF100").outcome
        if outcome != InterceptionOutcome.PENDING:
            break
        time.sleep(0.02)
    assert outcome == InterceptionOutcome.SUCCEEDED
    assert adapter.query_interception(carrier="SF", tracking_no="SF999").outcome == InterceptionOutcome.NOT_FOUND


def test_outcomes_told_per_parcel(carrier_simulator: Any) -> None:
    adapter = get_carrier()
    carrier.set_outcome(tracking_no="SF200", outcome="rejected", note="已签收")
    with pytest.raises(CarrierRejected) as refused:
        adapter.request_interception(_request("SF200"))
    assert (refused.value.code, refused.value.message) == ("CANNOT_INTERCEPT", "已签收")
    carrier.set_outcome(tracking_no="SF201", outcome="error")
    with pytest.raises(CarrierTemporaryError):
        adapter.request_interception(_request("SF201"))


def test_a_wrong_secret_gets_no_usable_answer(carrier_simulator: Any) -> None:
    adapter = HttpCarrier(base_url=carrier_simulator.url, secret="wrong", timeout=0.5)
    with pytest.raises(CarrierTemporaryError):
        adapter.request_interception(_request("SF300"))
    assert carrier.state()["interceptions"] == []


def test_an_unreachable_carrier_is_a_temporary_error(carrier_simulator: Any, carrier_secret: str) -> None:
    adapter = HttpCarrier(base_url="http://127.0.0.1:9", secret=carrier_secret, timeout=0.5)
    with pytest.raises(CarrierTemporaryError):
        adapter.request_interception(_request("SF400"))
