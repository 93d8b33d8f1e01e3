from __future__ import annotations

from typing import Any

import pytest
from django.db import connection


def test_healthz(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok(client: Any, settings: Any, media_root: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["failed"] == []
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["storage"] == "ok"
    assert body["checks"]["redis"] == ("ok" if settings.REDIS_URL else "not_configured")


@pytest.mark.django_db
def test_readyz_names_unreachable_redis(client: Any, settings: Any, media_root: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["redis"]
    assert body["checks"]["database"] == "ok"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_readyz_names_unreachable_database(client: Any, media_root: Any, monkeypatch: Any) -> None:
    # Point the connection at a port where no database listens; Django reconnects on the next query.
    # (MariaDB only: closing SQLite's in-memory test database would destroy it.)
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PORT", "1")
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    try:
        response = client.get("/readyz")
    finally:
        connection.close()
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]


@pytest.mark.django_db
def test_readyz_names_failing_storage(client: Any, settings: Any, tmp_path: Any) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings.MEDIA_ROOT = blocker  # a file where the storage wants a directory
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["storage"]


def test_the_site_root_leads_to_the_console(client: Any) -> None:
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get("/metrics").status_code == 200  # the exporter mounted at the root still answers
