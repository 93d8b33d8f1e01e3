"""Swagger UI at /api/docs/: every file from this site, and nothing the Content-Security-Policy refuses."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.admin.test_csp import POLICY, assert_no_inline_code, directives, nonce_policy

pytestmark = pytest.mark.django_db

SIDECAR = "/static/drf_spectacular_sidecar/swagger-ui-dist/"


@pytest.fixture
def client(settings: Any) -> Client:
    # As under `make run`: static files come from the apps' folders, without a collected manifest.
    settings.DEBUG = True
    return Client()


def test_the_page_loads_swagger_ui_from_this_site_under_the_policy(client: Client) -> None:
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    nonce = re.search(r'<style nonce="([^"]+)"', html)
    assert nonce is not None
    assert directives(response) == nonce_policy(nonce.group(1))
    assert_no_inline_code(html)
    assert not re.findall(r"<script(?![^>]*src=)[^>]*>", html)
    assert re.findall(r'<script src="([^"]+)"', html) == [
        f"{SIDECAR}swagger-ui-bundle.js",
        f"{SIDECAR}swagger-ui-standalone-preset.js",
        "/api/docs/?script=",
    ]
    assert re.findall(r'<link rel="[^"]+" href="([^"]+)"', html) == [
        f"{SIDECAR}favicon-32x32.png",
        f"{SIDECAR}swagger-ui.css",
    ]
    assert "http://" not in html and "https://" not in html


def test_every_file_the_page_names_answers(client: Client) -> None:
    html = client.get("/api/docs/").content.decode()

    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        response = client.get(url)
        assert response.status_code == 200, url
        if url.endswith(".js") or "?script" in url:
            assert response["Content-Type"].startswith(("application/javascript", "text/javascript")), url


def test_the_initialiser_loads_this_site_s_schema_and_no_validator(client: Client) -> None:
    response = client.get("/api/docs/?script=")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript"
    script = response.content.decode()
    assert 'url: "/api/schema/"' in script
    assert '"validatorUrl": null' in script
    assert "http://" not in script and "https://" not in script
    assert client.get("/api/schema/").status_code == 200


def test_the_script_response_keeps_the_site_policy(client: Client) -> None:
    assert directives(client.get("/api/docs/?script=")) == POLICY
