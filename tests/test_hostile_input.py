"""Hostile input to the customer API gets a clear 4xx in the API's error shape and changes nothing: JSON nested
thousands deep, bodies over the size limit, too many fields or files, a photo that claims 100 million pixels. The
console refuses the same bodies with Django's plain 400. Each case asserts the exact answer and that nothing changed.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from mall.json_limits import MAX_JSON_DEPTH, JSONTooDeep, json_depth, json_loads
from mall.photos import MAX_PIXELS
from refunds.evidence import MAX_BYTES
from refunds.models import Refund, RefundEvidence
from tests.admin.conftest import login
from tests.factories import staff_user
from tests.fuzzing import JSON_VALUES, fuzz, nested_arrays, nested_objects
from tests.test_input_fuzz import _snapshot, shop  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
TOO_DEEP = {"code": "parse_error", "detail": f"JSON nested deeper than {MAX_JSON_DEPTH} levels."}
TOO_LARGE = {"code": "request_too_large", "detail": "The request body is too large."}


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


# --- the depth scan ---------------------------------------------------------------------------------------------
@fuzz(300)
@given(value=JSON_VALUES, text=st.text(alphabet='[]{}"\\ab', max_size=12))
def test_depth_scan_agrees_with_the_decoded_value(value: Any, text: str) -> None:
    # Brackets and escaped quotes inside strings are text, not structure.
    for candidate in (value, {text: [value, text]}, [[text], {"k": value}]):
        encoded = json.dumps(candidate, allow_nan=True)
        assert json_depth(encoded) == json_depth(encoded.encode()) == depth_of(candidate), encoded


def test_depth_limit_is_exact_and_needs_no_recursion() -> None:
    assert json_loads(nested_arrays(MAX_JSON_DEPTH)) is not None
    for hostile in (nested_arrays(MAX_JSON_DEPTH + 1), "[" * 1_000_000, nested_objects(100_000)):
        with pytest.raises(JSONTooDeep):
            json_loads(hostile)
    assert json_depth('"[[[[" ') == 0
    assert json_depth(r'["\"[[[", {"\\": [1]}]') == 3


# --- the API ----------------------------------------------------------------------------------------------------
def _targets(shop: dict[str, Any]) -> list[str]:  # noqa: F811
    awaiting, rejected = shop["refund_nos"]
    return [
        "/api/v1/refunds/",
        f"/api/v1/refunds/{awaiting}/return-shipment/",
        f"/api/v1/refunds/{rejected}/dispute/",
    ]


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        nested_arrays(100_000),
        nested_objects(5_000),
        '{"order_no": "x", "items": ' + nested_arrays(2_000) + "}",
        nested_arrays(MAX_JSON_DEPTH + 1),
    ],
    ids=["open-brackets", "arrays", "objects", "in-a-field", "one-too-deep"],
)
def test_deep_json_is_refused_on_every_endpoint(shop: dict[str, Any], body: str) -> None:  # noqa: F811
    api = shop["api"]
    for url in _targets(shop):
        before = _snapshot()
        response = api.post(url, body, content_type="application/json", **EN)
        assert (response.status_code, response.json()) == (400, TOO_DEEP), url
        assert _snapshot() == before


def test_json_at_the_depth_limit_reaches_validation(shop: dict[str, Any]) -> None:  # noqa: F811
    api = shop["api"]
    before = _snapshot()
    body = '{"order_no": ' + nested_arrays(MAX_JSON_DEPTH - 1) + "}"
    response = api.post("/api/v1/refunds/", body, content_type="application/json", **EN)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["fields"]) == {"order_no", "reason", "kind", "items"}
    assert _snapshot() == before


def test_deep_json_is_refused_in_the_default_language(shop: dict[str, Any]) -> None:  # noqa: F811
    response = shop["api"].post("/api/v1/refunds/", nested_arrays(5_000), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"code": "parse_error", "detail": f"JSON 嵌套超过 {MAX_JSON_DEPTH} 层。"}


LONE_SURROGATE = {"code": "parse_error", "detail": "JSON strings must be Unicode text: a lone surrogate escape is not."}


@pytest.mark.parametrize(
    "body",
    [
        '{"order_no": "O1", "reason": "\\ud800", "kind": "refund_only", "items": []}',
        '{"order_no": "O1", "reason": "not_shipped", "kind": "\\udfff", "items": []}',
        '{"destination": "x\\ud83c", "carrier": "SF", "tracking_no": "SF1"}',
        '{"description": "\\udc00\\ud800", "items": [{"order_item_id": 1, "quantity": "1"}]}',
        '{"\\ud800": 1}',
    ],
    ids=["reason", "kind", "half-a-pair", "reversed-pair", "key"],
)
def test_a_lone_surrogate_escape_is_refused_on_every_endpoint(shop: dict[str, Any], body: str) -> None:  # noqa: F811
    """Valid JSON, but no Unicode text: a choice field's error message quoted it back and the answer could not be
    encoded (500)."""
    api = shop["api"]
    for url in _targets(shop):
        before = _snapshot()
        response = api.post(url, body, content_type="application/json", **EN)
        assert (response.status_code, response.json()) == (400, LONE_SURROGATE), url
        assert _snapshot() == before


def test_a_surrogate_pair_is_a_character_and_reaches_validation(shop: dict[str, Any]) -> None:  # noqa: F811
    before = _snapshot()
    body = '{"order_no": "O1", "reason": "\\ud83c\\udf53", "kind": "refund_only", "items": []}'
    response = shop["api"].post("/api/v1/refunds/", body, content_type="application/json", **EN)
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert response.json()["fields"]["reason"] == ["\u201c\U0001f353\u201d is not a reason a customer may give."]
    assert _snapshot() == before


def test_a_lone_surrogate_is_refused_in_the_default_language(shop: dict[str, Any]) -> None:  # noqa: F811
    body = '{"order_no": "O1", "reason": "\\ud800", "kind": "refund_only", "items": []}'
    response = shop["api"].post("/api/v1/refunds/", body, content_type="application/json")
    assert (response.status_code, response.json()) == (
        400,
        {"code": "parse_error", "detail": "JSON 字符串必须是有效的 Unicode 文本：不能含有单独的代理项转义。"},
    )


def test_a_body_over_the_limit_answers_413_in_the_api_shape(shop: dict[str, Any]) -> None:  # noqa: F811
    api = shop["api"]
    description = "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"order_no": "x", "reason": "not_shipped", "kind": "refund_only", "description": description})
    for url in _targets(shop):
        before = _snapshot()
        response = api.post(url, body, content_type="application/json", **EN)
        assert (response.status_code, response.json()) == (413, TOO_LARGE), url
        assert _snapshot() == before


def test_too_many_fields_or_files_answer_400_in_the_api_shape(shop: dict[str, Any]) -> None:  # noqa: F811
    api = shop["api"]
    awaiting = shop["refund_nos"][0]
    fields = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    before = _snapshot()
    response = api.post("/api/v1/refunds/", fields, content_type="application/x-www-form-urlencoded", **EN)
    assert (response.status_code, response.json()) == (
        400,
        {"code": "too_many_fields", "detail": "The request has too many fields."},
    )
    files = [
        SimpleUploadedFile(f"{i}.png", b"x", "image/png") for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)
    ]
    response = api.post(f"/api/v1/refunds/{awaiting}/evidence/", {"file": files}, format="multipart", **EN)
    assert (response.status_code, response.json()) == (
        400,
        {"code": "too_many_files", "detail": "The request has too many files."},
    )
    assert _snapshot() == before
    assert not RefundEvidence.objects.exists()


def test_the_console_refuses_oversized_forms_with_a_plain_400(shop: dict[str, Any]) -> None:  # noqa: F811
    from mall.roles import CS_SUPERVISOR

    refund = Refund.objects.get(refund_no=shop["refund_nos"][0])
    console = login(staff_user(CS_SUPERVISOR, "hostile-supervisor"))
    big = "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    many = {f"f{i}": "1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    urls = [
        f"/admin/refunds/refund/{refund.pk}/note/",
        "/admin/refunds/refund/compensate/",
        "/admin/refunds/dispute/open/",
        "/admin/refunds/refund/",
    ]
    before = _snapshot()
    for url in urls:
        for data in ({"note": big}, many):
            response = console.post(url, data)
            assert response.status_code == 400, url
            assert response["Content-Type"].startswith("text/html"), url
    response = Client().post("/admin/login/", {"username": big, "password": "x"})
    assert response.status_code == 400
    assert _snapshot() == before


# --- evidence photos --------------------------------------------------------------------------------------------
def _png(image: Image.Image, info: PngImagePlugin.PngInfo | None = None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=info is None, pnginfo=info)
    return buffer.getvalue()


def _photo_of_exactly(size: int) -> bytes:
    """A real PNG of random pixels padded with a private chunk to exactly ``size`` bytes (a chunk costs 12)."""
    noise = Image.frombytes("RGB", (1200, 1200), random.Random(7).randbytes(1200 * 1200 * 3))
    base = len(_png(noise, PngImagePlugin.PngInfo()))
    info = PngImagePlugin.PngInfo()
    info.add(b"paDd", b"\0" * (size - base - 12))
    data = _png(noise, info)
    assert len(data) == size
    return data


def _media_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_decompression_bomb_is_refused_before_decoding(shop: dict[str, Any], media_root: Any) -> None:  # noqa: F811
    bomb = _png(Image.new("1", (10_000, 10_000)))
    assert len(bomb) < 16 * 1024  # 100 million pixels in about 12 KB
    awaiting = shop["refund_nos"][0]
    before = _snapshot()
    upload = SimpleUploadedFile("parcel.png", bomb, "image/png")
    response = shop["api"].post(f"/api/v1/refunds/{awaiting}/evidence/", {"file": upload}, format="multipart", **EN)
    message = f"The photo has too many pixels: at most {MAX_PIXELS // 1_000_000} megapixels."
    assert (response.status_code, response.json()) == (
        400,
        {"code": "invalid_evidence", "detail": message, "fields": {"file": [message]}},
    )
    assert _snapshot() == before
    assert not RefundEvidence.objects.exists()
    assert _media_files() == []


@pytest.mark.parametrize("pixels", [MAX_PIXELS + 1, 2 * 89_478_485 + 1], ids=["over-our-limit", "over-pillows-limit"])
def test_photos_over_the_pixel_limit_are_refused(shop: dict[str, Any], media_root: Any, pixels: int) -> None:  # noqa: F811
    width = 10_000
    bomb = _png(Image.new("1", (width, -(-pixels // width))))
    upload = SimpleUploadedFile("parcel.png", bomb, "image/png")
    response = shop["api"].post(
        f"/api/v1/refunds/{shop['refund_nos'][0]}/evidence/", {"file": upload}, format="multipart", **EN
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "file": [f"The photo has too many pixels: at most {MAX_PIXELS // 1_000_000} megapixels."]
    }
    assert not RefundEvidence.objects.exists()


def test_a_photo_of_exactly_5_mb_is_still_accepted(shop: dict[str, Any], media_root: Any) -> None:  # noqa: F811
    awaiting = shop["refund_nos"][0]
    photo = _photo_of_exactly(MAX_BYTES)
    response = shop["api"].post(
        f"/api/v1/refunds/{awaiting}/evidence/",
        {"file": SimpleUploadedFile("parcel.png", photo, "image/png")},
        format="multipart",
        **EN,
    )
    assert response.status_code == 201, response.json()
    stored = RefundEvidence.objects.get()
    assert (stored.size, stored.content_type) == (MAX_BYTES, "image/png")
    over = photo + b"\0"
    response = shop["api"].post(
        f"/api/v1/refunds/{awaiting}/evidence/",
        {"file": SimpleUploadedFile("parcel.png", over, "image/png")},
        format="multipart",
        **EN,
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"file": ["A photo may be at most 5 MB."]}
    assert RefundEvidence.objects.count() == 1


# --- paths no route matches ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v2/refunds/", "/api/v1/refunds/R1/../../x", "/api/%E4%B8%AD/"])
def test_an_api_path_no_route_matches_answers_in_the_error_shape(client: Client, path: str) -> None:
    response = client.get(path, **EN)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "detail": f"No such API path: {response.wsgi_request.path}"}


def test_the_api_404_speaks_chinese_by_default(client: Client) -> None:
    response = client.post("/api/v1/nope/", data="{}", content_type="application/json")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "没有这个 API 路径：/api/v1/nope/"}


def test_a_console_path_no_route_matches_keeps_the_html_page(admin_client: Client) -> None:
    response = admin_client.get("/admin/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
