"""Staff switch the console between Chinese and English (kept in a cookie), and every page writes dates and times
one way, in Asia/Shanghai: 2027-03-10 10:00."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from payments.channels import RefundStatus, StatementLine
from reconciliation import services as reconciliation
from tests.admin.conftest import pending_refund

pytestmark = pytest.mark.django_db
SWITCH = "/i18n/setlang/"
NOW = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def staff_client(user: Any, language: str | None = None) -> Client:
    """A logged-in client whose browser asks for ``language`` (None: asks for nothing)."""
    client = Client(headers={"accept-language": language} if language else {})
    client.force_login(user)
    return client


def lang_of(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_the_console_speaks_chinese_by_default_and_english_when_asked(agent: Any) -> None:
    chinese = staff_client(agent).get("/admin/").content.decode()
    assert lang_of(chinese) == "zh-hans"
    assert "退款后台" in chinese
    english = staff_client(agent, "en").get("/admin/").content.decode()
    assert lang_of(english) == "en"
    assert "Refund back office" in english


def test_switching_language_is_kept_in_a_cookie(agent: Any) -> None:
    client = staff_client(agent, "zh-CN,zh;q=0.9")  # a Chinese browser
    response = client.post(SWITCH, {"language": "en", "next": "/admin/refunds/refund/?overdue=yes"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/refunds/refund/?overdue=yes"
    cookie = response.cookies["django_language"]
    assert cookie.value == "en"
    assert cookie["max-age"] == 365 * 24 * 3600
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    # The cookie wins over the browser's Accept-Language, on every page after.
    html = client.get("/admin/refunds/refund/").content.decode()
    assert lang_of(html) == "en"
    assert "<title>Select refund to view | Fruit mall refunds</title>" in html
    back = client.post(SWITCH, {"language": "zh-hans", "next": "/admin/"})
    assert back.cookies["django_language"].value == "zh-hans"
    assert lang_of(client.get("/admin/").content.decode()) == "zh-hans"


@pytest.mark.parametrize("language", ["fr", "", "zh-hant", "en" * 200], ids=["fr", "empty", "zh-hant", "long"])
def test_a_language_the_site_does_not_speak_is_refused(agent: Any, language: str) -> None:
    client = staff_client(agent, "en")
    response = client.post(SWITCH, {"language": language, "next": "/admin/"})
    assert response.status_code == 400
    assert response.content.decode() == "language: choose one of zh-hans, en."
    assert "django_language" not in response.cookies
    assert "django_language" not in client.cookies
    assert lang_of(client.get("/admin/").content.decode()) == "en"


def test_the_switch_only_posts_and_only_goes_back_to_this_site(agent: Any) -> None:
    client = staff_client(agent)
    assert client.get(SWITCH, {"language": "en"}).status_code == 405
    assert "django_language" not in client.cookies
    away = client.post(SWITCH, {"language": "en", "next": "https://evil.example/"})
    assert away.status_code == 302
    assert away["Location"] == "/"
    assert away.cookies["django_language"].value == "en"


def switch_form(html: str) -> str:
    match = re.search(r'<form id="language-switch".*?</form>', html, re.S)
    assert match is not None
    return match.group(0)


def test_the_header_carries_a_script_free_switch(agent: Any) -> None:
    html = staff_client(agent).get("/admin/refunds/refund/?overdue=yes").content.decode()
    form = switch_form(html)
    assert 'action="/i18n/setlang/" method="post"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    assert '<input type="hidden" name="next" value="/admin/refunds/refund/?overdue=yes">' in form
    buttons = re.findall(
        r'<button type="submit" name="language" value="([^"]+)"[^>]*aria-pressed="(\w+)"[^>]*>([^<]+)<', form
    )
    assert buttons == [("zh-hans", "true", "简体中文"), ("en", "false", "English")]
    # Nothing for a Content-Security-Policy to refuse: no inline handlers, no script.
    assert re.search(r"\son\w+=", form) is None
    assert "<script" not in form
    # The login page has it too, for staff who have not logged in yet.
    login_page = Client().get("/admin/login/").content.decode()
    assert 'value="en"' in switch_form(login_page)


@pytest.fixture
def dated(agent: Any) -> dict[str, Any]:
    with time_machine.travel(NOW, tick=False):
        refund = pending_refund()
        line = StatementLine("O1", "T1", "X1", "5030001", Decimal("8.80"), RefundStatus.SUCCESS, NOW)
        run = reconciliation.reconciliation_complete(
            reconciliation.reconciliation_start(channel="wechat", day=datetime(2027, 3, 9).date()), iter([line])
        )
    return {"refund": refund, "run": run}


@pytest.mark.parametrize("language", ["en", None], ids=["en", "zh-hans"])
def test_one_date_format_on_every_page(dated: dict[str, Any], agent: Any, finance: Any, language: str | None) -> None:
    refund = dated["refund"]
    with time_machine.travel(NOW, tick=False):
        agent_client, finance_client = staff_client(agent, language), staff_client(finance, language)
        queue = agent_client.get("/admin/refunds/refund/").content.decode()
        page = agent_client.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
        orders = agent_client.get("/admin/mall/order/").content.decode()
        runs = finance_client.get(reverse("admin:reconciliation_reconciliationrun_changelist")).content.decode()
        run_page = finance_client.get(
            reverse("admin:reconciliation_reconciliationrun_change", args=[dated["run"].pk])
        ).content.decode()
    # The queue's deadline (two hours after the application), the refund page's timeline, the orders list.
    assert '<span class="nowrap">2027-03-10</span> <span class="nowrap">12:00</span>' in queue
    assert "2027-03-10 10:00" in page
    assert re.search(r'<td class="field-created_at[^"]*">2027-03-10 10:00</td>', orders)
    # Finance: the business day and the finish time.
    assert re.search(r'<th class="field-day"><a href="[^"]+">2027-03-09</a></th>', runs)
    assert re.search(r'<td class="field-finished">2027-03-10 10:00</td>', runs)
    assert "2027-03-10 10:00" in run_page
    # The languages' own formats (2027年3月10日, March 10, 2027) appear nowhere.
    for html in (queue, page, orders, runs, run_page):
        assert "2027年" not in html
        assert "March" not in html
        assert "Mar. 10" not in html
