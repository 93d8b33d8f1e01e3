"""Refund applications racing across processes never claim more than was paid.

A real gunicorn (3 worker processes) serves the test database; 3 client processes x 10 threads each fire
applications for one order at the same moment over HTTP. Exactly as many applications as the order can hold
must win, every other one is refused with 409, and the claims on the order lines match the refunds.

Run once with the Redis lock in front of the row lock, and once with the row lock alone (no ``REDIS_URL`` for
the server). Django is imported inside the tests only: the client processes are spawned, import this module
and must not need a configured Django.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CLIENT_PROCESSES = 3
THREADS_PER_CLIENT = 10
REQUESTS_PER_THREAD = 2
HTTP_TIMEOUT = (5, 30)  # connect, read (seconds)


# --- the server ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _gunicorn(database: str, redis_url: str | None) -> Iterator[str]:
    """gunicorn on the test database; yields its base URL and always stops it."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mall.settings",
        "DATABASE_URL": f"mysql://root@127.0.0.1:3306/{database}",
        "REFUND_APPLY_THROTTLE": "100000/min",
        "LOG_LEVEL": "WARNING",
        # Without Redis the channel job runs inside the request: send it to a closed port, never to a channel.
        "CHANNEL_SIMULATOR_URL": f"http://127.0.0.1:{_free_port()}",
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "mall.wsgi", "--workers", "3", "--bind", f"127.0.0.1:{port}", "--timeout", "60"]
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(server, base_url, log)
            yield base_url
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)


def _server_log(log: Any) -> str:
    log.seek(0)
    return str(log.read().decode(errors="replace"))[-4000:]


def _wait_healthy(server: subprocess.Popen[bytes], base_url: str, log: Any) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.returncode}:\n{_server_log(log)}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer /healthz within 30 s:\n{_server_log(log)}")


# --- the clients (run in spawned processes: no Django here) ---------------------------------------------


def _client_thread(
    base_url: str, token: str, bodies: list[dict[str, Any]], go: threading.Event, out: list[tuple[Any, ...]]
) -> None:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Token {token}"
        if not go.wait(timeout=60):
            out.append(("never started", None, None))
            return
        for body in bodies:
            try:
                sent = {key: value for key, value in body.items() if key != "tag"}
                response = session.post(f"{base_url}/api/v1/refunds/", json=sent, timeout=HTTP_TIMEOUT)
            except requests.RequestException as exc:
                out.append((f"error: {type(exc).__name__}", None, body["tag"]))
                continue
            try:
                payload = response.json()
            except ValueError:
                payload = {"code": " ".join(response.text[:300].split())}  # e.g. a debug page's title
            code = payload.get("refund_no") if response.status_code == 201 else payload.get("code")
            out.append((response.status_code, code, body["tag"]))


def _client_process(base_url: str, token: str, plan: list[list[dict[str, Any]]], start: Any, results: Any) -> None:
    go = threading.Event()
    outcomes: list[list[tuple[Any, ...]]] = [[] for _ in plan]
    threads = [
        threading.Thread(target=_client_thread, args=(base_url, token, bodies, go, outcomes[index]), daemon=True)
        for index, bodies in enumerate(plan)
    ]
    for thread in threads:
        thread.start()
    try:
        start.wait(timeout=60)  # every client process is ready: fire together
    finally:
        go.set()
    for thread in threads:
        thread.join(timeout=90)
    results.put([outcome for outcome_list in outcomes for outcome in outcome_list])


def _race(base_url: str, token: str, bodies: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Send ``bodies`` from CLIENT_PROCESSES processes x THREADS_PER_CLIENT threads, all released at once."""
    per_thread = [
        bodies[i :: CLIENT_PROCESSES * THREADS_PER_CLIENT] for i in range(CLIENT_PROCESSES * THREADS_PER_CLIENT)
    ]
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(CLIENT_PROCESSES + 1)
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=_client_process,
            args=(base_url, token, per_thread[p * THREADS_PER_CLIENT : (p + 1) * THREADS_PER_CLIENT], start, results),
        )
        for p in range(CLIENT_PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        start.wait(timeout=60)
        outcomes: list[tuple[Any, ...]] = []
        for _ in processes:
            outcomes.extend(results.get(timeout=120))
        for process in processes:
            process.join(timeout=10)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    return outcomes


# --- the race ------------------------------------------------------------------------------------------


def _attempts(order: Any) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """60 applications against an order of 5 apples, 3 melons and 1.5 kg of cherries, and how many can win
    for each line: 1 apple each (5 fit), 1 melon each, half of them naming the amount (3 fit), 0.5 kg of
    cherries each (3 fit)."""
    apples, melons, cherries = order.items.order_by("id")
    bodies: list[dict[str, Any]] = []

    def body(tag: str, line: dict[str, Any]) -> dict[str, Any]:
        return {"order_no": order.order_no, "reason": "not_shipped", "kind": "refund_only", "items": [line], "tag": tag}

    bodies += [body("apple", {"order_item_id": apples.pk, "quantity": "1"}) for _ in range(30)]
    bodies += [body("melon", {"order_item_id": melons.pk, "quantity": "1"}) for _ in range(8)]
    bodies += [body("melon", {"order_item_id": melons.pk, "quantity": "1", "amount": "20.00"}) for _ in range(7)]
    bodies += [body("cherry", {"order_item_id": cherries.pk, "quantity": "0.500"}) for _ in range(15)]
    random.Random(20240601).shuffle(bodies)
    assert len(bodies) == CLIENT_PROCESSES * THREADS_PER_CLIENT * REQUESTS_PER_THREAD
    return bodies, {"apple": 5, "melon": 3, "cherry": 3}


@pytest.mark.parametrize("redis_lock", [True, False], ids=["redis-and-row-lock", "row-lock-only"])
def test_concurrent_applications_never_claim_more_than_was_paid(redis_lock: bool) -> None:
    from django.conf import settings
    from django.db import connection
    from django.db.models import Sum
    from rest_framework.authtoken.models import Token

    from refunds.models import RELEASED_STATES, Refund, RefundItem
    from tests.factories import ProductFactory, UserFactory, make_order

    assert settings.REDIS_URL, "the Redis lock variant needs REDIS_URL"
    customer: Any = UserFactory()
    token = Token.objects.create(user=customer).key
    apples: Any = ProductFactory(price=Decimal("12.50"))
    melons: Any = ProductFactory(price=Decimal("20.00"))
    cherries: Any = ProductFactory(price=Decimal("88.00"), unit="kg")
    order = make_order(
        customer,
        lines=[(apples, "5"), (melons, "3"), (cherries, "1.500")],
        shipping_fee="8.00",
        status="paid",
    )
    assert order.total_amount == Decimal("262.50")  # 62.50 + 60.00 + 132.00 + 8.00 shipping
    bodies, fits = _attempts(order)

    started = time.monotonic()
    with _gunicorn(connection.settings_dict["NAME"], settings.REDIS_URL if redis_lock else None) as base_url:
        # The server sees this test's committed data and runs with the intended lock configuration.
        headers = {"Authorization": f"Token {token}"}
        seen = requests.get(f"{base_url}/api/v1/orders/{order.order_no}/", headers=headers, timeout=HTTP_TIMEOUT)
        assert seen.status_code == 200, seen.text
        ready = requests.get(f"{base_url}/readyz", timeout=HTTP_TIMEOUT).json()
        assert ready["checks"]["redis"] == ("ok" if redis_lock else "not_configured"), ready
        outcomes = _race(base_url, token, bodies)
    elapsed = time.monotonic() - started

    assert len(outcomes) == len(bodies), outcomes
    statuses = Counter(status for status, _, _ in outcomes)
    assert not [o for o in outcomes if not isinstance(o[0], int) or o[0] >= 500], outcomes
    assert set(statuses) <= {201, 409}, statuses
    refusals = Counter(code for status, code, _ in outcomes if status == 409)
    assert set(refusals) <= {"amount_exceeded", "refund_busy"}, refusals
    wins = Counter(tag for status, _, tag in outcomes if status == 201)
    assert wins == Counter(fits), (wins, refusals)
    assert statuses[201] == sum(fits.values()) == 11
    assert refusals["refund_busy"] == 0, f"the Redis lock wait ran out under this load: {refusals}"

    # The database agrees: one refund per win, claims equal the live refunds, nothing beyond what was paid.
    refunds = Refund.objects.filter(order=order)
    assert set(refunds.values_list("refund_no", flat=True)) == {code for status, code, _ in outcomes if status == 201}
    live = refunds.exclude(state__in=RELEASED_STATES)
    assert live.count() == 11
    for item in order.items.all():
        claimed = RefundItem.objects.filter(order_item=item, refund__in=live).aggregate(
            quantity=Sum("quantity"), amount=Sum("amount")
        )
        assert claimed["quantity"] <= item.quantity and claimed["amount"] <= item.amount
        assert (item.refund_claimed_quantity, item.refund_claimed_amount) == (claimed["quantity"], claimed["amount"])
        assert item.refund_claimed_quantity == item.quantity  # every line was fully taken
    order.refresh_from_db()
    total = live.aggregate(total=Sum("amount"))["total"]
    assert total == order.total_amount  # everything, the shipping fee once, nothing more
    assert live.filter(shipping_fee_amount__gt=0).count() == 1
    assert order.shipping_fee_refund_claimed == order.shipping_fee
    assert elapsed < 30, f"the race took {elapsed:.1f} s"
