"""What the RQ worker records reaches Prometheus: the Procfile's own `web`, `worker` and `metrics` processes, in
production mode on MariaDB and Redis, share one metrics directory (prometheus_client multiprocess mode).

Refunds are created here and executed by the worker against the channel simulator, which also posts each
refund's signed notification to `web`. One refund's call to the channel times out after the money moved, so its
notification (taken by a gunicorn worker) settles it; for every other refund the notification arrives after the
worker settled it and changes nothing. Both the web's `/metrics` and the metrics process's must then show
exactly one observation and one success per refund, summed over every process of the host.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import django_rq
import pytest
import requests
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families
from rq.registry import ScheduledJobRegistry

from payments.models import AttemptOutcome, ChannelAttempt
from payments.simulator import client as simulator_client
from refunds.models import Refund, RefundEvent, RefundReason, RefundState
from refunds.services import ItemRequest, refund_create_by_system
from tests.factories import ProductFactory, make_order

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PER_CHANNEL = 3
CHANNELS = ("alipay", "wechat")
REFUNDS = PER_CHANNEL * len(CHANNELS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {
        name.strip(): command.strip()
        for name, command in (line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))
    }


def _environment(tmp_path: Path, simulator: Any, *, web_port: int, metrics_port: int) -> dict[str, str]:
    """Production mode on the test database and Redis, the channels configured for the simulator as a deployment
    would configure real ones, and a private metrics directory."""
    keys = settings.CHANNEL_SIMULATOR_KEYS_DIR
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "mall.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"mysql://root@127.0.0.1:3306/{settings.DATABASES['default']['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "MALL_VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "PORT": str(web_port),
        "WEB_CONCURRENCY": "2",
        "METRICS_PORT": str(metrics_port),
        "PAYMENTS_NOTIFY_BASE_URL": f"http://127.0.0.1:{web_port}",
        "CHANNEL_TIMEOUT_SECONDS": "0.5",
        "CHANNEL_SIMULATOR_URL": simulator.url,
        "CHANNEL_SIMULATOR_KEYS_DIR": str(keys),
        "ALIPAY_APP_ID": settings.ALIPAY_APP_ID,
        "ALIPAY_PRIVATE_KEY_FILE": settings.ALIPAY_PRIVATE_KEY_FILE,
        "ALIPAY_PUBLIC_KEY_FILE": settings.ALIPAY_PUBLIC_KEY_FILE,
        "ALIPAY_GATEWAY": settings.ALIPAY_GATEWAY,
        "WECHAT_MCH_ID": settings.WECHAT_MCH_ID,
        "WECHAT_APP_ID": settings.WECHAT_APP_ID,
        "WECHAT_API_V3_KEY_FILE": settings.WECHAT_API_V3_KEY_FILE,
        "WECHAT_CERT_SERIAL_NO": settings.WECHAT_CERT_SERIAL_NO,
        "WECHAT_PRIVATE_KEY_FILE": settings.WECHAT_PRIVATE_KEY_FILE,
        "WECHAT_PUBLIC_KEY_FILE": settings.WECHAT_PUBLIC_KEY_FILE,
        "WECHAT_PUBLIC_KEY_ID": settings.WECHAT_PUBLIC_KEY_ID,
        "WECHAT_GATEWAY": settings.WECHAT_GATEWAY,
    }
    for inline in ("ALIPAY_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY", "WECHAT_API_V3_KEY", "WECHAT_PRIVATE_KEY"):
        env.pop(inline, None)
    return env


class _Processes:
    """Procfile lines started as the operator's process manager would (`bash -c`), each in its own process
    group; stopped by the ids recorded here, never by name."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.started[name] = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def wait_http(self, name: str, url: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.started[name].poll() is not None:
                pytest.fail(f"{name} exited with {self.started[name].returncode}:\n{self.log(name)}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        pytest.fail(f"{name} did not answer {url} within 60 s:\n{self.log(name)}")

    def stop(self) -> None:
        for process in self.started.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def processes(tmp_path: Path, channel_simulator: Any) -> Iterator[tuple[_Processes, str, str]]:
    web_port, metrics_port = _free_port(), _free_port()
    env = _environment(tmp_path, channel_simulator, web_port=web_port, metrics_port=metrics_port)
    (tmp_path / "var").mkdir()
    _forget_earlier_jobs()
    procfile = _procfile()
    started = _Processes(env, tmp_path)
    try:
        for name in ("web", "worker", "metrics"):
            started.start(name, procfile[name])
        web, metrics = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{metrics_port}"
        started.wait_http("web", f"{web}/healthz")
        started.wait_http("metrics", f"{metrics}/healthz")
        yield started, web, metrics
    finally:
        started.stop()


def _forget_earlier_jobs() -> None:
    """Jobs other tests left in this Redis database would name rows of theirs, not of this test."""
    for name in settings.RQ_QUEUES:
        queue = django_rq.get_queue(name)
        queue.empty()
        scheduled = ScheduledJobRegistry(queue=queue)
        for job_id in scheduled.get_job_ids():
            scheduled.remove(job_id, delete_job=True)


def _paid_order(customer: Any, channel: str, simulator: Any) -> Any:
    order = make_order(
        customer,
        lines=[(ProductFactory(price=Decimal("25.00")), "2")],
        shipping_fee="0",
        status="paid",
        channel=channel,
    )
    simulator_client.register_trade(
        channel=channel,
        out_trade_no=order.payment.out_trade_no,
        trade_no=order.payment.trade_no,
        amount=order.payment.amount,
        base_url=simulator.url,
    )
    return order


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _refund_samples(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> dict[Any, float]:
    names = ("refund_process_duration_seconds_count", "refund_outcomes_total")
    return {key: value for key, value in samples.items() if key[0] in names}


def test_web_and_the_metrics_process_show_what_the_worker_and_notifications_recorded(
    processes: tuple[_Processes, str, str], customer: Any, channel_simulator: Any
) -> None:
    started, web, metrics = processes
    # The first wechat refund's call times out after the channel moved the money: its notification settles it.
    simulator_client.add_fault(channel="wechat", kind="timeout", count=1, delay=2.0, base_url=channel_simulator.url)
    refunds = []
    for index in range(REFUNDS):
        order = _paid_order(customer, CHANNELS[index % len(CHANNELS)], channel_simulator)
        item = order.items.get()
        refunds.append(
            refund_create_by_system(
                order=order,
                reason=RefundReason.OUT_OF_STOCK,
                items=[ItemRequest(order_item_id=item.pk, quantity=item.quantity)],
            )
        )
    assert {refund.state for refund in refunds} == {RefundState.REFUNDING}

    deadline = time.monotonic() + 90
    ids = [refund.pk for refund in refunds]
    while Refund.objects.filter(pk__in=ids, state=RefundState.REFUNDED).count() < REFUNDS:
        if time.monotonic() > deadline:
            states = list(Refund.objects.filter(pk__in=ids).values_list("state", flat=True))
            pytest.fail(f"refunds not settled in 90 s: {states}\n{started.log('worker')}")
        time.sleep(0.3)
    # Every notification delivered (the one that settled a refund, and those that came after the worker did).
    assert channel_simulator.notifier.wait_idle(timeout=30)

    # The refund whose call timed out learnt its outcome from the notification alone (in whichever order the
    # notification and the timeout came in); the job's retry later finds it refunded and asks nothing.
    [late] = ChannelAttempt.objects.filter(refund__in=ids, outcome=AttemptOutcome.TEMPORARY_ERROR).values_list(
        "refund_id", flat=True
    )
    assert sorted(ChannelAttempt.objects.filter(refund=late).values_list("operation", "outcome")) == [
        ("notification", AttemptOutcome.SUCCESS),
        ("refund", AttemptOutcome.TEMPORARY_ERROR),
    ]
    assert ChannelAttempt.objects.filter(refund__in=ids, operation="notification").count() == REFUNDS
    assert RefundEvent.objects.filter(refund__in=ids, to_state=RefundState.REFUNDED).count() == REFUNDS

    expected = {}
    for channel in CHANNELS:
        expected[("refund_process_duration_seconds_count", frozenset({("channel", channel)}))] = PER_CHANNEL
        expected[("refund_outcomes_total", frozenset({("channel", channel), ("outcome", "success")}))] = PER_CHANNEL
    from_web = _samples(requests.get(f"{web}/metrics", timeout=10).text)
    from_metrics = _samples(requests.get(f"{metrics}/metrics", timeout=10).text)
    assert _refund_samples(from_web) == expected
    assert _refund_samples(from_metrics) == expected
    # django-prometheus's own metrics are still there, summed over both gunicorn workers: one POST per
    # notification the channel sent.
    posts = ("django_http_requests_total_by_method_total", frozenset({("method", "POST")}))
    assert from_web[posts] == REFUNDS
