"""The process that enqueues the periodic jobs (``manage.py run_scheduler mall.cron``; run exactly one).

It is RQ's cron scheduler as django-rq configures it (``rqcron``), made to outlive a Redis outage: RQ's own loop
ends the process on the first Redis error (and under a Procfile runner every other process with it). Here each step
that talks to Redis (registration, enqueueing what is due, heartbeat) is retried with a capped backoff
(``mall.outage.Backoff``: 0.5 s doubling to 10 s), with one warning when the outage starts and one line when it
ends. A job that fell due during the outage is enqueued once Redis answers again.
"""

from __future__ import annotations

import logging
from typing import Any

from django_rq.cron import DjangoCronScheduler

from mall.outage import REDIS_DOWN, Backoff, ride_out

logger = logging.getLogger(__name__)


class CronScheduler(DjangoCronScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redis_backoff = Backoff("Redis (scheduler)")

    def register_birth(self) -> None:
        ride_out(super().register_birth, self._redis_backoff)

    def enqueue_jobs(self) -> list[Any]:
        # A job is marked as enqueued only once Redis took it, so a retry enqueues just the ones still due.
        return ride_out(super().enqueue_jobs, self._redis_backoff)

    def heartbeat(self) -> None:
        ride_out(super().heartbeat, self._redis_backoff)

    def save(self, pipeline: Any = None) -> None:
        if pipeline is not None:  # queued on a pipeline: no round trip here
            super().save(pipeline)
            return
        ride_out(super().save, self._redis_backoff)

    def register_death(self, pipeline: Any = None) -> None:
        try:
            super().register_death(pipeline)
        except REDIS_DOWN as error:
            # Stopping during an outage: the registry forgets a scheduler whose heartbeat stopped by itself.
            logger.warning("scheduler %s stopped while Redis was unreachable (%s)", self.name, type(error).__name__)
