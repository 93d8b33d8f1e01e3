"""The benchmark's surroundings: the environment its processes run with, the scratch database, the notification
sink that stands in for the web tier, the seeded orders and their trades at the simulator, and the child processes."""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from execution.common import ROOT

# --- environment -----------------------------------------------------------------------------------------


def _environment(args: argparse.Namespace, work: Path, simulator_url: str, sink_url: str) -> dict[str, str]:
    """What this process and its children run with: the scratch database, our own Redis database, the
    simulator reached through the environment only, and nothing written outside ``work``."""
    env = dict(os.environ)
    for name in ("ALIPAY_APP_ID", "WECHAT_MCH_ID"):  # unset merchant ids: the adapters talk to the simulator
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mall.settings",
            "DATABASE_URL": f"mysql://root@127.0.0.1:3306/{args.db}",
            "REDIS_URL": args.redis_url,
            "CACHE_KEY_PREFIX": "mall-bench-exec",
            # Production-like: DEBUG off (no SQL kept per query), quiet logs.
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": f"bench-{secrets.token_hex(16)}",
            "LOG_LEVEL": "WARNING",
            "MALL_VAR_DIR": str(work / "var"),
            "MEDIA_ROOT": str(work / "media"),
            "STORAGE_BACKEND": "local",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "CHANNEL_SIMULATOR_ENABLED": "1",
            "CHANNEL_SIMULATOR_URL": simulator_url,
            "CHANNEL_SIMULATOR_KEYS_DIR": str(work / "channel-keys"),
            "PAYMENTS_NOTIFY_BASE_URL": sink_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _mysql(statement: str) -> None:
    import MySQLdb

    connection = MySQLdb.connect(host="127.0.0.1", port=3306, user="root")
    try:
        connection.cursor().execute(statement)
    finally:
        connection.close()


class _HandOverFailures:
    """Counts what ``mall.jobs`` logs when it cannot hand a job to RQ; lets the first traceback through."""

    count = 0
    first = ""

    @classmethod
    def filter(cls, record: Any) -> bool:
        if record.levelno < 40 or "could not enqueue" not in record.getMessage():
            return True
        cls.count += 1
        if cls.count == 1:
            cls.first = repr(record.exc_info[1]) if record.exc_info else record.getMessage()
            return True
        return False


class _Sink(http.server.BaseHTTPRequestHandler):
    """The web tier's notify endpoints as the simulator sees them: every notification acknowledged."""

    protocol_version = "HTTP/1.1"
    received: dict[str, int] = {}
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            self.received[self.path] = self.received.get(self.path, 0) + 1
        body = b"success"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


# --- seeding ---------------------------------------------------------------------------------------------


def seed(orders: int) -> list[Any]:
    import seeding
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from mall.models import Order, OrderItem, StockMovement
    from mall.services import ALLOCATION_REASON, allocation_reference

    user_model = get_user_model()
    password = make_password("bench-pass-w0rd")  # hashed once: nobody logs in
    customers = max(1, orders // 10)
    batch = 1000
    run_id = f"{int(time.time()) % 10**8:08d}"
    with transaction.atomic():
        user_model.objects.bulk_create(
            [
                user_model(username=f"bx{n:06d}", email=f"bx{n:06d}@bench.example", password=password)
                for n in range(customers)
            ],
            batch_size=batch,
        )
        users = list(user_model.objects.filter(username__startswith="bx").order_by("username"))
        order_rows = seeding.paid_orders(
            customers=users,
            count=orders,
            order_prefix=f"OX{run_id}",
            trade_prefix="XT",
            receiver_phone=lambda n: f"1380000{n % 10000:04d}",
        )
        # The stock each paid order took (as mall.services.stock_allocate records it): the restock job returns it.
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    product_id=product_id, delta=-quantity, reason=ALLOCATION_REASON, reference=allocation_reference(pk)
                )
                for pk, product_id, quantity in OrderItem.objects.filter(order__in=order_rows).values_list(
                    "pk", "product_id", "quantity"
                )
            ],
            batch_size=batch,
        )
    return list(Order.objects.filter(pk__in=[o.pk for o in order_rows]).select_related("payment").order_by("pk"))


def register_trades(orders: list[Any], simulator_url: str) -> None:
    from payments.channels.registry import notify_url
    from payments.simulator.client import register_trade

    def one(order: Any) -> None:
        payment = order.payment
        register_trade(
            channel=payment.channel,
            out_trade_no=payment.out_trade_no,
            trade_no=payment.trade_no,
            amount=payment.amount,
            notify_url=notify_url(payment.channel),
            paid_at=payment.paid_at,
            base_url=simulator_url,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, orders))


# --- processes -------------------------------------------------------------------------------------------


class Processes:
    """Children started by the benchmark, each in a session of its own so that its work horses go with it."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes], int]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], log: Path, stop: int) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append((name, proc, stop))
        return proc

    def stop_all(self) -> None:
        for _name, proc, stop in reversed(self.started):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, stop)
                except ProcessLookupError:
                    continue
        for _name, proc, _stop in reversed(self.started):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group: a work horse left behind goes too
            if proc.poll() is None:
                proc.wait(timeout=5)


def _wait_for(what: str, check: Callable[[], bool], seconds: float, procs: Iterable[Any] = ()) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: a process exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {seconds:g} s")
