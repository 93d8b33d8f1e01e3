"""The dated benchmark report: figures recorded by the benchmarks, written as JSON and Markdown, and compared."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    figures = importlib.import_module("figures")
    report = importlib.import_module("report")
    yield figures, report
    sys.modules.pop("figures", None)
    sys.modules.pop("report", None)


def test_record_without_a_figures_file_does_nothing(bench, monkeypatch, tmp_path):
    figures, _ = bench
    monkeypatch.delenv("BENCH_FIGURES", raising=False)
    monkeypatch.chdir(tmp_path)

    figures.record("console", "queue: p50", 12.5, "ms", target="< 300 ms", met=True)

    assert list(tmp_path.iterdir()) == []


def _run(bench, monkeypatch, tmp_path, name, values):
    figures, report = bench
    work = tmp_path / name
    work.mkdir()
    monkeypatch.setenv("BENCH_FIGURES", str(work / "figures.jsonl"))
    report.main(["begin", "--out", str(work / "machine.json")])
    machine = json.loads((work / "machine.json").read_text())
    machine["started"] = f"2026-12-05T07:00:0{name[-1]}Z"
    (work / "machine.json").write_text(json.dumps(machine))
    figures.record("console", "queue: p50", values[0], "ms", target="< 300 ms", met=values[0] < 300)
    figures.record("execution", "burst", values[1], "refunds/s", target="≥ 100/s", met=values[1] >= 100)
    figures.record("sweep", "outcome", "approved 95000", note="counts")
    report.main(
        [
            "write",
            "--machine",
            str(work / "machine.json"),
            "--figures",
            str(work / "figures.jsonl"),
            "--out",
            str(tmp_path / "reports"),
        ]
    )
    return tmp_path / "reports" / f"2026-12-05T07000{name[-1]}Z.json"


def test_write_keeps_every_figure_with_its_target_and_the_machine(bench, monkeypatch, tmp_path):
    written = _run(bench, monkeypatch, tmp_path, "run1", (81.0, 59.7))

    data = json.loads(written.read_text())
    assert data["machine"]["cores"] >= 1
    assert len(data["machine"]["load_start"]) == 3
    assert [(f["part"], f["name"], f["value"], f["unit"], f["target"], f["met"]) for f in data["figures"]] == [
        ("console", "queue: p50", 81.0, "ms", "< 300 ms", True),
        ("execution", "burst", 59.7, "refunds/s", "≥ 100/s", False),
        ("sweep", "outcome", "approved 95000", "", None, None),
    ]
    assert all(isinstance(f["load"], float) for f in data["figures"])
    text = written.with_suffix(".md").read_text()
    assert "- Targets: 1 of 2 met: not met: execution: burst" in text
    assert "| queue: p50 | 81.0 ms | < 300 ms | met |" in text
    assert "| burst | 59.7 refunds/s | ≥ 100/s | NOT met |" in text
    assert "| outcome (counts) | approved 95000 |  |  |" in text


def test_compare_puts_two_reports_side_by_side(bench, monkeypatch, tmp_path, capsys):
    _, report = bench
    first = _run(bench, monkeypatch, tmp_path, "run1", (81.0, 59.7))
    second = _run(bench, monkeypatch, tmp_path, "run2", (162.0, 104.5))

    assert report.main(["compare", str(first), str(second)]) == 0

    lines = capsys.readouterr().out.splitlines()
    queue = next(line for line in lines if line.startswith("console: queue: p50"))
    assert queue.split() == [
        "console:",
        "queue:",
        "p50",
        "81.0",
        "ms",
        "162.0",
        "ms",
        "2.00",
        "<",
        "300",
        "ms",
        "met",
        "met",
    ]
    burst = next(line for line in lines if line.startswith("execution: burst"))
    assert burst.split()[2:] == ["59.7", "refunds/s", "104.5", "refunds/s", "1.75", "≥", "100/s", "NOT", "met", "met"]


def test_compare_without_two_reports_says_so(bench, monkeypatch, tmp_path, capsys):
    _, report = bench
    monkeypatch.setattr(report, "REPORTS", tmp_path)

    assert report.main(["compare"]) == 2
    assert "compare needs two reports (found 0" in capsys.readouterr().err
