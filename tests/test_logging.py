"""Logs an operator can search: one JSON line per request and per job, the request id carried from the request
into its jobs (in process and through RQ to a real worker process), secrets masked on every line."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from mall import jobs
from mall.logging import (
    ClientErrorTraceFilter,
    ConsoleFormatter,
    ContextFilter,
    JsonFormatter,
    RqJobChatterFilter,
    log_context_bind,
    log_scope,
)

ROOT = Path(__file__).resolve().parent.parent
HEX_ID = re.compile(r"[0-9a-f]{32}")
Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """The JSON lines the site's handler writes (same formatter and filters as settings.LOGGING), as dicts."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RqJobChatterFilter())
    handler.addFilter(ClientErrorTraceFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _without_timing(line: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(line.pop("timestamp"), str)
    if "duration_ms" in line:
        assert isinstance(line.pop("duration_ms"), float)
    return line


def logged_in_a_job(value: int) -> int:
    logging.getLogger("tests.job").info("working on %s", value)
    return value


def test_secrets_are_masked_wherever_they_appear(log_lines: Lines) -> None:
    with log_scope(request_id="req-1"):
        logging.getLogger("tests.redaction").info(
            "connecting to %s with sign=abc123&page=2, Authorization: Token 9f8e7d",
            "mysql://shop:s3cret-pw@db.internal:3306/mall",
            extra={
                "password": "hunter2",
                "api_key": "k-1",
                "privateKey": "-----BEGIN PRIVATE KEY-----",
                "DATABASE_URL": "mysql://shop:s3cret-pw@db.internal:3306/mall",
                "headers": {"HTTP_AUTHORIZATION": "Token 9f8e7d", "HTTP_COOKIE": "sessionid=abc", "Accept": "*/*"},
                "params": [{"sign": "abc123", "out_refund_no": "RF1"}],
                "empty_token": "",
                "amount": 12,
            },
        )
    assert [_without_timing(line) for line in log_lines()] == [
        {
            "level": "INFO",
            "logger": "tests.redaction",
            "message": "connecting to mysql://shop:***@db.internal:3306/mall with sign=***&page=2, Authorization: ***",
            "password": "***",
            "api_key": "***",
            "privateKey": "***",
            "DATABASE_URL": "mysql://shop:***@db.internal:3306/mall",
            "headers": {"HTTP_AUTHORIZATION": "***", "HTTP_COOKIE": "***", "Accept": "*/*"},
            "params": [{"sign": "***", "out_refund_no": "RF1"}],
            "empty_token": "",
            "amount": 12,
            "request_id": "req-1",
        }
    ]


def test_a_traceback_is_masked_too(log_lines: Lines) -> None:
    try:
        raise ConnectionError("redis://:topsecret@cache:6379/0 refused")
    except ConnectionError:
        logging.getLogger("tests.redaction").exception("cannot reach the cache")
    (line,) = log_lines()
    assert line["exc_info"].endswith("ConnectionError: redis://:***@cache:6379/0 refused")
    assert "topsecret" not in json.dumps(line)


def test_development_lines_are_readable_and_masked() -> None:
    record = logging.LogRecord("mall.access", logging.INFO, __file__, 1, "GET %s 200", ("/healthz",), None)
    record.password = "hunter2"
    with log_scope(request_id="req-2"):
        ContextFilter().filter(record)
    line = ConsoleFormatter().format(record)
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO mall\.access GET /healthz 200 \[password=\*\*\* request_id=req-2\]", line)


@pytest.mark.django_db
def test_a_request_has_one_line_with_the_incoming_request_id(client: Any, log_lines: Lines) -> None:
    response = client.get("/healthz?page=2&token=abc", HTTP_X_REQUEST_ID="edge-7f3a:1")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "edge-7f3a:1"
    assert [_without_timing(line) for line in log_lines()] == [
        {
            "level": "INFO",
            "logger": "mall.access",
            "message": "GET /healthz 200",
            "method": "GET",
            "path": "/healthz",
            "status": 200,
            "user_id": None,
            "query": "page=2&token=***",
            "request_id": "edge-7f3a:1",
        }
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("offered", ["has space", "x" * 129, "<script>", "ü-id", "", "-leading-dash"])
def test_an_unusable_request_id_is_replaced_by_a_new_one(client: Any, log_lines: Lines, offered: str) -> None:
    response = client.get("/healthz", HTTP_X_REQUEST_ID=offered)
    request_id = response["X-Request-ID"]
    assert HEX_ID.fullmatch(request_id)
    assert [line["request_id"] for line in log_lines()] == [request_id]


@pytest.mark.django_db
def test_an_api_line_names_the_user_and_never_the_token(api: Any, customer: Any, log_lines: Lines) -> None:
    token = api._credentials["HTTP_AUTHORIZATION"].split()[1]
    response = api.get("/api/v1/refunds/RNOSUCHREFUND/", HTTP_X_REQUEST_ID="api-1", secure=True)
    assert response.status_code == 404
    lines = log_lines()
    access = [_without_timing(line) for line in lines if line["logger"] == "mall.access"]
    assert access == [
        {
            "level": "INFO",
            "logger": "mall.access",
            "message": "GET /api/v1/refunds/RNOSUCHREFUND/ 404",
            "method": "GET",
            "path": "/api/v1/refunds/RNOSUCHREFUND/",
            "status": 404,
            "user_id": customer.pk,
            "request_id": "api-1",
            "refund_no": "RNOSUCHREFUND",
        }
    ]
    assert token not in json.dumps(lines)
    assert all(line["request_id"] == "api-1" for line in lines)


def test_an_in_process_job_keeps_the_request_id_and_writes_its_line(
    settings: Any, django_capture_on_commit_callbacks: Any, log_lines: Lines, db: None
) -> None:
    settings.JOBS_IN_PROCESS = True
    with log_scope(request_id="web-1"), django_capture_on_commit_callbacks(execute=True):
        jobs.job_enqueue(logged_in_a_job, 7, queue="stock")
        log_context_bind(refund_no="R1")
    assert [_without_timing(line) for line in log_lines()] == [
        {
            "level": "INFO",
            "logger": "tests.job",
            "message": "working on 7",
            "request_id": "web-1",
            "refund_no": "R1",
            "job_func": "tests.test_logging.logged_in_a_job",
            "queue": "stock",
        },
        {
            "level": "INFO",
            "logger": "mall.jobs.run",
            "message": "job tests.test_logging.logged_in_a_job finished",
            "status": "finished",
            "request_id": "web-1",
            "refund_no": "R1",
            "job_func": "tests.test_logging.logged_in_a_job",
            "queue": "stock",
        },
    ]


def _worker_lines(queue: str) -> tuple[list[dict[str, Any]], str]:
    """Run the Procfile's worker class over ``queue`` until it is empty; its stderr as parsed JSON lines."""
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "mall.settings"}
    env.setdefault("DJANGO_SECRET_KEY", uuid.uuid4().hex)
    command = [sys.executable, "manage.py", "rqworker", "--worker-class", "payments.worker.JobWorker", "--burst"]
    done = subprocess.run([*command, queue], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stderr.splitlines()], done.stdout


@pytest.mark.services
@pytest.mark.slow
def test_a_job_on_a_worker_carries_the_request_id_and_the_scheduler_s_gets_a_fresh_one(
    settings: Any, django_capture_on_commit_callbacks: Any, db: None
) -> None:
    import django_rq

    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("stock")
    queue.empty()
    try:
        with log_scope(request_id="web-42"), django_capture_on_commit_callbacks(execute=True):
            jobs.job_enqueue(logged_in_a_job, 1, queue="stock")
            jobs.job_enqueue_many(logged_in_a_job, [(2,), (3,)], queue="stock")
        queue.enqueue(logged_in_a_job, 4)  # as rqcron does: no request behind it
        assert [(job.args, job.meta) for job in queue.get_jobs()] == [
            ((1,), {"request_id": "web-42"}),
            ((2,), {"request_id": "web-42"}),
            ((3,), {"request_id": "web-42"}),
            ((4,), {}),
        ]
        job_ids = [job.id for job in queue.get_jobs()]

        lines, stdout = _worker_lines("stock")  # every line of the process parsed as JSON
    finally:
        queue.empty()
    assert stdout == ""
    ran = [line for line in lines if line["logger"] in ("tests.job", "mall.jobs.run")]
    fresh = ran[-1]["request_id"]
    assert HEX_ID.fullmatch(fresh)
    assert [
        (line["logger"], line["message"], line["request_id"], line["job_id"], line["job_func"], line["queue"])
        for line in ran
    ] == [
        (logger, message, request_id, job_id, "tests.test_logging.logged_in_a_job", "stock")
        for value, job_id, request_id in zip(range(1, 5), job_ids, ["web-42"] * 3 + [fresh], strict=True)
        for logger, message in (
            ("tests.job", f"working on {value}"),
            ("mall.jobs.run", "job tests.test_logging.logged_in_a_job finished"),
        )
    ]
    assert {line["status"] for line in ran if line["logger"] == "mall.jobs.run"} == {"finished"}
    # RQ's own start and stop lines are JSON too; its four lines per job are left to the job's one line.
    rq_lines = [line["message"] for line in lines if line["logger"] == "rq.worker"]
    assert any(message.startswith("Worker ") and "started with PID" in message for message in rq_lines)
    assert not any(job_id in message for message in rq_lines for job_id in job_ids)


def test_production_logs_are_json_and_development_logs_readable() -> None:
    def log_format(**env: str) -> str:
        script = "from django.conf import settings; print(settings.LOG_FORMAT)"
        base = {key: value for key, value in os.environ.items() if key not in ("LOG_FORMAT", "DJANGO_DEBUG")}
        full = {**base, "DJANGO_SETTINGS_MODULE": "mall.settings", "DJANGO_SECRET_KEY": uuid.uuid4().hex, **env}
        done = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {script}"],
            cwd=ROOT,
            env=full,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert log_format(DJANGO_DEBUG="0", ALLOWED_HOSTS="shop.example") == "json"
    assert log_format(DJANGO_DEBUG="1") == "console"
    assert log_format(DJANGO_DEBUG="1", LOG_FORMAT="json") == "json"
    assert django_settings.LOGGING["handlers"]["console"]["filters"] == [
        "context",
        "rq_job_chatter",
        "client_error_trace",
    ]


def test_a_process_writes_warnings_and_chinese_text_as_json_lines() -> None:
    script = (
        "import django, logging, warnings; django.setup(); "
        "warnings.warn('static files not collected'); "
        "logging.getLogger('payments.notifications').info('已退款 %s', 'R1', extra={'token': 'abc'})"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "mall.settings"}
    env.setdefault("DJANGO_SECRET_KEY", uuid.uuid4().hex)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.decode().splitlines()]
    ours = [_without_timing(line) for line in lines if line["logger"] in ("py.warnings", "payments.notifications")]
    assert ours == [
        {
            "level": "WARNING",
            "logger": "py.warnings",
            "message": "<string>:1: UserWarning: static files not collected\n",
        },
        {"level": "INFO", "logger": "payments.notifications", "message": "已退款 R1", "token": "***"},
    ]
    assert "已退款 R1".encode() in done.stderr  # written as text, not \\u escapes


@pytest.mark.django_db
def test_a_huge_path_or_query_string_is_cut_in_the_line(client: Any, log_lines: Lines) -> None:
    client.get("/healthz/" + "a" * 5000, {"q": "b" * 5000, "secret": "s"})
    (line,) = log_lines()
    assert (len(line["path"]), line["message"]) == (2000, f"GET {line['path']} 404")
    assert line["query"] == "q=" + "b" * 1998


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_redis_url() -> Iterator[str]:
    """A Redis server of the test's own (what a process enqueues there reaches no other test), stopped after."""
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.services
@pytest.mark.slow
def test_the_procfile_scheduler_writes_only_json_lines(private_redis_url: str) -> None:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("scheduler:"))
    command = shlex.split(line.split(":", 1)[1])
    assert command[:2] == ["python", "manage.py"]
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "mall.settings"}
    env["REDIS_URL"] = private_redis_url
    env.setdefault("DJANGO_SECRET_KEY", uuid.uuid4().hex)
    process = subprocess.Popen(
        [sys.executable, *command[1:]], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        time.sleep(6)  # long enough to load its jobs and enqueue those due at start
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line["logger"] == "rq.cron" and line["message"].startswith("Registered ") for line in lines)
    assert any(line["logger"] == "rq.cron" and line["message"].startswith("Enqueued ") for line in lines)


@pytest.mark.django_db
def test_a_refused_request_is_logged_without_a_traceback_and_a_bug_with_one(log_lines: Lines) -> None:
    """A 403 is an answer, not a bug: Django's line for it keeps its status and loses the exception's traceback."""
    from django.core.exceptions import PermissionDenied
    from django.utils.log import log_response

    try:
        raise PermissionDenied("no")
    except PermissionDenied as refused:
        log_response("Forbidden (Permission denied): %s", "/admin/x/", response=_Status(403), exception=refused)
    try:
        raise RuntimeError("bug")
    except RuntimeError as bug:
        log_response("Internal Server Error: %s", "/admin/y/", response=_Status(500), exception=bug)
    lines = [line for line in log_lines() if line["logger"] == "django.request"]
    assert [(line["status_code"], line["message"], "exc_info" in line) for line in lines] == [
        (403, "Forbidden (Permission denied): /admin/x/", False),
        (500, "Internal Server Error: /admin/y/", True),
    ]
    assert "RuntimeError: bug" in lines[1]["exc_info"]


class _Status:
    """What log_response reads of a response."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self._has_been_logged = False
