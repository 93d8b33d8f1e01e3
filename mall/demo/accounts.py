"""The demo's people: customers with API tokens, and staff in each role.

Two kinds of set. The standing set (``make run``) has fixed usernames and passwords derived from the site's secret
key and each user's own record, so that every run on the same data prints the same logins without keeping them
anywhere. A fresh set
(``seed_demo --json``) carries a run suffix in its usernames and random passwords, so that sets never collide.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils.crypto import salted_hmac
from rest_framework.authtoken.models import Token

from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, FINANCE, OPERATIONS

# username (of the standing set; a fresh set adds its suffix), role; in the order they are made and shown.
STAFF = (
    ("agent", CUSTOMER_SERVICE),
    ("supervisor", CS_SUPERVISOR),
    ("finance", FINANCE),
    ("operator", OPERATIONS),
)
# username, name
CUSTOMERS = (
    ("alice", "林晓"),
    ("bob", "张伟"),
    ("carol", "陈静"),
    ("dave", "刘洋"),
    ("erin", "赵敏"),
    ("frank", "孙磊"),
)
# Made last: while it is missing, the standing set is not complete.
STANDING_MARKER = STAFF[-1][0]
PASSWORD_SALT = "mall.demo.accounts.password"


@dataclass
class Person:
    user: User
    password: str
    token: str = ""
    role: str = ""


@dataclass
class People:
    staff: dict[str, Person] = field(default_factory=dict)  # by role
    customers: list[Person] = field(default_factory=list)


def standing_password(user: User) -> str:
    """The standing set's password of ``user``: made from the site's secret key, the username and the moment the
    user was made, so that it is the same on every run with the same data, and another demo database has others
    (``make run``'s development key is no secret)."""
    facts = f"{user.get_username()}:{user.date_joined.isoformat()}"
    digest = salted_hmac(PASSWORD_SALT, facts, secret=settings.SECRET_KEY, algorithm="sha256").hexdigest()
    return f"demo-{digest[:6]}-{digest[6:12]}"


def _make(username: str, password: str | None, *, role: str = "", name: str = "") -> Person:
    """A new user with ``password``, or (None) the standing set's password for them."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, password=password, first_name=name, is_staff=bool(role)
        )
        if password is None:
            password = standing_password(user)
            user.set_password(password)
            user.save(update_fields=["password"])
        if role:
            user.groups.add(Group.objects.get(name=role))
            return Person(user, password, role=role)
        return Person(user, password, token=Token.objects.create(user=user).key)


def fresh_staff(run: str) -> dict[str, Person]:
    return {role: _make(f"{username}_{run}", secrets.token_urlsafe(12), role=role) for username, role in STAFF}


def fresh_customers(run: str, count: int) -> list[Person]:
    return [
        _make(f"{username}_{run}", secrets.token_urlsafe(12), name=username)
        for username, _name in (CUSTOMERS[index % len(CUSTOMERS)] for index in range(count))
    ]


def standing_exists() -> bool:
    return get_user_model().objects.filter(username=STANDING_MARKER).exists()


def _standing(username: str, *, role: str = "", name: str = "") -> Person:
    """The standing set's user ``username``, made if missing (a run stopped half way made some already)."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return _make(username, None, role=role, name=name)
    # The password as the demo set it: checking it against the stored hash would cost half a second per user.
    token = "" if role else Token.objects.get_or_create(user=user)[0].key
    return Person(user, standing_password(user), token=token, role=role)


def standing_staff(*, including_marker: bool) -> dict[str, Person]:
    return {
        role: _standing(username, role=role)
        for username, role in STAFF
        if including_marker or username != STANDING_MARKER
    }


def standing_customers(count: int) -> list[Person]:
    return [_standing(username, name=name) for username, name in CUSTOMERS[:count]]


def standing_people() -> People:
    """The standing set as it is: its staff, and those of its customers that exist."""
    existing = set(
        get_user_model()
        .objects.filter(username__in=[username for username, _name in CUSTOMERS])
        .values_list("username", flat=True)
    )
    return People(
        staff=standing_staff(including_marker=True),
        customers=[_standing(username, name=name) for username, name in CUSTOMERS if username in existing],
    )
