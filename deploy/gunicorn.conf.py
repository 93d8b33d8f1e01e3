"""gunicorn settings. Prometheus multiprocess mode: the master points every worker at the host's metrics
directory before any of them imports prometheus_client (mall/metrics_dir.py), and marks dead workers so their
live gauges are dropped."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mall.metrics_dir import mark_process_dead, use_host_directory

use_host_directory()  # first: nothing the master imports may load prometheus_client before it

from mall.logging import gunicorn_logconfig  # noqa: E402

# The application writes each request's one line, with its request id (mall.logging.RequestLogMiddleware);
# gunicorn's own lines (start, workers) go out in the same format.
accesslog = None
logconfig_dict = gunicorn_logconfig(
    json=os.environ.get("LOG_FORMAT", "json") != "console", level=os.environ.get("LOG_LEVEL", "INFO")
)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20


def child_exit(server, worker):
    mark_process_dead(worker.pid)
