"""Liveness and readiness probes for the load balancer and the orchestrator."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 1.0


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis() -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # One try of at most a second: a Redis that is down, or hangs, is named at once instead of holding the probe.
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        client.ping()
    finally:
        client.close()


def _check_storage() -> None:
    name = default_storage.save(f"readyz/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    default_storage.delete(name)


def readiness() -> dict[str, str]:
    """Each dependency's state: ``ok``, ``failed`` or ``not_configured``."""
    checks = {"database": _check_database, "storage": _check_storage}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis
    results = {"redis": "not_configured"}
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the cause goes to the log
            logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
            results[name] = "failed"
        else:
            results[name] = "ok"
    return results


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    results = readiness()
    failed = sorted(name for name, state in results.items() if state == "failed")
    body = {"status": "ok" if not failed else "unavailable", "checks": results, "failed": failed}
    return JsonResponse(body, status=200 if not failed else 503)
