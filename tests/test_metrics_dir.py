"""The host's metrics directory (mall/metrics_dir.py): emptied when a run starts, kept while a process of the
host lives, so that a restarted worker never throws away what the others counted."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JOIN = "from mall.metrics_dir import use_host_directory; print(use_host_directory(), flush=True)"
HOLD = JOIN + "; import sys; sys.stdin.read()"  # lives until its stdin closes


def _env(directory: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    return {**env, "PROMETHEUS_MULTIPROC_DIR": str(directory), **extra}


def _start_once(directory: Path) -> None:
    subprocess.run([sys.executable, "-c", JOIN], cwd=ROOT, env=_env(directory), check=True, capture_output=True)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process of the host that is running (as web or a worker would be)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD],
        cwd=ROOT,
        env=_env(tmp_path / "metrics"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == str((tmp_path / "metrics").resolve())
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def test_files_of_an_earlier_run_are_removed_when_a_run_starts(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_4242.db").write_bytes(b"\0" * 8)
    (directory / "histogram_4243.db").write_bytes(b"\0" * 8)
    _start_once(directory)
    assert sorted(path.name for path in directory.iterdir()) == [".lock", ".running"]


def test_a_process_starting_beside_a_running_one_keeps_the_host_counts(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    directory = tmp_path / "metrics"
    counted = directory / "counter_4242.db"  # what a worker that has since restarted counted in this run
    counted.write_bytes(b"\0" * 8)
    _start_once(directory)
    assert counted.exists()
    # Killed without a chance to clean up: the kernel drops its lock, and the next start begins a new run.
    holder.kill()
    holder.wait(timeout=10)
    _start_once(directory)
    assert not counted.exists()


def test_manage_py_defaults_to_the_var_directory(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {"MALL_VAR_DIR": str(tmp_path), "DJANGO_DEBUG": "1", "DATABASE_URL": "", "REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "import os; print(os.environ['PROMETHEUS_MULTIPROC_DIR'])"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == str((tmp_path / "prometheus").resolve())
    assert (tmp_path / "prometheus" / ".running").exists()
