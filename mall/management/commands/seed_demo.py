import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mall.demo import demo_seed


class Command(BaseCommand):
    help = "Create demo data: products, customers with API tokens, staff in each role, orders in every state."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the created set as one JSON object only.")
        parser.add_argument("--customers", type=int, default=3)

    def handle(self, *args: Any, **options: Any) -> None:
        demo = demo_seed(customers=options["customers"])
        body = {"customers": demo.customers, "staff": demo.staff}
        if options["json"]:
            self.stdout.write(json.dumps(body, ensure_ascii=False))
            return
        self.stdout.write("Demo data created.")
        for staff in demo.staff:
            self.stdout.write(f"  staff    {staff['username']:<20} {staff['password']}  {','.join(staff['groups'])}")
        for customer in demo.customers:
            self.stdout.write(
                f"  customer {customer['username']:<20} {customer['password']}  token {customer['token']}"
            )
