"""Chaos: the Procfile's processes for real (gunicorn, the RQ worker, the scheduler) on the MariaDB test database
and a private ``redis-server``, the channel simulator at the edge; then Redis is killed for half a minute while
customers apply, Redis is killed while refunds are being paid out, and a worker is SIGKILLed in the middle of a
refund. Each test prints its counts: refunds lost, paid twice, answers of 500, processes alive.

What must hold: no answer of 500 (applications keep being accepted on the database alone), no process exits,
every accepted refund reaches ``refunded`` once Redis is back (the re-dispatch sweep hands out the jobs Redis lost,
run here as its job would run, three minutes on), and the channel's ledger holds each refund's money exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rq import Worker

from payments import jobs as payment_jobs
from payments.simulator import client as simulator_client
from refunds import services as refund_services
from refunds.models import Refund, RefundState
from refunds.services import ItemRequest
from tests.factories import ProductFactory, UserFactory, make_order
from tests.redis_server import PrivateRedis, free_port, private_redis, use_redis

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_SECONDS = 32
HTTP_TIMEOUT = (3, 30)


# --- the processes ---------------------------------------------------------------------------------------


def _procfile(name: str) -> list[str]:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith(f"{name}:"))
    argv = shlex.split(line.split(":", 1)[1])
    return [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]


class Stack:
    """Processes started by this test, each in a process group of its own, stopped (by pid) at the end."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work = work
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.gone: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with (self.work / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes[name] = process
        return process

    def web(self) -> str:
        port = free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        argv = [gunicorn, "mall.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
        self.start("web", [*argv, "--config", "deploy/gunicorn.conf.py"])
        return f"http://127.0.0.1:{port}"

    def worker(self, name: str = "worker") -> None:
        self.start(name, _procfile("worker"))

    def scheduler(self) -> None:
        # The Procfile's command, on a configuration whose sweep runs every 2 s (tests/chaos/cron.py).
        argv = _procfile("scheduler")
        self.start("scheduler", [*argv[:-1], "tests.chaos.cron"])

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.gone.append(process)

    def alive(self) -> dict[str, bool]:
        return {name: process.poll() is None for name, process in self.processes.items()}

    def log(self, name: str) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")

    def wait_for_log(self, name: str, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log(name):
            if self.processes[name].poll() is not None:
                pytest.fail(f"{name} exited with {self.processes[name].returncode}:\n{self.log(name)[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{name} did not log {text!r} within {timeout} s:\n{self.log(name)[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        every = [*self.processes.values(), *self.gone]
        for process in every:  # the group: gunicorn's workers, RQ's scheduler process (also a killed worker's)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in every:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path, settings: Any) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path) as server:
        use_redis(settings, server.url)  # this process enqueues there too (applications made here, the sweep)
        yield server


@pytest.fixture
def stack(
    tmp_path: Path, redis_server: PrivateRedis, channel_simulator: Any, channel_keys: Any
) -> Iterator[Callable[..., Stack]]:
    """Starts processes against this test's database and the private Redis, in production mode; stops them
    before Redis goes."""
    stacks: list[Stack] = []

    def make(notify_url: str) -> Stack:
        env = {key: value for key, value in os.environ.items() if key not in ("ALIPAY_APP_ID", "WECHAT_MCH_ID")}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "mall.settings",
                "DATABASE_URL": f"mysql://root@127.0.0.1:3306/{connection.settings_dict['NAME']}",
                "REDIS_URL": redis_server.url,
                "DJANGO_DEBUG": "0",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SECURE_SSL_REDIRECT": "0",
                "MALL_VAR_DIR": str(tmp_path / "var"),
                "MEDIA_ROOT": str(tmp_path / "media"),
                "STORAGE_BACKEND": "local",
                "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
                "CHANNEL_SIMULATOR_ENABLED": "1",
                "CHANNEL_SIMULATOR_URL": channel_simulator.url,
                "CHANNEL_SIMULATOR_KEYS_DIR": str(channel_keys.directory),
                "CHANNEL_TIMEOUT_SECONDS": "8",
                "PAYMENTS_NOTIFY_BASE_URL": notify_url,
                "REFUND_APPLY_THROTTLE": "10000/min",
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        made = Stack(tmp_path, env)
        stacks.append(made)
        return made

    try:
        yield make
    finally:
        for made in stacks:
            made.stop()


def _wait_healthy(base_url: str, stack: Stack) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stack.processes["web"].poll() is not None:
            pytest.fail(f"web exited:\n{stack.log('web')[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    pytest.fail(f"web not ready within 60 s:\n{stack.log('web')[-3000:]}")


# --- the shop --------------------------------------------------------------------------------------------


def _paid_orders(simulator: Any, count: int) -> list[tuple[Any, str]]:
    """``count`` paid, unshipped orders (both channels), known to the simulator, each with its customer's token."""
    product = ProductFactory(price=Decimal("18.80"))
    orders = []
    for index in range(count):
        customer = UserFactory()
        order = make_order(customer, lines=[(product, "2")], channel=("alipay", "wechat")[index % 2])
        payment = order.payment
        simulator_client.register_trade(
            channel=payment.channel,
            out_trade_no=payment.out_trade_no,
            trade_no=payment.trade_no,
            amount=payment.amount,
            base_url=simulator.url,
        )
        orders.append((order, Token.objects.create(user=customer).key))
    return orders


def _apply_here(orders: list[tuple[Any, str]]) -> list[Refund]:
    """Applications made in this process: each refund is approved at once and its job queued in Redis."""
    refunds = []
    for order, _ in orders:
        refund, _ = refund_services.refund_apply(
            customer=order.customer,
            order_no=order.order_no,
            reason="not_shipped",
            kind="refund_only",
            items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal("2"))],
        )
        assert refund.state == RefundState.REFUNDING
        refunds.append(refund)
    return refunds


def _sweep_three_minutes_on() -> list[int]:
    """The re-dispatch sweep's job as the scheduler runs it, once what Redis lost has been quiet long enough."""
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        return payment_jobs.sweep_refunding()


def _wait_settled(refund_ids: set[int], timeout: float, count: int | None = None) -> dict[str, int]:
    """The refunds' states once ``count`` of them (all by default) are refunded, or at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        states = Counter(Refund.objects.filter(pk__in=refund_ids).values_list("state", flat=True))
        if states[RefundState.REFUNDED] >= (count or len(refund_ids)) or time.monotonic() > deadline:
            return dict(states)
        time.sleep(0.3)


def _money(simulator: Any, refund_ids: set[int]) -> tuple[int, int]:
    """(lost, paid twice): refunds not refunded, or refunded without the money at the channel; orders whose trade
    gave back more at the channel than our refunded refunds of it say."""
    trades = {
        row["out_trade_no"]: Decimal(row["refunded"])
        for row in simulator_client.ledger(base_url=simulator.url)["trades"]
    }
    refunds = list(Refund.objects.filter(pk__in=refund_ids).select_related("order__payment"))
    lost = sum(1 for refund in refunds if refund.state != RefundState.REFUNDED)
    ours: Counter[str] = Counter()
    for refund in refunds:
        if refund.state == RefundState.REFUNDED:
            ours[refund.order.payment.out_trade_no] += refund.amount
    lost += sum(1 for trade, amount in ours.items() if trades.get(trade, Decimal(0)) < amount)
    paid_twice = sum(1 for trade, amount in trades.items() if amount > ours.get(trade, Decimal(0)))
    return lost, paid_twice


def _server_errors(stack: Stack) -> int:
    """Answers of 500 (any 5xx but 503) the web logged, channel notifications included."""
    count = 0
    for line in stack.log("web").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("logger") == "mall.access" and int(record.get("status", 0)) >= 500:
                count += int(record["status"]) != 503
    return count


def _outage_lines(stack: Stack, name: str, dependency: str) -> tuple[int, int]:
    log = stack.log(name)
    return log.count(f"{dependency} unreachable"), log.count(f"{dependency} answers again")


# --- the tests -------------------------------------------------------------------------------------------


def test_redis_killed_for_half_a_minute_while_customers_apply(
    stack: Callable[..., Stack], redis_server: PrivateRedis, channel_simulator: Any
) -> None:
    orders = _paid_orders(channel_simulator, 36)  # 6 before the outage, 26 during, 4 after
    processes = stack(notify_url="")
    base_url = processes.web()
    processes.env["PAYMENTS_NOTIFY_BASE_URL"] = base_url  # the channel's notifications reach the web
    processes.worker()
    processes.scheduler()
    _wait_healthy(base_url, processes)
    processes.wait_for_log("worker", "Listening on")

    answers: list[tuple[str, int, str]] = []  # (phase, status, refund_no or error code)
    applied_for: set[int] = set()
    session = requests.Session()

    def apply(phase: str, order: Any, token: str) -> None:
        applied_for.add(order.pk)
        item = order.items.get()
        body = {
            "order_no": order.order_no,
            "reason": "not_shipped",
            "kind": "refund_only",
            "items": [{"order_item_id": item.pk, "quantity": "2"}],
        }
        try:
            response = session.post(
                f"{base_url}/api/v1/refunds/",
                json=body,
                headers={"Authorization": f"Token {token}"},
                timeout=HTTP_TIMEOUT,
            )
        except requests.RequestException as error:
            answers.append((phase, 0, type(error).__name__))
            return
        payload = response.json() if response.headers.get("Content-Type") == "application/json" else {}
        answers.append((phase, response.status_code, payload.get("refund_no") or payload.get("code") or ""))

    for order, token in orders[:6]:
        apply("before", order, token)
    repeat_of = orders[0]

    redis_server.kill()
    killed_at = time.monotonic()
    ready_during: tuple[int, list[str], float] | None = None
    during = orders[6:-4]
    for index, (order, token) in enumerate(during):  # spread over the outage
        apply("during", order, token)
        if index % 4 == 3:
            apply("during", *repeat_of)  # already fully claimed: refused by the database alone
        if index == 5:
            started = time.monotonic()
            ready = requests.get(f"{base_url}/readyz", timeout=HTTP_TIMEOUT)
            ready_during = (ready.status_code, ready.json()["failed"], round(time.monotonic() - started, 2))
        time.sleep(max(0.0, killed_at + OUTAGE_SECONDS * (index + 1) / len(during) - time.monotonic()))
    redis_server.start()
    outage = time.monotonic() - killed_at
    for order, token in orders[-4:]:
        apply("after", order, token)

    for name, dependency in (("worker", "Redis (worker)"), ("scheduler", "Redis (scheduler)")):
        processes.wait_for_log(name, f"{dependency} answers again", timeout=15)  # the next try, at most 10 s on
    processes.wait_for_log("worker", "registered again after the outage", timeout=5)
    listed = [worker.name for worker in Worker.all(connection=redis_server.client())]
    accepted = {refund_no for _, status, refund_no in answers if status == 201}
    refund_ids = set(Refund.objects.filter(refund_no__in=accepted).values_list("pk", flat=True))
    swept = _sweep_three_minutes_on()
    states = _wait_settled(refund_ids, timeout=60)
    lost, paid_twice = _money(channel_simulator, refund_ids)
    alive = processes.alive()
    statuses = Counter(status for _, status, _ in answers)
    server_errors = sum(1 for _, status, _ in answers if status >= 500 or status == 0) + _server_errors(processes)
    print(
        f"\nchaos: Redis killed for {outage:.1f} s while customers applied: {len(answers)} applications "
        f"({dict(statuses)}; during the outage {sum(1 for p, s, _ in answers if p == 'during' and s == 201)} "
        f"accepted), {len(swept)} handed out again by the sweep; refunds lost {lost}, paid twice {paid_twice}, "
        f"answers of 500 {server_errors}, processes alive {sum(alive.values())}/{len(alive)}; "
        f"/readyz during the outage {ready_during}"
    )

    assert all(alive.values()), {name: processes.log(name)[-3000:] for name, up in alive.items() if not up}
    assert server_errors == 0, [a for a in answers if a[1] >= 500 or a[1] == 0]
    assert set(statuses) <= {201, 409}, answers
    refusals = {code for _, status, code in answers if status == 409}
    assert refusals <= {"amount_exceeded", "refund_not_allowed"}, refusals  # fully claimed, or already refunded
    # Every order applied for got exactly one refund, and it was accepted.
    assert Refund.objects.filter(order__in=applied_for).count() == len(applied_for) == len(refund_ids)
    assert sum(1 for phase, status, _ in answers if phase == "during" and status == 201) == 26
    assert states == {RefundState.REFUNDED: len(refund_ids)}, states
    assert (lost, paid_twice) == (0, 0)
    assert ready_during is not None and ready_during[:2] == (503, ["redis"]), ready_during
    # Both long-running processes saw the outage, said so once, and said once that it was over.
    assert _outage_lines(processes, "worker", "Redis (worker)") == (1, 1)
    assert len(listed) == 1  # the Redis that came back empty knows the worker again (dashboard, `rq info`)
    assert _outage_lines(processes, "scheduler", "Redis (scheduler)") == (1, 1)
    assert _outage_lines(processes, "worker", "Redis (RQ scheduler)") == (1, 1)  # the worker's scheduler process
    assert "raised an exception" not in processes.log("worker")


def test_redis_killed_while_refunds_are_paid_out(
    stack: Callable[..., Stack], redis_server: PrivateRedis, channel_simulator: Any, notification_inbox: Any
) -> None:
    orders = _paid_orders(channel_simulator, 40)
    refunds = _apply_here(orders)  # 40 execution jobs waiting in Redis
    refund_ids = {refund.pk for refund in refunds}
    # The channel answers the first 20 refunds slowly: the worker is always in the middle of one.
    simulator_client.add_fault(channel="*", kind="timeout", count=20, delay=0.3, base_url=channel_simulator.url)
    processes = stack(notify_url=notification_inbox.url)
    processes.worker()
    processes.scheduler()

    deadline = time.monotonic() + 60
    while Refund.objects.filter(pk__in=refund_ids, state=RefundState.REFUNDED).count() < 5:
        assert time.monotonic() < deadline, processes.log("worker")[-3000:]
        time.sleep(0.1)
    redis_server.kill()
    killed_at = time.monotonic()
    refunded_at_kill = Refund.objects.filter(pk__in=refund_ids, state=RefundState.REFUNDED).count()
    time.sleep(12)
    redis_server.start()  # empty: the jobs still queued are gone
    outage = time.monotonic() - killed_at

    swept = _sweep_three_minutes_on()
    states = _wait_settled(refund_ids, timeout=60)
    lost, paid_twice = _money(channel_simulator, refund_ids)
    alive = processes.alive()
    print(
        f"\nchaos: Redis killed for {outage:.1f} s while 40 refunds were paid out ({refunded_at_kill} done at the "
        f"kill), {len(swept)} handed out again by the sweep; refunds lost {lost}, paid twice {paid_twice}, "
        f"answers of 500 0 (no web), processes alive {sum(alive.values())}/{len(alive)}"
    )

    assert all(alive.values()), {name: processes.log(name)[-3000:] for name, up in alive.items() if not up}
    assert 0 < len(swept) < 40
    assert states == {RefundState.REFUNDED: 40}, states
    assert (lost, paid_twice) == (0, 0)
    assert _outage_lines(processes, "worker", "Redis (worker)") == (1, 1)


def test_a_worker_killed_in_the_middle_of_a_refund_loses_nothing_and_pays_nothing_twice(
    stack: Callable[..., Stack], redis_server: PrivateRedis, channel_simulator: Any, notification_inbox: Any
) -> None:
    orders = _paid_orders(channel_simulator, 10)
    refunds = _apply_here(orders)
    refund_ids = {refund.pk for refund in refunds}
    # The channel takes the first refund's money, then holds its answer back: the worker is waiting for it.
    simulator_client.add_fault(channel="*", kind="timeout", count=1, delay=6, base_url=channel_simulator.url)
    processes = stack(notify_url=notification_inbox.url)
    processes.worker("first worker")

    deadline = time.monotonic() + 60
    while not simulator_client.ledger(base_url=channel_simulator.url)["refunds"]:
        assert time.monotonic() < deadline, processes.log("first worker")[-3000:]
        time.sleep(0.05)
    processes.kill("first worker")  # SIGKILL, the channel's answer still on its way
    processes.worker("second worker")
    states = _wait_settled(refund_ids, timeout=30, count=9)  # the second worker takes the jobs still queued
    in_flight = states.get(RefundState.REFUNDING, 0)

    swept = _sweep_three_minutes_on()  # and the sweep the one the killed worker was paying out
    states = _wait_settled(refund_ids, timeout=30)
    lost, paid_twice = _money(channel_simulator, refund_ids)
    alive = processes.alive()
    print(
        f"\nchaos: a worker SIGKILLed in the middle of a refund ({in_flight} left in refunding by it), "
        f"{len(swept)} handed out again by the sweep; refunds lost {lost}, paid twice {paid_twice}, "
        f"answers of 500 0 (no web), processes alive {sum(alive.values())}/{len(alive)} (the killed one replaced)"
    )

    assert all(alive.values()), processes.log("second worker")[-3000:]
    assert (in_flight, len(swept)) == (1, 1)
    assert states == {RefundState.REFUNDED: 10}, states
    assert (lost, paid_twice) == (0, 0)
