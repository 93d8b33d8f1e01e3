"""Refund applications per second next to the order detail read, against a running server.

Two steps, driven by scripts/bench.sh:

``seed``  bulk-inserts customers with API tokens and paid, unshipped orders (two lines each) into the database
          named by ``DATABASE_URL`` and writes the plan (tokens, orders, lines) as JSON; ``--open-orders`` more
          go to a plan of their own (``--open-plan``) for benchmarks/apply_open_loop.py.
``run``   drives the server over HTTP with ``--clients`` concurrent keep-alive connections: first
          ``GET /api/v1/orders/{order_no}/``, then ``POST /api/v1/refunds/``, each for ``--seconds``, and prints
          one table. ``--client wrk`` (the default where wrk is installed) replays prepared requests with wrk
          and benchmarks/refund_apply.lua, a load generator in C that leaves the server's cores alone;
          ``--client python`` uses processes x threads of ``requests`` sessions instead. ``--result`` keeps the
          figures as JSON: the open-loop phase offers half of this apply throughput.

Every client (a Python thread, or a wrk thread and its connections) owns a disjoint set of orders, so
applications are spread over orders and customers the way real traffic is: half the orders get one whole-order
refund, the other half one-unit partial refunds until nothing is left, interleaved across the orders. Every
loop is bounded by a deadline and by the plan; the server is only ever 127.0.0.1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from execution.common import cpu_model
from figures import record

ROOT = Path(__file__).resolve().parents[1]
HTTP_TIMEOUT = (5, 30)
WRK_SCRIPT = ROOT / "benchmarks" / "refund_apply.lua"
EXPECTED_STATUS = {"get": 200, "apply": 201}


# --- seed ------------------------------------------------------------------------------------------------


def seed(orders: int, customers: int, plan_path: Path, open_orders: int = 0, open_plan: Path | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    import django

    django.setup()
    import seeding
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    from mall.models import OrderItem

    started = time.monotonic()
    user_model = get_user_model()
    password = make_password("bench-pass-w0rd")  # hashed once: the bench never logs in with it
    batch = 1000
    with transaction.atomic():
        users = user_model.objects.bulk_create(
            [user_model(username=f"bench{n:06d}", password=password) for n in range(customers)], batch_size=batch
        )
        if users[0].pk is None:  # a database without RETURNING: read the rows back
            users = list(user_model.objects.filter(username__startswith="bench").order_by("username"))
        tokens = Token.objects.bulk_create(
            [Token(key=Token.generate_key(), user=user) for user in users], batch_size=batch
        )
        token_by_user = {token.user_id: token.key for token in tokens}

        run_id = f"{int(time.time()) % 10**8:08d}"
        order_rows = seeding.paid_orders(
            customers=users, count=orders + open_orders, order_prefix=f"OB{run_id}", trade_prefix="BT"
        )
    items_by_order: dict[int, list[tuple[int, int]]] = {}
    for order_id, item_id, quantity in (
        OrderItem.objects.filter(order__in=[o.pk for o in order_rows])
        .order_by("id")
        .values_list("order_id", "id", "quantity")
    ):
        items_by_order.setdefault(order_id, []).append((item_id, int(quantity)))
    plan = [
        {"token": token_by_user[order.customer_id], "order_no": order.order_no, "items": items_by_order[order.pk]}
        for order in order_rows
    ]
    plan_path.write_text(json.dumps(plan[:orders]))
    if open_plan is not None:
        open_plan.write_text(json.dumps(plan[orders:]))
    print(
        f"seeded {customers} customers and {orders} + {open_orders} paid orders in {time.monotonic() - started:.1f} s"
    )


# --- load ------------------------------------------------------------------------------------------------


def _apply_bodies(orders: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Applications for one client's orders, interleaved across its orders: whole-order refunds for every other
    one of them, one-unit partial refunds (until nothing is left) for the rest. (Every client gets both kinds, in
    the same shares: by the plan's own index, a client holding every other order got the whole-order ones only,
    a third of the applications, and ran out of them first.)"""
    per_order: list[list[tuple[str, dict[str, Any]]]] = []
    for position, order in enumerate(orders):

        def body(items: list[dict[str, Any]], order: dict[str, Any] = order) -> dict[str, Any]:
            return {"order_no": order["order_no"], "reason": "not_shipped", "kind": "refund_only", "items": items}

        if position % 2 == 0:
            whole = [{"order_item_id": item_id, "quantity": str(quantity)} for item_id, quantity in order["items"]]
            per_order.append([(order["token"], body(whole))])
        else:
            per_order.append(
                [
                    (order["token"], body([{"order_item_id": item_id, "quantity": "1"}]))
                    for item_id, quantity in order["items"]
                    for _ in range(quantity)
                ]
            )
    interleaved = itertools.zip_longest(*per_order)
    return [entry for round_ in interleaved for entry in round_ if entry is not None]


def _client_thread(
    base_url: str, mode: str, work: list[Any], go: threading.Event, seconds: float, out: dict[str, Any]
) -> None:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    with requests.Session() as session:
        if not go.wait(timeout=120):
            return
        deadline = time.monotonic() + seconds
        for entry in work:
            if time.monotonic() >= deadline:
                break
            began = time.perf_counter()
            try:
                if mode == "get":
                    token, order_no = entry
                    response = session.get(
                        f"{base_url}/api/v1/orders/{order_no}/",
                        headers={"Authorization": f"Token {token}"},
                        timeout=HTTP_TIMEOUT,
                    )
                    ok = response.status_code == 200
                else:
                    token, body = entry
                    response = session.post(
                        f"{base_url}/api/v1/refunds/",
                        json=body,
                        headers={"Authorization": f"Token {token}"},
                        timeout=HTTP_TIMEOUT,
                    )
                    ok = response.status_code == 201
                key = "" if ok else f"{response.status_code} {_error_code(response)}"
            except requests.RequestException as exc:
                key = type(exc).__name__
            latencies.append(time.perf_counter() - began)
            if key:
                errors[key] = errors.get(key, 0) + 1
        out["latencies"] = latencies
        out["errors"] = errors
        out["ended"] = time.time()
        out["exhausted"] = len(latencies) == len(work)


def _error_code(response: requests.Response) -> str:
    try:
        return str(response.json().get("code", ""))
    except ValueError:
        return "non-json"


def _client_process(base_url: str, mode: str, works: list[list[Any]], seconds: float, start: Any, results: Any) -> None:
    go = threading.Event()
    outs: list[dict[str, Any]] = [{} for _ in works]
    threads = [
        threading.Thread(target=_client_thread, args=(base_url, mode, work, go, seconds, outs[i]), daemon=True)
        for i, work in enumerate(works)
    ]
    for thread in threads:
        thread.start()
    cpu_before = time.process_time()
    try:
        start.wait(timeout=120)
    finally:
        go.set()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    results.put({"outs": outs, "cpu": time.process_time() - cpu_before})


def _phase(base_url: str, mode: str, works: list[list[Any]], processes: int, seconds: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    shares = [works[p::processes] for p in range(processes)]
    procs = [
        ctx.Process(target=_client_process, args=(base_url, mode, share, seconds, start, results)) for share in shares
    ]
    for proc in procs:
        proc.start()
    try:
        start.wait(timeout=120)
        began = time.time()
        reports = [results.get(timeout=seconds + 120) for _ in procs]
        for proc in procs:
            proc.join(timeout=10)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    outs = [out for report in reports for out in report["outs"] if out]
    latencies = sorted(latency for out in outs for latency in out["latencies"])
    errors: dict[str, int] = {}
    for out in outs:
        for key, count in out["errors"].items():
            errors[key] = errors.get(key, 0) + count
    wall = max(out["ended"] for out in outs) - began
    return {
        "requests": len(latencies),
        "wall": wall,
        "throughput": len(latencies) / wall if wall > 0 else 0.0,
        "p50": _percentile(latencies, 50) * 1000,
        "p99": _percentile(latencies, 99) * 1000,
        "errors": errors,
        "client_cpu": sum(report["cpu"] for report in reports),
        "exhausted": sum(1 for out in outs if out["exhausted"]),
    }


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(pct / 100 * len(sorted_values)) - 1))  # nearest rank
    return sorted_values[rank]


def _combined(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One endpoint's rounds as one result: counts and CPU summed, throughput over the summed durations."""
    if len(rounds) == 1:
        combined = dict(rounds[0])
    else:
        wall = sum(r["wall"] for r in rounds)
        requests_ = sum(r["requests"] for r in rounds)
        errors: dict[str, int] = {}
        for r in rounds:
            for key, count in r["errors"].items():
                errors[key] = errors.get(key, 0) + count
        combined = {
            "requests": requests_,
            "wall": wall,
            "throughput": requests_ / wall if wall > 0 else 0.0,
            "p50": sorted(r["p50"] for r in rounds)[len(rounds) // 2],
            "p99": max(r["p99"] for r in rounds),
            "errors": errors,
            "client_cpu": sum(r["client_cpu"] for r in rounds),
            "exhausted": max(r["exhausted"] for r in rounds),
        }
    requests_ = max(combined["requests"], 1)
    if all("server_cpu_s" in r for r in rounds):
        combined["server_cpu"] = sum(r["server_cpu_s"] for r in rounds) / requests_ * 1000
    combined["backend_cpu"] = sum(r["backend_cpu_s"] for r in rounds) / requests_ * 1000
    return combined


def _phase_wrk(base_url: str, mode: str, works: list[list[Any]], seconds: float, connections: int) -> dict[str, Any]:
    """One endpoint under wrk: ``works`` holds one list of requests per wrk thread, replayed in order."""
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        prefix = Path(tmp) / mode
        for number, work in enumerate(works):
            lines = []
            for token, target in work:
                if mode == "get":
                    lines.append(f"GET\t/api/v1/orders/{target}/\t{token}\t")
                else:
                    lines.append(f"POST\t/api/v1/refunds/\t{token}\t{json.dumps(target, separators=(',', ':'))}")
            Path(f"{prefix}.{number}").write_text("\n".join(lines) + "\n")
        command = [
            "wrk",
            f"--threads={len(works)}",
            f"--connections={connections}",
            f"--duration={max(1, round(seconds))}s",
            f"--timeout={HTTP_TIMEOUT[1]}s",
            f"--script={WRK_SCRIPT}",
            base_url,
            "--",
            str(prefix),
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in finished.stdout.splitlines() if line.startswith("BENCH ")]
    if finished.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({finished.returncode}):\n{finished.stdout}\n{finished.stderr}")
    figures = json.loads(lines[-1].removeprefix("BENCH "))
    errors = {status: count for status, count in figures["statuses"].items() if int(status) != EXPECTED_STATUS[mode]}
    errors.update({f"socket {kind}": count for kind, count in figures["socket_errors"].items() if count})
    wall = figures["duration_us"] / 1e6
    return {
        "requests": figures["requests"],
        "wall": wall,
        "throughput": figures["requests"] / wall if wall > 0 else 0.0,
        "p50": figures["p50_us"] / 1000,
        "p99": figures["p99_us"] / 1000,
        "errors": errors,
        "client_cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        # An application replayed from the top of its file was sent before: the plan was too small.
        "exhausted": len(works) if mode == "apply" and figures["restarts"] else 0,
        "consumed": [figures["positions"][str(number)] for number in range(len(works))],
    }


def _tree_cpu_seconds(root: int | None) -> float | None:
    """CPU seconds used so far by ``root`` and its descendants (Linux /proc), or None when unknown."""
    if root is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    if root not in cpu:
        return None
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(cpu[pid] for pid in tree)


def _settle(server_pid: int | None, limit: float = 30) -> None:
    """Wait until the server has worked off what the last phase left queued (requests still in its workers and
    its listen backlog when the clients stopped), so that neither their CPU nor their delay lands on the next
    phase: until its processes use under 5% of a core over half a second, for at most ``limit`` seconds."""
    deadline = time.monotonic() + limit
    last = _tree_cpu_seconds(server_pid)
    while last is not None and time.monotonic() < deadline:
        time.sleep(0.5)
        now = _tree_cpu_seconds(server_pid)
        if now is None or now - last < 0.025:
            return
        last = now


def _backends_cpu_seconds() -> float:
    """CPU seconds used so far by MariaDB and by the Redis server of ``REDIS_URL`` (Linux /proc). Both are
    shared: whatever else uses them meanwhile is counted too."""
    redis_port = urlsplit(os.environ.get("REDIS_URL", "")).port or 6379
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
            name = head.split("(", 1)[1]
            if name == "redis-server" and f":{redis_port}" not in (entry / "cmdline").read_text():
                continue
        except OSError:
            continue
        if name in ("mariadbd", "mysqld", "redis-server"):
            fields = tail.split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run(
    plan_path: Path,
    base_url: str,
    clients: int,
    processes: int,
    seconds: float,
    workers: str,
    server_pid: int | None,
    client: str,
    rounds: int = 1,
    result_path: Path | None = None,
) -> int:
    if not base_url.startswith("http://127.0.0.1:"):
        raise SystemExit("the benchmark only drives a server on 127.0.0.1")
    plan = json.loads(plan_path.read_text())
    if client == "wrk":
        # One wrk thread per core, its connections sharing the thread's orders.
        owners = max(1, min(os.cpu_count() or 1, clients))
        repeat = 1  # wrk starts a GET file again at its end

        def phase(mode: str, works: list[list[Any]], seconds: float) -> dict[str, Any]:
            return _phase_wrk(base_url, mode, works, seconds, clients)

        described = f"wrk, {owners} threads x {clients // owners} keep-alive connections"
    else:
        owners, repeat = clients, 50

        def phase(mode: str, works: list[list[Any]], seconds: float) -> dict[str, Any]:
            return _phase(base_url, mode, works, processes, seconds)

        described = f"{processes} processes x {clients // processes} threads, python-requests sessions"
    owned = [plan[c::owners] for c in range(owners)]
    get_works = [[(o["token"], o["order_no"]) for o in orders] * repeat for orders in owned]
    apply_works = [_apply_bodies(orders) for orders in owned]
    applications = sum(len(work) for work in apply_works)

    warmed = phase("get", [work[: 20 * clients // owners] for work in get_works], 5)["requests"]
    done = [0] * owners  # applications sent so far by each owner
    if client == "wrk":
        # The application's own path warmed up as well (what GET never loads: its serializers, the lock, the
        # throttle's script, the job hand-over), with the plan's first applications: the rounds go on after them.
        # (The Python clients cannot resume their applications: no warm-up of them.)
        warm_apply = phase("apply", apply_works, 3)
        done = list(warm_apply["consumed"])
        warmed += warm_apply["requests"]
    _settle(server_pid)
    # Short rounds of GET then apply, one after the other, so that a change in the machine's other work
    # weighs on both endpoints alike (the Python clients cannot resume their applications: one round).
    rounds = max(1, rounds if client == "wrk" else 1)
    results: dict[str, list[dict[str, Any]]] = {"get": [], "apply": []}
    for _ in range(rounds):
        for mode in ("get", "apply"):
            works = get_works if mode == "get" else [work[sent:] for work, sent in zip(apply_works, done, strict=True)]
            server_before, backends_before = _tree_cpu_seconds(server_pid), _backends_cpu_seconds()
            result = phase(mode, works, seconds / rounds)
            _settle(server_pid)  # the phase's leftovers are the phase's CPU, and not the next phase's delay
            server_after, backends_after = _tree_cpu_seconds(server_pid), _backends_cpu_seconds()
            if server_before is not None and server_after is not None:
                result["server_cpu_s"] = server_after - server_before
            result["backend_cpu_s"] = backends_after - backends_before
            if mode == "apply" and "consumed" in result:
                done = [sent + used for sent, used in zip(done, result["consumed"], strict=True)]
            results[mode].append(result)
    get, apply = _combined(results["get"]), _combined(results["apply"])

    print()
    print(f"machine: nproc={os.cpu_count()}, CPU {cpu_model()}, Python {platform.python_version()}")
    print(
        f"server: gunicorn mall.wsgi, {workers} sync workers, DEBUG off, MariaDB + Redis on 127.0.0.1; "
        f"{len(plan)} paid unshipped orders, {applications} applications available"
    )
    print(
        f"load: {clients} concurrent clients ({described}) on the same machine, {seconds:g} s per endpoint "
        f"in {rounds} alternating round(s), after {warmed} warm-up requests (GET and apply)"
    )
    print()
    header = f"{'endpoint':<34} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(header)
    print("-" * len(header))
    for name, result in (("GET /api/v1/orders/{order_no}/", get), ("POST /api/v1/refunds/", apply)):
        errors = sum(result["errors"].values())
        print(
            f"{name:<34} {result['requests']:>9} {result['throughput']:>8.1f} "
            f"{result['p50']:>8.1f} {result['p99']:>8.1f} {errors:>7}"
        )
    ratio = apply["throughput"] / get["throughput"] if get["throughput"] else 0.0
    if rounds > 1:
        print("(p50: the median of the rounds' p50; p99: the worst round's p99)")
        for number, (got, applied) in enumerate(zip(results["get"], results["apply"], strict=True), start=1):
            print(
                f"  round {number}: GET {got['throughput']:.1f} req/s p50 {got['p50']:.0f} p99 {got['p99']:.0f} ms; "
                f"apply {applied['throughput']:.1f} req/s p50 {applied['p50']:.0f} p99 {applied['p99']:.0f} ms; "
                f"ratio {applied['throughput'] / got['throughput'] if got['throughput'] else 0.0:.2f}"
            )
    print()
    print(f"apply / GET throughput: {ratio:.2f} (target >= 0.50); apply p99 {apply['p99']:.1f} ms (target < 150)")
    if "server_cpu" in get:
        print(
            f"server CPU (gunicorn master + workers): GET {get['server_cpu']:.1f} ms/request, "
            f"apply {apply['server_cpu']:.1f} ms/request"
        )
    print(
        f"MariaDB + Redis CPU (every client of theirs meanwhile): GET {get['backend_cpu']:.1f} ms/request, "
        f"apply {apply['backend_cpu']:.1f} ms/request"
    )
    print(
        f"client CPU: GET {get['client_cpu'] / max(get['requests'], 1) * 1000:.1f} ms/request, "
        f"apply {apply['client_cpu'] / max(apply['requests'], 1) * 1000:.1f} ms/request"
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load} (anything else running on the machine skews the figures)")
    _record(get, apply, ratio, rounds)
    if result_path is not None:
        result_path.write_text(json.dumps({"get": get, "apply": apply, "ratio": ratio}))
    for name, result in (("GET", get), ("apply", apply)):
        if result["errors"]:
            print(f"{name} errors: {json.dumps(result['errors'], sort_keys=True)}")
        if result["exhausted"]:
            print(f"{name}: {result['exhausted']} clients ran out of work before the deadline")
    return 1 if get["errors"] or apply["errors"] else 0


def _record(get: dict[str, Any], apply: dict[str, Any], ratio: float, rounds: int) -> None:
    part, note = "applications", f"{rounds} alternating round(s)"
    record(part, "apply / GET throughput (closed loop)", ratio, "×", target="≥ 0.5", met=ratio >= 0.5, note=note)
    for name, result in (("GET", get), ("apply", apply)):
        record(part, f"{name} throughput (closed loop)", result["throughput"], "req/s", note=note)
        record(part, f"{name} p50 (closed loop)", result["p50"], "ms", note=note)
        record(part, f"{name} p99 (closed loop)", result["p99"], "ms", note="follows the throughput: see the open loop")
        errors = sum(result["errors"].values())
        record(part, f"{name} errors (closed loop)", errors, "requests", target="0", met=errors == 0)
        if "server_cpu" in result:
            record(part, f"{name} CPU per request, gunicorn (closed loop)", result["server_cpu"], "ms", note=note)
        record(part, f"{name} CPU per request, MariaDB + Redis (closed loop)", result["backend_cpu"], "ms", note=note)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    seed_cmd = sub.add_parser("seed")
    seed_cmd.add_argument("--orders", type=int, default=3000)
    seed_cmd.add_argument("--customers", type=int, default=300)
    seed_cmd.add_argument("--plan", type=Path, required=True)
    seed_cmd.add_argument("--open-orders", type=int, default=0, help="more orders, for the open-loop plan")
    seed_cmd.add_argument("--open-plan", type=Path, help="where to write the open-loop plan")
    run_cmd = sub.add_parser("run")
    run_cmd.add_argument("--plan", type=Path, required=True)
    run_cmd.add_argument("--url", required=True)
    run_cmd.add_argument("--clients", type=int, default=32)
    run_cmd.add_argument("--processes", type=int, default=4)
    run_cmd.add_argument("--seconds", type=float, default=15)
    run_cmd.add_argument("--workers", default="?")
    run_cmd.add_argument("--server-pid", type=int, help="gunicorn master: report its CPU per request")
    run_cmd.add_argument("--rounds", type=int, default=3, help="alternating GET/apply rounds (wrk only)")
    run_cmd.add_argument("--result", type=Path, help="write the figures as JSON here (for the open loop)")
    run_cmd.add_argument(
        "--client",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (default where installed) or Python threads",
    )
    args = parser.parse_args()
    if args.command == "seed":
        if args.open_orders and args.open_plan is None:
            parser.error("--open-orders needs --open-plan")
        seed(args.orders, args.customers, args.plan, args.open_orders, args.open_plan)
        return 0
    if args.client == "python" and args.clients % args.processes:
        parser.error("--clients must be a multiple of --processes")
    if args.client == "wrk" and shutil.which("wrk") is None:
        parser.error("wrk is not installed (scripts/bootstrap.sh dev installs it); or use --client python")
    return run(
        args.plan,
        args.url,
        args.clients,
        args.processes,
        args.seconds,
        args.workers,
        args.server_pid,
        args.client,
        args.rounds,
        args.result,
    )


if __name__ == "__main__":
    sys.exit(main())
