"""What each staff role may see and do in reconciliation (added to the roles of ``mall.roles``)."""

from __future__ import annotations

from mall.roles import FINANCE, extend_role_permissions

FINANCE_PERMISSIONS = [
    "reconciliation.view_reconciliationrun",
    "reconciliation.view_discrepancy",
    "reconciliation.run_reconciliation",
    "reconciliation.resolve_discrepancy",
]


def register() -> None:
    extend_role_permissions(FINANCE, FINANCE_PERMISSIONS)
