"""What RQ's bookkeeping costs per job, counted rather than timed: Redis commands (the server's own
``INFO commandstats``) and round trips (a counting connection class on the worker's side) per job, for a
worker class running jobs that do nothing.

The worker runs in this process in burst mode, twice (``small`` and ``large`` jobs); the difference between the
two runs divided by the difference in jobs is the cost of one more job, without the worker's start and end.
"""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis
from redis.connection import Connection

NOOP_JOB = "django.utils.timezone.now"  # a job with no work of ours


class CountingConnection(Connection):
    """A connection that counts what it sends: one round trip per command or pipeline."""

    round_trips = 0

    _connecting = False

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        self._connecting = True  # the handshake of a new connection (HELLO, SELECT...) is not the work counted
        try:
            super().connect_check_health(*args, **kwargs)
        finally:
            self._connecting = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._connecting:
            type(self).round_trips += 1
        super().send_packed_command(command, check_health)


@dataclass(frozen=True)
class PerJob:
    commands: float
    round_trips: float
    by_command: dict[str, float]

    def top(self, count: int = 8) -> str:
        ranked = sorted(self.by_command.items(), key=lambda item: -item[1])[:count]
        return ", ".join(f"{name} {value:g}" for name, value in ranked if value)


def _commandstats(client: redis.Redis) -> Counter[str]:
    stats = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()})


def _run(worker_class: type, redis_url: str, jobs: int) -> tuple[Counter[str], int]:
    from rq import Queue

    from mall.jobs import DEFAULT_RETRY_INTERVALS, _retry

    plain = redis.Redis.from_url(redis_url)
    queue_name = f"rq-cost-{uuid.uuid4().hex[:8]}"
    feeder = Queue(queue_name, connection=plain)
    retry = _retry(DEFAULT_RETRY_INTERVALS)
    if jobs:
        feeder.enqueue_many([Queue.prepare_data(NOOP_JOB, (), retry=retry) for _ in range(jobs)])
    counting = redis.Redis(
        connection_pool=redis.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    )
    before, trips = _commandstats(plain), CountingConnection.round_trips
    # Two queues, as the Procfile's worker serves several: RQ then dequeues with LPOP/BLPOP, not LMOVE.
    queues = [Queue(name, connection=counting) for name in (queue_name, f"{queue_name}-idle")]
    worker = worker_class(queues, connection=counting)
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=True)
    finally:  # RQ installed its own for the worker's life; this process keeps its own
        for number, handler in handlers.items():
            signal.signal(number, handler)
    after, trips_after = _commandstats(plain), CountingConnection.round_trips
    spent = after - before
    spent["info"] -= 1  # our own second INFO
    counting.close()
    plain.close()
    return spent, trips_after - trips


def per_job(worker_class: type, redis_url: str, small: int = 10, large: int = 110) -> PerJob:
    """Commands and round trips one more job costs ``worker_class`` (its start and end cancel out)."""
    low_commands, low_trips = _run(worker_class, redis_url, small)
    high_commands, high_trips = _run(worker_class, redis_url, large)
    jobs = large - small
    names = set(low_commands) | set(high_commands)
    by_command = {name: (high_commands[name] - low_commands[name]) / jobs for name in sorted(names)}
    return PerJob(commands=sum(by_command.values()), round_trips=(high_trips - low_trips) / jobs, by_command=by_command)
