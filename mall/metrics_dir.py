"""The host's directory of Prometheus metrics, shared by every process of the Procfile on that host.

prometheus_client's multiprocess mode: each process writes what it records to files of its own in
``PROMETHEUS_MULTIPROC_DIR``, and ``/metrics`` (``web``, or ``manage.py metrics_server`` on a host without
``web``) sums the files of every process. The client chooses the mode when it is first imported, so
``manage.py``, ``mall/wsgi.py`` and ``deploy/gunicorn.conf.py`` call ``use_host_directory`` before anything
imports it. Nothing here imports Django or prometheus_client at module level.

By default the directory is ``<MALL_VAR_DIR>/prometheus`` (``var/prometheus`` in a checkout): processes started
from one checkout, or from one image with one ``var`` volume, share it with nothing set.

Files left by an earlier run must not be summed into the new one, yet a process that (re)starts while others of
the host keep running must not throw their counts away. Every process holds a shared ``flock`` on
``.running`` for as long as it lives (the kernel drops it when the process dies, even by SIGKILL, and a forked
child such as a gunicorn worker shares it). A starting process that can take that lock exclusively knows that no
process of the host is alive: it empties the directory, then joins. ``.lock`` serialises the starts, so when
every process starts at once (``honcho start``) exactly one of them empties it, before any of them records.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

ENV = "PROMETHEUS_MULTIPROC_DIR"
_running: dict[str, IO[bytes]] = {}  # directory -> the open file whose shared lock says "this process is alive"


def default_directory() -> Path:
    var_dir = os.environ.get("MALL_VAR_DIR") or Path(__file__).resolve().parent.parent / "var"
    return Path(var_dir) / "prometheus"


def use_host_directory() -> Path:
    """Point prometheus_client at the host's directory (``PROMETHEUS_MULTIPROC_DIR`` or the default), empty it
    if no process of the host is running, and mark this process as running. Safe to call more than once."""
    path = Path(os.environ.get(ENV) or default_directory()).resolve()
    os.environ[ENV] = str(path)  # before prometheus_client's import; inherited by every child process
    if str(path) in _running:
        return path
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "ab") as mutex:
        fcntl.flock(mutex, fcntl.LOCK_EX)
        running = open(path / ".running", "ab")  # noqa: SIM115 - held open (and locked) for the process's life
        try:
            fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another process of this host is alive: join its run
        else:
            for stale in path.glob("*.db"):
                stale.unlink(missing_ok=True)
        # Only starting processes ever hold it exclusively, and only under the mutex: this never waits.
        fcntl.flock(running, fcntl.LOCK_SH)
        _running[str(path)] = running
    return path


def mark_process_dead(pid: int) -> None:
    """Drop the live gauges of a process that ended (prometheus_client keeps its counters and histograms)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
