"""Matching one statement line to our refund, and the on-disk ledger of a day: our refunds and what was listed.

Pure rules (``classify``) and a bounded-memory ledger (``DayLedger``): the service feeds both batch by batch.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
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
CACHE_KB = 16384  # the ledger's page cache


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


class DayLedger:
    """Our refunds of one day that the channel should list, and the request numbers its statement listed, kept in
    a temporary SQLite file (not in memory): a day of a million of each costs some tens of megabytes of disk and a
    few of page cache, not a million objects. Every refund in it is on ``channel``, refunded to the original
    payment (what the day's query selects), so only its id and amount are kept."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._dir = tempfile.TemporaryDirectory(prefix="reconciliation-")
        self._db = sqlite3.connect(Path(self._dir.name) / "day.sqlite3", isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE_KB}", "temp_store=FILE"):
            self._db.execute(f"PRAGMA {pragma}")
        # id NULL: a number only the statement has; listed: the statement has it.
        self._db.execute(
            "CREATE TABLE day (no TEXT PRIMARY KEY, id INTEGER, amount TEXT, listed INTEGER NOT NULL DEFAULT 0)"
            " WITHOUT ROWID"
        )

    def __enter__(self) -> DayLedger:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def add_ours(self, refunds: Iterable[tuple[int, str, Decimal]]) -> None:
        """Our refunds of the day, as (id, request number, amount), before any line is listed."""
        self._db.execute("BEGIN")
        rows = ((pk, number, str(amount)) for pk, number, amount in refunds)
        self._db.executemany("INSERT INTO day (id, no, amount) VALUES (?, ?, ?)", rows)
        self._db.execute("COMMIT")

    def listing(self, numbers: Sequence[str]) -> tuple[list[bool], dict[str, OurRefund]]:
        """Record that the statement lists ``numbers``, in order. Returns, for each, whether it had been listed
        before (earlier or in this batch), and our refunds of the day among them by number. Blank numbers are
        never repeats: nothing can be matched by them anyway."""
        listed: set[str] = set()
        ours: dict[str, OurRefund] = {}
        wanted = list(dict.fromkeys(n for n in numbers if n))
        for start in range(0, len(wanted), SQLITE_PARAMS):
            chunk = wanted[start : start + SQLITE_PARAMS]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT no, id, amount, listed FROM day WHERE no IN ({marks})"  # noqa: S608 - placeholders only
            for number, pk, amount, was_listed in self._db.execute(query, chunk):
                if was_listed:
                    listed.add(number)
                if pk is not None:
                    ours[number] = OurRefund(pk, number, self.channel, Decimal(amount), RefundState.REFUNDED)
        repeats = []
        fresh: dict[str, None] = {}
        for number in numbers:
            repeated = bool(number) and (number in listed or number in fresh)
            repeats.append(repeated)
            if number and not repeated:
                fresh[number] = None
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT INTO day (no, listed) VALUES (?, 1) ON CONFLICT (no) DO UPDATE SET listed = 1",
            ((n,) for n in fresh),
        )
        self._db.execute("COMMIT")
        return repeats, ours

    def unlisted(self, size: int) -> Iterator[list[OurRefund]]:
        """Our refunds of the day the statement never listed, ``size`` at a time (by request number)."""
        cursor = self._db.execute("SELECT id, no, amount FROM day WHERE listed = 0 AND id IS NOT NULL ORDER BY no")
        while rows := cursor.fetchmany(size):
            yield [OurRefund(pk, no, self.channel, Decimal(amount), RefundState.REFUNDED) for pk, no, amount in rows]
