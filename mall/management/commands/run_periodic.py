"""Run the periodic jobs in this process when they fall due (``Procfile.dev``'s ``scheduler``, no Redis needed).

Production runs RQ's cron scheduler instead (``manage.py run_scheduler mall.cron``), which hands the jobs to
workers; see ``mall.periodic``. ``--once`` runs what is due at start (the interval jobs) and returns.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections
from django.utils import timezone

from mall.management.commands.run_job import periodic_jobs
from mall.periodic import PeriodicRunner

# Wakes at least this often, so a job is at most this late after the machine slept or its clock was set.
MAX_SLEEP_SECONDS = 30.0


class Command(BaseCommand):
    help = "Run the periodic jobs (mall.jobs.PERIODIC_JOBS) in this process when they fall due; no Redis needed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run the jobs due at start, then return")

    def handle(self, *args: Any, **options: Any) -> None:
        runner = PeriodicRunner(periodic_jobs().values(), now=timezone.now())
        while True:
            ran = runner.run_due(now=timezone.now())
            if ran:
                self.stdout.write(", ".join(ran))
            if options["once"]:
                return
            try:
                time.sleep(min(MAX_SLEEP_SECONDS, runner.seconds_to_next(now=timezone.now())))
            except KeyboardInterrupt:
                return
            # A long-lived process: a connection the database dropped while it slept is replaced, not reused.
            close_old_connections()
