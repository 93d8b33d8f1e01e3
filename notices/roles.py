"""What each staff role may see of the customers' messages (added to the roles of ``mall.roles``): customer
service reads what a customer was told and how each email went; nobody edits a message."""

from __future__ import annotations

from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, extend_role_permissions

_VIEW_MESSAGES = ["notices.view_customermessage", "notices.view_messagedelivery"]


def register() -> None:
    extend_role_permissions(CUSTOMER_SERVICE, _VIEW_MESSAGES)
    extend_role_permissions(CS_SUPERVISOR, _VIEW_MESSAGES)
