"""Shared fixtures. Tests use the real database and Redis configured by the environment (scripts/test.sh)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, FINANCE
from tests import factories
from tests.factories import staff_user


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> None:
    # Production keeps Django's slow PBKDF2; tests create thousands of users and need none of its strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # The cache holds locks, throttle counters and idempotency keys: never carry them between tests.
    cache.clear()
    yield
    cache.clear()


CHROMIUM = Path("/usr/bin/chromium")  # Debian's (scripts/bootstrap.sh dev installs it, with fonts-noto-cjk)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium(django_db_setup: None) -> Iterator[Any]:
    """One headless chromium for every browser test of the run (``-m browser``), driven by Playwright (nothing is
    downloaded); each test opens its own context. Playwright's sync API runs one instance per thread, so the
    browser tests share this one rather than each launching their own."""
    assert CHROMIUM.exists(), "Debian's chromium is not installed (scripts/bootstrap.sh dev installs it)"
    from playwright import sync_api

    # Playwright's sync API keeps an event loop in this thread while the browser is open; the ORM calls the
    # tests make meanwhile are plain synchronous code, so Django's async-context guard is lifted for them.
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _shop_language() -> Iterator[None]:
    # A request leaves the language LocaleMiddleware chose active in its thread; texts are rendered when read, so
    # every test starts in the shop's language whatever the test before it asked for.
    with translation.override(settings.LANGUAGE_CODE):
        yield


@pytest.fixture
def media_root(tmp_path: Any, settings: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def customer(db: None) -> Any:
    return factories.UserFactory()


@pytest.fixture
def other_customer(db: None) -> Any:
    return factories.UserFactory()


def client_for(user: Any) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


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
def supervisor2(db: None) -> Any:
    return staff_user(CS_SUPERVISOR, "supervisor2")


@pytest.fixture
def finance(db: None) -> Any:
    return staff_user(FINANCE, "finance")


@pytest.fixture
def api(customer: Any) -> APIClient:
    return client_for(customer)


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()


def requires_services() -> bool:
    return bool(settings.REDIS_URL) and settings.DATABASES["default"]["ENGINE"] == "django.db.backends.mysql"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if requires_services():
        return
    for item in items:
        if item.get_closest_marker("services"):
            item.add_marker(pytest.mark.skip(reason="needs MariaDB and Redis (run through scripts/test.sh)"))
