"""Where a refund's time goes, counted (statements, Redis commands and round trips) and measured (CPU per part), and
every figure worth keeping handed to the dated report (``figures.record``)."""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from figures import record

from execution.common import EXECUTE_JOB, FOLLOW_ON_JOBS

PART = "execution"
BUDGET_PER_CORE = 10.0  # ms of CPU per refund and core at 100 refunds/s


def _fmt(value: float, spec: str = ".1f") -> str:
    return "-" if value != value else format(value, spec)


def _workers_key(cpu: dict[str, float]) -> str:
    return next(name for name in cpu if name.startswith("RQ workers"))


def print_accounting(args: argparse.Namespace, context: dict[str, Any]) -> None:
    steps, redis_per_job, floor = context["steps"], context["redis_per_job"], context["floor"]
    if steps:
        print()
        header = f"{'one refund, counted in this process':<40} {'statements':>10} {'wall ms':>8} {'CPU ms':>7}"
        print(header)
        print("-" * len(header))
        for name, figures in steps.items():
            print(
                f"{name:<40} {_fmt(figures['statements'], '.0f'):>10} {_fmt(figures['wall_ms']):>8} "
                f"{_fmt(figures['cpu_ms']):>7}"
            )
        print(
            f"medians of {args.measure} refunds, each step run alone in this process as a worker runs it (the jobs it "
            "sets off held back); CPU is this thread's, the database's and the simulator's come on top"
        )
    if redis_per_job:
        print()
        header = f"{'RQ bookkeeping per no-op job':<40} {'commands':>8} {'round trips':>11}  most sent"
        print(header)
        print("-" * len(header))
        for label, counted in redis_per_job.items():
            name = "the workers' class" if label == "worker" else "rq.SimpleWorker (RQ's own)"
            print(f"{name:<40} {counted.commands:>8.1f} {counted.round_trips:>11.1f}  {counted.top(6)}")
        print(
            f"stack phase (real workers, server's count incl. enqueueing and this process's polling): "
            f"{_fmt(floor['commands'])} commands per no-op job; burst: {_fmt(context['burst_commands'])} commands "
            "per refund (its execution, follow-up, message and e-mail jobs, and their hand-overs)"
        )
    cpu = context["cpu"]["burst_exec"]
    per_execution = sum(cpu.values())
    cores = os.cpu_count() or 1
    budget = BUDGET_PER_CORE * cores
    pipeline = sum(context["cpu"]["paced"].values())
    print()
    print(
        f"the fair form: {per_execution:.1f} ms of CPU per execution across every process (workers "
        f"{cpu[_workers_key(cpu)]:.1f}) against a budget of {budget:.0f} ms ({cores} cores / 100 per s): "
        f"{'within' if per_execution <= budget else 'over'} it. At that cost {cores} idle cores execute at most "
        f"{1000 * cores / per_execution:.0f}/s; the machine's load at the end, {os.getloadavg()[0]:.2f}, says how much "
        f"of them others took. The whole pipeline (creation, execution, follow-up, message, e-mail) costs "
        f"{pipeline:.1f} ms per refund when paced: {pipeline * 100 / 1000:.1f} cores at 100 refunds/s sustained."
    )


def record_figures(args: argparse.Namespace, context: dict[str, Any]) -> None:
    burst, paced, floor, steps = context["burst"], context["paced"], context["floor"], context["steps"]
    cpu = context["cpu"]
    cores = os.cpu_count() or 1
    per_execution = sum(cpu["burst_exec"].values())
    sustained = paced["throughput"] >= 0.95 * args.rate
    record(PART, "burst refunds/s", burst["throughput"], "refunds/s", target="≥ 100/s", met=burst["throughput"] >= 100)
    record(
        PART,
        f"p95 approval → refunded at {args.rate:g}/s offered",
        paced["p95"],
        "s",
        target="< 2 s",
        met=paced["p95"] < 2,
        note=f"{context['paced_offered']:.1f}/s offered, {paced['throughput']:.1f}/s refunded",
    )
    # Whether that rate is sustained, apart: a phase that falls behind can still end with a p95 under 2 s.
    record(
        PART,
        f"paced phase keeps up: refunded/s ÷ {args.rate:g}/s asked",
        paced["throughput"] / args.rate,
        "×",
        target="≥ 0.95",
        met=sustained,
        note=f"{context['paced_offered']:.1f}/s offered, {paced['throughput']:.1f}/s refunded",
    )
    record(
        PART,
        "CPU per execution (all processes, burst)",
        per_execution,
        "ms",
        target=f"≤ {BUDGET_PER_CORE * cores:g} ms",
        met=per_execution <= BUDGET_PER_CORE * cores,
    )
    record(PART, "worker CPU per execution (burst)", cpu["burst_exec"][_workers_key(cpu["burst_exec"])], "ms")
    record(PART, "CPU per refund, whole pipeline (paced)", sum(cpu["paced"].values()), "ms")
    record(PART, "stack: no-op jobs/s on the workers", floor["jobs"] / floor["seconds"], "jobs/s")
    record(PART, "stack: worker CPU per no-op job", floor["cpu"][_workers_key(floor["cpu"])], "ms")
    if not math.isnan(floor["commands"]):
        record(PART, "stack: Redis commands per no-op job (server count)", floor["commands"], "commands")
        record(PART, "Redis commands per burst refund (all its jobs)", context["burst_commands"], "commands")
    for label, counted in context["redis_per_job"].items():
        who = "worker class" if label == "worker" else "rq.SimpleWorker"
        record(PART, f"Redis commands per job ({who})", counted.commands, "commands")
        record(PART, f"Redis round trips per job ({who})", counted.round_trips, "round trips")
    for name, figures in steps.items():
        record(PART, f"SQL statements per {name}", figures["statements"], "statements")
        record(PART, f"{name} wall time (in process)", figures["wall_ms"], "ms")
        record(PART, f"{name} CPU (in process)", figures["cpu_ms"], "ms")
    refunds = max(burst["count"], 1)
    for func, values in context["durations"].items():
        if not values:
            continue
        label = {EXECUTE_JOB: "execution", **dict.fromkeys(FOLLOW_ON_JOBS, "follow-up")}.get(func, func)
        record(PART, f"{label} job mean (RQ started → ended, burst)", 1000 * sum(values) / len(values), "ms")
        record(PART, f"{label} jobs per burst refund", len(values) / refunds, "jobs")
