"""The benchmark's tables, printed from the figures of one run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from execution.accounting import print_accounting, record_figures
from execution.common import (
    EXECUTE_JOB,
    FOLLOW_ON_JOBS,
    WORKER_QUEUES,
    _load,
    _percentile,
    _worker_kind,
    _worker_options,
    cpu_model,
)

# --- report ----------------------------------------------------------------------------------------------


def _fmt(value: float, spec: str = ".2f") -> str:
    return "-" if value != value else format(value, spec)  # NaN -> "-"


def _print_logs(work: Path, lines: int = 15) -> None:
    for log in sorted(work.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        if tail:
            print(f"--- last lines of {log.name}", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)


def report(args: argparse.Namespace, context: dict[str, Any]) -> int:
    burst, calm, paced, warm = context["burst"], context["calm"], context["paced"], context["warm"]
    print()
    print(
        f"machine: nproc={os.cpu_count()}, CPU {cpu_model()}, Python {platform.python_version()}; "
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
        "`refunded` - first `refunded`), the span they came out in, as offered/s is the span they went in; "
        f"inf: not refunded within {args.timeout:g} s after the last hand-over, its "
        "job then dropped"
    )
    verdict = {True: "met", False: "NOT met"}
    keeps_up = paced["throughput"] / args.rate
    print(
        f"targets: >= 100 refunds/s (burst: {_fmt(burst['throughput'], '.1f')}, "
        f"{verdict[burst['throughput'] >= 100]}); p95 < 2 s at {args.rate:g}/s (paced: {_fmt(paced['p95'])} s at "
        f"{_fmt(context['paced_offered'], '.1f')}/s offered, {verdict[paced['p95'] < 2]}); the paced rate sustained, "
        f"refunded/s >= 0.95 x {args.rate:g}/s ({keeps_up:.2f}, {verdict[keeps_up >= 0.95]})"
    )

    durations = context["durations"]
    if durations:
        print()
        header = f"{'job (RQ started_at -> ended_at)':<40} {'jobs':>6} {'mean ms':>8} {'p95 ms':>8}"
        print(header)
        print("-" * len(header))
        # The refund's own jobs first, then every other job its burst set off (messages, e-mails...).
        others = sorted(func for func in durations if func not in (EXECUTE_JOB, *FOLLOW_ON_JOBS))
        for func in [EXECUTE_JOB, *FOLLOW_ON_JOBS, *others]:
            values = sorted(durations.get(func, []))
            if values:
                label = FOLLOW_ON_JOBS.get(func, "refund_execute" if func == EXECUTE_JOB else func)[:40]
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
        f"stack (RQ alone): {floor['jobs']} jobs that do nothing ran at {floor['jobs'] / floor['seconds']:.0f} "
        f"jobs/s on the {args.workers} workers ({drained}), costing {rq_worker:.1f} ms of worker CPU and "
        f"{rq_redis:.1f} ms of Redis CPU per job"
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

    print_accounting(args, context)
    record_figures(args, context)

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
