"""``manage.py carrier_simulator``: run the carrier interception simulator for the demo."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from logistics.simulator.server import OUTCOMES, CarrierSimulator


class Command(BaseCommand):
    help = "Run the carrier simulator (interception requests, signed notifications, delivered events)."

    def add_arguments(self, parser: CommandParser) -> None:
        default_url = urlsplit(settings.CARRIER_SIMULATOR_URL)
        parser.add_argument("--host", default=default_url.hostname or "127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=default_url.port or 8766, help="port to listen on")
        parser.add_argument("--delay", type=float, default=5.0, help="seconds before an interception is decided")
        parser.add_argument(
            "--default-outcome", choices=OUTCOMES, default="succeeded", help="answer when none was set per parcel"
        )
        parser.add_argument("--public-url", help="the URL others reach this simulator at, if not http://host:port")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CARRIER_NOTIFY_SECRET:
            # Named in the Procfile next to the app: stay up doing nothing, so that a Procfile runner does not
            # stop the other processes where a real carrier is configured instead.
            self.stderr.write("CARRIER_NOTIFY_SECRET is not set: the carrier simulator does not serve")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                return
        simulator = CarrierSimulator(
            settings.CARRIER_NOTIFY_SECRET,
            host=options["host"],
            port=options["port"],
            public_url=options["public_url"],
            delay=options["delay"],
            default_outcome=options["default_outcome"],
        )
        self.stdout.write(f"Carrier simulator listening on {simulator.url}")
        try:
            simulator.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Carrier simulator stopped")
