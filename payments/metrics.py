"""Refund metrics exposed at /metrics. The alert rules in deploy/prometheus/alerts.yml read these names."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REFUND_PROCESS_DURATION = Histogram(
    "refund_process_duration_seconds",
    "Time of one refund execution against its channel, from the job's start to the channel's answer.",
    ["channel"],
    buckets=(0.1, 0.5, 1, 2, 5),
)
REFUND_OUTCOMES = Counter(
    "refund_outcomes",
    "Refund executions by final outcome (success, failed) and channel; failure rate = failed / all.",
    ["channel", "outcome"],
)
CHANNEL_CALLS = Counter(
    "refund_channel_calls",
    "Calls to a payment channel by operation and result.",
    ["channel", "operation", "result"],
)
