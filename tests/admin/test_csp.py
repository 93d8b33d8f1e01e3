"""The console's Content-Security-Policy: exact header, nonces that match, and no inline code in our pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from mall.roles import OPERATIONS
from tests.admin.conftest import login, pending_refund
from tests.factories import staff_user

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def directives(response: Any) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    parts = [part.strip().split(" ", 1) for part in header.split(";")]
    return {name: value for name, value in parts}


def nonce_policy(nonce: str) -> dict[str, str]:
    return {**POLICY, "script-src": f"'self' 'nonce-{nonce}'", "style-src": f"'self' 'nonce-{nonce}'"}


def assert_no_inline_code(html: str) -> None:
    """Every inline script or style element carries the response's nonce; no element has a style attribute."""
    for tag, attrs, body in re.findall(r"<(script|style)([^>]*)>(.*?)</\1>", html, re.S):
        if tag == "script" and "src=" in attrs:
            continue
        assert "nonce=" in attrs or not body.strip(), f"inline <{tag}> without a nonce: {body[:80]!r}"
    assert not re.search(r"<[a-z][^>]*\sstyle=", html), "a style attribute in the page"
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler in the page"
    assert "https://" not in re.sub(r'xmlns="https?://[^"]*"', "", "".join(re.findall(r'(?:src|href)="[^"]*"', html)))


def test_the_login_page_has_the_exact_policy() -> None:
    response = Client().get("/admin/login/")
    assert response.status_code == 200
    assert directives(response) == POLICY
    assert_no_inline_code(response.content.decode())


def test_the_dashboard_and_the_refund_pages_carry_a_nonce_their_styles_use(agent: Any) -> None:
    refund = pending_refund()
    client = login(agent)
    for url in ("/admin/", "/admin/refunds/refund/", f"/admin/refunds/refund/{refund.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        nonces = set(re.findall(r'<style nonce="([^"]+)"', html))
        assert len(nonces) == 1, url
        assert directives(response) == nonce_policy(nonces.pop()), url
        assert_no_inline_code(html)
    # A new nonce for every response.
    first, second = (re.search(r'nonce="([^"]+)"', client.get("/admin/").content.decode()) for _ in range(2))
    assert first and second and first.group(1) != second.group(1)


@pytest.mark.parametrize(
    "url",
    ["/admin/reconciliation/reconciliationrun/", "/admin/reconciliation/discrepancy/", "/admin/mall/order/"],
)
def test_finance_pages_have_the_policy_and_no_inline_code(url: str, finance: Any) -> None:
    response = login(finance).get(url)
    assert response.status_code == 200
    html = response.content.decode()
    nonce = re.search(r'nonce="([^"]+)"', html)
    assert directives(response) == (nonce_policy(nonce.group(1)) if nonce else POLICY)
    assert_no_inline_code(html)


@pytest.mark.services
def test_the_job_queues_pages_run_no_inline_script() -> None:
    client = login(staff_user(OPERATIONS, "operator"))
    for url in ("/admin/django_rq/", "/admin/django_rq/queues/0/", "/admin/django_rq/workers/0/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        nonce = re.search(r'nonce="([^"]+)"', html)
        assert directives(response) == (nonce_policy(nonce.group(1)) if nonce else POLICY)
        assert_no_inline_code(html)
        assert not re.findall(r"<script(?![^>]*src=)[^>]*>", html), url
        assert 'src="/static/admin/js/actions.js"' in html or url == "/admin/django_rq/"
