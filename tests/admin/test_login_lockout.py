"""Password guessing on the console's login page: locked per username and address (django-axes), unlocked by
a supervisor, an operator or a command, and the client address taken from X-Forwarded-For only behind proxies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings as django_settings
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from mall.roles import OPERATIONS
from tests.admin.conftest import login
from tests.factories import UserFactory, staff_user

pytestmark = pytest.mark.django_db

PASSWORD = "pass-w0rd-for-tests"  # tests.factories.UserFactory's
LOGIN = "/admin/login/"


@pytest.fixture
def clerk(db: None) -> Any:
    return UserFactory(username="clerk", is_staff=True)


def try_login(username: str, password: str, *, addr: str, xff: str | None = None, lang: str = "en") -> Any:
    """One attempt from a fresh browser at ``addr``; the response and whether it left a logged-in session."""
    headers = {"accept-language": lang}
    if xff is not None:
        headers["x-forwarded-for"] = xff
    client = Client(REMOTE_ADDR=addr, headers=headers)
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})
    response.logged_in = client.get("/admin/").status_code == 200
    return response


def fail(username: str, times: int, **where: Any) -> list[int]:
    return [try_login(username, "not-the-password", **where).status_code for _ in range(times)]


def test_five_wrong_passwords_lock_that_user_at_that_address(clerk: Any) -> None:
    # Four refusals show the form again; the fifth failure locks.
    assert fail("clerk", 5, addr="198.51.100.7") == [200, 200, 200, 200, 429]
    right = try_login("clerk", PASSWORD, addr="198.51.100.7")
    assert (right.status_code, right.logged_in) == (429, False)
    assert b"Too many failed logins" in right.content
    assert b"After 5 wrong passwords, logging in to this account from this address is locked." in right.content
    assert b"You can try again in 30 minutes" in right.content
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address) == ("clerk", "198.51.100.7")
    assert AccessFailureLog.objects.filter(username="clerk", locked_out=True).count() >= 1
    # The same user elsewhere, and someone else here, are not concerned.
    elsewhere = try_login("clerk", PASSWORD, addr="198.51.100.8")
    assert (elsewhere.status_code, elsewhere["Location"], elsewhere.logged_in) == (302, "/admin/", True)
    UserFactory(username="colleague", is_staff=True)
    colleague = try_login("colleague", PASSWORD, addr="198.51.100.7")
    assert (colleague.status_code, colleague.logged_in) == (302, True)


def test_thirty_wrong_passwords_then_the_right_one_does_not_log_in(clerk: Any) -> None:
    statuses = fail("clerk", 30, addr="198.51.100.7")
    assert statuses == [200] * 4 + [429] * 26
    right = try_login("clerk", PASSWORD, addr="198.51.100.7")
    assert (right.status_code, right.logged_in) == (429, False)


def test_the_lockout_page_speaks_chinese(clerk: Any) -> None:
    fail("clerk", 5, addr="198.51.100.7")
    page = try_login("clerk", PASSWORD, addr="198.51.100.7", lang="zh-hans")
    assert page.status_code == 429
    text = page.content.decode()
    assert "<h1>登录失败次数过多</h1>" in text
    assert "密码已连续输错 5 次，此账号已禁止从当前网络地址登录。" in text
    assert "请在 30 分钟后再试，或请主管或运维团队立即解锁。" in text


def test_a_right_password_before_the_limit_starts_the_count_again(clerk: Any) -> None:
    assert fail("clerk", 4, addr="198.51.100.7") == [200] * 4
    assert try_login("clerk", PASSWORD, addr="198.51.100.7").logged_in
    assert fail("clerk", 4, addr="198.51.100.7") == [200] * 4
    assert try_login("clerk", PASSWORD, addr="198.51.100.7").logged_in


def test_the_limit_and_cool_off_come_from_the_environment() -> None:
    env = {**os.environ, "LOGIN_FAILURE_LIMIT": "3", "LOGIN_COOLOFF_MINUTES": "45", "DJANGO_DEBUG": "1"}
    script = "import mall.settings as s; print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds())"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["3", "2700.0"]
    assert (django_settings.AXES_FAILURE_LIMIT, django_settings.AXES_LOCKOUT_PARAMETERS) == (
        5,
        [["username", "ip_address"]],
    )


def test_axes_reset_username_unlocks(clerk: Any) -> None:
    fail("clerk", 5, addr="198.51.100.7")
    out = StringIO()
    call_command("axes_reset_username", "clerk", stdout=out)
    assert "1 attempts removed." in out.getvalue()
    assert AccessAttempt.objects.count() == 0
    assert try_login("clerk", PASSWORD, addr="198.51.100.7").logged_in


@pytest.mark.parametrize("role", ["cs_supervisor", OPERATIONS])
def test_a_supervisor_or_an_operator_unlocks_from_the_console(role: str, clerk: Any) -> None:
    fail("clerk", 5, addr="198.51.100.7")
    attempt = AccessAttempt.objects.get()
    unlocker = login(staff_user(role, "unlocker"))
    listing = unlocker.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert b"198.51.100.7" in listing.content
    assert unlocker.get("/admin/axes/accessfailurelog/").status_code == 200
    response = unlocker.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert AccessAttempt.objects.count() == 0
    assert try_login("clerk", PASSWORD, addr="198.51.100.7").logged_in


@pytest.mark.parametrize("role", ["customer_service", "finance"])
def test_agents_and_finance_cannot_unlock(role: str, clerk: Any) -> None:
    fail("clerk", 5, addr="198.51.100.7")
    attempt = AccessAttempt.objects.get()
    client = login(staff_user(role, "someone"))
    assert client.get("/admin/axes/accessattempt/").status_code == 403
    assert client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AccessAttempt.objects.get().failures_since_start == attempt.failures_since_start
    assert try_login("clerk", PASSWORD, addr="198.51.100.7").status_code == 429


def test_without_trusted_proxies_x_forwarded_for_is_ignored(clerk: Any) -> None:
    # A guesser who writes a new address into every request still guesses from one address.
    statuses = [
        try_login("clerk", "not-the-password", addr="198.51.100.7", xff=f"203.0.113.{n}").status_code for n in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["198.51.100.7"]
    assert try_login("clerk", PASSWORD, addr="198.51.100.7", xff="203.0.113.99").status_code == 429


def proxy_settings(count: int) -> dict[str, Any]:
    """What mall.settings derives from TRUSTED_PROXY_COUNT, read from a fresh interpreter."""
    env = {**os.environ, "TRUSTED_PROXY_COUNT": str(count), "DJANGO_DEBUG": "1"}
    names = ["AXES_IPWARE_META_PRECEDENCE_ORDER", "AXES_IPWARE_PROXY_COUNT", "IPWARE_STRICT"]
    script = f"import json, mall.settings as s; print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_behind_one_trusted_proxy_the_address_it_appended_counts(clerk: Any, settings: Any) -> None:
    for name, value in proxy_settings(1).items():
        setattr(settings, name, value)
    proxy = "10.0.0.1"
    # The client wrote a different address in front each time; the proxy appended the real one.
    statuses = [
        try_login("clerk", "not-the-password", addr=proxy, xff=f"203.0.113.{n}, 198.51.100.7").status_code
        for n in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["198.51.100.7"]
    assert try_login("clerk", PASSWORD, addr=proxy, xff="198.51.100.7").status_code == 429
    # Another client through the same proxy logs in.
    assert try_login("clerk", PASSWORD, addr=proxy, xff="198.51.100.8").logged_in


def test_two_trusted_proxies_take_the_second_entry_from_the_right(clerk: Any, settings: Any) -> None:
    for name, value in proxy_settings(2).items():
        setattr(settings, name, value)
    fail("clerk", 5, addr="10.0.0.2", xff="203.0.113.1, 198.51.100.7, 10.0.0.1")
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["198.51.100.7"]
    assert try_login("clerk", PASSWORD, addr="10.0.0.2", xff="198.51.100.8, 10.0.0.1").logged_in


def test_the_api_token_is_never_locked() -> None:
    from tests.conftest import client_for

    customer = UserFactory(username="shopper")
    fail("shopper", 5, addr="127.0.0.1")
    assert try_login("shopper", PASSWORD, addr="127.0.0.1").status_code == 429
    response = client_for(customer).get("/api/v1/orders/", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200


def test_removing_expired_lockouts_from_the_console_keeps_the_live_ones(clerk: Any) -> None:
    fail("clerk", 5, addr="198.51.100.7")
    fail("clerk", 5, addr="203.0.113.9")
    expired, live = AccessAttempt.objects.order_by("ip_address")
    supervisor = staff_user("cs_supervisor", "unlocker")
    clients = {}
    for lang in ("en", "zh-hans"):  # signed in first: a login itself clears the expired attempts
        clients[lang] = Client(headers={"accept-language": lang})
        clients[lang].force_login(supervisor)
    AccessAttempt.objects.filter(pk=expired.pk).update(attempt_time=timezone.now() - timedelta(minutes=31))
    for lang, said in [("en", "Removed 1 expired lockout."), ("zh-hans", "已清除 0 条已过期的锁定记录。")]:
        response = clients[lang].post(
            "/admin/axes/accessattempt/",
            {"action": "cleanup_expired_attempts", "_selected_action": [live.pk], "index": 0},
        )
        assert (response.status_code, [str(m) for m in get_messages(response.wsgi_request)]) == (302, [said])
        assert list(AccessAttempt.objects.values_list("pk", flat=True)) == [live.pk]
    assert try_login("clerk", PASSWORD, addr="198.51.100.7").logged_in
    assert try_login("clerk", PASSWORD, addr="203.0.113.9").status_code == 429


def test_the_lockout_lists_speak_chinese(clerk: Any) -> None:
    fail("clerk", 5, addr="198.51.100.7")
    client = Client()  # no Accept-Language: the shop's zh-hans
    client.force_login(staff_user("cs_supervisor", "unlocker"))
    attempts = client.get("/admin/axes/accessattempt/").content.decode()
    for words in [
        "选择登录尝试查看",
        "尝试时间",
        "IP 地址",
        "浏览器标识",
        "路径",
        "失败次数",
        "状态",
        "已锁定",
        "清除已过期的锁定记录",
    ]:
        assert words in attempts, words
    for english in ["Access attempts", "Attempt Time", "IP Address", "User Agent", "Failed Logins", "Locked Out"]:
        assert english not in attempts, english
    failures = client.get("/admin/axes/accessfailurelog/").content.decode()
    for words in ["登录失败记录", "是否锁定", "5 登录失败记录"]:
        assert words in failures, words
    index = client.get("/admin/").content.decode()
    assert "登录尝试" in index and "Access attempts" not in index and "Model name" not in index


@pytest.mark.parametrize("length", [151, 256, 5000])
def test_a_username_longer_than_any_accounts_is_a_form_error_not_a_500(clerk: Any, length: int) -> None:
    """Django's login form limits the username only in the page's markup; sent anyway, it reached axes, whose
    record of the failed attempt does not fit the column on MariaDB (a DataError, a 500)."""
    response = try_login("u" * length, "not-the-password", addr="198.51.100.7", lang="zh-hans")
    assert response.status_code == 200
    assert not response.logged_in
    assert response.context["form"].errors == {"username": [f"确保该变量包含不超过 150 字符 (目前字符数 {length})。"]}
    assert not AccessAttempt.objects.exists()


def test_a_username_of_an_accounts_longest_length_still_counts_as_a_failed_attempt(clerk: Any) -> None:
    assert fail("u" * 150, 5, addr="198.51.100.7") == [200, 200, 200, 200, 429]
    assert list(AccessAttempt.objects.values_list("username", "failures_since_start")) == [("u" * 150, 5)]
