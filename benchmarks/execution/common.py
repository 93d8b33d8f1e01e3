"""What the execution benchmark's modules share: where the project is, the Procfile's worker line, and small helpers
(percentiles, the machine, CPU per process read from /proc)."""

from __future__ import annotations

import math
import os
import platform
import resource
import shlex
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# rqworker's options that take a value (the rest of the Procfile's worker line is flags and queue names).
RQWORKER_VALUE_OPTIONS = frozenset(
    {
        "--worker-class",
        "--queue-class",
        "--job-class",
        "--name",
        "--worker-ttl",
        "--max-jobs",
        "--max-idle-time",
        "--serializer",
        "--pid",
    }
)


def _procfile_worker() -> tuple[list[str], tuple[str, ...]]:
    """The Procfile's `worker` line: rqworker's options, and its queues in the order it serves them."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("worker:"):
            argv = shlex.split(line.split(":", 1)[1])
            rest = argv[argv.index("rqworker") + 1 :]
            options: list[str] = []
            queues: list[str] = []
            while rest:
                token = rest.pop(0)
                if token in RQWORKER_VALUE_OPTIONS:
                    options += [token, rest.pop(0)]
                elif token.startswith("-"):
                    options.append(token)
                else:
                    queues.append(token)
            return options, tuple(queues)
    raise RuntimeError("the Procfile has no worker line")


WORKER_OPTIONS, WORKER_QUEUES = _procfile_worker()
FOLLOW_ON_JOBS = {"payments.jobs.refund_follow_up": "follow-up (notify, voucher PDF, restock)"}
EXECUTE_JOB = "payments.jobs.refund_execute"
TICK = os.sysconf("SC_CLK_TCK")
STALL_SECONDS = 15
CALM_SECONDS = 20


# --- small helpers ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(pct / 100 * len(sorted_values)) - 1))  # nearest rank
    return sorted_values[rank]


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds of ``pid`` and of its children it has reaped (an RQ worker reaps each work horse)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(value) for value in fields[11:15]) / TICK


def _pids_named(*names: str) -> list[int]:
    """Processes by command name (only read, to account MariaDB's and Redis's CPU)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU seconds per component, read from /proc at the moments the phases begin and end."""

    def __init__(self) -> None:
        self.components: dict[str, Callable[[], float]] = {}

    def add(self, name: str, pids: Iterable[int]) -> None:
        pids = list(pids)
        if pids:
            self.components[name] = lambda: sum(_proc_cpu(pid) or 0.0 for pid in pids)

    def add_self(self, name: str) -> None:
        self.components[name] = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])

    def snapshot(self) -> dict[str, float]:
        return {name: read() for name, read in self.components.items()}


def _worker_options(worker_class: str) -> list[str]:
    """The Procfile's rqworker options, with ``--worker-class`` replaced when one is asked for."""
    options = list(WORKER_OPTIONS)
    if worker_class:
        if "--worker-class" in options:
            del options[options.index("--worker-class") : options.index("--worker-class") + 2]
        options[:0] = ["--worker-class", worker_class]
    return options


def _worker_class_name(worker_class: str) -> str:
    options = _worker_options(worker_class)
    return options[options.index("--worker-class") + 1] if "--worker-class" in options else "rq.Worker"


def _worker_kind(worker_class: str) -> str:
    chosen = _worker_class_name(worker_class)
    return f"worker class {chosen}{'' if worker_class else ' as in the Procfile'}"
