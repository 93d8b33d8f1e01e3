"""The phases: refunds created (all in one commit, or offered at a rate by feeder threads), no-op jobs for RQ alone,
and what each phase's refunds show afterwards (latencies from their events, outcomes, RQ's job durations)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from execution.common import STALL_SECONDS, WORKER_QUEUES, _percentile

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
    # A burst's refunds are all there at the commit: its rate counts from then. A paced phase's rate is taken as
    # its offered rate is, over the span in which the refunds came out (first to last `refunded`): counting from
    # the first offer instead adds one latency to the span, and a phase that keeps up exactly with 0.6 s of
    # latency would read 94/s at 100/s offered. One that falls behind still reads less: its last refunds come late.
    first = result["start"] if from_commit else min((t["refunded"] for t in refunded), default=result["start"])
    span = last - first
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
