"""Refund metrics exposed at /metrics. The alert rules in deploy/prometheus/alerts.yml read these names.

They are recorded in whichever process settles a refund (an RQ worker running the execution job, ``web`` taking
the channel's notification) and reach Prometheus through the host's metrics directory (mall/metrics_dir.py).
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

from refunds.models import Refund, RefundDestination, RefundState

REFUND_PROCESS_DURATION = Histogram(
    "refund_process_duration_seconds",
    "Time from a refund becoming payable (entering refunding) to the channel's final answer (success or failure),"
    " by channel: waiting in the job queue, retries and a late notification included.",
    ["channel"],
    buckets=(0.1, 0.5, 1, 2, 5),
)
REFUND_OUTCOMES = Counter(
    "refund_outcomes",
    "Refunds the channel finally answered, by outcome (success, failed) and channel; failure rate = failed / all.",
    ["channel", "outcome"],
)
CHANNEL_CALLS = Counter(
    "refund_channel_calls",
    "Calls to a payment channel by operation and result.",
    ["channel", "operation", "result"],
)

_OUTCOMES = {RefundState.REFUNDED: "success", RefundState.FAILED: "failed"}


def refund_left_refunding(sender: Any, instance: Any, source: Any, target: Any, **kwargs: Any) -> None:
    """Count the channel's final answer where the state machine applies it, whoever brought it (the execution
    job, a query, a notification): it leaves `refunding` once, under the refund's lock, so a repeated or late
    answer that changes nothing is never counted. Counted once the transaction commits: a transaction rolled
    back (and retried) counts nothing."""
    if not isinstance(instance, Refund) or source != RefundState.REFUNDING or target not in _OUTCOMES:
        return
    outcome, payable_since = _OUTCOMES[target], instance.state_changed_at
    # Store credit is paid by the shop itself: counted apart, so that the channels' failure rate stays theirs.
    channel = instance.channel if instance.destination == RefundDestination.ORIGINAL else instance.destination

    def record() -> None:
        REFUND_OUTCOMES.labels(channel, outcome).inc()
        if payable_since is not None:
            REFUND_PROCESS_DURATION.labels(channel).observe(max((timezone.now() - payable_since).total_seconds(), 0))

    if connection.in_atomic_block:
        transaction.on_commit(record, robust=True)
    else:  # a transition outside any transaction has nothing to roll it back
        record()
