"""What each staff role may see and do on the payment side (added to the roles of ``mall.roles``)."""

from __future__ import annotations

from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, FINANCE, extend_role_permissions

_VIEW = ["payments.view_offlinetransfer", "payments.view_storecreditaccount", "payments.view_storecreditentry"]


def register() -> None:
    extend_role_permissions(CUSTOMER_SERVICE, _VIEW)
    extend_role_permissions(CS_SUPERVISOR, _VIEW)
    # Finance makes the bank transfers a person chose for refunds the channel could not pay, and records them.
    extend_role_permissions(FINANCE, [*_VIEW, "payments.confirm_offline_transfer"])
