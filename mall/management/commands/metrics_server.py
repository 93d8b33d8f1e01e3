"""``manage.py metrics_server``: serve the host's Prometheus metrics where no ``web`` process serves them.

A host that runs only workers (or only the scheduler) has nobody to answer Prometheus: this process sums what
every process of the host recorded in the host's metrics directory (``mall/metrics_dir.py``) and serves it at
``/metrics``, the same aggregate ``web``'s ``/metrics`` gives on a host that has ``web``. It records nothing
itself, so it never appears in the sums.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.core.management.base import BaseCommand, CommandError, CommandParser
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector

from mall.metrics_dir import ENV

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape every 15 s is noise


def metrics_app(registry: CollectorRegistry) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    exposition = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return exposition(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: metrics are at /metrics\n"]

    return app


class Command(BaseCommand):
    help = "Serve the Prometheus metrics of every process of this host at /metrics (for hosts without web)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=9101, help="port to listen on (default 9101)")
        # Prometheus scrapes it from another host or container; block the port at the host's edge.
        parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")  # noqa: S104

    def handle(self, *args: Any, **options: Any) -> None:
        path = os.environ.get(ENV)
        if not path:
            raise CommandError(f"{ENV} is not set: run this through manage.py")
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        server = make_server(
            options["host"], options["port"], metrics_app(registry), ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.stdout.write(f"Metrics of this host ({path}) at http://{options['host']}:{server.server_port}/metrics")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
