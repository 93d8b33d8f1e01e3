"""Staff roles are Django groups. ``roles_bootstrap`` creates them with their permissions, idempotently."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

CUSTOMER_SERVICE = "customer_service"
CS_SUPERVISOR = "cs_supervisor"
FINANCE = "finance"
OPERATIONS = "operations"
ROLES = (CUSTOMER_SERVICE, CS_SUPERVISOR, FINANCE, OPERATIONS)

# app_label.codename; permissions of apps that are not installed yet are skipped, so the command can run at
# any point in the project's history.
_VIEW_SHOP = [
    "mall.view_order",
    "mall.view_orderitem",
    "mall.view_payment",
    "mall.view_shipment",
    "mall.view_orderevent",
    "mall.view_product",
    "mall.view_stock",
]
_VIEW_REFUNDS = [
    "refunds.view_refund",
    "refunds.view_refunditem",
    "refunds.view_refundevent",
    "refunds.view_refundevidence",
    "refunds.view_returnshipment",
]
_VIEW_DISPUTES = ["refunds.view_dispute", "refunds.view_disputenote"]
# Agents change refunds only through the console's actions (which call the services), never by editing rows:
# no role holds add/change/delete on refunds or disputes.
_WORK_REFUNDS = [
    *_VIEW_REFUNDS,
    *_VIEW_DISPUTES,
    "refunds.approve_refund",
    "refunds.create_staff_refund",
    "refunds.confirm_return",
    "refunds.work_dispute",
    "refunds.view_rejectionreason",  # the preset reasons agents choose from; supervisors keep the list
]
# Login lockouts (django-axes): seeing the attempts, and deleting them to unlock someone before the cool-off ends.
_UNLOCK_LOGINS = ["axes.view_accessattempt", "axes.delete_accessattempt", "axes.view_accessfailurelog"]
ROLE_PERMISSIONS: dict[str, list[str]] = {
    CUSTOMER_SERVICE: [*_VIEW_SHOP, *_WORK_REFUNDS],
    CS_SUPERVISOR: [
        *_VIEW_SHOP,
        *_WORK_REFUNDS,
        "refunds.approve_large_refund",
        "refunds.override_refund",
        "refunds.add_rejectionreason",
        "refunds.change_rejectionreason",
        *_UNLOCK_LOGINS,
    ],
    FINANCE: [*_VIEW_SHOP, *_VIEW_REFUNDS, *_VIEW_DISPUTES],
    # The job queues (django-rq's dashboard, see mall.rq_dashboard): only this role and superusers reach them.
    OPERATIONS: ["django_rq.admin", *_UNLOCK_LOGINS],
}


def extend_role_permissions(role: str, codenames: list[str]) -> None:
    """Apps add their own permissions to roles at import time (see each app's ``roles.py``)."""
    ROLE_PERMISSIONS[role] = ROLE_PERMISSIONS[role] + [c for c in codenames if c not in ROLE_PERMISSIONS[role]]


@transaction.atomic
def roles_bootstrap() -> dict[str, int]:
    """Create each role group and set exactly its permissions. Returns the permission count per role."""
    counts = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = ROLE_PERMISSIONS[role]
        perms = []
        for dotted in wanted:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                perms.append(perm)
        group.permissions.set(perms)
        counts[role] = len(perms)
    return counts
