"""docs/configuration.md names every environment variable the settings read, and nothing they don't."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READ = re.compile(r"""(?:os\.environ\.get|env_bool|env_int|env_decimal|env_list)\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def _read_by_settings() -> set[str]:
    return set(READ.findall((ROOT / "mall" / "settings.py").read_text(encoding="utf-8")))


def _documented() -> set[str]:
    rows = [line for line in (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8").splitlines()]
    names: set[str] = set()
    for row in rows:
        if row.startswith("| `"):
            first_cell = row.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def test_every_variable_the_settings_read_is_documented() -> None:
    read = _read_by_settings()
    assert len(read) > 60  # the pattern still finds the settings' reads
    assert sorted(read - _documented()) == []


def test_every_documented_variable_is_read_by_the_settings() -> None:
    assert sorted(_documented() - _read_by_settings()) == []
