"""Steer a running carrier simulator: set outcomes, report deliveries, read its state.

The demo and the tests call these; the base URL defaults to ``settings.CARRIER_SIMULATOR_URL``.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

DEFAULT_TIMEOUT = 5.0


class SimulatorError(Exception):
    """The simulator refused a setup call (bad input) or could not be reached."""


def _url(base_url: str | None) -> str:
    return str(base_url or settings.CARRIER_SIMULATOR_URL).rstrip("/")


def _call(method: str, path: str, base_url: str | None, payload: dict[str, Any] | None = None) -> Any:
    try:
        response = requests.request(method, _url(base_url) + path, json=payload, timeout=DEFAULT_TIMEOUT)
    except requests.RequestException as exc:
        raise SimulatorError(f"carrier simulator unreachable at {_url(base_url)}: {exc}") from exc
    if response.status_code >= 400:
        raise SimulatorError(f"{method} {path}: {response.status_code} {response.text}")
    return response.json()


def set_outcome(
    *, tracking_no: str, outcome: str, delay: float | None = None, note: str = "", base_url: str | None = None
) -> Any:
    payload: dict[str, Any] = {"tracking_no": tracking_no, "outcome": outcome, "note": note}
    if delay is not None:
        payload["delay"] = delay
    return _call("POST", "/sim/outcome", base_url, payload)


def set_shipment_outcome(
    *, reference: str, outcome: str, delay: float | None = None, note: str = "", base_url: str | None = None
) -> Any:
    """What the carrier does with the shipment of ``reference``: shipped (default), silent, rejected or error."""
    payload: dict[str, Any] = {"reference": reference, "outcome": outcome, "note": note}
    if delay is not None:
        payload["delay"] = delay
    return _call("POST", "/sim/shipment-outcome", base_url, payload)


def report_delivered(
    *, tracking_no: str, notify_url: str, carrier: str = "", reference: str = "", base_url: str | None = None
) -> Any:
    payload = {"tracking_no": tracking_no, "carrier": carrier, "reference": reference, "notify_url": notify_url}
    return _call("POST", "/sim/delivered", base_url, payload)


def build_notification(*, base_url: str | None = None, age_seconds: float = 0, **event: Any) -> Any:
    return _call("POST", "/sim/notifications/build", base_url, {**event, "age_seconds": age_seconds})


def state(*, base_url: str | None = None) -> Any:
    return _call("GET", "/sim/state", base_url)
