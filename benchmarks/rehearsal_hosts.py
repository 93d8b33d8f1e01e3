"""The rehearsal's machinery: the shared services, the two hosts as an operator starts them, and what RQ recorded.

Every process is started through ``execution.environment.Processes`` (a session of its own, stopped by its pid and its
process group at the end); every wait has a deadline.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from execution.common import ROOT, WORKER_QUEUES, _free_port
from execution.environment import Processes, _wait_for

PYTHON = sys.executable
HOSTS = ("a", "b")


def procfile_line(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError(f"the Procfile has no {name} line")


def environment(*, db: str, work: Path, redis_url: str, simulator_url: str, channel_timeout: float) -> dict[str, str]:
    """What every host is given, as the same env file on each host would be (docs/deploy-systemd.md): production
    settings, plain HTTP on the loopback, the trial's channel simulator."""
    env = {k: v for k, v in os.environ.items() if k not in ("ALIPAY_APP_ID", "WECHAT_MCH_ID", "BENCH_FIGURES")}
    env.update(
        {
            "PATH": f"{Path(PYTHON).parent}:{os.environ.get('PATH', '')}",
            "DJANGO_SETTINGS_MODULE": "mall.settings",
            "DATABASE_URL": f"mysql://root@127.0.0.1:3306/{db}",
            "REDIS_URL": redis_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": f"rehearsal-{secrets.token_hex(24)}",  # the same on every host
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "STORAGE_BACKEND": "local",
            # Several web hosts need one object store for vouchers and photos: one directory stands in for it.
            "MEDIA_ROOT": str(work / "object-store"),
            "STATIC_ROOT": str(work / "image-static"),  # collected once per release, as in the image
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "CHANNEL_SIMULATOR_ENABLED": "1",
            "CHANNEL_SIMULATOR_URL": simulator_url,
            "CHANNEL_SIMULATOR_KEYS_DIR": str(work / "channel-keys"),
            "CHANNEL_TIMEOUT_SECONDS": str(channel_timeout),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def host_environment(common: dict[str, str], work: Path, host: str, port: int, web_workers: int) -> dict[str, str]:
    """One host's own: its work dir, its metrics directory, its port; channel notifications come back to it."""
    home = work / f"host-{host}"
    return {
        **common,
        "MALL_VAR_DIR": str(home / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(home / "prometheus"),
        "PORT": str(port),
        "WEB_CONCURRENCY": str(web_workers),
        "PAYMENTS_NOTIFY_BASE_URL": f"http://127.0.0.1:{port}",
        "SHOP_URL": f"http://127.0.0.1:{port}",
    }


def start_redis(processes: Processes, work: Path) -> str:
    """A private redis-server on a free port (RQ's keys cannot be prefixed; the shared one's databases are taken)."""
    import redis

    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    argv = [str(shutil.which("redis-server")), "--bind", "127.0.0.1", "--port", str(port)]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(work)]
    proc = processes.start("redis", argv, dict(os.environ), work / "redis.log", signal.SIGTERM)
    client = redis.Redis.from_url(url)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    _wait_for("private redis-server", up, 30, [proc])
    return url


def start_simulator(processes: Processes, env: dict[str, str], work: Path) -> None:
    import requests

    url = env["CHANNEL_SIMULATOR_URL"]
    argv = [PYTHON, "manage.py", "channel_simulator", "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]]
    argv += ["--keys-dir", env["CHANNEL_SIMULATOR_KEYS_DIR"]]
    proc = processes.start("simulator", argv, env, work / "simulator.log", signal.SIGINT)

    def up() -> bool:
        try:
            return requests.get(f"{url}/sim/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    _wait_for("channel simulator", up, 60, [proc])


def release(env_a: dict[str, str], env_b: dict[str, str]) -> None:
    """The Procfile's `release` line on host A, then on host B (it finds nothing left to do), and the staff roles."""
    command = shlex.split(procfile_line("release"))
    for env in (env_a, env_b):
        subprocess.run([*command, "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PYTHON, "manage.py", "bootstrap_roles"], cwd=ROOT, env=env_a, check=True, stdout=subprocess.DEVNULL)


def start_host(
    processes: Processes, host: str, env: dict[str, str], work: Path, workers: int
) -> list[subprocess.Popen[bytes]]:
    """The Procfile's `web` line (bound to the loopback) and ``workers`` of its `worker` line, named for the host."""
    web = procfile_line("web").replace("0.0.0.0:", "127.0.0.1:")
    started = [
        processes.start(f"web-{host}", ["bash", "-c", f"exec {web}"], env, work / f"web-{host}.log", signal.SIGTERM)
    ]
    worker = procfile_line("worker")
    for n in range(1, workers + 1):
        name = f"reh-{host}-{n}"
        argv = ["bash", "-c", f"exec {worker} --name {shlex.quote(name)}"]
        started.append(processes.start(name, argv, env, work / f"worker-{host}-{n}.log", signal.SIGTERM))
    return started


def ready(url: str) -> bool:
    import requests

    try:
        return requests.get(f"{url}/readyz", timeout=3).status_code == 200
    except requests.RequestException:
        return False


def workers_registered() -> int:
    import django_rq
    from rq import Worker

    return len(Worker.all(connection=django_rq.get_connection("default")))


def queues_idle() -> bool:
    import django_rq
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    for name in WORKER_QUEUES:
        queue = django_rq.get_queue(name)
        scheduled = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]
        if queue.count or StartedJobRegistry(queue=queue).count or scheduled.count:
            return False
    return True


def jobs_per_group() -> tuple[list[dict[str, int]], int, dict[str, int]]:
    """Finished jobs by function for each host's worker group (from the worker RQ recorded on each job; "all":
    every job), the failed jobs, and RQ's own count of successful jobs per worker."""
    import django_rq
    from rq import Worker
    from rq.job import Job
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    groups: list[Counter[str]] = [Counter() for _ in HOSTS]
    failed = 0
    for name in WORKER_QUEUES:
        queue = django_rq.get_queue(name)
        failed += FailedJobRegistry(queue=queue).count
        ids = FinishedJobRegistry(queue=queue).get_job_ids()
        for start in range(0, len(ids), 500):
            for job in Job.fetch_many(ids[start : start + 500], connection=queue.connection):
                for index, host in enumerate(HOSTS):
                    if job is not None and (job.worker_name or "").startswith(f"reh-{host}-"):
                        groups[index][job.func_name or "?"] += 1
                        groups[index]["all"] += 1
    workers = Worker.all(connection=django_rq.get_connection("default"))
    per_worker = {worker.name: worker.successful_job_count for worker in workers}
    return [dict(group) for group in groups], failed, dict(sorted(per_worker.items()))


def arm_faults(simulator_url: str, orders: int, channel_timeout: float) -> str:
    """The first refund requests to reach the channel are booked but answered after the hosts' channel timeout:
    the channel's notification (to the host whose worker asked) or the retry (on whichever worker RQ hands it to,
    which asks the channel before sending again) settles each, and neither may pay it twice. Some notifications
    are sent twice."""
    from payments.simulator.client import add_fault

    held, repeated = max(2, orders // 100), max(5, orders // 10)
    add_fault(channel="*", kind="timeout", count=held, delay=channel_timeout + 1.5, base_url=simulator_url)
    add_fault(channel="*", kind="duplicate_notify", count=repeated, base_url=simulator_url)
    return f"{held} refund answers held back past the channel timeout, {repeated} notifications sent twice"


def print_logs(work: Path, lines: int = 20) -> None:
    for log in sorted(work.glob("*.log")):
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-lines:]
        if tail:
            print(f"--- last lines of {log.name}", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
