"""Reconciliation at scale: a day's statement of ``--lines`` lines (1,000,000 by default) against as many of our
refunds, for each channel in its real file format, on MariaDB; then the reports of a day with 100,000 discrepancies.

Steps, each against the scratch database named by ``DATABASE_URL`` (``scripts/bench_reconcile.sh`` makes one):

``seed``  bulk-inserts the refunds of one day for each channel (SQL ``INSERT ... SELECT`` over MariaDB's sequence
          engine) and writes that day's statement with the channel simulator's own writers (Alipay: a zip of GBK
          CSV; WeChat Pay: a backtick CSV), with discrepancies of every class seeded at known lines
          (``benchmarks/recon_plan.py``); the expected results go to a JSON file next to the statements.
``run``   for each channel, in child processes: the FLOOR (the adapter parsing the statement alone; our refunds of
          the day streamed out of the table alone by one plain query), taken before and after the run and
          averaged, and the real reconciliation of the day
          (``reconciliation.services.reconciliation_run`` with the real adapter; only the gateway's answer and the
          HTTP download are replaced by the file on disk). Prints wall time, peak memory (the child's maxrss) and
          the ratio to the floor, and checks the results are exact. Then the CSV and XLSX reports of runs with
          100,000 and 10,000 discrepancies, each downloaded through the real admin view in a child process.

Targets (issue 17): reconciliation at most 3x the floor and 400 MB, results exact; reports in bounded memory
(at most 200 MB, not growing with the rows).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from execution.common import _pids_named, _proc_cpu  # noqa: E402
from figures import record  # noqa: E402
from recon_plan import CHANNELS, Plan  # noqa: E402

PART = "reconciliation"
RATIO_TARGET = 3.0
PEAK_TARGET_MB = 400.0
REPORT_PEAK_TARGET_MB = 200.0
REPORT_ROWS = (100_000, 10_000)


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    import django

    django.setup()


def _utc(moment: datetime) -> datetime:
    """As the database keeps times: UTC, without a zone."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- seed -----------------------------------------------------------------------------------------------
def seed(lines: int, work: Path) -> None:
    from django.db import connection

    from mall.shoptime import shop_day_bounds, shop_today
    from payments.channels.registry import get_channel

    if connection.vendor != "mysql":
        raise SystemExit("the reconciliation benchmark needs MariaDB/MySQL (DATABASE_URL)")
    day = shop_today() - timedelta(days=2)
    start, _end = shop_day_bounds(day)
    work.mkdir(parents=True, exist_ok=True)
    for channel in CHANNELS:
        get_channel(channel)  # the demo keys, generated once here rather than in a measured step
    expected: dict[str, Any] = {"day": day.isoformat(), "lines": lines, "channels": {}}
    for channel in CHANNELS:
        plan = Plan(channel, lines, day)
        began = time.monotonic()
        with connection.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
            cur.execute(plan.insert_sql(_utc(start)))
        seeded = time.monotonic() - began
        began = time.monotonic()
        path = work / plan.filename
        digest = plan.write_statement(path)
        print(
            f"{channel}: {lines} refunds seeded in {seeded:.0f} s; statement {path.name} "
            f"({path.stat().st_size / 1024**2:.1f} MB) written in {time.monotonic() - began:.0f} s"
        )
        expected["channels"][channel] = {**plan.expected(), "digest": digest}
    with connection.cursor() as cur:
        cur.execute("ANALYZE TABLE refunds_refund")
        cur.fetchall()
    (work / "expected.json").write_text(json.dumps(expected), encoding="utf-8")


# --- children -------------------------------------------------------------------------------------------
@contextmanager
def statement_served(channel: str, path: Path, digest: str) -> Iterator[None]:
    """The real adapter's ``fetch_statement``, with the gateway's answer and the download replaced by ``path``."""
    from payments.channels import alipay, wechat
    from payments.channels.registry import get_channel

    @contextmanager
    def local_file(url: str, **_: Any) -> Iterator[Any]:
        with path.open("rb") as spool:
            yield spool

    adapter: Any = get_channel(channel)
    if channel == "alipay":
        answer: Any = {"code": "10000", "bill_download_url": "https://bills.example/bill.zip"}
        module: Any = alipay
    else:
        url = f"{adapter._gateway}/v3/billdownload/file?token=bench"
        answer = (200, {"download_url": url, "hash_type": "SHA1", "hash_value": digest})
        module = wechat
    with (
        mock.patch.object(type(adapter), "_call", lambda self, operation, call: answer),
        mock.patch.object(module, "spooled_download", local_file),
    ):
        yield


def child(kind: str, channel: str, work: Path) -> dict[str, Any]:
    """One measured step in this (child) process; returns what it found, with its wall time and peak memory."""
    from django.db import connection

    from mall.shoptime import shop_day_bounds
    from payments.channels.registry import get_channel

    connection.ensure_connection()
    if kind in ("csv", "xlsx"):  # ``channel`` is the run's id
        began = time.perf_counter()
        out = _download(kind, int(channel))
        return {**out, "wall": time.perf_counter() - began, "peak_mb": _peak_mb()}
    expected = json.loads((work / "expected.json").read_text(encoding="utf-8"))
    day = date.fromisoformat(expected["day"])
    info = expected["channels"][channel]
    path = work / info["filename"]
    get_channel(channel)  # built before the clock starts: the adapter is built once per process
    began = time.perf_counter()
    out = {}
    if kind == "parse":
        with statement_served(channel, path, info["digest"]):
            count = 0
            for _line in get_channel(channel).fetch_statement(day):
                count += 1
        out["lines"] = count
    elif kind == "stream":
        # The same unbuffered cursor the run reads the day with: rows come as they are read, none held.
        from reconciliation.services import _streaming_cursor

        start, end = shop_day_bounds(day)
        count = 0
        with _streaming_cursor() as cur:
            cur.execute(
                "SELECT id, out_refund_no, channel, amount, state FROM refunds_refund WHERE channel = %s"
                " AND state = 'refunded' AND destination = 'original' AND refunded_at >= %s AND refunded_at < %s",
                (channel, _utc(start), _utc(end)),
            )
            while rows := cur.fetchmany(5000):
                count += len(rows)
        out["refunds"] = count
    elif kind == "reconcile":
        from reconciliation.services import reconciliation_run

        with statement_served(channel, path, info["digest"]):
            run = reconciliation_run(channel=channel, day=day, force=True)
        out["run_id"] = run.pk
    else:
        raise SystemExit(f"unknown step {kind}")
    out["wall"] = time.perf_counter() - began
    out["peak_mb"] = _peak_mb()
    return out


def _download(kind: str, run_id: int) -> dict[str, Any]:
    """The report through the real admin view, read to its end as a browser would, by a finance user."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from mall.roles import FINANCE, roles_bootstrap

    roles_bootstrap()
    user, _ = get_user_model().objects.get_or_create(username="bench_finance", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=FINANCE))
    client = Client(headers={"accept-language": "zh-hans"})
    client.force_login(user)
    response = client.get(f"/admin/reconciliation/reconciliationrun/{run_id}/report.{kind}", secure=True)
    assert response.status_code == 200, response.status_code
    size = 0
    lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    response.close()
    return {"bytes": size, "newlines": lines}


def spawn(kind: str, channel: str, work: Path) -> dict[str, Any]:
    """Run one step in a fresh Python process (its own peak memory), return its answer."""
    command = [sys.executable, __file__, "child", kind, channel, "--work", str(work)]
    before, database_before = resource.getrusage(resource.RUSAGE_CHILDREN), _database_cpu()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    after, database_after = resource.getrusage(resource.RUSAGE_CHILDREN), _database_cpu()
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    answer["cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    answer["database_cpu"] = database_after - database_before  # every client of MariaDB meanwhile
    return answer


def _database_cpu() -> float:
    """CPU seconds MariaDB (mariadbd or mysqld on this machine) has used so far; 0 when it cannot be read."""
    return sum(_proc_cpu(pid) or 0.0 for pid in _pids_named("mariadbd", "mysqld"))


# --- run ------------------------------------------------------------------------------------------------
def run(work: Path) -> bool:
    from django.db import connection

    expected = json.loads((work / "expected.json").read_text(encoding="utf-8"))
    print(
        f"{expected['lines']} lines per channel, day {expected['day']}; MariaDB {connection.mysql_server_info};"
        f" {platform.node()} {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'channel':8} {'parse s':>8} {'stream s':>9} {'floor s':>8} {'run s':>7} {'ratio':>6} {'peak MB':>8}  exact"
    )
    ok = True
    for channel in CHANNELS:
        info = expected["channels"][channel]
        # The floor is taken on both sides of the run and averaged: this VM's speed drifts by a third within
        # minutes, and a floor taken on one side only puts that drift into the ratio.
        parse = spawn("parse", channel, work)
        stream = spawn("stream", channel, work)
        result = spawn("reconcile", channel, work)
        parse_after = spawn("parse", channel, work)
        stream_after = spawn("stream", channel, work)
        floor_before = parse["wall"] + stream["wall"]
        floor_after = parse_after["wall"] + stream_after["wall"]
        floor = (floor_before + floor_after) / 2
        ratio = result["wall"] / floor
        problems = check(result["run_id"], info)
        problems += [f"parsed {parse['lines']} lines, expected {info['counts']['statement_lines']}"] * (
            parse["lines"] != info["counts"]["statement_lines"]
        )
        problems += [f"streamed {stream['refunds']} refunds, expected {info['ours_listed']}"] * (
            stream["refunds"] != info["ours_listed"]
        )
        exact = not problems
        print(
            f"{channel:8} {parse['wall']:>8.1f} {stream['wall']:>9.1f} {floor:>8.1f} {result['wall']:>7.1f}"
            f" {ratio:>6.2f} {result['peak_mb']:>8.0f}  {'yes' if exact else 'NO'}"
            f"   (floor before {floor_before:.1f} s, after {floor_after:.1f} s)"
        )
        for problem in problems:
            print(f"    {problem}")
        note = f"{expected['lines']} lines"
        record(PART, f"{channel} wall", result["wall"], "s", note=note)
        record(PART, f"{channel} floor (parse + stream, mean of before and after the run)", floor, "s", note=note)
        record(PART, f"{channel} floor before the run", floor_before, "s", note=note)
        record(PART, f"{channel} floor after the run", floor_after, "s", note=note)
        record(PART, f"{channel} parse alone (before the run)", parse["wall"], "s", note=note)
        record(PART, f"{channel} stream alone (before the run)", stream["wall"], "s", note=note)
        record(PART, f"{channel} wall / floor", ratio, "×", target=f"≤ {RATIO_TARGET:g}", met=ratio <= RATIO_TARGET)
        peak = result["peak_mb"]
        record(PART, f"{channel} peak memory", peak, "MB", target=f"≤ {PEAK_TARGET_MB:g} MB", met=peak <= 400)
        record(PART, f"{channel} results exact", "yes" if exact else "no", target="exact", met=exact, note=note)
        lines = info["counts"]["statement_lines"]
        record(PART, f"{channel} CPU per line (reconciling process)", result["cpu"] / lines * 1e6, "µs", note=note)
        record(PART, f"{channel} MariaDB CPU per line", result["database_cpu"] / lines * 1e6, "µs", note=note)
        ok = ok and exact and ratio <= RATIO_TARGET and peak <= PEAK_TARGET_MB
    return reports(work) and ok


def check(run_id: int, info: dict[str, Any]) -> list[str]:
    """Differences between the run's results and what was seeded: every discrepancy once, no other, the counts."""
    from collections import Counter

    from reconciliation.models import Discrepancy, ReconciliationRun

    run = ReconciliationRun.objects.get(pk=run_id)
    problems = []
    if run.status != "succeeded":
        problems.append(f"run {run.status}: {run.error}")
    found = Counter(Discrepancy.objects.filter(run=run).values_list("kind", "out_refund_no").iterator(5000))
    wanted = Counter((kind, number) for kind, number in info["discrepancies"])
    twice = [key for key, n in found.items() if n > 1]
    missed = sorted(wanted - found)
    extra = sorted(found - wanted)
    problems += [f"found more than once: {twice[:5]}"] * bool(twice)
    problems += [f"{len(missed)} seeded discrepancies not found: {missed[:5]}"] * bool(missed)
    problems += [f"{len(extra)} discrepancies not seeded: {extra[:5]}"] * bool(extra)
    for name, value in info["counts"].items():
        got = getattr(run, name)
        if str(got) != str(value):
            problems.append(f"{name}: {got}, expected {value}")
    return problems


def reports(work: Path) -> bool:
    """CSV and XLSX downloads of runs with 100,000 and 10,000 discrepancies: time and peak memory of each."""
    from recon_plan import seed_report_run

    print(f"{'report':16} {'rows':>8} {'s':>6} {'MB out':>7} {'peak MB':>8}")
    peaks: dict[tuple[str, int], float] = {}
    ok = True
    for rows in REPORT_ROWS:
        run_id = seed_report_run(rows)
        for kind in ("csv", "xlsx"):
            got = spawn(kind, str(run_id), work)
            peaks[kind, rows] = got["peak_mb"]
            print(f"{kind:16} {rows:>8} {got['wall']:>6.1f} {got['bytes'] / 1024**2:>7.1f} {got['peak_mb']:>8.0f}")
            if kind == "csv" and got["newlines"] != rows + 1:
                print(f"    {got['newlines']} lines, expected {rows + 1}")
                ok = False
            record(PART, f"{kind} report of {rows} discrepancies", got["wall"], "s")
            met = got["peak_mb"] <= REPORT_PEAK_TARGET_MB
            record(
                PART,
                f"{kind} report of {rows} discrepancies, peak memory",
                got["peak_mb"],
                "MB",
                target=f"≤ {REPORT_PEAK_TARGET_MB:g} MB",
                met=met,
            )
            ok = ok and met
    big, small = REPORT_ROWS
    for kind in ("csv", "xlsx"):
        growth = peaks[kind, big] / peaks[kind, small]
        print(f"{kind} peak at {big} rows / at {small} rows: {growth:.2f}")
        record(PART, f"{kind} report peak, {big} / {small} rows", growth, "×", target="≤ 1.25", met=growth <= 1.25)
        ok = ok and growth <= 1.25
    return ok


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    seeding = sub.add_parser("seed")
    seeding.add_argument("--lines", type=int, default=1_000_000)
    seeding.add_argument("--work", type=Path, required=True)
    sub.add_parser("run").add_argument("--work", type=Path, required=True)
    kid = sub.add_parser("child")
    kid.add_argument("kind")
    kid.add_argument("channel")
    kid.add_argument("--work", type=Path, required=True)
    args = parser.parse_args(argv)
    _django()
    steps: dict[str, Callable[[], Any]] = {
        "seed": lambda: seed(args.lines, args.work),
        "run": lambda: run(args.work),
        "child": lambda: print(json.dumps(child(args.kind, args.channel, args.work))),
    }
    result = steps[args.step]()
    if args.step == "run" and not result:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
