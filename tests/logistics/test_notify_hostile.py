"""Carrier notifications that are correctly signed but nested thousands deep. The signature proves who sent it, not
that it is sane: refused with 400 in the carrier's answer form, and nothing changes. And the warehouse's inspection
photos, refused by pixel count like the customers' evidence."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from PIL import Image

from logistics.carriers import signing
from logistics.exceptions import InvalidInspection
from logistics.models import InspectionPhoto, InspectionRecord
from mall.json_limits import MAX_JSON_DEPTH
from mall.photos import MAX_PIXELS
from tests.fuzzing import nested_arrays, nested_objects
from tests.logistics.helpers import fruit
from tests.logistics.test_inspection import _inspecting, _record
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


def test_an_inspection_photo_bomb_is_refused(customer: Any, agent: Any, media_root: Any) -> None:
    """The warehouse's inspection records read photos through the same check as the customers' evidence."""
    refund = _inspecting(customer, agent, fruit(), "2")
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, "PNG", optimize=True)
    bomb = SimpleUploadedFile("parcel.png", buffer.getvalue(), "image/png")
    with translation.override("en"), pytest.raises(InvalidInspection) as refused:
        _record(refund, agent, "2", "spoiled", photos=[bomb])
    assert (refused.value.field, str(refused.value.message)) == (
        "photos",
        f"The photo has too many pixels: at most {MAX_PIXELS // 1_000_000} megapixels.",
    )
    assert not InspectionRecord.objects.exists()
    assert not InspectionPhoto.objects.exists()
    assert not [p for p in Path(media_root).rglob("*") if p.is_file()]
