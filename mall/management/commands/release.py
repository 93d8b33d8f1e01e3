"""The Procfile's ``release:`` line: prepare a release before its processes start.

Applies the migrations and collects the static files (whitenoise serves them with hashed names and needs their
manifest once debug is off). Safe to run again: a step with nothing to do changes nothing, so running it on every
start of a systemd unit or twice in a row costs a few seconds and never touches the files a running web serves.

``honcho start`` has no release phase: it starts the ``release:`` line beside every other line and stops them all
as soon as one ends. There (honcho names each process in ``HONCHO_PROCESS_NAME``) the command stays up once it is
done, so that the others keep running; if the release had not been run before, the processes already started did
not see it (the web lists the static files once, when it starts), so it runs the release and then ends with an
error that says to start again.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from django.contrib.staticfiles.management.commands.collectstatic import Command as CollectStatic
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


class Command(BaseCommand):
    help = "Apply the migrations and collect the static files, once before the processes of a release start."

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        under_honcho = bool(os.environ.get("HONCHO_PROCESS_NAME"))
        pending = self.pending()
        if pending:
            if "migrations" in pending:
                call_command("migrate", interactive=False, verbosity=verbosity)
            if "static files" in pending:
                call_command("collectstatic", interactive=False, verbosity=verbosity)
        elif verbosity:
            self.stdout.write("Release: migrations applied and static files collected already; nothing to do.")
        if not under_honcho:
            return
        if pending:
            raise CommandError(
                f"honcho start ran the release line beside the processes it started ({' and '.join(pending)} "
                "were not ready): it is done now, start again. In production run the release line first: "
                "honcho run python manage.py release"
            )
        self.stay_up()

    def pending(self) -> list[str]:
        """What this release still has to do: "migrations", "static files" (in that order), or nothing."""
        pending = []
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            pending.append("migrations")
        if self.static_files_pending():
            pending.append("static files")
        return pending

    def static_files_pending(self) -> bool:
        manifest_missing = isinstance(staticfiles_storage, ManifestFilesMixin) and not staticfiles_storage.exists(
            staticfiles_storage.manifest_name
        )
        if manifest_missing:
            return True
        # collectstatic's own comparison of every source with its copy, as a dry run: nothing is written.
        collector = CollectStatic()
        dry_run = collector.create_parser("manage.py", "collectstatic").parse_args(["--dry-run", "--no-input"])
        collector.set_options(**{**vars(dry_run), "verbosity": 0})
        return bool(collector.collect()["modified"])

    def stay_up(self) -> None:
        self.stdout.write("Release: done; staying up beside the other processes until honcho stops them.")
        self.stdout.flush()
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
