"""A dependency that stops answering (Redis, the database) is waited out by the long-running processes and answered
with a 503 that names it by the web; it never ends a process, and never becomes a 500.

- The RQ worker (``payments.worker.JobWorker``) and the cron scheduler (``mall.scheduler``) retry what Redis refused
  with a capped backoff (``Backoff``: 0.5 s doubling to 10 s) and log one line when an outage starts and one when it
  ends, however many tries it takes.
- ``unavailable_dependency`` tells a connection failure from any other error: only a failure to reach the database or
  Redis becomes a 503 (``ServiceUnavailableMiddleware``, ``server_error`` and the API's exception handler); a bad
  query or a bug stays a 500, so that it is seen and fixed.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import redis.exceptions
from django import db
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views import defaults
from django_redis.exceptions import ConnectionInterrupted

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What redis-py raises when the server cannot be reached or stops answering (BusyLoadingError, a server still
# loading its data after a restart, is a ConnectionError too).
REDIS_DOWN: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

# MySQL/MariaDB errors that say the connection failed, not the statement: the server is down, restarting, out of
# connections, or dropped us. Anything else (a deadlock, a bad column, a constraint) is not an outage.
MYSQL_CONNECTION_ERRORS = frozenset(
    {
        1040,  # ER_CON_COUNT_ERROR: too many connections
        1053,  # ER_SERVER_SHUTDOWN: the server is shutting down
        1927,  # ER_CONNECTION_KILLED (MariaDB)
        2002,  # CR_CONNECTION_ERROR: cannot connect through the socket
        2003,  # CR_CONN_HOST_ERROR: cannot connect to the host
        2005,  # CR_UNKNOWN_HOST
        2006,  # CR_SERVER_GONE_ERROR: server has gone away
        2013,  # CR_SERVER_LOST: lost connection during a query
        2055,  # CR_SERVER_LOST_EXTENDED
        4031,  # ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8): the server closed an idle connection
    }
)
API_PREFIX = "/api/"
RETRY_AFTER_SECONDS = 5


class Backoff:
    """The wait between tries while a dependency is down: ``first`` seconds, doubling up to ``cap``.

    ``wait`` logs a warning on the first failure of an outage only; ``recovered`` logs once how long it lasted and
    starts the next outage from ``first`` again. ``quiet`` logs at debug level (for a second loop of a process that
    already reports the outage)."""

    def __init__(self, dependency: str, *, first: float = 0.5, cap: float = 10.0, quiet: bool = False) -> None:
        self.dependency = dependency
        self.first = first
        self.cap = cap
        self.level = logging.DEBUG if quiet else logging.WARNING
        self.delay = first
        self.down_since: float | None = None
        self.tries = 0
        self.outages = 0  # ended so far

    def wait(self, error: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            logger.log(
                self.level,
                "%s unreachable (%s: %s); retrying every %.1f s up to every %.0f s until it answers",
                self.dependency,
                type(error).__name__,
                error,
                self.first,
                self.cap,
            )
        self.tries += 1
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, self.cap)

    def recovered(self) -> float | None:
        """How long the outage that just ended lasted (seconds), or None when there was none."""
        if self.down_since is None:
            return None
        lasted = time.monotonic() - self.down_since
        logger.log(self.level, "%s answers again after %.1f s (%d retries)", self.dependency, lasted, self.tries)
        self.down_since, self.delay, self.tries = None, self.first, 0
        self.outages += 1
        return lasted


def ride_out(call: Callable[[], T], backoff: Backoff, *, stopping: Callable[[], bool] = lambda: False) -> T:
    """``call()`` again and again while Redis refuses it, waiting ``backoff`` between tries; ``stopping()`` true
    re-raises the last failure instead of waiting (a process asked to stop does not wait for Redis)."""
    while True:
        try:
            result = call()
        except REDIS_DOWN as error:
            if stopping():
                raise
            backoff.wait(error)
            continue
        backoff.recovered()
        return result


def unavailable_dependency(error: BaseException) -> str | None:
    """``"database"`` or ``"redis"`` when ``error`` is a failure to reach that dependency; None for every other
    error."""
    if isinstance(error, (*REDIS_DOWN, ConnectionInterrupted)):
        return "redis"
    if isinstance(error, db.InterfaceError):
        return "database"  # a connection that is closed or broken
    if isinstance(error, db.OperationalError):
        code = error.args[0] if error.args else None
        if isinstance(code, int) and code in MYSQL_CONNECTION_ERRORS:
            return "database"
        if not isinstance(code, int) and "unable to open database file" in str(error):  # SQLite
            return "database"
    return None


def unavailable_detail(dependency: str) -> str:
    if dependency == "database":
        return _("The database is unavailable; please try again in a moment.")
    return _("Redis is unavailable; please try again in a moment.")


def unavailable_body(dependency: str) -> dict[str, str]:
    """The API's error shape for a dependency that is down."""
    return {"code": "service_unavailable", "detail": unavailable_detail(dependency)}


def unavailable_response(request: HttpRequest, dependency: str) -> HttpResponse:
    """503 in the API's error shape under ``/api/``, a plain page elsewhere (the console, notifications). Nothing
    here reads the database or the session: they may be what is down."""
    if request.path.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse(unavailable_body(dependency), status=503)
    else:
        title = _("Service temporarily unavailable")
        detail = unavailable_detail(dependency)
        page = f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(detail)}</p>"
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def log_unavailable(request: HttpRequest, dependency: str, error: BaseException) -> None:
    logger.error(
        "%s %s answered 503: %s unreachable (%s: %s)",
        request.method,
        request.path,
        dependency,
        type(error).__name__,
        error,
    )


class ServiceUnavailableMiddleware:
    """A view that could not reach the database or Redis answers 503 naming it instead of 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        dependency = unavailable_dependency(exception)
        if dependency is None:
            return None
        log_unavailable(request, dependency, exception)
        return unavailable_response(request, dependency)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a failure outside any view (a middleware reading the session or the user) that was a
    dependency down is a 503 as well; everything else is Django's plain 500 page."""
    error = sys.exc_info()[1]
    dependency = unavailable_dependency(error) if error is not None else None
    if dependency is None:
        return defaults.server_error(request)
    log_unavailable(request, dependency, error)  # type: ignore[arg-type]
    return unavailable_response(request, dependency)
