"""Every changelist of the console, as the supervisor and finance see it, under random query strings: the filters,
search, ordering and paging parameters each page itself links to, given values a hand-edited URL might carry. Never
a 5xx; Django's own answer to a parameter it cannot use (a redirect with ``?e=1``) is fine."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib import admin
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.admin.conftest import failed_refund, inspecting_refund, login, pending_refund, refunded_refund
from tests.fuzzing import fuzz

pytestmark = pytest.mark.django_db
ODD_VALUES = st.sampled_from(
    ["", "0", "-1", "1", "x", "2026-02-30", "9" * 30, "1,2", "null", "True", "__", "'", "%", "../", "<b>", "中文"]
)


def _changelists() -> list[str]:
    return sorted(
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry
    )


def _linked_parameters(html: str) -> set[str]:
    """The query parameters the page links to (filters, ordering, paging) and its search box."""
    names = {"q", "o", "p", "all", "_facets", "e"}
    for href in re.findall(r'href="(\?[^"]*)"', html):
        names.update(key for key, _value in parse_qsl(urlsplit(unescape(href)).query, keep_blank_values=True))
    return names


@pytest.mark.parametrize("role", ["supervisor", "finance"])
def test_changelists_never_answer_5xx(role: str, request: Any) -> None:
    staff = request.getfixturevalue(role)
    reviewer = request.getfixturevalue("supervisor2")
    # Rows for every list to show: refunds waiting, failed, awaiting the goods, under inspection and refunded.
    pending_refund()
    failed_refund(reviewer)
    inspecting_refund(reviewer)
    refunded_refund(reviewer)
    client = login(staff)
    pages: dict[str, set[str]] = {}
    for url in _changelists():
        response = client.get(url)
        assert response.status_code in (200, 302, 403), (url, response.status_code)
        if response.status_code == 200:
            pages[url] = _linked_parameters(response.content.decode())
    assert pages, "no changelist this role may read"
    parameters = sorted({(url, name) for url, names in pages.items() for name in names})

    @fuzz(200)
    @given(
        url=st.sampled_from(sorted(pages)),
        query=st.lists(
            st.tuples(st.sampled_from(parameters), ODD_VALUES | st.text(max_size=20)), min_size=1, max_size=4
        ),
    )
    def check(url: str, query: list[tuple[tuple[str, str], str]]) -> None:
        params = {name: value for (page, name), value in query if page == url} or {"q": query[0][1]}
        response = client.get(url, params)
        assert response.status_code < 500, (url, params, response.status_code)

    check()
