"""Figures the benchmarks hand to the dated report (``benchmarks/report.py``).

Each benchmark prints its own table as before and, for every figure worth keeping, calls :func:`record`. When
``BENCH_FIGURES`` names a file (``scripts/bench.sh`` sets it), the figure is appended to it as one JSON line with
the machine's 1-minute load at that moment; without it, ``record`` does nothing, so a benchmark run by hand
behaves as it always did.

    from figures import record  # benchmarks/ is on sys.path when a benchmark runs as a script

    record("reconciliation", "alipay wall / floor", 2.51, "×", target="≤ 3", met=2.51 <= 3)
"""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal
from pathlib import Path

Value = int | float | Decimal | str


def record(
    part: str,
    name: str,
    value: Value,
    unit: str = "",
    *,
    target: str | None = None,
    met: bool | None = None,
    note: str = "",
) -> None:
    """Keep one figure: ``part`` is the benchmark (``console``, ``execution``...), ``name`` what was measured.

    ``target`` is the goal as a reader would write it (``"< 300 ms"``) and ``met`` whether this run reached it;
    both stay ``None`` for a figure that only informs.
    """
    path = os.environ.get("BENCH_FIGURES")
    if not path:
        return
    if isinstance(value, Decimal):
        value = str(value)
    elif isinstance(value, float):
        value = round(value, 4)
    line = {
        "part": part,
        "name": name,
        "value": value,
        "unit": unit,
        "target": target,
        "met": met,
        "note": note,
        "load": round(os.getloadavg()[0], 2),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
