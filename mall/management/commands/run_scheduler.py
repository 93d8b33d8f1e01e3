"""Run the periodic jobs of a cron module (the Procfile's ``scheduler``: ``manage.py run_scheduler mall.cron``).

RQ's cron scheduler, as ``manage.py rqcron`` runs it, that rides out a Redis outage instead of exiting
(``mall.scheduler``). Run exactly one.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mall.scheduler import CronScheduler


class Command(BaseCommand):
    help = "Enqueue the periodic jobs of a cron module (mall.cron) when they fall due; waits out Redis outages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("config_path", help="the cron module, e.g. mall.cron")
        parser.add_argument(
            "--logging-level", "-l", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], default="INFO"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scheduler = CronScheduler(logging_level=getattr(logging, options["logging_level"]))
        scheduler.load_config_from_file(options["config_path"])
        scheduler.start()  # type: ignore[no-untyped-call]  # until SIGTERM or SIGINT
