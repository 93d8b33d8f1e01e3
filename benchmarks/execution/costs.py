"""What one refund costs, counted in this process rather than inferred from the workers' CPU: the SQL statements of
its creation, its execution (the channel call and its answer applied) and its follow-up (voucher, message,
restock), with the wall and CPU time of each; and the Redis commands RQ sends, read from the private Redis's own
``INFO commandstats`` around a phase.

The jobs a refund sets off are held back while it is measured (``mall.jobs._hand_over`` replaced for the moment),
and the measurement runs the execution and the follow-up itself, one after the other, as a worker would.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis

from execution.rq_cost import _commandstats


@dataclass
class Step:
    statements: list[int] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def median(self) -> dict[str, float]:
        return {
            "statements": statistics.median(self.statements) if self.statements else float("nan"),
            "wall_ms": statistics.median(self.wall_ms) if self.wall_ms else float("nan"),
            "cpu_ms": statistics.median(self.cpu_ms) if self.cpu_ms else float("nan"),
        }


@contextmanager
def _held_jobs() -> Iterator[list[Any]]:
    """The jobs committed meanwhile are kept here instead of going to RQ."""
    from mall import jobs

    held: list[Any] = []
    real = jobs._hand_over
    jobs._hand_over = held.extend  # type: ignore[assignment]
    try:
        yield held
    finally:
        jobs._hand_over = real


def _measured(step: Step, call: Callable[[], Any]) -> Any:
    from django.db import connection

    count = [0]

    def counting(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        count[0] += 1
        return execute(sql, params, many, context)

    wall, cpu = time.perf_counter(), time.thread_time()
    with connection.execute_wrapper(counting):
        outcome = call()
    step.cpu_ms.append(1000 * (time.thread_time() - cpu))
    step.wall_ms.append(1000 * (time.perf_counter() - wall))
    step.statements.append(count[0])
    return outcome


def per_refund(orders: list[Any]) -> dict[str, dict[str, float]]:
    """Creation, execution and follow-up of one refund per order, each measured alone; medians."""
    from execution.phases import _create_refund
    from payments import jobs as payment_jobs

    steps = {"creation": Step(), "execution": Step(), "follow-up": Step()}
    with _held_jobs():
        for order in orders:
            refund_id = _measured(steps["creation"], functools.partial(_create_refund, order))
            outcome = _measured(steps["execution"], functools.partial(payment_jobs.refund_execute, refund_id))
            if outcome != "refunded":
                raise RuntimeError(f"refund {refund_id}: execution answered {outcome!r}")
            _measured(steps["follow-up"], functools.partial(payment_jobs.refund_follow_up, refund_id))
    return {name: step.median() for name, step in steps.items()}


class RedisCommands:
    """Commands the private Redis processed, by command, between two readings (its own counters)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def reading(self) -> Any:
        return _commandstats(self.client)

    def since(self, before: Any) -> int:
        spent = self.reading() - before
        spent["info"] -= 1  # this reading
        return sum(value for value in spent.values() if value > 0)
