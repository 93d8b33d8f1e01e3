import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mall.demo import DemoSet, demo_seed, demo_standing
from mall.demo.gateway import DemoRefused
from mall.demo.work import WorkWaiting, work_waiting


class Command(BaseCommand):
    help = (
        "Demo data: products, customers with API tokens, staff in each role, orders in every state, and work waiting "
        "for each role, paid and refunded through the channel simulator. Without --json: the standing demo, made "
        "once (later runs print the same logins). With --json: a fresh set each run, printed as one JSON object."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Add a fresh set and print it as one JSON object only.")
        parser.add_argument("--customers", type=int, default=3, choices=range(1, 7), metavar="1..6")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            demo = (
                demo_seed(customers=options["customers"])
                if options["json"]
                else demo_standing(customers=options["customers"])
            )
        except DemoRefused as refused:
            raise CommandError(str(refused)) from refused
        if options["json"]:
            self.stdout.write(json.dumps({"customers": demo.customers, "staff": demo.staff}, ensure_ascii=False))
            return
        self._print_logins(demo)
        self._print_work(work_waiting())

    def _print_logins(self, demo: DemoSet) -> None:
        port = os.environ.get("PORT", "8000")
        made = "Demo data created." if demo.made else "Demo data already here: nothing added."
        self.stdout.write(
            f"{made} The same logins on every run with this data, unless changed in the console "
            "(--json adds a fresh set)."
        )
        self.stdout.write(f"Staff console http://127.0.0.1:{port}/admin/")
        for staff in demo.staff:
            self.stdout.write(f"  staff    {staff['username']:<12} {staff['password']:<20} {','.join(staff['groups'])}")
        self.stdout.write(f"Customers: the API at http://127.0.0.1:{port}/api/v1/ (docs at /api/docs/)")
        for customer in demo.customers:
            self.stdout.write(
                f"  customer {customer['username']:<12} {customer['password']:<20} token {customer['token']}"
            )

    def _print_work(self, waiting: WorkWaiting) -> None:
        reconciled = f", last reconciled day {waiting.reconciled_day:%Y-%m-%d}" if waiting.reconciled_day else ""
        self.stdout.write(
            f"Waiting: refunds to review {waiting.to_review} (above the cap, for a supervisor: "
            f"{waiting.above_the_cap}; overdue: {waiting.overdue}), open disputes {waiting.open_disputes}, "
            f"returns to inspect {waiting.to_inspect}, open reconciliation discrepancies "
            f"{waiting.open_discrepancies}{reconciled}."
        )
