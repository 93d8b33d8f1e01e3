"""A bulk action posted with a selection no record could have ("abc": a hand-made form, never the page's own
checkboxes) runs on nothing: the list again with a warning in the user's language, never a 500, nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from refunds.models import RefundEvent
from tests.admin.conftest import login, pending_refund
from tests.factories import UserFactory, reload

pytestmark = pytest.mark.django_db
WARNING = "The selection names no such record: nothing was changed."


def _messages(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_bulk_approve_of_a_forged_selection_changes_nothing(agent: Any) -> None:
    refund = pending_refund()
    events = RefundEvent.objects.filter(refund=refund).count()
    url = reverse("admin:refunds_refund_changelist")
    response = login(agent).post(url, {"action": "bulk_approve", "_selected_action": [refund.pk, "abc"], "index": 0})
    assert (response.status_code, response["Location"], _messages(response)) == (302, url, [WARNING])
    assert reload(refund).state == "pending_review"
    assert RefundEvent.objects.filter(refund=refund).count() == events


def test_the_warning_speaks_the_consoles_chinese(agent: Any) -> None:
    refund = pending_refund()
    client = Client()  # no Accept-Language: the shop's zh-hans
    client.force_login(agent)
    response = client.post(
        reverse("admin:refunds_refund_changelist"), {"action": "bulk_reject", "_selected_action": ["1'"], "index": 0}
    )
    assert (response.status_code, _messages(response)) == (302, ["所选的记录不存在，没有修改任何内容。"])
    assert reload(refund).state == "pending_review"


def test_every_action_of_every_list_refuses_a_forged_selection() -> None:
    """As a superuser, who is offered every action there is (delete included) on every list of the site."""
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client = login(superuser)
    offered = []
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        page = client.get(url)
        assert page.status_code == 200, url
        # What the list offers once it has rows (an empty list hides its actions).
        for action in sorted(model_admin.get_actions(page.wsgi_request)):
            offered.append((url, action))
            # A client of its own for each: the warning is read from the session's messages.
            response = login(superuser).post(url, {"action": action, "_selected_action": ["abc"], "index": 0})
            assert (response.status_code, response["Location"], _messages(response)) == (302, url, [WARNING]), (
                url,
                action,
            )
    assert ("/admin/auth/user/", "delete_selected") in offered
    assert ("/admin/axes/accessattempt/", "cleanup_expired_attempts") in offered
    assert ("/admin/reconciliation/discrepancy/", "resolve_selected") in offered
