"""Two hosts on one machine: a rehearsal of running past one machine, with the money rules checked.

``make rehearsal`` (``scripts/rehearsal.sh``; the last part of ``make bench``). Alone it needs MariaDB up on
127.0.0.1. What it starts, every process its own child and stopped by its pid whatever happens:

- the shared services: a scratch MariaDB database (``--db``, dropped at the end), a private ``redis-server`` on a
  free port, and the channel simulator (``manage.py channel_simulator``), as one installation would share them;
- ``manage.py release`` on host A, then on host B (which finds nothing to do), and ``manage.py bootstrap_roles``:
  what an operator runs before the processes of a release start;
- host A and host B, each as an operator starts a host from the Procfile (``DJANGO_DEBUG=0``, the same
  ``DJANGO_SECRET_KEY``, ``SECURE_SSL_REDIRECT=0`` for plain HTTP on the loopback): the `web` line (gunicorn on
  its own port) and ``--workers`` processes of the `worker` line, named ``reh-a-N`` / ``reh-b-N``, with a work dir
  (``MALL_VAR_DIR``) and a Prometheus metrics directory of its own. Each host's ``PAYMENTS_NOTIFY_BASE_URL`` is its
  own web. Media (vouchers) go to one directory both hosts share, standing in for the object store several web hosts
  need (docs/deploy-systemd.md, "Several hosts").

Load (``benchmarks/rehearsal_load.py``): ``--orders`` paid orders; customers apply through the REST API of both
web ports in turn (unshipped orders are approved at once and paid out; a delivered share's quality claims wait for
an agent, who approves them through the service layer while the load runs); some orders are applied for twice at
the same instant, once per host (exactly one may win), some split one line per host, some paid to store credit.
With ``--faults`` (default) the simulator also answers the first few refund requests after the hosts' channel
timeout (the refund is booked: its notification, or the retry on whichever host takes it, settles it and must not
pay it again) and sends some notifications twice.

It stops by itself once every refund has settled and the queues are idle (``--timeout`` bounds each wait), then
checks and prints (``benchmarks/rehearsal_checks.py``): every accepted refund `refunded`, none paid twice (the
simulator's ledger against the database), none above what was paid, store-credit and stock ledgers consistent,
orders' status; that both worker groups executed refunds (RQ's record of which worker ran each job) and that both
web hosts accepted applications and count each refund once between them (each host's ``/metrics``, which sums its
web and worker processes). Exit status 1 if any rule broke. Figures go to ``figures.record`` (part "rehearsal").

Knobs (environment): MALL_REHEARSAL_DB (mall_rehearsal), REHEARSAL_ORDERS (300), REHEARSAL_WORKERS (1 per host),
REHEARSAL_WEB_CONCURRENCY (2 gunicorn workers per host), REHEARSAL_CLIENTS (8), REHEARSAL_TIMEOUT (180 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import rehearsal_checks as checks
import rehearsal_hosts as hosts
import rehearsal_load as load
from execution.common import ROOT, _free_port
from execution.environment import Processes, _mysql, _wait_for
from figures import record

HOSTS = hosts.HOSTS
FINAL_STATES = ("refunded", "rejected", "cancelled", "failed")
SHARES = {"contested": 0.1, "split": 0.1, "store_credit": 0.1}


def _unsettled(order_ids: list[int]) -> int:
    from refunds.models import Refund

    return Refund.objects.filter(order_id__in=order_ids).exclude(state__in=FINAL_STATES).count()


def rehearse(args: argparse.Namespace, work: Path, processes: Processes, created: dict[str, bool]) -> int:
    began = time.monotonic()
    load_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    redis_url = hosts.start_redis(processes, work)
    simulator_url = f"http://127.0.0.1:{_free_port()}"
    ports = [_free_port() for _ in HOSTS]
    web_urls = [f"http://127.0.0.1:{port}" for port in ports]
    common = hosts.environment(
        db=args.db, work=work, redis_url=redis_url, simulator_url=simulator_url, channel_timeout=args.channel_timeout
    )
    host_env = [
        hosts.host_environment(common, work, host, port, args.web_concurrency)
        for host, port in zip(HOSTS, ports, strict=True)
    ]
    print(f"== scratch database {args.db}, private Redis {redis_url}, work files in {work}")
    _mysql(f"DROP DATABASE IF EXISTS `{args.db}`")
    _mysql(f"CREATE DATABASE `{args.db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    created["db"] = True
    started = time.monotonic()
    hosts.release(*host_env)
    print(f"== release on host A, then on host B, and the staff roles: {time.monotonic() - started:.1f} s")

    # This process is the operator's and the customers' side. Its own metrics (none that matter) stay in its memory,
    # counted by no host: prometheus_client was imported before any metrics directory was named.
    os.environ.update({**common, "MALL_VAR_DIR": str(work / "operator")})
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import requests

    hosts.start_simulator(processes, common, work)
    started = time.monotonic()
    run_id = f"{int(time.time()) % 10**6:06d}"
    seeded = load.seed(orders=args.orders, delivered_share=args.delivered, shares=SHARES, run_id=run_id)
    load.register_trades(seeded.order_ids, simulator_url, web_urls)
    print(
        f"== seeded {len(seeded.order_ids)} paid orders ({len(seeded.delivered_order_ids)} delivered) and "
        f"registered their trades in {time.monotonic() - started:.1f} s"
    )

    print(f"== host A: web {web_urls[0]}; host B: web {web_urls[1]}; {args.workers} worker(s) each")
    started_procs = [
        proc
        for host, env in zip(HOSTS, host_env, strict=True)
        for proc in hosts.start_host(processes, host, env, work, args.workers)
    ]
    _wait_for("both webs ready (/readyz)", lambda: all(hosts.ready(url) for url in web_urls), 90, started_procs)
    _wait_for("both worker groups", lambda: hosts.workers_registered() >= 2 * args.workers, 90, started_procs)
    faults = hosts.arm_faults(simulator_url, args.orders, args.channel_timeout) if args.faults else "none"
    print(f"== faults: {faults}")

    applications = sum(len(task.applications) for task in seeded.tasks)
    print(f"== load: {applications} applications for {len(seeded.tasks)} orders, {args.clients} clients")
    load_began = time.monotonic()
    deadline = load_began + args.timeout
    stop = threading.Event()
    agent_errors: list[str] = []
    agent_result: dict[str, int] = {}

    def agent_works() -> None:
        agent_result["approved"] = load.agent_works_queue(
            agent_id=seeded.agent_id,
            order_ids=seeded.delivered_order_ids,
            stop=stop,
            errors=agent_errors,
            deadline=deadline,
        )

    agent = threading.Thread(target=agent_works, name="agent", daemon=True)
    agent.start()
    answers = load.apply_all(seeded.tasks, web_urls, args.clients, deadline)
    applied_in = time.monotonic() - load_began
    stop.set()
    agent.join(timeout=max(1.0, deadline - time.monotonic()))
    while time.monotonic() < deadline and _unsettled(seeded.order_ids):
        time.sleep(0.25)
    settled_in = time.monotonic() - load_began
    while time.monotonic() < deadline + 60 and not hosts.queues_idle():
        time.sleep(0.25)
    idle = hosts.queues_idle()
    print(f"== applied in {applied_in:.1f} s; refunds settled after {settled_in:.1f} s; queues idle: {idle}")

    jobs, failed_jobs, per_worker = hosts.jobs_per_group()
    metrics = [checks.scrape(requests.get(f"{url}/metrics", timeout=10).text) for url in web_urls]
    ledger = requests.get(f"{simulator_url}/sim/ledger", timeout=30).json()
    facts = checks.gather(seeded.order_ids, seeded.stock_before, ledger)
    from refunds.restock import restock_reference_of

    accepted = [a.refund_no for a in answers if a.status == 201]
    refunded = sum(1 for r in facts.refunds if r["state"] == "refunded")
    approved, claims = agent_result.get("approved", 0), len(seeded.delivered_order_ids)
    results = [
        checks.check_all_refunded(facts, accepted),
        checks.check_channel_once(facts),
        checks.check_within_paid(facts),
        checks.check_store_credit(facts),
        checks.check_stock(facts, restock_reference_of),
        checks.check_orders_follow(facts),
        *checks.check_answers(answers),
        *checks.check_both_hosts(jobs, metrics, refunded),
        checks.Check(
            "the agent approved every quality claim",
            not agent_errors and approved == claims,
            f"approved {approved} of {claims}; refused {len(agent_errors)} {agent_errors[:3]}",
        ),
        checks.Check("no job failed for good", failed_jobs == 0, f"jobs in RQ's failed registries: {failed_jobs}"),
        checks.Check(
            "everything settled within the deadline",
            idle and settled_in < args.timeout,
            f"settled after {settled_in:.1f} s of at most {args.timeout:g} s, queues idle: {idle}",
        ),
    ]
    figures = {"wall": time.monotonic() - began, "applied_in": applied_in, "settled_in": settled_in}
    report(args, answers, jobs, per_worker, metrics, facts, figures, load_start=load_start, faults=faults)
    print()
    for result in results:
        print(f"[{'ok' if result.ok else 'BROKEN':>6}] {result.name}: {result.detail}")
        record(
            "rehearsal", result.name, "yes" if result.ok else "no", target="holds", met=result.ok, note=result.detail
        )
    if not all(result.ok for result in results):
        hosts.print_logs(work)
        return 1
    return 0


def _percentile_ms(values: list[float], pct: float) -> float:
    return values[min(len(values) - 1, int(len(values) * pct / 100))] * 1000 if values else float("nan")


def report(
    args: argparse.Namespace,
    answers: list[Any],
    jobs: list[dict[str, int]],
    per_worker: dict[str, int],
    metrics: list[dict[str, Any]],
    facts: checks.Facts,
    figures: dict[str, float],
    *,
    load_start: str,
    faults: str,
) -> None:
    print()
    print(
        f"machine: nproc={os.cpu_count()}; load average at the start {load_start}, at the end "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; per host {args.workers} RQ worker(s) and "
        f"{args.web_concurrency} gunicorn workers; faults: {faults}"
    )
    columns = [
        ("host", 4),
        ("applications", 12),
        ("accepted", 8),
        ("p50 ms", 6),
        ("p95 ms", 6),
        ("201 (its /metrics)", 18),
        ("refund executions", 17),
        ("jobs", 5),
        ("refunds settled (its /metrics)", 30),
    ]
    header = " ".join(f"{name:>{width}}" for name, width in columns)
    print(header)
    print("-" * len(header))
    for index, host in enumerate(HOSTS):
        mine = sorted(a.seconds for a in answers if a.host == index)
        row = {
            "applications sent": len(mine),
            "applications accepted": sum(1 for a in answers if a.host == index and a.status == 201),
            "application p50": round(_percentile_ms(mine, 50), 1),
            "application p95": round(_percentile_ms(mine, 95), 1),
            "applications accepted (its /metrics)": int(metrics[index].get("applications 201", 0)),
            "refund executions by its worker group": jobs[index].get("payments.jobs.refund_execute", 0),
            "jobs by its worker group": jobs[index].get("all", 0),
            "refunds settled (its /metrics)": int(metrics[index].get("outcomes success", 0)),
        }
        values = [host.upper(), *row.values()]
        print(" ".join(f"{value:>{width}}" for value, (_name, width) in zip(values, columns, strict=True)))
        units = ["applications", "applications", "ms", "ms", "applications", "jobs", "jobs", "refunds"]
        for (name, value), unit in zip(row.items(), units, strict=True):
            record("rehearsal", f"host {host.upper()}: {name}", value, unit)
    print(f"jobs per worker (RQ's own count): {json.dumps(per_worker)}")
    for index, host in enumerate(HOSTS):
        calls = {k.removeprefix("channel "): int(v) for k, v in sorted(metrics[index].items()) if "channel " in k}
        print(f"host {host.upper()} channel calls by operation and result (its /metrics): {json.dumps(calls)}")
    states = Counter(r["state"] for r in facts.refunds)
    money = sum((r["amount"] for r in facts.refunds if r["state"] == "refunded"), checks.ZERO)
    print(
        f"refunds: {len(facts.refunds)} {dict(sorted(states.items()))}, ¥{money} paid back; applied in "
        f"{figures['applied_in']:.1f} s, all settled {figures['settled_in']:.1f} s after the first application; "
        f"wall time {figures['wall']:.1f} s"
    )
    record("rehearsal", "refunds refunded", states.get("refunded", 0), "refunds")
    record("rehearsal", "money paid back", money, "¥")
    record("rehearsal", "first application to last refund settled", round(figures["settled_in"], 2), "s")
    record("rehearsal", "wall time", round(figures["wall"], 1), "s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("MALL_REHEARSAL_DB", "mall_rehearsal"))
    parser.add_argument("--orders", type=int, default=int(os.environ.get("REHEARSAL_ORDERS", "300")))
    parser.add_argument("--delivered", type=float, default=0.1, help="share of orders delivered (quality claims)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("REHEARSAL_WORKERS", "1")), help="per host")
    parser.add_argument("--web-concurrency", type=int, default=int(os.environ.get("REHEARSAL_WEB_CONCURRENCY", "2")))
    parser.add_argument("--clients", type=int, default=int(os.environ.get("REHEARSAL_CLIENTS", "8")))
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("REHEARSAL_TIMEOUT", "180")))
    parser.add_argument("--channel-timeout", type=float, default=2.0, help="the hosts' CHANNEL_TIMEOUT_SECONDS")
    parser.add_argument("--faults", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    if not args.db.replace("_", "").isalnum():
        parser.error("--db must be a plain name")
    if args.orders < 20 or args.workers < 1 or args.clients < 1:
        parser.error("at least 20 orders, 1 worker per host and 1 client")
    if shutil.which("redis-server") is None:
        parser.error("no redis-server on PATH")

    def stopped(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # the cleanup below runs

    signal.signal(signal.SIGTERM, stopped)
    work = Path(tempfile.mkdtemp(prefix="rehearsal-"))
    processes = Processes()
    created: dict[str, bool] = {}
    try:
        return rehearse(args, work, processes, created)
    except Exception:
        hosts.print_logs(work)
        raise
    finally:
        processes.stop_all()
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if created.get("db"):
            _mysql(f"DROP DATABASE IF EXISTS `{args.db}`")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
