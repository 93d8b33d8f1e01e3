"""Refund executions per second end to end (approved -> `refunded`) with 2 RQ workers against the channel
simulator, and the time from approval to `refunded`. Target: at least 100 refunds/s, p95 under 2 s.

One command (scripts/bench.sh runs it last; alone it needs MariaDB and Redis up on 127.0.0.1):

1. builds the scratch database ``mall_bench_exec`` (migrated; dropped at the end, whatever happens) and starts a
   private ``redis-server`` on a free 127.0.0.1 port (RQ's keys cannot be prefixed, and the shared Redis's
   numbered databases are taken by other benchmarks and prototypes running at the same time); ``--redis-url``
   uses a numbered database of the shared one instead (refused unless empty, emptied at the end);
2. starts, as processes of their own, the channel simulator (``manage.py channel_simulator`` on a free port,
   keys generated into a temporary directory) and ``--workers`` RQ workers as the Procfile's `worker` line runs
   them (its rqworker options and queues, read from the Procfile; ``--worker-class`` swaps the class),
   plus, in this process, a notification sink that stands in for the web tier and acknowledges every refund
   notification the simulator posts. The app finds the simulator through the environment only
   (``CHANNEL_SIMULATOR_ENABLED=1``, ``CHANNEL_SIMULATOR_URL``, ``CHANNEL_SIMULATOR_KEYS_DIR``, no merchant ids);
3. bulk-inserts paid, unshipped orders (two lines of the same two products each, their stock allocated; Alipay and
   WeChat Pay alternately) and registers their trades with the simulator
   (``payments.simulator.client.register_trade``, in a thread pool);
4. warm-up; **RQ alone**: as many jobs as the burst that do nothing (``django.utils.timezone.now``, with a refund
   job's retries) handed to the `refunds` queue at once: what RQ costs per job by itself; then **burst**:
   ``--burst`` refunds created through ``refunds.services.refund_create_by_system`` (approved at once, routed to
   `refunding`; ``payments.jobs.refund_execute`` goes to the `refunds` queue after commit) inside one transaction,
   so that every job is handed over at the same instant: the workers' capacity. Its latencies count from that
   commit (the approvals happened earlier, inside the transaction);
5. **calm**: up to ``--calm`` refunds (at most 20 s worth) offered at half the rate the burst reached, one
   transaction each, by feeder threads: the time from each refund's `approved` event to its `refunded` event when
   the workers keep up;
6. **paced**: ``--paced`` more refunds offered the same way at ``--rate`` per second (the target, 100/s): the time
   from approval to `refunded` under the target load, and whether it is sustained.

Each phase waits until its refunds have left `refunding`, then until the follow-up jobs they set off (customer
notification, voucher PDF, restock: one job per refund) have drained too, at most ``--timeout`` seconds (jobs still
queued then are dropped and their refunds count as never refunded), and records the CPU each process spent.
Prints one table per concern and the machine. Everything listens on and talks to 127.0.0.1 only; every loop has a
deadline; ``--profile`` samples the first worker with py-spy if it is installed. Knobs: ``--help`` (environment:
MALL_BENCH_EXEC_DB, BENCH_EXEC_REDIS_URL, BENCH_EXEC_WORKERS, BENCH_EXEC_BURST, BENCH_EXEC_CALM, BENCH_EXEC_PACED,
BENCH_EXEC_RATE, BENCH_EXEC_FEEDERS, BENCH_EXEC_WORKER_CLASS, BENCH_EXEC_TIMEOUT).
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import itertools
import json
import math
import os
import platform
import resource
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# rqworker's options that take a value (the rest of the Procfile's worker line is flags and queue names).
RQWORKER_VALUE_OPTIONS = frozenset(
    {
        "--worker-class",
        "--queue-class",
        "--job-class",
        "--name",
        "--worker-ttl",
        "--max-jobs",
        "--max-idle-time",
        "--serializer",
        "--pid",
    }
)


def _procfile_worker() -> tuple[list[str], tuple[str, ...]]:
    """The Procfile's `worker` line: rqworker's options, and its queues in the order it serves them."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("worker:"):
            argv = shlex.split(line.split(":", 1)[1])
            rest = argv[argv.index("rqworker") + 1 :]
            options: list[str] = []
            queues: list[str] = []
            while rest:
                token = rest.pop(0)
                if token in RQWORKER_VALUE_OPTIONS:
                    options += [token, rest.pop(0)]
                elif token.startswith("-"):
                    options.append(token)
                else:
                    queues.append(token)
            return options, tuple(queues)
    raise RuntimeError("the Procfile has no worker line")


WORKER_OPTIONS, WORKER_QUEUES = _procfile_worker()
FOLLOW_ON_JOBS = {"payments.jobs.refund_follow_up": "follow-up (notify, voucher PDF, restock)"}
EXECUTE_JOB = "payments.jobs.refund_execute"
TICK = os.sysconf("SC_CLK_TCK")
STALL_SECONDS = 15
CALM_SECONDS = 20


# --- small helpers ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(pct / 100 * len(sorted_values)) - 1))  # nearest rank
    return sorted_values[rank]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds of ``pid`` and of its children it has reaped (an RQ worker reaps each work horse)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(value) for value in fields[11:15]) / TICK


def _pids_named(*names: str) -> list[int]:
    """Processes by command name (only read, to account MariaDB's and Redis's CPU)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU seconds per component, read from /proc at the moments the phases begin and end."""

    def __init__(self) -> None:
        self.components: dict[str, Callable[[], float]] = {}

    def add(self, name: str, pids: Iterable[int]) -> None:
        pids = list(pids)
        if pids:
            self.components[name] = lambda: sum(_proc_cpu(pid) or 0.0 for pid in pids)

    def add_self(self, name: str) -> None:
        self.components[name] = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])

    def snapshot(self) -> dict[str, float]:
        return {name: read() for name, read in self.components.items()}


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


# --- phases ----------------------------------------------------------------------------------------------


def _create_refund(order: Any) -> int:
    from refunds.models import RefundReason
    from refunds.services import full_order_items, refund_create_by_system

    refund = refund_create_by_system(
        order=order, reason=RefundReason.OUT_OF_STOCK, items=full_order_items(order), note="bench"
    )
    return int(refund.pk)


def _pending(refund_ids: list[int]) -> int:
    from refunds.models import Refund, RefundState

    pending = 0
    for start in range(0, len(refund_ids), 1000):
        chunk = refund_ids[start : start + 1000]
        pending += Refund.objects.filter(pk__in=chunk, state=RefundState.REFUNDING).count()
    return pending


def _queues_idle() -> bool:
    import django_rq
    from rq.registry import StartedJobRegistry

    for name in WORKER_QUEUES:
        queue = django_rq.get_queue(name)
        if queue.count or StartedJobRegistry(queue=queue).count:
            return False
    return True


def _abandon_queues() -> int:
    """At a phase's deadline: drop the jobs still queued and let the running ones finish (bounded)."""
    import django_rq

    dropped = 0
    for name in WORKER_QUEUES:
        queue = django_rq.get_queue(name)
        dropped += queue.count
        queue.empty()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _queues_idle():
        time.sleep(0.1)
    return dropped


def _wait_phase(
    refund_ids: list[int], seconds: float, on_executed: Callable[[], None] | None = None
) -> tuple[float | None, int]:
    """Until no refund of the phase is `refunding`, then until every queue is idle (the jobs the refunds set
    off drained too), all within ``seconds``; past that the queued jobs are dropped. Returns when everything
    was idle (None if the deadline came first) and how many jobs were dropped."""
    deadline = time.monotonic() + seconds
    last_pending, progressed = -1, time.monotonic()
    while time.monotonic() < deadline:
        pending = _pending(refund_ids)
        if pending == 0:
            break
        if pending != last_pending:
            last_pending, progressed = pending, time.monotonic()
        elif time.monotonic() - progressed > STALL_SECONDS and _queues_idle():
            break  # nothing moves and no job is left: they were never handed over, or were lost
        time.sleep(0.05)
    if on_executed is not None:
        on_executed()
    while time.monotonic() < deadline:
        if _queues_idle():
            return time.time(), 0
        time.sleep(0.1)
    return None, _abandon_queues()


def _timeline(refund_ids: list[int]) -> dict[int, dict[str, float]]:
    """Per refund: when it was approved and when it became `refunded` (events, microsecond clock)."""
    from refunds.models import RefundEvent, RefundState

    times: dict[int, dict[str, float]] = {}
    for start in range(0, len(refund_ids), 1000):
        rows = RefundEvent.objects.filter(
            refund_id__in=refund_ids[start : start + 1000],
            to_state__in=[RefundState.APPROVED, RefundState.REFUNDED],
        ).values_list("refund_id", "to_state", "created_at")
        for refund_id, state, created_at in rows:
            times.setdefault(refund_id, {}).setdefault(str(state), created_at.timestamp())
    return times


def _outcomes(refund_ids: list[int]) -> dict[str, int]:
    from django.db.models import Count

    from refunds.models import Refund

    counts: dict[str, int] = {}
    for start in range(0, len(refund_ids), 1000):
        for row in (
            Refund.objects.filter(pk__in=refund_ids[start : start + 1000]).values("state").annotate(n=Count("id"))
        ):
            counts[row["state"]] = counts.get(row["state"], 0) + row["n"]
    return counts


def _job_durations(since: float) -> dict[str, list[float]]:
    """Seconds each finished job spent in its work horse (RQ's started_at -> ended_at), by function."""
    import django_rq
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    durations: dict[str, list[float]] = {}
    for name in WORKER_QUEUES:
        queue = django_rq.get_queue(name)
        ids = FinishedJobRegistry(queue=queue).get_job_ids()
        for start in range(0, len(ids), 500):
            for job in Job.fetch_many(ids[start : start + 500], connection=queue.connection):
                if job is None or job.started_at is None or job.ended_at is None:
                    continue
                if job.started_at.timestamp() < since:
                    continue
                durations.setdefault(job.func_name, []).append((job.ended_at - job.started_at).total_seconds())
    return durations


def _failed_jobs() -> int:
    import django_rq
    from rq.registry import FailedJobRegistry

    return sum(FailedJobRegistry(queue=django_rq.get_queue(name)).count for name in WORKER_QUEUES)


def _remove_finished_jobs() -> None:
    import django_rq
    from rq.registry import FinishedJobRegistry

    for name in WORKER_QUEUES:
        registry = FinishedJobRegistry(queue=django_rq.get_queue(name))
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)


def run_burst(
    orders: list[Any],
    seconds: float,
    on_executed: Callable[[], None] | None = None,
    on_commit: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Every refund created in one transaction: its commit hands all the jobs over at once."""
    from django.db import transaction

    marks: dict[str, float] = {}

    def committed() -> None:  # registered first, so it runs before the enqueues
        marks["commit"] = time.time()
        if on_commit is not None:
            on_commit()

    began = time.time()
    with transaction.atomic():
        transaction.on_commit(committed)
        refund_ids = [_create_refund(order) for order in orders]
    marks["enqueued"] = time.time()
    drained, dropped = _wait_phase(refund_ids, seconds, on_executed)
    return {
        "refund_ids": refund_ids,
        "start": marks["commit"],
        "enqueued": marks["enqueued"],
        "created_in": marks["commit"] - began,
        "drained": drained,
        "dropped": dropped,
    }


NOOP_JOB = "django.utils.timezone.now"  # a job with no work of ours: what RQ alone costs per job


def run_rq_floor(count: int, seconds: float) -> dict[str, Any]:
    """``count`` jobs that do nothing, handed at once to the `refunds` queue with the retries of a refund job:
    the jobs per second and the CPU per job that RQ (dequeue, bookkeeping, result) costs by itself on these
    workers and this Redis. Returns the wall time until every queue was idle again."""
    import django_rq
    from rq import Queue

    from mall.jobs import DEFAULT_RETRY_INTERVALS, _retry

    queue = django_rq.get_queue("refunds")
    retry = _retry(DEFAULT_RETRY_INTERVALS)
    started = time.time()
    for first in range(0, count, 500):
        chunk = range(first, min(count, first + 500))
        queue.enqueue_many([Queue.prepare_data(NOOP_JOB, (), retry=retry) for _ in chunk])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not _queues_idle():
        time.sleep(0.05)
    idle = _queues_idle()
    return {"jobs": count, "seconds": time.time() - started, "idle": idle, "dropped": 0 if idle else _abandon_queues()}


def run_paced(orders: list[Any], rate: float, feeders: int, seconds: float) -> dict[str, Any]:
    from django.db import connection

    counter = itertools.count()
    created: list[tuple[int, float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = time.time() + 0.2

    def feed() -> None:
        try:
            while True:
                index = next(counter)
                if index >= len(orders):
                    return
                due = start + index / rate
                time.sleep(max(0.0, due - time.time()))
                try:
                    refund_id = _create_refund(orders[index])
                except Exception as exc:  # noqa: BLE001 - counted and printed, never hidden
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    created.append((refund_id, time.time()))
        finally:
            connection.close()

    threads = [threading.Thread(target=feed, name=f"feeder-{n}", daemon=True) for n in range(feeders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=len(orders) / rate + seconds)
    refund_ids = [refund_id for refund_id, _ in created]
    last_created = max((at for _, at in created), default=start)
    drained, dropped = _wait_phase(refund_ids, seconds)
    return {
        "refund_ids": refund_ids,
        "start": start,
        "offered": len(created) / (last_created - start) if last_created > start else float("nan"),
        "errors": errors,
        "drained": drained,
        "dropped": dropped,
    }


def _phase_figures(result: dict[str, Any], from_commit: bool) -> dict[str, Any]:
    times = _timeline(result["refund_ids"])
    refunded = [t for t in times.values() if "refunded" in t]
    origin = (lambda t: result["start"]) if from_commit else (lambda t: t.get("approved", result["start"]))
    # A refund not refunded by the phase's deadline counts as infinitely late: percentiles stay honest.
    missing = [math.inf] * (len(result["refund_ids"]) - len(refunded))
    latencies = sorted([t["refunded"] - origin(t) for t in refunded] + missing)
    last = max((t["refunded"] for t in refunded), default=result["start"])
    span = last - result["start"]
    return {
        "count": len(result["refund_ids"]),
        "refunded": len(refunded),
        "throughput": len(refunded) / span if span > 0 else float("nan"),
        "span": span,
        "p50": _percentile(latencies, 50),
        "p95": _percentile(latencies, 95),
        "max": latencies[-1] if latencies else float("nan"),
        "outcomes": _outcomes(result["refund_ids"]),
        "side_effects": float("nan") if result["drained"] is None else result["drained"] - result["start"],
        "dropped": result["dropped"],
    }


# --- profile (optional) ----------------------------------------------------------------------------------


def _py_spy() -> str | None:
    candidate = Path(PYTHON).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


# Where a sampled stack spends its time: (label, substrings of which any frame of the stack must contain).
PROFILE_CENTRES = (
    ("inside a job (rq Job.perform)", ("Job.perform (rq/job.py",)),
    ("  refund_execute", ("refund_execute (payments/services.py",)),
    ("    channel adapters built (get_channel)", ("get_channel (payments/channels/registry.py",)),
    (
        "      RSA private keys parsed",
        ("import_key (Cryptodome/PublicKey/RSA.py", "load_private_key (wechatpayv3/utils.py"),
    ),
    ("    trade registered with the simulator", ("_introduce_trade_to_simulator (payments/services.py",)),
    ("    channel refund call", ("AlipayChannel.refund (payments/", "WechatChannel.refund (payments/")),
    ("    refund_mark_refunded", ("refund_mark_refunded (refunds/flow.py",)),
    ("  follow-up job", ("refund_follow_up (payments/jobs.py",)),
    ("    voucher PDF", ("issue_voucher (payments/vouchers.py",)),
    ("    notify customer", ("customer_notify (notices/services.py",)),
    ("    restock", ("restock_unshipped (refunds/restock.py",)),
    ("modules imported", ("_find_and_load (<frozen importlib._bootstrap>",)),
    ("SQL through the ORM", ("execute_sql (django/db/models/sql/compiler.py",)),
    ("Redis commands (RQ and app)", ("(redis/client.py",)),
    ("HTTP (requests)", ("(requests/sessions.py",)),
    ("fork of a work horse (rq)", ("Worker.fork_work_horse (rq/",)),
)


def _profile_summary(raw: Path) -> list[str]:
    """Collapsed stacks -> the share of samples (not idle) spent in each of PROFILE_CENTRES, inclusive."""
    shares = dict.fromkeys((label for label, _ in PROFILE_CENTRES), 0)
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        total += int(count_text)
        for label, needles in PROFILE_CENTRES:
            if any(needle in stack for needle in needles):
                shares[label] += int(count_text)
    if not total:
        return ["(no samples)"]
    lines = [f"{total} samples of the worker and its work horses; share of them spent in (inclusive):"]
    lines.extend(f"  {100 * count / total:5.1f}%  {label}" for label, count in shares.items())
    return lines


# --- report ----------------------------------------------------------------------------------------------


def _fmt(value: float, spec: str = ".2f") -> str:
    return "-" if value != value else format(value, spec)  # NaN -> "-"


def _print_logs(work: Path, lines: int = 15) -> None:
    for log in sorted(work.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        if tail:
            print(f"--- last lines of {log.name}", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)


def _worker_options(worker_class: str) -> list[str]:
    """The Procfile's rqworker options, with ``--worker-class`` replaced when one is asked for."""
    options = list(WORKER_OPTIONS)
    if worker_class:
        if "--worker-class" in options:
            del options[options.index("--worker-class") : options.index("--worker-class") + 2]
        options[:0] = ["--worker-class", worker_class]
    return options


def _worker_kind(worker_class: str) -> str:
    options = _worker_options(worker_class)
    chosen = options[options.index("--worker-class") + 1] if "--worker-class" in options else "rq.Worker"
    return f"worker class {chosen}{'' if worker_class else ' as in the Procfile'}"


def report(args: argparse.Namespace, context: dict[str, Any]) -> int:
    burst, calm, paced, warm = context["burst"], context["calm"], context["paced"], context["warm"]
    print()
    print(
        f"machine: nproc={os.cpu_count()}, CPU {_cpu_model()}, Python {platform.python_version()}; "
        f"load average at the start {context['load_start']}, at the end {_load()} "
        f"(anything else running on the machine skews the figures)"
    )
    print(
        f"setup: {args.workers} RQ workers (manage.py rqworker {' '.join(_worker_options(args.worker_class))} "
        f"{' '.join(WORKER_QUEUES)}, "
        f"{_worker_kind(args.worker_class)}), channel simulator process, MariaDB (shared) and Redis "
        f"({'shared' if context['shared_redis'] else 'private'}) on 127.0.0.1, DEBUG off; "
        f"{context['orders']} paid unshipped orders (Alipay and WeChat Pay alternately), trades registered "
        f"in {context['registered_in']:.1f} s"
    )
    print()
    header = (
        f"{'phase':<30} {'refunds':>7} {'offered/s':>9} {'refunded/s':>10} {'p50 s':>6} {'p95 s':>6} "
        f"{'max s':>6} {'not refunded':>12} {'all jobs done s':>15}"
    )
    print(header)
    print("-" * len(header))
    rows = [
        (f"warm-up (one commit, {warm['count']})", warm, float("nan")),
        ("burst (one commit)", burst, float("nan")),
        (f"calm ({context['calm_rate']:.1f}/s asked)", calm, context["calm_offered"]),
        (f"paced ({args.rate:g}/s asked)", paced, context["paced_offered"]),
    ]
    for name, figures, offered in rows:
        print(
            f"{name:<30} {figures['count']:>7} {_fmt(offered, '.1f'):>9} {_fmt(figures['throughput'], '.1f'):>10} "
            f"{_fmt(figures['p50']):>6} {_fmt(figures['p95']):>6} {_fmt(figures['max']):>6} "
            f"{figures['count'] - figures['refunded']:>12} {_fmt(figures['side_effects'], '.1f'):>15}"
        )
    print()
    print(
        f"burst: {burst['count']} refunds created in {context['burst_created_in']:.1f} s inside one transaction, "
        f"{burst['count']} jobs handed to RQ in {context['burst_enqueue']:.2f} s after its commit; refunded/s = "
        f"refunds / (last `refunded` event - commit); its latencies count from the commit"
    )
    print(
        f"calm, paced: {args.feeders} feeder threads create the refunds (offered/s: what they managed); latencies "
        "count from each refund's `approved` event to its `refunded` event; refunded/s = refunds / (last "
        f"`refunded` - first offer); inf: not refunded within {args.timeout:g} s after the last hand-over, its "
        "job then dropped"
    )
    met = burst["throughput"] >= 100 and paced["p95"] < 2 and paced["throughput"] >= 0.95 * args.rate
    print(
        f"targets: >= 100 refunds/s (burst: {_fmt(burst['throughput'], '.1f')}), p95 < 2 s at {args.rate:g}/s "
        f"(paced: {_fmt(paced['p95'])} s at {_fmt(context['paced_offered'], '.1f')}/s offered): "
        f"{'met' if met else 'NOT met'}"
    )

    durations = context["durations"]
    if durations:
        print()
        header = f"{'job (RQ started_at -> ended_at)':<40} {'jobs':>6} {'mean ms':>8} {'p95 ms':>8}"
        print(header)
        print("-" * len(header))
        for func in [EXECUTE_JOB, *FOLLOW_ON_JOBS]:
            values = sorted(durations.get(func, []))
            if values:
                label = FOLLOW_ON_JOBS.get(func, "refund_execute")
                print(
                    f"{label:<40} {len(values):>6} {1000 * sum(values) / len(values):>8.1f} "
                    f"{1000 * _percentile(values, 95):>8.1f}"
                )
        executions = durations.get(EXECUTE_JOB, [])
        if executions and burst["throughput"] == burst["throughput"]:
            busy = burst["throughput"] * sum(executions) / len(executions) / args.workers
            print(
                f"burst: the {args.workers} workers spent {100 * busy:.0f}% of the wall time inside refund_execute "
                f"jobs; the rest went on what RQ does around each job (dequeue, bookkeeping, a fork if the class forks)"
            )

    cpu = context["cpu"]
    print()
    header = f"{'CPU ms per refund':<40} {'burst exec':>10} {'burst jobs':>10} {'paced all':>10}"
    print(header)
    print("-" * len(header))
    for name in [*cpu["burst_exec"], "total"]:
        values = [sum(cpu[key].values()) if name == "total" else cpu[key][name] for key in cpu]
        print(f"{name:<40} " + " ".join(f"{value:>10.1f}" for value in values))
    print(
        "burst exec: commit -> last refund out of `refunding`; burst jobs: from then until notifications, "
        "vouchers and restocks drained; paced all: the whole paced phase. MariaDB (and Redis with --redis-url) is "
        "shared with anything else running; this process holds the feeders (refund creation) and the notification "
        "sink."
    )
    budget = 10 * (os.cpu_count() or 1)
    print(
        f"budget: at 100 refunds/s, {os.cpu_count()} cores leave {budget:.0f} ms of CPU per refund for everything above"
    )
    floor = context["floor"]
    workers_cpu = next(name for name in cpu["burst_exec"] if name.startswith("RQ workers"))
    redis_cpu = next(name for name in cpu["burst_exec"] if name.startswith("Redis"))
    rq_worker, rq_redis = floor["cpu"][workers_cpu], floor["cpu"][redis_cpu]
    drained = "drained" if floor["idle"] else f"{floor['dropped']} dropped at the deadline"
    print()
    print(
        f"RQ alone: {floor['jobs']} jobs that do nothing ran at {floor['jobs'] / floor['seconds']:.0f} jobs/s on "
        f"the {args.workers} workers ({drained}), costing {rq_worker:.1f} ms of worker CPU and {rq_redis:.1f} ms of "
        "Redis CPU per job"
    )
    spent = cpu["burst_exec"]
    parts = [
        ("RQ around each job (workers + Redis, as measured alone)", rq_worker + rq_redis),
        ("the refund's own work in the workers (the rest of their CPU)", spent[workers_cpu] - rq_worker),
        ("the rest of Redis (handing the follow-up job over)", spent[redis_cpu] - rq_redis),
        ("MariaDB", spent["MariaDB (mariadbd, shared)"]),
        ("channel simulator (the gateway's side, on these cores)", spent["channel simulator"]),
        ("this process (notification sink, progress polling)", spent["this process (feeders, sink)"]),
    ]
    print(f"what one burst refund costs, against the {budget:.0f} ms budget:")
    for label, value in parts:
        print(f"  {label:<62} {value:>6.1f} ms")
    print(f"  {'total':<62} {sum(value for _, value in parts):>6.1f} ms")

    checks = context["checks"]
    print()
    print(
        f"checks: failed RQ jobs {checks['failed_jobs']}; channel attempts {json.dumps(checks['attempts'])}; "
        f"simulator ledger: {checks['ledger_refunds']} refunds, {checks['over_refunded']} trades refunded beyond "
        f"payment; notifications acknowledged by the sink {checks['notified']}; jobs that could not be handed "
        f"to RQ {checks['hand_over_failures']}; jobs dropped at a phase deadline "
        f"{burst['dropped'] + calm['dropped'] + paced['dropped']}; vouchers {checks['vouchers']}, customer "
        f"notification records {checks['customer_notifications']}, order lines restocked {checks['restocked_lines']}"
    )
    if context["feeder_errors"]:
        print(f"feeder errors ({len(context['feeder_errors'])}): {context['feeder_errors'][:3]}")
    for label, figures in (("burst", burst), ("calm", calm), ("paced", paced)):
        if figures["outcomes"].get("refunded", 0) != figures["count"]:
            print(f"{label}: outcomes {json.dumps(figures['outcomes'], sort_keys=True)}")
    if context.get("profile"):
        print()
        print(f"py-spy on RQ worker 1 and its work horses during the burst ({context['profile_seconds']:.0f} s):")
        for line in context["profile"]:
            print(line)
    # Slowness is a figure, not an error; errors are jobs that failed or were lost, refunds that failed,
    # feeders that could not create refunds, money moved twice.
    failed_refunds = sum(f["outcomes"].get("failed", 0) for f in (warm, burst, calm, paced))
    ok = not (
        checks["failed_jobs"]
        or checks["hand_over_failures"]
        or checks["over_refunded"]
        or context["feeder_errors"]
        or failed_refunds
    )
    if not ok:
        _print_logs(context["work"])
    return 0 if ok else 1


# --- main ------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("MALL_BENCH_EXEC_DB", "mall_bench_exec"))
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_EXEC_REDIS_URL", ""),
        help="a numbered database of the shared Redis (refused unless empty, emptied at the end); "
        "default: a private redis-server started for the run",
    )
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_EXEC_WORKERS", "2")))
    parser.add_argument("--burst", type=int, default=int(os.environ.get("BENCH_EXEC_BURST", "1000")))
    parser.add_argument("--calm", type=int, default=int(os.environ.get("BENCH_EXEC_CALM", "200")))
    parser.add_argument("--paced", type=int, default=int(os.environ.get("BENCH_EXEC_PACED", "1000")))
    parser.add_argument("--rate", type=float, default=float(os.environ.get("BENCH_EXEC_RATE", "100")))
    parser.add_argument("--feeders", type=int, default=int(os.environ.get("BENCH_EXEC_FEEDERS", "4")))
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--worker-class",
        default=os.environ.get("BENCH_EXEC_WORKER_CLASS", ""),
        help="instead of the Procfile's, e.g. rq.worker.Worker (a work horse forked per job)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the first worker during the burst")
    parser.add_argument("--profile-out", type=Path, help="keep py-spy's collapsed stacks in this file")
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("BENCH_EXEC_TIMEOUT", "120")),
        help="longest wait per phase, s",
    )
    args = parser.parse_args()
    if args.redis_url:
        redis_url = urlsplit(args.redis_url)
        if redis_url.hostname != "127.0.0.1" or not redis_url.path.strip("/").isdigit():
            parser.error("--redis-url must name a numbered database on 127.0.0.1")
    elif shutil.which("redis-server") is None:
        parser.error("no redis-server on PATH for a private Redis: pass --redis-url")
    if not args.db.replace("_", "").isalnum():
        parser.error("--db must be a plain name")

    import redis

    shared_redis = redis.Redis.from_url(args.redis_url) if args.redis_url else None
    if shared_redis is not None and shared_redis.dbsize():
        print(f"Redis {args.redis_url} is not empty (someone else using it?): refusing to run", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="bench-exec-"))
    processes = Processes()
    sink: http.server.ThreadingHTTPServer | None = None
    db_created = False
    spy: subprocess.Popen[bytes] | None = None
    try:
        sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        sink.daemon_threads = True
        threading.Thread(target=sink.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        redis_server = None
        if shared_redis is None:
            # A Redis of our own: RQ's keys cannot be prefixed, and a shared numbered database is easily taken by
            # another benchmark or prototype at the same time (whose queued jobs our workers would run).
            redis_port = _free_port()
            args.redis_url = f"redis://127.0.0.1:{redis_port}/0"
            redis_server = processes.start(
                "redis",
                [
                    str(shutil.which("redis-server")),
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(redis_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(work),
                ],
                dict(os.environ),
                work / "redis.log",
                signal.SIGTERM,
            )
            private = redis.Redis.from_url(args.redis_url)

            def redis_up() -> bool:
                try:
                    return bool(private.ping())
                except redis.RedisError:
                    return False

            _wait_for("private redis-server", redis_up, 30, [redis_server])
        simulator_url = f"http://127.0.0.1:{_free_port()}"
        env = _environment(args, work, simulator_url, f"http://127.0.0.1:{sink.server_address[1]}")
        os.environ.update(env)
        for name in ("ALIPAY_APP_ID", "WECHAT_MCH_ID"):
            os.environ.pop(name, None)

        print(f"== scratch database {args.db}, Redis {args.redis_url}, work files in {work}")
        _mysql(f"DROP DATABASE IF EXISTS `{args.db}`")
        _mysql(f"CREATE DATABASE `{args.db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        db_created = True
        subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)

        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        import logging

        logging.getLogger("mall.jobs").addFilter(_HandOverFailures.filter)
        import requests

        print(f"== channel simulator on {simulator_url}")
        port = str(urlsplit(simulator_url).port)
        simulator = processes.start(
            "simulator",
            [
                PYTHON,
                "manage.py",
                "channel_simulator",
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--keys-dir",
                env["CHANNEL_SIMULATOR_KEYS_DIR"],
            ],
            env,
            work / "simulator.log",
            signal.SIGINT,
        )

        def simulator_up() -> bool:
            try:
                return requests.get(f"{simulator_url}/sim/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        _wait_for("channel simulator", simulator_up, 60, [simulator])

        total = args.warmup + args.burst + args.calm + args.paced
        started = time.monotonic()
        orders = seed(total)
        print(f"== seeded {total} paid unshipped orders in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        register_trades(orders, simulator_url)
        registered_in = time.monotonic() - started

        print(f"== {args.workers} RQ workers on {', '.join(WORKER_QUEUES)}")
        import django_rq
        from rq import Worker

        worker_argv = [PYTHON, "manage.py", "rqworker", *_worker_options(args.worker_class), "-v", "0", *WORKER_QUEUES]
        workers = [
            processes.start(f"worker-{n}", worker_argv, env, work / f"worker-{n}.log", signal.SIGTERM)
            for n in range(args.workers)
        ]
        connection = django_rq.get_connection("refunds")
        _wait_for(
            "RQ workers", lambda: len(Worker.all(connection=connection)) >= args.workers, 60, [*workers, simulator]
        )

        meter = CpuMeter()
        meter.add("RQ workers (with their work horses)", [proc.pid for proc in workers])
        meter.add("channel simulator", [simulator.pid])
        meter.add("MariaDB (mariadbd, shared)", _pids_named("mariadbd", "mysqld"))
        if redis_server is not None:
            meter.add("Redis (private redis-server)", [redis_server.pid])
        else:
            meter.add("Redis (redis-server, shared)", _pids_named("redis-server"))
        meter.add_self("this process (feeders, sink)")

        def per_job(after: dict[str, float], before: dict[str, float], count: int) -> dict[str, float]:
            return {name: 1000 * (after[name] - before[name]) / max(count, 1) for name in after}

        load_start = _load()
        warm_orders = orders[: args.warmup]
        burst_orders = orders[args.warmup : args.warmup + args.burst]
        calm_orders = orders[args.warmup + args.burst : args.warmup + args.burst + args.calm]
        paced_orders = orders[args.warmup + args.burst + args.calm :]

        print(f"== warm-up: {len(warm_orders)} refunds")
        warm = run_burst(warm_orders, args.timeout)
        warm_figures = _phase_figures(warm, from_commit=True)
        _remove_finished_jobs()
        if warm_figures["refunded"] < warm_figures["count"]:
            print(
                f"warm-up: {warm_figures['refunded']} of {warm_figures['count']} refunds reached `refunded` "
                f"(outcomes {json.dumps(warm_figures['outcomes'], sort_keys=True)}); jobs that could not be "
                f"handed to RQ: {_HandOverFailures.count} {_HandOverFailures.first}; failed RQ jobs: "
                f"{_failed_jobs()}. Stopping here.",
                file=sys.stderr,
            )
            _print_logs(work)
            return 1

        print(f"== RQ alone: {args.burst} jobs that do nothing ({NOOP_JOB}) handed over at once")
        cpu_before_floor = meter.snapshot()
        floor = run_rq_floor(args.burst, args.timeout)
        floor["cpu"] = per_job(meter.snapshot(), cpu_before_floor, args.burst)
        _remove_finished_jobs()

        print(f"== burst: {len(burst_orders)} refunds committed at once")
        profile_seconds = 0.0
        spy_out = work / "py-spy.txt"
        burst_start = time.time()
        if args.profile:
            py_spy = _py_spy()
            if py_spy is None:
                print("py-spy not found: no profile (pip install py-spy into the venv to get one)")
            else:
                spy = subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(workers[0].pid),
                        "--subprocesses",
                        "--format",
                        "raw",
                        "--rate",
                        "200",
                        "--output",
                        str(spy_out),
                        "--nonblocking",
                        "--duration",
                        str(int(args.timeout)),
                    ],
                    cwd=work,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
        burst_marks: dict[str, Any] = {}

        def burst_exec_done() -> None:
            burst_marks["cpu"] = meter.snapshot()

        def burst_committed() -> None:
            burst_marks["cpu_commit"] = meter.snapshot()

        burst = run_burst(burst_orders, args.timeout, burst_exec_done, burst_committed)
        cpu_after_burst = meter.snapshot()
        if spy is not None:
            profile_seconds = time.time() - burst_start
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
            spy = None
        if args.profile_out and spy_out.exists():
            shutil.copyfile(spy_out, args.profile_out)
        burst_figures = _phase_figures(burst, from_commit=True)
        durations = _job_durations(burst_start)

        calm_rate = max(0.5, burst_figures["throughput"] / 2) if burst_figures["refunded"] else 0.5
        calm_orders = calm_orders[: max(1, int(calm_rate * CALM_SECONDS))]
        print(f"== calm: {len(calm_orders)} refunds offered at {calm_rate:.1f}/s")
        calm = run_paced(calm_orders, calm_rate, args.feeders, args.timeout)
        calm_figures = _phase_figures(calm, from_commit=False)

        print(f"== paced: {len(paced_orders)} refunds offered at {args.rate:g}/s")
        cpu_before_paced = meter.snapshot()
        paced = run_paced(paced_orders, args.rate, args.feeders, args.timeout)
        cpu_after_paced = meter.snapshot()
        paced_figures = _phase_figures(paced, from_commit=False)

        exec_cpu = burst_marks.get("cpu", cpu_after_burst)
        from mall.models import StockMovement
        from notices.models import CustomerMessage
        from payments.models import ChannelAttempt, RefundVoucher

        attempts: dict[str, int] = {}
        for operation, outcome in ChannelAttempt.objects.values_list("operation", "outcome"):
            attempts[f"{operation}:{outcome}"] = attempts.get(f"{operation}:{outcome}", 0) + 1
        ledger = requests.get(f"{simulator_url}/sim/ledger", timeout=30).json()
        context = {
            "orders": total,
            "registered_in": registered_in,
            "load_start": load_start,
            "warm": warm_figures,
            "burst": burst_figures,
            "paced": paced_figures,
            "calm": calm_figures,
            "calm_rate": calm_rate,
            "calm_offered": calm["offered"],
            "burst_created_in": burst["created_in"],
            "burst_enqueue": burst["enqueued"] - burst["start"],
            "paced_offered": paced["offered"],
            "feeder_errors": calm["errors"] + paced["errors"],
            "durations": durations,
            "floor": floor,
            "cpu": {
                "burst_exec": per_job(exec_cpu, burst_marks["cpu_commit"], burst_figures["refunded"]),
                "burst_follow": per_job(cpu_after_burst, exec_cpu, burst_figures["refunded"]),
                "paced": per_job(cpu_after_paced, cpu_before_paced, paced_figures["refunded"]),
            },
            "checks": {
                "failed_jobs": _failed_jobs(),
                "attempts": attempts,
                **_ledger_checks(ledger),
                "notified": sum(_Sink.received.values()),
                "hand_over_failures": _HandOverFailures.count,
                "vouchers": RefundVoucher.objects.count(),
                "customer_notifications": CustomerMessage.objects.filter(event="refunded").count(),
                "restocked_lines": StockMovement.objects.filter(reason="refund_restock").count(),
            },
            "profile": _profile_summary(spy_out) if spy_out.exists() else None,
            "profile_seconds": profile_seconds,
            "work": work,
            "shared_redis": shared_redis is not None,
        }
        return report(args, context)
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait(timeout=5)
        processes.stop_all()
        if sink is not None:
            sink.shutdown()
            sink.server_close()
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if db_created:
            _mysql(f"DROP DATABASE IF EXISTS `{args.db}`")
        if shared_redis is not None:
            shared_redis.flushdb()
        shutil.rmtree(work, ignore_errors=True)


def _ledger_checks(ledger: dict[str, Any]) -> dict[str, int]:
    """No trade refunded beyond what was paid, by the simulator's own book."""
    from decimal import Decimal

    paid: dict[tuple[str, str], Decimal] = {}
    for trade in ledger.get("trades", []):
        paid[(trade["channel"], trade["out_trade_no"])] = Decimal(str(trade["amount"]))
    refunded: dict[tuple[str, str], Decimal] = {}
    refunds = ledger.get("refunds", [])
    for refund in refunds:
        key = (refund["channel"], refund["out_trade_no"])
        refunded[key] = refunded.get(key, Decimal("0")) + Decimal(str(refund["amount"]))
    over = sum(1 for key, amount in refunded.items() if amount > paid.get(key, Decimal("0")))
    return {"ledger_refunds": len(refunds), "over_refunded": over}


if __name__ == "__main__":
    sys.exit(main())
