"""Deployment: production settings pass Django's deploy checks, and the compose stack runs the Procfile's processes
configured only by environment, with no secret written into the repository."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
APP_SERVICES = ("web", "worker", "scheduler")
REQUIRED_INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*):\?[^}]*\}$")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|ACCESS_KEY|ROOT_USER")


def run_manage(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "MALL_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    result = run_manage(
        tmp_path,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="mall.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_on_development_settings(tmp_path: Path) -> None:
    # The same command must be able to fail: debug mode with the development key is not deployable.
    result = run_manage(tmp_path, DJANGO_DEBUG="1", DJANGO_SECRET_KEY="", ALLOWED_HOSTS="mall.example.com")
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on
    assert "security.W009" in result.stderr  # weak SECRET_KEY


def test_production_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    result = run_manage(tmp_path, DJANGO_DEBUG="0", DJANGO_SECRET_KEY="", ALLOWED_HOSTS="mall.example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


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
    return yaml.safe_load(COMPOSE_FILE.read_text())


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
                match = REQUIRED_INTERPOLATION.match(str(value))
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
