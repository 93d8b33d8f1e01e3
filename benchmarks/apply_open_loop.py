"""Refund applications offered at a fixed rate, whatever the answers: latency that does not bend to throughput.

The closed-loop rounds of benchmarks/refund_apply.py keep 32 clients busy, each waiting for its answer before
sending the next request: their p99 only follows the throughput (a slower server gets fewer requests, not slower
ones). Here the applications arrive on a schedule fixed in advance, ``--rate`` a second (by default ``--fraction``,
half, of the apply throughput the closed-loop rounds measured: ``--capacity``), one every 1/rate seconds for
``--seconds``, each from a pool of senders that never holds the next arrival back. The latency of an application
runs from its *scheduled* time to its answer, so a request that waited for a free sender or for the server's
listen backlog counts that wait (no coordinated omission, as in wrk2).

The applications come from orders of their own (``seed --open-plan``), never touched by the closed-loop rounds,
interleaved across those orders like the closed loop's: the same order comes back only after every other one had
its turn. The server is only ever 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
from figures import record
from refund_apply import HTTP_TIMEOUT, _apply_bodies, _error_code, _percentile, _settle, _tree_cpu_seconds

PART = "applications"
TARGET_P99_MS = 150.0
Result = tuple[float, float, float, str]  # scheduled, sent, answered (perf_counter seconds), error ("" if none)


def _sender(base_url: str, work: queue.Queue[Any], stop: threading.Event, results: list[Result]) -> None:
    """Send each (scheduled time, token, body) taken from ``work`` and keep (scheduled, sent, answered, error)."""
    with requests.Session() as session:
        while (item := work.get()) is not None:
            if stop.is_set():
                continue  # past the wait for answers: what is left counts as unanswered
            scheduled, token, body = item
            sent = time.perf_counter()
            try:
                response = session.post(
                    f"{base_url}/api/v1/refunds/",
                    json=body,
                    headers={"Authorization": f"Token {token}"},
                    timeout=HTTP_TIMEOUT,
                )
                key = "" if response.status_code == 201 else f"{response.status_code} {_error_code(response)}"
            except requests.RequestException as exc:
                key = type(exc).__name__
            results.append((scheduled, sent, time.perf_counter(), key))


def offer(
    base_url: str, applications: list[tuple[str, dict[str, Any]]], rate: float, seconds: float, senders: int
) -> tuple[list[Result], float, float]:
    """Offer ``applications`` at ``rate`` a second for ``seconds``: arrival ``n`` is due ``n / rate`` seconds after
    the start. Returns the answers (in the order they came), the start and when the wait for answers ended."""
    arrivals = int(rate * seconds)
    if arrivals > len(applications):
        raise SystemExit(
            f"the open-loop plan holds {len(applications)} applications, {arrivals} are needed "
            f"({rate:.1f}/s for {seconds:g} s): seed more orders for it (BENCH_OPEN_ORDERS)"
        )
    work: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    results: list[Result] = []
    threads = [
        threading.Thread(target=_sender, args=(base_url, work, stop, results), daemon=True) for _ in range(senders)
    ]
    for thread in threads:
        thread.start()
    start = time.perf_counter() + 0.2  # the senders are up before the first arrival
    for number in range(arrivals):
        scheduled = start + number / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        token, body = applications[number]
        work.put((scheduled, token, body))
    for _ in threads:
        work.put(None)
    # Answers are awaited as long as one request may take, once: a server that stalls ends the phase anyway.
    deadline = time.perf_counter() + sum(HTTP_TIMEOUT) + 5
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.perf_counter()))
    stop.set()
    return list(results), start, time.perf_counter()


def summarise(results: list[Result], *, start: float, stopped: float, rate: float, seconds: float) -> dict[str, Any]:
    """The phase's figures (milliseconds, requests a second). Latency runs from each application's scheduled time;
    one left without an answer counts as having waited until ``stopped`` (a lower bound) and as an error."""
    arrivals = int(rate * seconds)
    latencies = [(answered_at - scheduled) * 1000 for scheduled, _, answered_at, _ in results]
    answered_at_schedule = {scheduled for scheduled, *_ in results}
    latencies += [
        (stopped - scheduled) * 1000
        for scheduled in (start + number / rate for number in range(arrivals))
        if scheduled not in answered_at_schedule
    ]
    latencies.sort()
    service = sorted((answered_at - sent) * 1000 for _, sent, answered_at, _ in results)
    waits = sorted((sent - scheduled) * 1000 for scheduled, sent, _, _ in results)
    errors: dict[str, int] = {}
    for *_, key in results:
        if key:
            errors[key] = errors.get(key, 0) + 1
    if arrivals > len(results):
        errors["no answer in time"] = arrivals - len(results)
    # Achieved: applications accepted (201) a second, over the offered duration or, when the last answers came
    # later, from the first arrival to the last answer.
    last_answer = max((answered_at for _, _, answered_at, _ in results), default=start)
    accepted = sum(1 for *_, key in results if not key)
    return {
        "arrivals": arrivals,
        "answered": len(results),
        "offered": arrivals / seconds,
        "achieved": accepted / max(seconds, last_answer - start),
        "p50": _percentile(latencies, 50),
        "p95": _percentile(latencies, 95),
        "p99": _percentile(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
        "wait_p99": _percentile(waits, 99),
        "wait_max": waits[-1] if waits else float("nan"),
        "service_p50": _percentile(service, 50),
        "service_p99": _percentile(service, 99),
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", type=Path, required=True, help="the open-loop plan written by refund_apply seed")
    parser.add_argument("--url", required=True)
    rate_from = parser.add_mutually_exclusive_group(required=True)
    rate_from.add_argument("--rate", type=float, help="applications a second")
    rate_from.add_argument("--capacity", type=Path, help="the closed-loop result (refund_apply run --result)")
    parser.add_argument("--fraction", type=float, default=0.5, help="share of the measured capacity to offer")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--senders", type=int, default=64, help="requests in flight at most (threads)")
    parser.add_argument("--server-pid", type=int, help="gunicorn master: report its CPU per application")
    args = parser.parse_args()
    if not args.url.startswith("http://127.0.0.1:"):
        parser.error("the benchmark only drives a server on 127.0.0.1")
    if args.rate is not None:
        rate, basis = args.rate, "as given"
    else:
        capacity = json.loads(args.capacity.read_text())["apply"]["throughput"]
        rate = capacity * args.fraction
        basis = f"{args.fraction:g} x the closed loop's {capacity:.1f} applications/s"
    if not rate > 0 or not args.seconds > 0:
        parser.error("the rate and the duration must be positive")

    plan = json.loads(args.plan.read_text())
    applications = _apply_bodies(plan)

    _settle(args.server_pid)
    server_before, cpu_before = _tree_cpu_seconds(args.server_pid), time.process_time()
    results, start, stopped = offer(args.url, applications, rate, args.seconds, args.senders)
    client_cpu = time.process_time() - cpu_before
    _settle(args.server_pid)
    server_after = _tree_cpu_seconds(args.server_pid)

    figures = summarise(results, start=start, stopped=stopped, rate=rate, seconds=args.seconds)
    arrivals, answered, errors = figures["arrivals"], figures["answered"], figures["errors"]
    error_count = sum(errors.values())
    offered, achieved = figures["offered"], figures["achieved"]
    p50, p95, p99, longest = figures["p50"], figures["p95"], figures["p99"], figures["max"]

    print()
    print(
        f"open loop: {arrivals} applications at a fixed {offered:.1f}/s ({basis}) for {args.seconds:g} s, "
        f"one every {1000 / rate:.1f} ms, up to {args.senders} in flight; "
        "latency from each application's scheduled time"
    )
    header = (
        f"{'offered/s':>10} {'achieved/s':>11} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    print(f"{offered:>10.1f} {achieved:>11.1f} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} {longest:>8.1f} {error_count:>7}")
    print(
        f"of which waiting for a free sender (client side): p99 {figures['wait_p99']:.1f} ms, max "
        f"{figures['wait_max']:.1f} ms; from send to answer: p50 {figures['service_p50']:.1f} "
        f"p99 {figures['service_p99']:.1f} ms"
    )
    met = p99 < TARGET_P99_MS
    print(f"open-loop p99 {p99:.1f} ms (target < {TARGET_P99_MS:g}): {'met' if met else 'NOT met'}")
    if server_before is not None and server_after is not None and answered:
        print(f"server CPU (gunicorn): {(server_after - server_before) / answered * 1000:.1f} ms/application")
    print(f"client CPU: {client_cpu / max(answered, 1) * 1000:.1f} ms/application")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if errors:
        print(f"open-loop errors: {json.dumps(errors, sort_keys=True)}")

    record(PART, "open-loop offered rate", offered, "req/s", note=basis)
    record(PART, "open-loop achieved rate", achieved, "req/s", note="201 answers a second")
    record(PART, "open-loop apply p50", p50, "ms", note="from the scheduled send time")
    record(PART, "open-loop apply p95", p95, "ms", note="from the scheduled send time")
    record(
        PART,
        "open-loop apply p99",
        p99,
        "ms",
        target=f"< {TARGET_P99_MS:g} ms",
        met=met,
        note=f"{arrivals} applications at {basis}, from the scheduled send time",
    )
    record(PART, "open-loop errors", error_count, "requests", target="0", met=error_count == 0)
    return 0 if error_count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
