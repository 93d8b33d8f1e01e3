"""Reconcile one channel's statement of one business day by hand:
``manage.py reconcile --channel wechat --day 2026-03-09 [--force]``."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from mall.exceptions import BusinessError
from mall.models import Channel
from payments.channels import ChannelError
from reconciliation import services


class Command(BaseCommand):
    help = _("Reconcile a channel's statement of one business day (Asia/Shanghai) with our refunds.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--channel", required=True, choices=Channel.values)
        parser.add_argument("--day", required=True, help=_("the business day, YYYY-MM-DD"))
        parser.add_argument(
            "--force", action="store_true", help=_("replace the results of a day that was reconciled already")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            day = date.fromisoformat(options["day"])
        except ValueError as exc:
            raise CommandError(_("--day must be a date, YYYY-MM-DD.")) from exc
        try:
            run = services.reconciliation_run(channel=options["channel"], day=day, force=options["force"])
        except BusinessError as exc:
            raise CommandError(str(exc.message)) from exc
        except ChannelError as exc:
            raise CommandError(_("The channel's statement could not be read: %(error)s") % {"error": exc}) from exc
        self.stdout.write(
            _("%(run)s: %(lines)d lines, %(matched)d matched, %(discrepancies)d discrepancies")
            % {
                "run": run,
                "lines": run.statement_lines,
                "matched": run.matched_count,
                "discrepancies": run.discrepancy_count,
            }
        )
