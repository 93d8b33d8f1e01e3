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
4. warm-up; **counted**: ``--measure`` refunds created, executed and followed up one at a time in this process,
   the jobs they set off held back, their SQL statements, wall and CPU time per step counted; RQ's bookkeeping per
   job counted for the workers' class and RQ's own ``SimpleWorker`` (Redis commands from the server's own counters,
   round trips from a counting connection; ``execution/rq_cost.py``); **stack** (RQ alone): as many jobs as the
   burst that do nothing (``django.utils.timezone.now``, with a refund job's retries) handed to the `refunds` queue
   at once: what RQ costs per job by itself on the real workers; then **burst**:
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
Prints one table per concern and the machine, ends with the CPU per execution against the budget (the fair form of
the targets on a shared machine), and hands every figure to ``figures.record`` (the dated report of
``scripts/bench.sh``). Everything listens on and talks to 127.0.0.1 only; every loop has a
deadline; ``--profile`` samples the first worker with py-spy if it is installed. Knobs: ``--help`` (environment:
MALL_BENCH_EXEC_DB, BENCH_EXEC_REDIS_URL, BENCH_EXEC_WORKERS, BENCH_EXEC_BURST, BENCH_EXEC_CALM, BENCH_EXEC_PACED,
BENCH_EXEC_RATE, BENCH_EXEC_FEEDERS, BENCH_EXEC_WORKER_CLASS, BENCH_EXEC_TIMEOUT, BENCH_EXEC_MEASURE).

The parts live in ``benchmarks/execution/``: ``common`` (Procfile, helpers, CPU per process), ``environment``
(scratch database, sink, seeding, child processes), ``phases``, ``costs`` and ``rq_cost`` (what is counted),
``accounting`` (where the time goes, and the figures recorded), ``report`` (the tables) and ``profile`` (py-spy).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from execution import rq_cost
from execution.common import (
    CALM_SECONDS,
    PYTHON,
    ROOT,
    WORKER_QUEUES,
    CpuMeter,
    _free_port,
    _load,
    _pids_named,
    _worker_class_name,
    _worker_options,
)
from execution.costs import RedisCommands, per_refund
from execution.environment import (
    Processes,
    _environment,
    _HandOverFailures,
    _mysql,
    _Sink,
    _wait_for,
    register_trades,
    seed,
)
from execution.phases import (
    NOOP_JOB,
    _failed_jobs,
    _job_durations,
    _phase_figures,
    _remove_finished_jobs,
    run_burst,
    run_paced,
    run_rq_floor,
)
from execution.profile import _profile_summary, _py_spy
from execution.report import _print_logs, report


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
        "--measure",
        type=int,
        default=int(os.environ.get("BENCH_EXEC_MEASURE", "20")),
        help="refunds created, executed and followed up one at a time in this process, their statements counted",
    )
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

        total = args.warmup + args.burst + args.calm + args.paced + args.measure
        started = time.monotonic()
        orders = seed(total)
        print(f"== seeded {total} paid unshipped orders in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        register_trades(orders, simulator_url)
        registered_in = time.monotonic() - started

        print(f"== {args.workers} RQ workers on {', '.join(WORKER_QUEUES)}")
        import django_rq
        from django.utils.module_loading import import_string
        from rq import SimpleWorker, Worker

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
        paced_orders = orders[args.warmup + args.burst + args.calm : total - args.measure]
        measure_orders = orders[total - args.measure :]
        # RQ's commands, read from the private Redis's own counters (a shared one counts everybody's).
        commands = RedisCommands(args.redis_url) if redis_server is not None else None

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

        print(f"== one refund at a time in this process ({len(measure_orders)}): statements and time per step")
        steps = per_refund(measure_orders) if measure_orders else {}
        redis_per_job = {}
        if commands is not None:
            print("== RQ's bookkeeping per job, counted: the workers' class and RQ's SimpleWorker, in this process")
            for label, worker_class in (
                ("worker", import_string(_worker_class_name(args.worker_class))),
                ("rq", SimpleWorker),
            ):
                redis_per_job[label] = rq_cost.per_job(worker_class, args.redis_url)

        print(f"== stack (RQ alone): {args.burst} jobs that do nothing ({NOOP_JOB}) handed over at once")
        cpu_before_floor = meter.snapshot()
        commands_before = commands.reading() if commands is not None else None
        floor = run_rq_floor(args.burst, args.timeout)
        floor["cpu"] = per_job(meter.snapshot(), cpu_before_floor, args.burst)
        floor["commands"] = commands.since(commands_before) / args.burst if commands is not None else float("nan")
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

        commands_before = commands.reading() if commands is not None else None
        burst = run_burst(burst_orders, args.timeout, burst_exec_done, burst_committed)
        cpu_after_burst = meter.snapshot()
        burst_commands = commands.since(commands_before) if commands is not None else float("nan")
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
            "steps": steps,
            "redis_per_job": redis_per_job,
            "burst_commands": burst_commands / max(len(burst_orders), 1),
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
