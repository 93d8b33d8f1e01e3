"""Run one periodic job once, by hand: ``manage.py run_job <name> [--dry-run]``; ``--list`` names them all.

The jobs are the ones the scheduler runs (``manage.py run_scheduler mall.cron``): each app declares its periodic
jobs in its ``jobs.py``, found here the same way. The job runs in this process, not on a queue.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext as _

from mall.jobs import PERIODIC_JOBS, PeriodicJob


def periodic_jobs() -> dict[str, PeriodicJob]:
    autodiscover_modules("jobs")
    return {job.name: job for job in sorted(PERIODIC_JOBS, key=lambda job: job.name)}


def schedule(job: PeriodicJob) -> str:
    if job.cron:
        return _("cron “%(cron)s” (UTC)") % {"cron": job.cron}
    if job.interval:
        return _("every %(seconds)d s") % {"seconds": job.interval}
    return _("not scheduled")


def supports_dry_run(job: PeriodicJob) -> bool:
    return "dry_run" in inspect.signature(job.func).parameters


def render(result: Any) -> str:
    if result is None:
        return _("done")
    if isinstance(result, list | tuple | set):
        items = list(result)
        return _("%(count)d: %(items)s") % {"count": len(items), "items": ", ".join(str(item) for item in items)}
    if isinstance(result, dict):
        return ", ".join(f"{key}={value}" for key, value in result.items())
    return str(result)


class Command(BaseCommand):
    help = _("Run one periodic job once, now (--list names them; --dry-run changes nothing).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help=_("the job's name, as --list shows it"))
        parser.add_argument("--list", action="store_true", help=_("list the jobs and their schedules"))
        parser.add_argument("--dry-run", action="store_true", help=_("print what the job would do and change nothing"))

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = periodic_jobs()
        if options["list"]:
            for job in jobs.values():
                dry = _("dry run: yes") if supports_dry_run(job) else _("dry run: no")
                self.stdout.write(f"{job.name}\n    {job.description}\n    {schedule(job)}, queue {job.queue}, {dry}")
            return
        name = options["name"]
        if not name:
            raise CommandError(_("Name a job, or use --list."))
        if name not in jobs:
            raise CommandError(_("No job named %(name)s. Jobs: %(names)s") % {"name": name, "names": ", ".join(jobs)})
        job = jobs[name]
        kwargs = dict(job.kwargs)
        if options["dry_run"]:
            if not supports_dry_run(job):
                raise CommandError(_("%(name)s cannot do a dry run; nothing was done.") % {"name": name})
            kwargs["dry_run"] = True
        started = time.monotonic()
        result = job.func(**kwargs)
        self.stdout.write(render(result))
        self.stdout.write(
            _("%(name)s finished in %(seconds).1f s") % {"name": name, "seconds": time.monotonic() - started}
        )
