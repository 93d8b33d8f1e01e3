"""What each staff role may see and do in logistics (added to the roles of ``mall.roles``)."""

from __future__ import annotations

from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, FINANCE, extend_role_permissions

_VIEW_LOGISTICS = [
    "logistics.view_warehouse",
    "logistics.view_interception",
    "logistics.view_carrierevent",
    "logistics.view_inspection",
    "logistics.view_inspectionrecord",
    "logistics.view_inspectionphoto",
    "logistics.view_writeoff",
    "logistics.view_perishableclaim",
]


def register() -> None:
    extend_role_permissions(CUSTOMER_SERVICE, _VIEW_LOGISTICS)
    extend_role_permissions(CS_SUPERVISOR, [*_VIEW_LOGISTICS, "logistics.manage_warehouse"])
    extend_role_permissions(FINANCE, ["logistics.view_inspection", "logistics.view_writeoff"])
