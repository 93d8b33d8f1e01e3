"""Language: Simplified Chinese by default, English on request; the committed catalogue is complete and compiled."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from mall.models import Order, OrderStatus
from tests.conftest import client_for

CATALOGUE = Path(__file__).resolve().parent.parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


@pytest.mark.django_db
@pytest.mark.parametrize("accept_language", [None, "zh-CN,zh;q=0.9", "fr"])
def test_api_error_is_chinese_by_default(anon_api: Any, accept_language: str | None) -> None:
    headers = {"HTTP_ACCEPT_LANGUAGE": accept_language} if accept_language else {}
    response = anon_api.get("/api/v1/orders/", **headers)
    assert response.status_code == 401
    assert response.json() == {"code": "not_authenticated", "detail": "身份认证信息未提供。"}
    assert response["Content-Language"] == "zh-hans"


@pytest.mark.django_db
def test_api_error_is_english_on_request(anon_api: Any) -> None:
    response = anon_api.get("/api/v1/orders/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 401
    assert response.json() == {"code": "not_authenticated", "detail": "Authentication credentials were not provided."}
    assert response["Content-Language"] == "en"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept_language", "detail", "required"),
    [(None, "输入有误。", "该字段是必填项。"), ("en", "Invalid input.", "This field is required.")],
    ids=["default", "en"],
)
def test_validation_error_speaks_the_customers_language(
    customer: Any, accept_language: str | None, detail: str, required: str
) -> None:
    # "Invalid input." comes from this project's own catalogue, the field messages from DRF's.
    headers = {"HTTP_ACCEPT_LANGUAGE": accept_language} if accept_language else {}
    response = client_for(customer).post("/api/v1/refunds/", {}, format="json", **headers)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"] == detail
    assert body["fields"]["order_no"] == [required]


def test_order_status_labels() -> None:
    with translation.override("zh-hans"):
        assert str(OrderStatus.PAID.label) == "已付款待发货"
        assert str(OrderStatus.PENDING_PAYMENT.label) == "待付款"
        assert str(OrderStatus.SHIPPED.label) == "已发货运输中"
        assert str(OrderStatus.REFUNDED.label) == "已退款"
        assert str(Order._meta.verbose_name) == "订单"
    with translation.override("en"):
        assert str(OrderStatus.PAID.label) == "paid, not shipped"


def read_catalogue(path: Path) -> list[dict[str, Any]]:
    """Entries of a .po file as {"msgctxt"?, "msgid", "msgid_plural"?, "msgstr" | "msgstr[0]", "fuzzy"}."""
    entries: list[dict[str, Any]] = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry: dict[str, Any] = {"fuzzy": False}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["fuzzy"] = entry["fuzzy"] or "fuzzy" in line
            elif line.startswith("#"):
                continue
            elif line.startswith('"') and key:
                entry[key] += ast.literal_eval(line)
            else:
                key, _, value = line.partition(" ")
                entry[key] = ast.literal_eval(value)
        if entry.get("msgid"):  # not the header
            entries.append(entry)
    return entries


def test_catalogue_translates_every_string() -> None:
    entries = read_catalogue(CATALOGUE)
    assert len(entries) > 100
    untranslated = [e["msgid"] for e in entries if e["fuzzy"] or not (e.get("msgstr") or e.get("msgstr[0]"))]
    assert untranslated == [], "translate these in the .po, then run scripts/update_messages.sh"


def test_compiled_catalogue_matches_the_po() -> None:
    # The .mo is what runs; a .po edited without compiling (scripts/update_messages.sh) would not be served.
    with translation.override("zh-hans"):
        for entry in read_catalogue(CATALOGUE):
            if "msgid_plural" in entry:
                got = translation.ngettext(entry["msgid"], entry["msgid_plural"], 1)
                expected = entry["msgstr[0]"]
            elif "msgctxt" in entry:
                got = translation.pgettext(entry["msgctxt"], entry["msgid"])
                expected = entry["msgstr"]
            else:
                got = translation.gettext(entry["msgid"])
                expected = entry["msgstr"]
            assert got == expected, entry["msgid"]
