"""Logs an operator can search: one line per request and per job, in JSON (or readable text in development).

Every line written while a request or a job runs carries the fields of its *log context*: the request id (taken
from a sane incoming ``X-Request-ID`` or made here, and echoed in the response), the job's id, function and queue,
and the refund number once something handling one refund binds it (``log_context_bind(refund_no=...)``). A job
carries the request id of the request that started it (``mall.jobs`` puts it in the RQ job's meta); a job the
scheduler started gets a fresh one. Values of keys that name secrets (password, token, key, signature, cookie,
authorization, ...), the payer's personal data and the password part of URLs are masked on every line, whatever
logger wrote it (``mall.masking``).

This module is imported by gunicorn's configuration before Django is set up: it must not touch settings at import.
"""

from __future__ import annotations

import logging
import logging.config
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

from mall.masking import MASK, redact, secret_key

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

access_logger = logging.getLogger("mall.access")
job_logger = logging.getLogger("mall.jobs.run")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_SANE_REFUND_NO = re.compile(r"[A-Za-z0-9_-]{1,64}")

# The log context: one dict per request or job, shared (not copied) by everything that runs inside it, so a value
# bound deep in a service is still there when the request's or job's own line is written at its end.
_context: ContextVar[dict[str, Any] | None] = ContextVar("mall_log_context", default=None)


def log_context() -> dict[str, Any]:
    return dict(_context.get() or {})


def log_context_bind(**values: Any) -> None:
    """Add fields to every line written from here to the end of the current request or job (outside one, e.g. in
    a shell, nothing: a value bound there would stick to every later line of the process)."""
    current = _context.get()
    if current is not None:
        current.update({key: value for key, value in values.items() if value is not None})


@contextmanager
def log_scope(**values: Any) -> Iterator[dict[str, Any]]:
    """A nested log context: starts from the enclosing one, and what is bound inside ends with it."""
    fields = {**(_context.get() or {}), **{key: value for key, value in values.items() if value is not None}}
    token = _context.set(fields)
    try:
        yield fields
    finally:
        _context.reset(token)


def request_id_new() -> str:
    return uuid.uuid4().hex


def request_id_sane(value: object) -> str | None:
    """``value`` if it may be used as a request id (bounded length, no spaces or control characters), else None."""
    if isinstance(value, str) and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def request_id_current() -> str | None:
    value = (_context.get() or {}).get("request_id")
    return value if isinstance(value, str) else None


# --- formatters and filters ---------------------------------------------------------------------------------------

_FIRST = ("timestamp", "level", "logger", "message")


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, then the context and extra fields, redacted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault("json_ensure_ascii", False)  # Chinese names and messages stay readable and searchable
        super().__init__(*args, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # Django's request logger passes the request object itself; its repr would show the query string.
        log_data.pop("request", None)
        cleaned = redact(log_data)
        return {**{key: cleaned[key] for key in _FIRST if key in cleaned}, **cleaned}


class ConsoleFormatter(JsonFormatter):
    """The same fields, redacted the same way, as one readable line (``make run``)."""

    def serialize_log_record(self, log_data: dict[str, Any]) -> str:
        fields = dict(log_data)
        stamp = fields.pop("timestamp", None)
        head = " ".join(
            [
                stamp.astimezone().strftime("%H:%M:%S") if isinstance(stamp, datetime) else "",
                str(fields.pop("level", "")),
                str(fields.pop("logger", "")),
                str(fields.pop("message", "")),
            ]
        )
        trace = fields.pop("exc_info", None)
        tail = " ".join(f"{key}={value}" for key, value in fields.items())
        line = f"{head} [{tail}]" if tail else head
        return f"{line}\n{trace}" if trace else line


class ContextFilter(logging.Filter):
    """Puts the current log context on every record that passes the handler (extra= fields given win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


# What RQ's worker writes for each job at INFO (dequeued, "Job OK", result kept, completed): the job's one line
# from ``rq_job_log_scope`` says all of it, with the request id and refund number that these lack.
_RQ_PER_JOB_MESSAGES = frozenset(
    {
        "Worker %s: %s: %s (%s)",
        "Worker %s: %s: %s",
        "Successfully completed %s job in %ss on worker %s",
        "Successfully completed job %s in %ss on worker %s",
        "Worker %s: job %s result discarded immediately",
        "Worker %s: job %s result is kept for %s seconds",
        "Worker %s: job %s result will never expire, clean up result key manually",
    }
)


class ClientErrorTraceFilter(logging.Filter):
    """Django logs a refused request (403, 404, 400) with the exception that refused it: the status says all an
    operator needs, and a traceback in the log should mean a bug. 5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name.startswith("django.") and isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class RqJobChatterFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "rq.worker" and record.levelno == logging.INFO and record.msg in _RQ_PER_JOB_MESSAGES
        )


def logging_config(*, json: bool, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict: every logger (Django's, RQ's, ours) through one handler on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "mall.logging.ContextFilter"},
            "rq_job_chatter": {"()": "mall.logging.RqJobChatterFilter"},
            "client_error_trace": {"()": "mall.logging.ClientErrorTraceFilter"},
        },
        "formatters": {
            "json": {"()": "mall.logging.JsonFormatter"},
            "console": {"()": "mall.logging.ConsoleFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json else "console",
                "filters": ["context", "rq_job_chatter", "client_error_trace"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


def configure(config: dict[str, Any]) -> None:
    """``LOGGING_CONFIG``: ``LOGGING``, and Python's warnings (``py.warnings``) through the same handler."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def gunicorn_logconfig(*, json: bool, level: str) -> dict[str, Any]:
    """gunicorn's own logs (start, workers booted or killed) in the same format; its access log stays off, as
    ``RequestLogMiddleware`` writes the request's line with the fields gunicorn does not know."""
    config = logging_config(json=json, level=level)
    config["loggers"] = {
        "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    }
    config["root"] = {"handlers": ["console"], "level": level}
    return config


# --- requests -----------------------------------------------------------------------------------------------------


_MAX_LOGGED_URL_PART = 2000  # a hostile request's path or query string does not make a line of megabytes


def _query(query_string: str) -> str:
    pairs = parse_qsl(query_string[:_MAX_LOGGED_URL_PART], keep_blank_values=True)
    return "&".join(f"{key}={MASK if secret_key(key) else value}" for key, value in pairs)


class RequestLogMiddleware:
    """Gives the request its id and writes its one access line (method, path, status, duration, user)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_sane(request.headers.get(REQUEST_ID_HEADER)) or request_id_new()
        started = time.monotonic()
        with log_scope(request_id=request_id) as fields:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            if "refund_no" not in fields:
                _bind_refund_no((getattr(response, "data", None) or {}) if response.status_code < 400 else {})
            extra: dict[str, Any] = {
                "method": request.method,
                "path": request.path[:_MAX_LOGGED_URL_PART],
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
                "user_id": _user_id(request),
            }
            if request.META.get("QUERY_STRING"):
                extra["query"] = _query(request.META["QUERY_STRING"])
            level = logging.ERROR if response.status_code >= 500 else logging.INFO
            access_logger.log(level, "%s %s %s", request.method, extra["path"], response.status_code, extra=extra)
            # Django's handler would add its own "Not Found: ..." line after the request's context has ended.
            response._has_been_logged = True  # type: ignore[attr-defined]
        return response

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: dict[str, Any]) -> None:
        # The customer API names a refund by its number in the path (detail and its actions).
        _bind_refund_no(view_kwargs)


def _user_id(request: HttpRequest) -> Any:
    from django.utils.functional import SimpleLazyObject, empty

    user = request.__dict__.get("user")
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None  # nothing in the request looked at its user: finding out would cost a query
    try:
        return user.pk if user.is_authenticated else None
    except Exception:  # noqa: BLE001 - the database went away: the request's line is still written
        return None


def _bind_refund_no(source: object) -> None:
    refund_no = source.get("refund_no") if isinstance(source, Mapping) else None
    if isinstance(refund_no, str) and _SANE_REFUND_NO.fullmatch(refund_no):
        log_context_bind(refund_no=refund_no)


# --- jobs ---------------------------------------------------------------------------------------------------------


def job_meta() -> dict[str, Any]:
    """What a job handed to RQ carries from the code that enqueued it: the request id, if there is one."""
    request_id = request_id_current()
    return {"request_id": request_id} if request_id else {}


@dataclass
class JobOutcome:
    status: str = "finished"


@contextmanager
def job_log_scope(
    *, func: str, queue: str, job_id: str | None = None, request_id: str | None = None
) -> Iterator[JobOutcome]:
    """The log context of one job, closed by the job's line (status, duration). Without a request id of its own
    the job keeps the enclosing one (an in-process job keeps its request's), or gets a fresh one."""
    outcome = JobOutcome()
    request_id = request_id or request_id_current() or request_id_new()
    started = time.monotonic()
    with log_scope(request_id=request_id, job_id=job_id, job_func=func, queue=queue):
        try:
            yield outcome
        except BaseException:
            outcome.status = "failed"
            raise
        finally:
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            level = logging.WARNING if outcome.status == "failed" else logging.INFO
            job_logger.log(
                level,
                "job %s %s",
                func,
                outcome.status,
                extra={"status": outcome.status, "duration_ms": duration_ms},
            )


@contextmanager
def rq_job_log_scope(job: Any, queue: Any) -> Iterator[None]:
    """``job_log_scope`` for a job an RQ worker runs: the request id comes from the job's meta."""
    try:
        func = str(job.func_name)
    except Exception:  # noqa: BLE001 - a job that cannot be read is still logged, and RQ fails it
        func = "<unreadable>"
    meta = getattr(job, "meta", None) or {}
    with job_log_scope(
        func=func, queue=str(queue.name), job_id=str(job.id), request_id=request_id_sane(meta.get("request_id"))
    ) as outcome:
        try:
            yield
        finally:
            status = job.get_status(refresh=False)
            outcome.status = str(getattr(status, "value", status) or "unknown")
