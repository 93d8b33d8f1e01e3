"""``manage.py channel_simulator``: run the Alipay + WeChat Pay gateway simulator for the demo.

The simulator's entry point: it reads the settings and the demo keys the adapters use, and hands them over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from payments.channels.demo_keys import ensure_keys
from payments.simulator.server import ChannelSimulator


class Command(BaseCommand):
    help = "Run the payment channel simulator (Alipay and WeChat Pay gateways, with a refund ledger)."

    def add_arguments(self, parser: CommandParser) -> None:
        default_url = urlsplit(getattr(settings, "CHANNEL_SIMULATOR_URL", "http://127.0.0.1:8765"))
        parser.add_argument("--host", default=default_url.hostname or "127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=default_url.port or 8765, help="port to listen on")
        parser.add_argument("--state", type=Path, help="JSON file that keeps the ledger across restarts")
        parser.add_argument(
            "--keys-dir",
            type=Path,
            default=getattr(settings, "CHANNEL_SIMULATOR_KEYS_DIR", Path(settings.BASE_DIR) / "var" / "channel-keys"),
            help="demo keys, generated on first use (shared with the app's adapters)",
        )
        parser.add_argument("--public-url", help="the URL others reach this simulator at, if not http://host:port")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = ensure_keys(options["keys_dir"])
        simulator = ChannelSimulator(
            keys,
            host=options["host"],
            port=options["port"],
            state_path=options["state"],
            public_url=options["public_url"],
        )
        self.stdout.write(f"Channel simulator listening on {simulator.url} (keys in {keys.directory})")
        try:
            simulator.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Channel simulator stopped")
