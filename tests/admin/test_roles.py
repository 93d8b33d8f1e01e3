"""Roles: exact permissions per group, an idempotent bootstrap, and who reaches the admin at all."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, FINANCE, OPERATIONS, roles_bootstrap
from tests.admin.conftest import login, pending_refund
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

VIEW_SHOP = {
    "mall.view_order",
    "mall.view_orderitem",
    "mall.view_payment",
    "mall.view_shipment",
    "mall.view_orderevent",
    "mall.view_product",
    "mall.view_stock",
}
VIEW_REFUNDS = {
    "refunds.view_refund",
    "refunds.view_refunditem",
    "refunds.view_refundevent",
    "refunds.view_refundevidence",
    "refunds.view_returnshipment",
    "refunds.view_dispute",
    "refunds.view_disputenote",
}
WORK = {
    "refunds.approve_refund",
    "refunds.create_staff_refund",
    "refunds.confirm_return",
    "refunds.work_dispute",
    "refunds.view_rejectionreason",
}
# Supervisors keep the preset rejection reasons (never delete one: a refund may name it).
KEEP_REASONS = {"refunds.add_rejectionreason", "refunds.change_rejectionreason"}


def group_perms(name: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename")
    }


def test_each_role_has_exactly_its_permissions() -> None:
    roles_bootstrap()
    agent_perms = VIEW_SHOP | VIEW_REFUNDS | WORK
    assert {p for p in group_perms(CUSTOMER_SERVICE) if p.startswith(("mall.", "refunds."))} == agent_perms
    supervisor_perms = agent_perms | {"refunds.approve_large_refund", "refunds.override_refund"} | KEEP_REASONS
    assert {p for p in group_perms(CS_SUPERVISOR) if p.startswith(("mall.", "refunds."))} == supervisor_perms
    assert {p for p in group_perms(FINANCE) if p.startswith(("mall.", "refunds."))} == VIEW_SHOP | VIEW_REFUNDS
    # Nobody may add, change or delete refund or dispute rows: every change goes through a service. The only rows
    # anyone edits are the supervisors' rejection reasons.
    for role in (CUSTOMER_SERVICE, CS_SUPERVISOR, FINANCE, OPERATIONS):
        assert {
            p
            for p in group_perms(role)
            if p.startswith(("mall.", "refunds.")) and p.split(".")[1].startswith(("add_", "change_", "delete_"))
        } == (KEEP_REASONS if role == CS_SUPERVISOR else set())
    # Only operations reaches the job queues; it and supervisors unlock logins (deleting axes' access attempts).
    unlock = {"axes.view_accessattempt", "axes.delete_accessattempt", "axes.view_accessfailurelog"}
    assert group_perms(OPERATIONS) == {"django_rq.admin"} | unlock
    assert {p for p in group_perms(CS_SUPERVISOR) if p.startswith(("axes.", "django_rq."))} == unlock
    for role in (CUSTOMER_SERVICE, FINANCE):
        assert not {p for p in group_perms(role) if p.startswith(("axes.", "django_rq."))}
    # Customer service reads what customers were told; nobody edits a message.
    messages = {"notices.view_customermessage", "notices.view_messagedelivery"}
    for role in (CUSTOMER_SERVICE, CS_SUPERVISOR):
        assert {p for p in group_perms(role) if p.startswith("notices.")} == messages
    for role in (FINANCE, OPERATIONS):
        assert not {p for p in group_perms(role) if p.startswith("notices.")}


def test_bootstrap_is_idempotent_and_restores_exact_permissions() -> None:
    first = roles_bootstrap()
    stray = Permission.objects.get(content_type__app_label="refunds", codename="delete_refund")
    Group.objects.get(name=FINANCE).permissions.add(stray)
    out = StringIO()
    call_command("bootstrap_roles", stdout=out)
    assert roles_bootstrap() == first
    assert Group.objects.filter(name__in=[CUSTOMER_SERVICE, CS_SUPERVISOR, FINANCE, OPERATIONS]).count() == 4
    assert "refunds.delete_refund" not in group_perms(FINANCE)
    assert f"{FINANCE}: {first[FINANCE]} permissions" in out.getvalue()


def test_a_customer_cannot_reach_the_admin(customer: Any) -> None:
    refund = pending_refund(customer)
    client = login(customer)
    for url in ("/admin/", "/admin/refunds/refund/", f"/admin/refunds/refund/{refund.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    response = client.post(f"/admin/refunds/refund/{refund.pk}/act/approve/", {"note": ""})
    assert response.status_code == 302
    refund.refresh_from_db()
    assert refund.state == "pending_review"


def test_staff_without_a_role_sees_no_refunds() -> None:
    clerk = UserFactory(is_staff=True)
    client = login(clerk)
    assert client.get("/admin/").status_code == 200
    assert b"refund-dashboard" not in client.get("/admin/").content
    assert client.get("/admin/refunds/refund/").status_code == 403


@pytest.mark.parametrize("role_fixture", ["agent", "supervisor", "finance"])
def test_every_role_reads_the_queue_and_the_dashboard(role_fixture: str, request: Any) -> None:
    user = request.getfixturevalue(role_fixture)
    client = login(user)
    assert client.get("/admin/refunds/refund/").status_code == 200
    assert client.get("/admin/refunds/dispute/").status_code == 200
    assert b'id="refund-dashboard"' in client.get("/admin/").content
