"""Every page of the console that names a record by id, given ids no record has or could have: non-numeric, negative,
beyond any integer column, quoted, a NUL byte. Django's own answer is the admin's "not found" (a redirect to the
index with a message), or 404 on the pages we added; never a 5xx, and nothing changes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import NoReverseMatch, URLPattern, reverse

from refunds.models import Dispute, Refund, RefundEvent
from tests.admin.conftest import inspecting_refund, login, pending_refund
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
BAD_IDS = ["abc", "-1", "99999999999999999999999", "1'", "\x00"]
# The admin's own URLs accept any text as an object id; most of those we added take digits only, so of the ids above
# only the huge number reaches their views.
STANDARD_VIEWS = ("change", "history", "delete")


def _snapshot() -> tuple[int, ...]:
    return Refund.objects.count(), RefundEvent.objects.count(), Dispute.objects.count()


def _models() -> list[tuple[str, str]]:
    return sorted((model._meta.app_label, model._meta.model_name or "") for model in admin.site._registry)


def _added_urls() -> list[tuple[str, str]]:
    """(url name, the id parameter) of each page with an id that a ModelAdmin adds to Django's own."""
    found = []
    for model_admin in admin.site._registry.values():
        for pattern in model_admin.get_urls():
            if not isinstance(pattern, URLPattern) or not pattern.name:
                continue
            converters = pattern.pattern.converters.items()
            found.extend((pattern.name, name) for name, kind in converters if name != "act" and kind.regex != ".+")
    return sorted(found)


@pytest.fixture
def superuser(db: None) -> Any:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def records(supervisor2: Any) -> None:
    pending_refund()
    inspecting_refund(supervisor2)


def test_every_model_admin_is_covered() -> None:
    # The loop below is only as good as the registry it reads: the console's own models must all be in it.
    assert {"refunds", "logistics", "reconciliation", "mall"} <= {app for app, _model in _models()}
    assert ("refunds_refund_act", "object_id") in _added_urls()


@pytest.mark.parametrize("role", ["superuser", "supervisor", "finance"])
def test_unknown_ids_on_django_admin_pages_answer_not_found(role: str, request: Any, records: None) -> None:
    client = login(request.getfixturevalue(role))
    before = _snapshot()
    index = reverse("admin:index")
    seen = []
    for app, model in _models():
        for view in STANDARD_VIEWS:
            for bad in BAD_IDS:
                url = f"/admin/{app}/{model}/{quote(bad, safe='')}/{view}/"
                response = client.get(url)
                seen.append((url, response.status_code))
                assert response.status_code in (302, 403, 404), (url, response.status_code)
                if response.status_code == 302:
                    assert response["Location"] == index, (url, response["Location"])
    assert _snapshot() == before
    if role == "superuser":
        # The superuser may read every model: each of its answers is the admin's own "not found" redirect, except
        # where nobody may delete (the read-only ledgers), which Django refuses before it looks for the record.
        as_superuser = RequestFactory().get("/admin/")
        as_superuser.user = request.getfixturevalue("superuser")
        undeletable = {
            f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            for model, model_admin in admin.site._registry.items()
            if not model_admin.has_delete_permission(as_superuser)
        }
        assert undeletable
        assert {(url.rsplit("/", 3)[0] + "/", status) for url, status in seen if status != 302} == {
            (prefix, 403) for prefix in undeletable
        }
        assert all(url.endswith("/delete/") for url, status in seen if status != 302)
    assert len(seen) == len(_models()) * len(STANDARD_VIEWS) * len(BAD_IDS)


@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_ids_on_added_pages_answer_404(method: str, superuser: Any, records: None) -> None:
    client = login(superuser)
    before = _snapshot()
    tried = 0
    for name, parameter in _added_urls():
        extra = {"act": "approve"} if name == "refunds_refund_act" else {}
        for bad in BAD_IDS:
            try:
                url = reverse(f"admin:{name}", kwargs={parameter: bad, **extra})
            except NoReverseMatch:
                continue  # only digits reach this page; any other id is one of Django's own URLs, tried above
            response = getattr(client, method)(url)
            tried += 1
            assert response.status_code in (404, 405), (method, url, response.status_code)
    assert tried >= len(_added_urls())  # at least the huge number on every page
    assert _snapshot() == before
