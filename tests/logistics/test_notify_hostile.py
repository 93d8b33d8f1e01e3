"""Carrier notifications that are correctly signed but nested thousands deep. The signature proves who sent it, not
that it is sane: refused with 400 in the carrier's answer form, and nothing changes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from logistics.carriers import signing
from mall.json_limits import MAX_JSON_DEPTH
from tests.fuzzing import nested_arrays, nested_objects
from tests.logistics.test_notifications import URL, _event, _nothing_changed, _post, intercepting  # noqa: F401

pytestmark = pytest.mark.django_db
REFUSED = (400, {"code": "FAIL", "message": "The notification could not be verified."})


def _answer(response: Any) -> tuple[int, Any]:
    return response.status_code, response.json()


@pytest.mark.parametrize(
    "body",
    [
        "[" * 60_000,
        nested_arrays(30_000),
        nested_objects(5_000),
        "EVENT-WITH-DEEP-NOTE",
        "EVENT-ONE-TOO-DEEP",
    ],
    ids=["open-brackets", "arrays", "objects", "deep-note", "one-too-deep"],
)
def test_a_signed_deeply_nested_notification_is_refused(intercepting: Any, carrier_secret: str, body: str) -> None:  # noqa: F811
    if body == "EVENT-WITH-DEEP-NOTE":
        body = json.dumps(_event(intercepting))[:-1] + ', "note": ' + nested_objects(5_000) + "}"
    elif body == "EVENT-ONE-TOO-DEEP":
        body = json.dumps(_event(intercepting))[:-1] + ', "note": ' + nested_arrays(MAX_JSON_DEPTH) + "}"
    raw = body.encode()
    assert len(raw) < 64 * 1024  # under the size limit: it is the nesting that is refused
    response = Client(headers={"accept-language": "en"}).post(
        URL, data=raw, content_type="application/json", headers=signing.signed_headers(carrier_secret, raw)
    )
    assert _answer(response) == REFUSED
    _nothing_changed(intercepting)


def test_a_signed_notification_at_the_depth_limit_acts(intercepting: Any, carrier_secret: str) -> None:  # noqa: F811
    body = (json.dumps(_event(intercepting))[:-1] + ', "note": ' + nested_arrays(MAX_JSON_DEPTH - 1) + "}").encode()
    response = _post(signing.signed_headers(carrier_secret, body), body)
    assert _answer(response) == (200, {"code": "SUCCESS"})
