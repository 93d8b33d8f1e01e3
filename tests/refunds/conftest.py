from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, FINANCE, roles_bootstrap
from tests.factories import UserFactory


def staff_user(role: str, username: str) -> Any:
    roles_bootstrap()
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return type(user).objects.get(pk=user.pk)  # fresh: no cached permissions


@pytest.fixture
def agent(db: None) -> Any:
    return staff_user(CUSTOMER_SERVICE, "agent")


@pytest.fixture
def agent2(db: None) -> Any:
    return staff_user(CUSTOMER_SERVICE, "agent2")


@pytest.fixture
def supervisor(db: None) -> Any:
    return staff_user(CS_SUPERVISOR, "supervisor")


@pytest.fixture
def finance(db: None) -> Any:
    return staff_user(FINANCE, "finance")
