from typing import Any

from django.core.management.base import BaseCommand

from mall.roles import roles_bootstrap


class Command(BaseCommand):
    help = "Create the staff role groups (customer_service, cs_supervisor, finance) with their permissions."

    def handle(self, *args: Any, **options: Any) -> None:
        for role, count in roles_bootstrap().items():
            self.stdout.write(f"{role}: {count} permissions")
