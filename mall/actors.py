"""Who does things in the shop. Customers and staff are both rows of Django's own user model (the project leaves
``AUTH_USER_MODEL`` at its default, ``auth.User``); the names say which side of the counter a function expects."""

from __future__ import annotations

from typing import TypeAlias, cast

from django.contrib.auth.models import AnonymousUser, User

Customer: TypeAlias = User
Staff: TypeAlias = User
# Whoever a request carries: a signed-in customer or member of staff, or nobody.
Visitor: TypeAlias = User | AnonymousUser
# Whom an event is recorded against; None (or nobody signed in) is the shop itself: a sweep, a channel's answer.
Actor: TypeAlias = User | AnonymousUser | None


def signed_in(user: Visitor) -> User:
    """The user of a request that its view lets in only when signed in (DRF's ``IsAuthenticated``, the admin's
    login): the same object, typed as the person it is."""
    return cast(User, user)
