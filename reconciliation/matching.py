"""Matching one statement line to our refund, and the on-disk index of request numbers a statement listed.

Pure rules (``classify``) and a bounded-memory set (``SeenNumbers``): the service feeds both batch by batch.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from payments.channels import RefundStatus, StatementLine
from reconciliation.models import DiscrepancyKind
from refunds.models import RefundDestination, RefundState

# What our refund's state must be for a line of each channel status to agree with it.
AGREEING_STATES: dict[str, frozenset[str]] = {
    RefundStatus.SUCCESS: frozenset({RefundState.REFUNDED}),
    RefundStatus.PROCESSING: frozenset({RefundState.REFUNDING}),
    RefundStatus.CLOSED: frozenset({RefundState.FAILED}),
    RefundStatus.FAILED: frozenset({RefundState.FAILED}),
}
SQLITE_PARAMS = 500  # bound parameters per lookup, well under SQLite's limit


class OurRefund(NamedTuple):
    """What matching needs of our refund (a tuple: a day's million of them are built fast)."""

    id: int
    out_refund_no: str
    channel: str
    amount: Decimal
    state: str
    destination: str = RefundDestination.ORIGINAL


# Channel statuses that say the channel did not pay: they agree with a refund a person then paid another way.
NOT_PAID = frozenset({RefundStatus.CLOSED, RefundStatus.FAILED})


def classify(line: StatementLine, ours: OurRefund | None, *, channel: str) -> str | None:
    """The discrepancy a statement line shows against our refund of the same request number; None if it matches.

    Money first: a line whose amount differs is an amount difference whatever the states say. A refund paid
    another way (store credit, a bank transfer) agrees only with a line saying the channel did not pay: one the
    channel paid after all went out twice.
    """
    if ours is None or ours.channel != channel:
        return DiscrepancyKind.MISSING_WITH_US
    if ours.amount != line.amount:
        return DiscrepancyKind.AMOUNT_DIFFERS
    if ours.destination != RefundDestination.ORIGINAL:
        return None if line.status in NOT_PAID else DiscrepancyKind.STATUS_DIFFERS
    if ours.state not in AGREEING_STATES.get(line.status, frozenset()):
        return DiscrepancyKind.STATUS_DIFFERS
    return None


class SeenNumbers:
    """The request numbers read so far from one statement, kept in a temporary SQLite file (not in memory):
    a statement of a million lines costs a few megabytes of page cache, not a million strings."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="reconciliation-")
        self._db = sqlite3.connect(Path(self._dir.name) / "seen.sqlite3", isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-4096", "temp_store=FILE"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE seen (no TEXT PRIMARY KEY) WITHOUT ROWID")

    def __enter__(self) -> SeenNumbers:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def among(self, numbers: Iterable[str]) -> set[str]:
        """Which of ``numbers`` were seen."""
        wanted = list(dict.fromkeys(numbers))
        found: set[str] = set()
        for start in range(0, len(wanted), SQLITE_PARAMS):
            chunk = wanted[start : start + SQLITE_PARAMS]
            marks = ",".join("?" * len(chunk))
            found.update(row[0] for row in self._db.execute(f"SELECT no FROM seen WHERE no IN ({marks})", chunk))  # noqa: S608 - placeholders only
        return found

    def add(self, numbers: Sequence[str]) -> list[bool]:
        """Record ``numbers`` in order; for each, whether it had been seen before (earlier or in this batch).
        Blank numbers are never repeats: nothing can be matched by them anyway."""
        before = self.among(n for n in numbers if n)
        fresh: dict[str, None] = {}
        repeats = []
        for number in numbers:
            repeated = bool(number) and (number in before or number in fresh)
            repeats.append(repeated)
            if number and not repeated:
                fresh[number] = None
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO seen (no) VALUES (?)", ((n,) for n in fresh))
        self._db.execute("COMMIT")
        return repeats
