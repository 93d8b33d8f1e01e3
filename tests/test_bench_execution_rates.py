"""How the execution benchmark reads a phase's rate: a burst from its commit, a paced phase over the span its
refunds came out in (as its offered rate is taken over the span they went in), so that a phase keeping up with
its offers reads its offered rate whatever its latency, and one falling behind reads less."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from execution import phases


def figures(monkeypatch: pytest.MonkeyPatch, refunded_at: list[float], *, from_commit: bool) -> dict[str, Any]:
    times = {n: {"approved": n / 100, "refunded": at} for n, at in enumerate(refunded_at)}
    monkeypatch.setattr(phases, "_timeline", lambda ids: times)
    monkeypatch.setattr(phases, "_outcomes", lambda ids: {"refunded": len(ids)})
    result = {"refund_ids": list(times), "start": 0.0, "drained": None, "dropped": 0}
    return phases._phase_figures(result, from_commit=from_commit)


def test_a_paced_phase_that_keeps_up_reads_its_offered_rate_whatever_its_latency(monkeypatch: Any) -> None:
    # 1,000 refunds offered at 100/s, each refunded 0.6 s after its approval.
    got = figures(monkeypatch, [n / 100 + 0.6 for n in range(1000)], from_commit=False)
    assert round(got["throughput"], 2) == round(1000 / 9.99, 2)  # 100.1/s, as offered/s reads the same offers
    assert (round(got["p95"], 6), got["refunded"]) == (0.6, 1000)


def test_a_paced_phase_that_falls_behind_reads_less(monkeypatch: Any) -> None:
    # Refunded at 80/s from the first one on: latency grows from 0.1 s to 2.6 s.
    got = figures(monkeypatch, [0.1 + n / 80 for n in range(1000)], from_commit=False)
    assert round(got["throughput"], 2) == round(1000 / (999 / 80), 2)  # 80.08/s
    assert round(got["max"], 4) == round(0.1 + 999 / 80 - 9.99, 4)


def test_a_burst_counts_from_its_commit(monkeypatch: Any) -> None:
    got = figures(monkeypatch, [2.0 + n / 200 for n in range(1000)], from_commit=True)
    assert round(got["throughput"], 2) == round(1000 / (2.0 + 999 / 200), 2)
