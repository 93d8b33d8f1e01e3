"""Deployment: production settings pass Django's deploy checks, a process started with nothing set serves no debug
pages, the Procfile's release line prepares a release (and `honcho start` survives it), the compose stack and the
systemd units run the Procfile's processes configured only by environment, with no secret written into the
repository, and the nginx site in front of them parses and hands on the client's scheme and address."""

from __future__ import annotations

import contextlib
import datetime
import http.client
import http.server
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
APP_SERVICES = ("web", "worker", "scheduler")
REQUIRED_INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*):\?[^}]*\}$")
OPTIONAL_INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*):-\}$")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|ACCESS_KEY|ROOT_USER")


# What the browser tests set for their whole session (Playwright keeps an event loop in the test thread): never part
# of a deployment's environment.
TEST_ONLY = {"DJANGO_ALLOW_ASYNC_UNSAFE"}


def run_manage(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {key: value for key, value in os.environ.items() if key not in TEST_ONLY}
    full_env = {**inherited, "MALL_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PUBLIC_ADDRESSES = {
    "SHOP_URL": "https://mall.example.com",
    "PAYMENTS_NOTIFY_BASE_URL": "https://mall.example.com",
    "LOGISTICS_NOTIFY_BASE_URL": "https://mall.example.com",
}


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    result = run_manage(
        tmp_path,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="mall.example.com",
        **PUBLIC_ADDRESSES,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_names_addresses_only_this_host_can_open(tmp_path: Path) -> None:
    # Said, not refused (a trial on one machine keeps the defaults): the deploy check still passes.
    base = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "mall.example.com"}
    result = run_manage(
        tmp_path,
        **base,
        **{**PUBLIC_ADDRESSES, "SHOP_URL": "", "LOGISTICS_NOTIFY_BASE_URL": ""},
        CHANNEL_SIMULATOR_ENABLED="0",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "mall.I002" in output
    assert "SHOP_URL is http://127.0.0.1:8000: the links in customers' emails would open this host only." in output
    assert "LOGISTICS_NOTIFY_BASE_URL is http://127.0.0.1:8000: the payment channels and the carrier" in output
    assert "PAYMENTS_NOTIFY_BASE_URL is" not in output
    # With the bundled channel simulator (a trial on one machine) its notifications come from this host itself.
    trial = run_manage(
        tmp_path, **base, **{**PUBLIC_ADDRESSES, "PAYMENTS_NOTIFY_BASE_URL": ""}, CHANNEL_SIMULATOR_ENABLED="1"
    )
    assert "mall.I003" not in trial.stdout + trial.stderr


def test_check_deploy_fails_on_development_settings(tmp_path: Path) -> None:
    # The same command must be able to fail: debug mode with the development key is not deployable.
    result = run_manage(tmp_path, DJANGO_DEBUG="1", DJANGO_SECRET_KEY="", ALLOWED_HOSTS="mall.example.com")
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on
    assert "security.W009" in result.stderr  # weak SECRET_KEY


def test_check_deploy_refuses_a_generated_secret_key(tmp_path: Path) -> None:
    # The application runs on a key generated for this host, but a deployment must set one key for every host.
    result = run_manage(tmp_path, DJANGO_DEBUG="0", DJANGO_SECRET_KEY="", ALLOWED_HOSTS="mall.example.com")
    assert result.returncode != 0
    assert "mall.W001" in result.stderr
    assert f"DJANGO_SECRET_KEY is not set: this host signs with the key generated into {tmp_path / 'secret-key'}" in (
        result.stderr
    )
    assert "security.W009" not in result.stderr  # the generated key itself is strong


# --- the settings' defaults, each read by a process of its own with exactly the environment given ------------------

# Everything these tests decide on; whatever the test run itself was given is taken away.
DEFAULTS_INPUTS = (
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "CHANNEL_SIMULATOR_ENABLED",
    "CARRIER_NOTIFY_SECRET",
    "EMAIL_BACKEND",
    "SECURE_SSL_REDIRECT",
    "STATIC_ROOT",
    "PROMETHEUS_MULTIPROC_DIR",
)
SHOWN = (
    "DEBUG",
    "SECRET_KEY",
    "CHANNEL_SIMULATOR_ENABLED",
    "CARRIER_NOTIFY_SECRET",
    "EMAIL_BACKEND",
    "SECURE_SSL_REDIRECT",
    "STORAGES",
)
SHOW_SETTINGS = (
    "import json; from django.conf import settings; "
    f"print(json.dumps({{name: getattr(settings, name, None) for name in {SHOWN!r}}}))"
)


def clean_environment(tmp_path: Path, **env: str) -> dict[str, str]:
    kept = {key: value for key, value in os.environ.items() if key not in DEFAULTS_INPUTS and key not in TEST_ONLY}
    return {**kept, "DJANGO_SETTINGS_MODULE": "mall.settings", "MALL_VAR_DIR": str(tmp_path), **env}


def settings_with(tmp_path: Path, **env: str) -> tuple[dict[str, Any], str]:
    result = subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS],
        cwd=ROOT,
        env=clean_environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


MANIFEST_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
MYSQL_URL = "mysql://mall:secret@db.example.com:3306/mall"  # read, never connected to


def test_nothing_set_runs_the_embedded_defaults_without_debug(tmp_path: Path) -> None:
    shown, _ = settings_with(tmp_path)
    assert shown["DEBUG"] is False
    assert shown["SECURE_SSL_REDIRECT"] is True
    assert shown["STORAGES"]["staticfiles"]["BACKEND"] == MANIFEST_STORAGE
    # The embedded database means a trial: the simulators, their development secret and mail to the console.
    assert shown["CHANNEL_SIMULATOR_ENABLED"] is True
    assert shown["CARRIER_NOTIFY_SECRET"] == "dev-carrier-secret-only-for-local-debug"
    assert shown["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_a_configured_database_without_debug_is_production(tmp_path: Path) -> None:
    shown, _ = settings_with(tmp_path, DATABASE_URL=MYSQL_URL, DJANGO_SECRET_KEY="k" * 60)
    assert shown["DEBUG"] is False
    assert shown["CHANNEL_SIMULATOR_ENABLED"] is False
    assert shown["CARRIER_NOTIFY_SECRET"] == ""
    assert shown["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert shown["SECURE_SSL_REDIRECT"] is True
    explicit, _ = settings_with(
        tmp_path,
        DATABASE_URL=MYSQL_URL,
        DJANGO_SECRET_KEY="k" * 60,
        CHANNEL_SIMULATOR_ENABLED="1",
        CARRIER_NOTIFY_SECRET="trial-secret",
        SECURE_SSL_REDIRECT="0",
    )
    assert explicit["CHANNEL_SIMULATOR_ENABLED"] is True
    assert explicit["CARRIER_NOTIFY_SECRET"] == "trial-secret"
    assert explicit["SECURE_SSL_REDIRECT"] is False


def test_debug_is_what_a_developer_turns_on(tmp_path: Path) -> None:
    shown, stderr = settings_with(tmp_path, DJANGO_DEBUG="1", DATABASE_URL=MYSQL_URL)
    assert shown["DEBUG"] is True
    assert shown["SECRET_KEY"] == "dev-insecure-key-only-for-local-debug"
    assert shown["SECURE_SSL_REDIRECT"] is False  # Django's default: no production hardening in debug
    assert shown["STORAGES"]["staticfiles"]["BACKEND"] == "django.contrib.staticfiles.storage.StaticFilesStorage"
    assert shown["CHANNEL_SIMULATOR_ENABLED"] is True
    assert shown["CARRIER_NOTIFY_SECRET"] == "dev-carrier-secret-only-for-local-debug"
    assert shown["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert not (tmp_path / "secret-key").exists()
    assert "DJANGO_SECRET_KEY is not set" not in stderr


def test_without_a_secret_key_one_is_generated_once_per_host(tmp_path: Path) -> None:
    key_file = tmp_path / "secret-key"
    first, stderr = settings_with(tmp_path)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert first["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first["SECRET_KEY"]) >= 80 and len(set(first["SECRET_KEY"])) >= 20
    assert f"DJANGO_SECRET_KEY is not set: signing with the key generated into {key_file}" in stderr
    assert "Production sets DJANGO_SECRET_KEY" in stderr
    assert first["SECRET_KEY"] not in stderr
    again, _ = settings_with(tmp_path)
    assert again["SECRET_KEY"] == first["SECRET_KEY"]
    assert [path.name for path in tmp_path.iterdir() if "secret" in path.name] == ["secret-key"]
    # The environment's key always wins, and the file is left as it is.
    given, stderr = settings_with(tmp_path, DJANGO_SECRET_KEY="given-" + "k" * 60)
    assert given["SECRET_KEY"] == "given-" + "k" * 60
    assert "DJANGO_SECRET_KEY is not set" not in stderr
    assert key_file.read_text().strip() == first["SECRET_KEY"]


def test_processes_starting_together_share_one_generated_key(tmp_path: Path) -> None:
    starting = [
        subprocess.Popen(
            [sys.executable, "-c", SHOW_SETTINGS],
            cwd=ROOT,
            env=clean_environment(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(6)
    ]
    keys = {json.loads(process.communicate(timeout=60)[0])["SECRET_KEY"] for process in starting}
    assert keys == {(tmp_path / "secret-key").read_text().strip()}
    assert sorted(path.name for path in tmp_path.iterdir() if "secret" in path.name) == ["secret-key"]


def test_a_damaged_key_file_is_refused_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "secret-key").write_text("short\n")
    result = subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS],
        cwd=ROOT,
        env=clean_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert f"{tmp_path / 'secret-key'} holds no usable secret key: delete it, or set DJANGO_SECRET_KEY" in result.stderr
    assert (tmp_path / "secret-key").read_text() == "short\n"


# --- docker-compose.yml, read as YAML (works without any Docker tooling) ------------------------------------


def procfile_commands() -> dict[str, str]:
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            commands[name.strip()] = command.strip()
    return commands


def container_command(command: str | list[str]) -> str:
    """The command line a service runs, with compose's `$$` escapes undone and a `sh -c "exec ..."` unwrapped."""
    if isinstance(command, list):
        shell_wrapped = command[0] in ("/bin/sh", "sh") and command[1] == "-c"
        command = command[2] if shell_wrapped else " ".join(command)
    return command.replace("$$", "$").removeprefix("exec ")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def test_compose_runs_every_procfile_process_with_its_command(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"web", "worker", "scheduler", "migrate", "mysql", "redis", "s3"} <= set(services)
    procfile = procfile_commands()
    assert set(APP_SERVICES) <= set(procfile)
    for name in APP_SERVICES:
        assert container_command(services[name]["command"]) == procfile[name], name


def test_the_worker_containers_metrics_are_served_and_scraped(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert container_command(services["metrics"]["command"]) == procfile_commands()["metrics"]
    # The metrics process reads the directory the worker records into (the default under MALL_VAR_DIR=/app/var).
    shared = "worker-metrics:/app/var/prometheus"
    assert shared in services["worker"]["volumes"]
    assert shared in services["metrics"]["volumes"]
    assert "worker-metrics" in compose["volumes"]
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [target for group in job["static_configs"] for target in group["targets"]]
        for job in prometheus["scrape_configs"]
    }
    assert targets == {"fruit-mall-web": ["web:8000"], "fruit-mall-worker": ["metrics:9101"]}
    assert set(services["prometheus"]["depends_on"]) == {"web", "metrics"}


def test_image_default_command_is_the_procfile_web_line() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd_lines = [line for line in dockerfile.splitlines() if line.startswith("CMD ")]
    assert len(cmd_lines) == 1
    assert container_command(json.loads(cmd_lines[0].removeprefix("CMD "))) == procfile_commands()["web"]


def test_compose_backing_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["mysql"]["image"] == "mysql:8.0"
    assert services["mysql"]["healthcheck"]["test"]
    assert services["redis"]["image"].startswith("redis:7")
    assert services["redis"]["healthcheck"]["test"]
    assert services["s3"]["healthcheck"]["test"]
    assert services["migrate"]["command"] == "python manage.py migrate --no-input"
    assert services["migrate"]["restart"] == "no"
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["s3-bucket"]["condition"] == "service_completed_successfully", name
        assert depends_on["redis"]["condition"] == "service_healthy", name
    assert services["migrate"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert services["s3-bucket"]["depends_on"]["s3"]["condition"] == "service_healthy"


def test_app_services_are_configured_by_the_settings_environment(compose: dict[str, Any]) -> None:
    settings_source = (ROOT / "mall" / "settings.py").read_text()
    for name in (*APP_SERVICES, "migrate"):
        env = compose["services"][name]["environment"]
        assert env["DJANGO_DEBUG"] == "0"
        assert env["STORAGE_BACKEND"] == "s3"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["DATABASE_URL"].startswith("mysql://") and env["DATABASE_URL"].endswith(
            "@mysql:3306/${MYSQL_DATABASE:-mall}"
        )
        assert env["S3_ENDPOINT_URL"] == "http://s3:9000"
        assert REQUIRED_INTERPOLATION.match(env["DJANGO_SECRET_KEY"])
        assert env["ALLOWED_HOSTS"].startswith("${ALLOWED_HOSTS:?")
        for key in ("S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
            assert key in env, key
        # Every variable handed to the app is one the app reads (a misspelt name would be silently ignored).
        for key in env:
            assert f'"{key}"' in settings_source or key == "WEB_CONCURRENCY", key


def test_compose_holds_no_literal_secret(compose: dict[str, Any]) -> None:
    checked: set[str] = set()
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                # Required (${VAR:?}), or optional with nothing as its default (${VAR:-}): never a literal.
                match = REQUIRED_INTERPOLATION.match(str(value)) or OPTIONAL_INTERPOLATION.match(str(value))
                assert match, f"{name}.{key} must come from the environment as ${{VAR:?}}, not be written here"
                checked.add(key)
            if key == "DATABASE_URL":
                password = re.match(r"^mysql://(\$\{[^}]*\}|[^:]*):(?P<password>\$\{[^}]*\}|[^@]*)@mysql:", value)
                assert password and REQUIRED_INTERPOLATION.match(password["password"]), value
    assert checked == {
        "DJANGO_SECRET_KEY",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
        "MYSQL_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "CARRIER_NOTIFY_SECRET",
        "EMAIL_HOST_PASSWORD",
    }


def test_env_example_has_placeholders_only() -> None:
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    compose_values = json.dumps(yaml.safe_load(COMPOSE_FILE.read_text()))  # values only, not the comments
    required = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", compose_values))
    assert required <= set(values), required - set(values)
    for key, value in values.items():
        if SECRET_NAME.search(key):
            assert value.startswith("replace"), key
    assert "/.env" in (ROOT / ".gitignore").read_text().split()


# --- docker compose's own validation, where the CLI is installed --------------------------------------------


def compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def clean_env() -> dict[str, str]:
    """The environment without any value the compose file interpolates, so only the env file supplies them."""
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", json.dumps(yaml.safe_load(COMPOSE_FILE.read_text()))))
    return {key: value for key, value in os.environ.items() if key not in names}


def test_docker_compose_config_accepts_the_file() -> None:
    cli = compose_cli()
    assert cli is not None, "no docker compose CLI: scripts/bootstrap.sh dev installs Debian's docker-compose"
    base = [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    accepted = subprocess.run(
        [*base, "--env-file", str(ROOT / ".env.example"), "--profile", "monitoring", "config", "-q"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_docker_compose_refuses_to_run_without_the_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    cli = compose_cli()
    assert cli is not None, "no docker compose CLI: scripts/bootstrap.sh dev installs Debian's docker-compose"
    refused = subprocess.run(
        [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "--env-file", str(empty), "config", "-q"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "in .env" in refused.stderr


# --- the Procfile's release line ---------------------------------------------------------------------------------


def procfile_lines(name: str = "Procfile") -> list[tuple[str, str]]:
    lines = []
    for line in (ROOT / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            process, command = line.split(":", 1)
            lines.append((process.strip(), command.strip()))
    return lines


def test_the_procfile_releases_before_its_processes() -> None:
    lines = procfile_lines()
    assert dict(lines)["release"] == "python manage.py release"
    # honcho hands the base PORT to the first line and PORT+100 to the next kind: web must stay first.
    assert lines[0][0] == "web"


def test_debug_is_turned_on_by_make_run_and_procfile_dev_only() -> None:
    assert "run: export DJANGO_DEBUG ?= 1" in (ROOT / "Makefile").read_text().splitlines()
    for process, command in procfile_lines("Procfile.dev"):
        assert command.startswith("DJANGO_DEBUG=${DJANGO_DEBUG:-1} python manage.py "), process
    for process, command in procfile_lines():
        assert "DJANGO_DEBUG" not in command, process


def run_release(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", dict(procfile_lines())["release"]],
        cwd=ROOT,
        env=clean_environment(
            tmp_path, DJANGO_SECRET_KEY="k" * 60, PATH=f"{Path(sys.executable).parent}:{PATH}", **env
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


PATH = os.environ.get("PATH", "/usr/bin:/bin")


@pytest.mark.slow
def test_the_release_line_migrates_and_collects_once_then_changes_nothing(tmp_path: Path) -> None:
    first = run_release(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"Applying refunds\.0001_\w+\.\.\. OK", first.stdout), first.stdout
    assert "static files copied to" in first.stdout
    manifest = tmp_path / "staticfiles" / "staticfiles.json"
    collected = {path: path.stat().st_mtime_ns for path in (tmp_path / "staticfiles").rglob("*")}
    assert manifest in collected
    assert "admin/css/base.css" in json.loads(manifest.read_text())["paths"]
    database = (tmp_path / "db.sqlite3").read_bytes()

    again = run_release(tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Release: migrations applied and static files collected already; nothing to do.\n" in again.stdout
    assert "Applying" not in again.stdout and "copied" not in again.stdout
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "staticfiles").rglob("*")} == collected
    assert (tmp_path / "db.sqlite3").read_bytes() == database

    # One collected file gone: only the static files are collected again.
    (tmp_path / "staticfiles" / "admin" / "css" / "base.css").unlink()
    repaired = run_release(tmp_path)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "1 static file copied to" in repaired.stdout
    assert "Applying" not in repaired.stdout
    assert (tmp_path / "staticfiles" / "admin" / "css" / "base.css").exists()


def http_get(url: str, **headers: str) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace"), dict(error.headers)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def honcho(tmp_path: Path, port: int, *processes: str) -> subprocess.Popen[str]:
    env = clean_environment(tmp_path, SECURE_SSL_REDIRECT="0", PATH=f"{Path(sys.executable).parent}:{PATH}")
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "honcho"), "start", "--no-colour", "-p", str(port), *processes],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop_honcho(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    for pid in re.findall(r"started \(pid=(\d+)\)", output):
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), 0)
            raise AssertionError(f"honcho left process {pid} running")
    return output


@pytest.mark.slow
def test_honcho_start_runs_the_release_line_and_serves_no_debug_pages(tmp_path: Path) -> None:
    port = free_port()
    # Nothing released yet: the release line does it, then ends `honcho start` and says to start again, because the
    # web it started beside listed the static files before they were there.
    unreleased = honcho(tmp_path, port, "web", "release")
    output = stop_honcho(unreleased) if unreleased.wait(timeout=300) is None else unreleased.communicate()[0]
    assert unreleased.returncode == 1, output
    assert "(migrations and static files were not ready): it is done now, start again" in output
    assert (tmp_path / "staticfiles" / "staticfiles.json").exists()

    released = honcho(tmp_path, port, "web", "release")
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and released.poll() is None:
            with contextlib.suppress(OSError):
                if http_get(f"{base}/healthz")[0] == 200:
                    break
            time.sleep(0.5)
        assert http_get(f"{base}/healthz")[0] == 200
        status, page, _ = http_get(f"{base}/admin/login/")
        assert status == 200
        stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
        assert stylesheet, page[:2000]  # the hashed name, from the manifest the release wrote
        status, _, headers = http_get(base + stylesheet[1])
        assert status == 200 and headers["Cache-Control"] == "max-age=315360000, public, immutable"
        status, page, _ = http_get(f"{base}/no-such-page/")
        assert status == 404
        for leak in ("Traceback", "Using the URLconf", "DATABASE_URL", "SECRET_KEY", "settings.py", str(ROOT)):
            assert leak not in page, leak
        assert released.poll() is None  # the release line stays up beside web
    finally:
        output = stop_honcho(released)
    assert "Release: migrations applied and static files collected already; nothing to do." in output
    assert "Release: done; staying up beside the other processes until honcho stops them." in output


# --- systemd units (deploy/systemd/, docs/deploy-systemd.md) ------------------------------------------------------

SYSTEMD = ROOT / "deploy" / "systemd"
APP_DIR = "/opt/fruit-mall"
UNIT_OF_PROCESS = {
    "release": "fruit-mall-release.service",
    "web": "fruit-mall-web.service",
    "worker": "fruit-mall-worker@.service",
    "scheduler": "fruit-mall-scheduler.service",
    "metrics": "fruit-mall-metrics.service",
}
SIMULATORS = {"channels", "carriers"}  # trials only: an optional note in the guide, no units
PROCFILE_DEFAULT = re.compile(r"\$\{(?P<name>[A-Z_]+):-(?P<default>[^}]*)\}")


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value given (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (SYSTEMD / name).read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, value = line.split("=", 1)
        current.setdefault(key, []).append(value)
    return sections


def unit_environment(service: dict[str, list[str]]) -> dict[str, str]:
    return dict(assignment.split("=", 1) for line in service.get("Environment", []) for assignment in line.split())


def exec_start(name: str) -> list[str]:
    (line,) = unit(name)["Service"]["ExecStart"]
    return shlex.split(line)


def test_every_procfile_process_has_a_unit_running_its_command() -> None:
    procfile = dict(procfile_lines())
    assert set(procfile) == set(UNIT_OF_PROCESS) | SIMULATORS
    for process, name in UNIT_OF_PROCESS.items():
        program, *arguments = shlex.split(PROCFILE_DEFAULT.sub(r"${\g<name>}", procfile[process]))
        executable, *unit_arguments = exec_start(name)
        assert executable == f"{APP_DIR}/.venv/bin/{program}", name
        if process == "web":
            # The one difference: behind nginx, gunicorn listens on the loopback only.
            bind = arguments.index("--bind") + 1
            assert (arguments[bind], unit_arguments[bind]) == ("0.0.0.0:${PORT}", "127.0.0.1:${PORT}")
            unit_arguments[bind] = arguments[bind]
        assert unit_arguments == arguments, name
        # ${NAME} in a unit comes from its Environment= defaults: the same defaults as the Procfile's ${NAME:-x}.
        defaults = {match["name"]: match["default"] for match in PROCFILE_DEFAULT.finditer(procfile[process])}
        environment = unit_environment(unit(name)["Service"])
        assert {key: environment.get(key) for key in defaults} == defaults, name


@pytest.fixture(scope="module")
def management_commands() -> set[str]:
    listed = subprocess.run(
        [sys.executable, "manage.py", "help", "--commands"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(listed.stdout.split())


def test_procfile_dev_names_real_commands_listening_on_the_loopback_only(management_commands: set[str]) -> None:
    commands = {process: shlex.split(command)[2:] for process, command in procfile_lines("Procfile.dev")}
    assert {process: arguments[:2] for process, arguments in commands.items()} == {
        "web": ["manage.py", "runserver"],
        "channels": ["manage.py", "channel_simulator"],
        "carriers": ["manage.py", "carrier_simulator"],
        "scheduler": ["manage.py", "run_periodic"],
    }
    assert {arguments[1] for arguments in commands.values()} <= management_commands
    # A developer's machine: debug pages are for its own browser, not its network.
    assert commands["web"][2:] == ["127.0.0.1:${PORT:-8000}"]
    assert all("--host" not in arguments for arguments in commands.values())  # the simulators' default: 127.0.0.1


def test_every_unit_names_a_real_command_of_this_project(management_commands: set[str]) -> None:
    from django.conf import settings
    from django.utils.module_loading import import_string
    from rq.worker.base import BaseWorker

    for name in UNIT_OF_PROCESS.values():
        executable, *arguments = exec_start(name)
        if executable.endswith("/python"):
            assert arguments[0] == "manage.py", name
            assert arguments[1] in management_commands, name
        else:
            assert executable.endswith("/gunicorn"), name
            assert importlib.util.find_spec(arguments[0]) is not None, arguments[0]
            assert (ROOT / arguments[arguments.index("--config") + 1]).is_file()
    assert {"release", "rqworker", "run_scheduler", "metrics_server"} <= management_commands

    worker = exec_start(UNIT_OF_PROCESS["worker"])[3:]
    worker_class = worker[worker.index("--worker-class") + 1]
    assert issubclass(import_string(worker_class), BaseWorker)
    queues = [word for word in worker if not word.startswith("--") and word != worker_class]
    assert sorted(queues) == sorted(settings.JOB_QUEUES)
    assert queues[0] == "refunds"  # money first
    assert importlib.util.find_spec(exec_start(UNIT_OF_PROCESS["scheduler"])[-1]) is not None  # mall.cron


def test_units_run_as_the_dedicated_user_with_the_environment_file() -> None:
    for name in UNIT_OF_PROCESS.values():
        service = unit(name)["Service"]
        assert service["User"] == ["fruit-mall"] and service["Group"] == ["fruit-mall"], name
        assert service["WorkingDirectory"] == [APP_DIR], name
        assert service["EnvironmentFile"] == ["/etc/fruit-mall/env"], name
        environment = unit_environment(service)
        assert environment["DJANGO_DEBUG"] == "0", name
        assert environment["MALL_VAR_DIR"] == "/var/lib/fruit-mall" and service["StateDirectory"] == ["fruit-mall"]
        # One metrics directory per host, for every unit: none may remove it when it stops.
        assert environment["PROMETHEUS_MULTIPROC_DIR"] == "/run/fruit-mall/prometheus", name
        assert service["RuntimeDirectory"] == ["fruit-mall"] and service["RuntimeDirectoryPreserve"] == ["yes"]
        assert service["ProtectSystem"] == ["strict"] and service["NoNewPrivileges"] == ["yes"], name
        assert unit(name)["Install"]["WantedBy"] == ["fruit-mall.target"], name
    users = (SYSTEMD / "fruit-mall.sysusers").read_text().splitlines()
    assert 'u fruit-mall - "Fruit mall refund back office" /var/lib/fruit-mall /usr/sbin/nologin' in users


def test_the_release_unit_runs_once_before_the_processes() -> None:
    release = unit(UNIT_OF_PROCESS["release"])
    assert release["Service"]["Type"] == ["oneshot"]
    assert release["Service"]["RemainAfterExit"] == ["yes"]  # a worker's restart does not run it again
    for process, name in UNIT_OF_PROCESS.items():
        if process == "release":
            continue
        section = unit(name)["Unit"]
        assert "fruit-mall-release.service" in " ".join(section["Wants"]).split(), name
        assert "fruit-mall-release.service" in " ".join(section["After"]).split(), name
        assert section["PartOf"] == ["fruit-mall.target"], name
    assert unit("fruit-mall.target")["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_environment_file_template_sets_only_what_the_settings_read() -> None:
    settings_source = (ROOT / "mall" / "settings.py").read_text()
    values = dict(
        line.split("=", 1)
        for line in (SYSTEMD / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {"DJANGO_SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "TRUSTED_PROXY_COUNT"} <= set(values)
    assert values["TRUSTED_PROXY_COUNT"] == "1"  # nginx, the one proxy in front
    for key, value in values.items():
        assert f'"{key}"' in settings_source or key in {"PORT", "WEB_CONCURRENCY"}, key
        if SECRET_NAME.search(key):
            assert value.startswith("replace"), key
        assert "replace-me@" not in value or key == "DATABASE_URL", key


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (Debian's systemd package has it)")
    venv = Path(sys.executable).parent.parent
    for path in [*SYSTEMD.glob("*.service"), *SYSTEMD.glob("*.target")]:
        # Pointed at this checkout, whose programs exist: verify checks that every ExecStart is executable.
        text = path.read_text().replace(f"{APP_DIR}/.venv", str(venv)).replace(APP_DIR, str(ROOT))
        (tmp_path / path.name).write_text(text)
    units = sorted(str(path) for path in tmp_path.iterdir())
    assert len(units) == 6
    verified = subprocess.run(
        [analyze, "verify", "--man=no", *units], capture_output=True, text=True, timeout=120, check=False
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout + verified.stderr == ""  # not even a warning (an unknown key is only a warning)


# --- nginx in front (deploy/nginx/fruit-mall.conf) ----------------------------------------------------------------

NGINX_SITE = ROOT / "deploy" / "nginx" / "fruit-mall.conf"


def nginx_binary() -> str:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    assert nginx, "no nginx: scripts/bootstrap.sh dev installs Debian's nginx-light"
    return nginx


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mall.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def nginx_config(directory: Path, *, http: int = 80, https: int = 443, upstream: int = 8000) -> Path:
    """The site as shipped, inside a main configuration of its own, with test certificates (and ports, if given)."""
    cert_path, key_path = self_signed_certificate(directory)
    site = NGINX_SITE.read_text()
    replacements = {
        "/etc/letsencrypt/live/mall.example.com/fullchain.pem": str(cert_path),
        "/etc/letsencrypt/live/mall.example.com/privkey.pem": str(key_path),
        "listen 80;": f"listen 127.0.0.1:{http};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream};",
    }
    for shipped, here in replacements.items():
        assert site.count(shipped) == 1, shipped
        site = site.replace(shipped, here)
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)  # no IPv6 on every test host
    (directory / "site.conf").write_text(site)
    main = directory / "nginx.conf"
    main.write_text(
        f"daemon off;\npid {directory}/nginx.pid;\nerror_log {directory}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {directory}/site.conf;\n}}\n"
    )
    return main


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    main = nginx_config(tmp_path)
    tested = subprocess.run(
        [nginx_binary(), "-t", "-c", str(main), "-p", f"{tmp_path}/", "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tested.returncode == 0, tested.stderr
    assert "test is successful" in tested.stderr


def test_nginx_body_limit_takes_the_largest_upload() -> None:
    from logistics import inspection

    (limit,) = re.findall(r"client_max_body_size (\d+)m;", NGINX_SITE.read_text())
    largest = inspection.MAX_PHOTOS * inspection.MAX_PHOTO_BYTES  # one inspection record with all its photos
    assert largest < int(limit) * 1024 * 1024 <= largest + 8 * 1024 * 1024


class _EchoHeaders(http.server.BaseHTTPRequestHandler):
    """The application's place: answers every request with the path and headers it received."""

    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def https_get(port: int, path: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        connection.request("GET", path, headers={"Host": "mall.example.com", **headers})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.headers)
    finally:
        connection.close()


def test_nginx_redirects_to_https_and_hands_on_the_clients_scheme_and_address(tmp_path: Path) -> None:
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    http_port, https_port = free_port(), free_port()
    main = nginx_config(tmp_path, http=http_port, https=https_port, upstream=upstream.server_address[1])
    nginx = subprocess.Popen(
        [nginx_binary(), "-c", str(main), "-p", f"{tmp_path}/", "-e", str(tmp_path / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and nginx.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", https_port), timeout=1):
                break
            time.sleep(0.1)
        assert nginx.poll() is None, nginx.stderr.read() if nginx.stderr else ""

        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/admin/login/?next=/admin/", headers={"Host": "mall.example.com"})
        redirect = plain.getresponse()
        assert redirect.status == 301
        assert redirect.headers["Location"] == "https://mall.example.com/admin/login/?next=/admin/"
        plain.close()

        status, body, _ = https_get(
            https_port, "/api/v1/orders/?page=2", **{"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "http"}
        )
        assert status == 200
        seen = json.loads(body)
        assert seen["path"] == "/api/v1/orders/?page=2"
        assert seen["headers"]["Host"] == "mall.example.com"
        assert seen["headers"]["X-Forwarded-Proto"] == "https"  # what Django's SECURE_PROXY_SSL_HEADER reads
        assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"  # the client nginx saw, not what it claimed
        assert seen["headers"]["X-Real-IP"] == "127.0.0.1"

        status, _, _ = https_get(https_port, "/metrics")
        assert status == 404
        assert "/metrics" not in _EchoHeaders.seen  # never reached the application

        status, _, _ = https_get(https_port, "/api/v1/refunds/", **{"Content-Length": str(50 * 1024 * 1024 + 1)})
        assert status == 413  # refused on its declared length, before any of it is read
    finally:
        nginx.terminate()
        nginx.wait(timeout=20)
        upstream.shutdown()
        upstream.server_close()
