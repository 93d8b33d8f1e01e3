"""Carrier notifications that pass the signature check but carry anything at all: fields missing, of the wrong type,
unknown statuses, odd times, another refund's reference, bodies that are not an object. What the carrier signed is
read with the same care as what it did not: never a 5xx, and a refusal changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from logistics.carriers import signing
from logistics.models import CarrierEvent, Interception
from logistics.views import MAX_NOTIFICATION_BYTES
from mall.json_limits import MAX_JSON_DEPTH
from refunds.models import RefundEvent
from tests.fuzzing import DEEP_JSON, JSON_VALUES, fuzz, rolled_back
from tests.logistics.test_notifications import URL, _event, intercepting  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
FUZZ = fuzz(200)
# Any JSON, and the words and times a carrier's fields hold (right ones in the wrong place, wrong ones).
VALUES = JSON_VALUES | st.sampled_from(
    ["succeeded", "failed", "delivered", "in_transit", "interception", "2026-02-30T25:00:00+08:00", "9" * 80]
)


def _snapshot() -> tuple[Any, ...]:
    return (
        tuple(Interception.objects.order_by("pk").values_list("status", flat=True)),
        CarrierEvent.objects.count(),
        RefundEvent.objects.count(),
    )


def test_signed_nonsense_never_answers_5xx(intercepting: Any) -> None:  # noqa: F811
    genuine = _event(intercepting)
    fields = sorted(genuine)
    secret = django_settings.CARRIER_NOTIFY_SECRET

    @FUZZ
    @given(
        changes=st.dictionaries(st.sampled_from(fields) | st.text(max_size=10), VALUES, max_size=4),
        dropped=st.lists(st.sampled_from(fields), max_size=3),
        whole=st.none() | VALUES,
    )
    def check(changes: dict[str, Any], dropped: list[str], whole: Any) -> None:
        if whole is not None:
            event: Any = whole
        else:
            event = {k: v for k, v in {**genuine, **changes}.items() if k not in dropped}
        body = json.dumps(event, ensure_ascii=False).encode("utf-8")
        headers = signing.signed_headers(secret, body)
        with rolled_back():
            before = _snapshot()
            response = Client().post(URL, data=body, content_type="application/json", headers=headers)
            assert response.status_code < 500, (event, response.status_code)
            if response.status_code >= 400:
                assert _snapshot() == before, event

    check()


def test_signed_deep_nesting_is_refused_and_changes_nothing(intercepting: Any) -> None:  # noqa: F811
    """JSON nested around the limit and far beyond the recursion limit, as the whole body or as one field of the
    genuine notification, correctly signed: deeper than the limit is refused with 400; never a 5xx."""
    genuine = json.dumps(_event(intercepting), ensure_ascii=False)
    secret = django_settings.CARRIER_NOTIFY_SECRET

    @fuzz(60)
    @given(deep=DEEP_JSON, field=st.none() | st.sampled_from(["note", "status", "reference", "extra"]))
    def check(deep: tuple[str, int], field: str | None) -> None:
        text, levels = deep
        body = text if field is None else genuine[:-1] + f', "{field}": {text}}}'
        levels += field is not None
        raw = body.encode("utf-8")
        with rolled_back():
            before = _snapshot()
            response = Client().post(
                URL, data=raw, content_type="application/json", headers=signing.signed_headers(secret, raw)
            )
            assert response.status_code < 500, (body[:80], response.status_code)
            if len(raw) > MAX_NOTIFICATION_BYTES:
                assert response.status_code == 413, body[:80]
            elif levels > MAX_JSON_DEPTH:
                assert response.status_code == 400, body[:80]
            if response.status_code >= 400:
                assert _snapshot() == before, body[:80]

    check()
