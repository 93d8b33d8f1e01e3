"""The dated benchmark report, and two of them side by side.

``scripts/bench.sh`` drives it; by hand:

``begin --out F``            notes the machine and its load before anything runs (JSON).
``write --machine F --figures F --out DIR``
                             writes ``DIR/<UTC time>.json`` and ``.md``: the machine, its load at the start and the
                             end, every figure the benchmarks recorded (``benchmarks/figures.py``), each with the
                             load when it was taken, and which targets were met.
``compare [A] [B]``          prints two reports' figures side by side (default: the two newest in ``var/bench``).

    .venv/bin/python benchmarks/report.py compare var/bench/2026-12-05T070012Z.json var/bench/2026-12-05T090544Z.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from execution.common import cpu_model

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "var" / "bench"


def _run(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def machine() -> dict[str, Any]:
    """What the figures were taken on, and how busy it was when the run began."""
    commit = _run("git", "rev-parse", "--short", "HEAD")
    if commit and _run("git", "status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return {
        "host": socket.gethostname(),
        "cores": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "mariadb": _run("mysql", "--host=127.0.0.1", "--user=root", "-N", "-e", "SELECT VERSION()"),
        "redis": _run("redis-server", "--version").split(" v=")[-1].split(" ")[0],
        "commit": commit,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_start": [round(value, 2) for value in os.getloadavg()],
    }


def figures_of(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _value(figure: dict[str, Any]) -> str:
    value = figure["value"]
    if isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text} {figure['unit']}".strip()


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: ""}[met]


def markdown(report: dict[str, Any]) -> str:
    box = report["machine"]
    targets = [figure for figure in report["figures"] if figure["met"] is not None]
    missed = [figure for figure in targets if not figure["met"]]
    lines = [
        f"# Benchmarks, {box['started']}",
        "",
        f"- Machine: {box['host']}, {box['cores']} cores ({box['cpu']}), {box['memory_gib']} GiB; "
        f"Python {box['python']}, MariaDB {box['mariadb'] or '?'}, Redis {box['redis'] or '?'}",
        f"- Commit: {box['commit'] or '?'}",
        f"- Load average (1, 5, 15 min): {' '.join(map(str, box['load_start']))} at the start, "
        f"{' '.join(map(str, report['load_end']))} at the end ({report['finished']}); each figure below carries "
        "the 1-minute load when it was taken.",
        f"- Targets: {len(targets) - len(missed)} of {len(targets)} met"
        + (": not met: " + "; ".join(f"{f['part']}: {f['name']}" for f in missed) if missed else "."),
        "",
    ]
    part = None
    for figure in report["figures"]:
        if figure["part"] != part:
            part = figure["part"]
            lines += ["", f"## {part}", "", "| figure | value | target | | load |", "|---|---:|---|---|---:|"]
        name = figure["name"] + (f" ({figure['note']})" if figure.get("note") else "")
        lines.append(
            f"| {name} | {_value(figure)} | {figure['target'] or ''} | {_verdict(figure['met'])} | {figure['load']} |"
        )
    return "\n".join(lines) + "\n"


def write(machine_file: Path, figures_file: Path, out: Path) -> Path:
    box = json.loads(machine_file.read_text()) if machine_file.exists() else machine()
    report = {
        "machine": box,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_end": [round(value, 2) for value in os.getloadavg()],
        "figures": figures_of(figures_file),
    }
    out.mkdir(parents=True, exist_ok=True)
    stem = box["started"].replace(":", "")  # 2026-12-05T071233Z
    target = out / f"{stem}.json"
    target.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    target.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    return target


def _newest(folder: Path, count: int) -> list[Path]:
    return sorted(folder.glob("*.json"))[-count:]


def compare(first: Path, second: Path) -> str:
    a, b = (json.loads(path.read_text(encoding="utf-8")) for path in (first, second))
    figures_a = {(f["part"], f["name"]): f for f in a["figures"]}
    figures_b = {(f["part"], f["name"]): f for f in b["figures"]}
    keys = list(figures_a) + [key for key in figures_b if key not in figures_a]
    width = max([len(f"{part}: {name}") for part, name in keys] + [10])
    rows = [
        f"A: {first.name}  commit {a['machine']['commit']}, load {a['machine']['load_start'][0]} at the start",
        f"B: {second.name}  commit {b['machine']['commit']}, load {b['machine']['load_start'][0]} at the start",
        "",
        f"{'figure':<{width}}  {'A':>16}  {'B':>16}  {'B / A':>7}  target      A        B",
    ]
    for key in keys:
        fa, fb = figures_a.get(key), figures_b.get(key)
        ratio = ""
        if fa and fb and isinstance(fa["value"], int | float) and isinstance(fb["value"], int | float) and fa["value"]:
            ratio = f"{fb['value'] / fa['value']:.2f}"
        target = (fb or fa or {}).get("target") or ""
        rows.append(
            f"{key[0] + ': ' + key[1]:<{width}}  {_value(fa) if fa else '-':>16}  {_value(fb) if fb else '-':>16}  "
            f"{ratio:>7}  {target:<10}  {_verdict(fa['met']) if fa else '-':<7}  {_verdict(fb['met']) if fb else '-'}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    begin = steps.add_parser("begin")
    begin.add_argument("--out", type=Path, required=True)
    writing = steps.add_parser("write")
    writing.add_argument("--machine", type=Path, required=True)
    writing.add_argument("--figures", type=Path, required=True)
    writing.add_argument("--out", type=Path, default=REPORTS)
    comparing = steps.add_parser("compare")
    comparing.add_argument("reports", type=Path, nargs="*")
    args = parser.parse_args(argv)
    if args.step == "begin":
        args.out.write_text(json.dumps(machine()), encoding="utf-8")
    elif args.step == "write":
        written = write(args.machine, args.figures, args.out)
        print(f"report: {written} and {written.with_suffix('.md').name}")
    else:
        reports = args.reports or _newest(REPORTS, 2)
        if len(reports) != 2:
            print(f"compare needs two reports (found {len(reports)} in {REPORTS})", file=sys.stderr)
            return 2
        print(compare(*reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
