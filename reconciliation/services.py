"""Reconciliation: a channel's daily statement against our refunds, and finance resolving what differs.

``reconciliation_run`` reads our refunds of the day (one streamed query: the same work as reading them alone)
into a temporary on-disk ledger (``matching.DayLedger``), then streams the statement (the adapter yields lines
from a spooled file) batch by batch: each line is matched against the ledger, and only numbers that are not our
refunds of the day (another day's, another channel's, not refunded, or none) are looked up in the database.
Last, the ledger gives our refunds of the day the channel did not list. Memory stays flat whatever the day's
size: at most one batch of lines and one of refunds are held in memory.

A run is one row per channel and business day. Re-running a day replaces its results (a finished one only
with ``force``); resolutions made on the previous results are kept for the same request number and class.
Each batch commits on its own: a run killed midway stays ``running`` with partial results, its heartbeat stops,
and the next run of that day (after ``RECONCILIATION_STALE_MINUTES``) replaces it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import F, Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from mall.actors import Staff
from mall.models import Channel
from mall.shoptime import shop_day_bounds, shop_today
from payments.channels import StatementLine, get_channel
from reconciliation.exceptions import (
    AlreadyResolved,
    DayInFuture,
    NotAllowed,
    NoteRequired,
    RunExists,
    RunInProgress,
    RunSuperseded,
    UnknownChannel,
)
from reconciliation.matching import DayLedger, OurRefund, classify
from reconciliation.models import COUNT_FIELDS, Discrepancy, DiscrepancyKind, ReconciliationRun, RunStatus
from refunds.models import Refund, RefundDestination, RefundState

logger = logging.getLogger(__name__)
CENT = Decimal("0.01")
BATCH_SIZE = 5000  # statement lines matched together, and our refunds per page
LOOKUP_CHUNK = 900  # request numbers per query of our refunds
# Earlier days' open "missing at the channel" held in memory for a run (a set of request numbers); beyond this
# many, each batch asks the database instead.
LATE_CANDIDATES_MAX = 100_000
# A refund "missing at the channel" on one day and listed on a statement up to this many days later was listed
# late (a refund that succeeded just before midnight, booked by the channel the next day): that later run
# resolves the earlier discrepancy itself, saying where the refund was listed.
LATE_LISTING_DAYS = 3
DELETE_BATCH = 5000
RESOLVE_PERMISSION = "reconciliation.resolve_discrepancy"

Resolution = tuple[int | None, datetime | None, str]


@dataclass
class _Pass:
    """One pass over a day: the run it fills and what it carries over from the run's previous results."""

    run: ReconciliationRun
    # (class, request number) → resolution, from the previous results: only rows a person resolved.
    carried: dict[tuple[str, str], Resolution] = field(default_factory=dict)
    # Rows up to this id are the previous results (resolved ones, kept until this pass completes).
    watermark: int = 0
    # Earlier days' "missing at the channel" that this day's statement lists (resolved by this pass).
    listed_late: int = 0
    # The request numbers of those earlier discrepancies still open when the pass began (None: too many to hold,
    # each batch asks the database). Most days there are none, and no batch needs to ask at all.
    late_candidates: set[str] | None = None


def reconciliation_run(
    *, channel: str, day: date, force: bool = False, actor: Staff | None = None
) -> ReconciliationRun:
    """Reconcile ``channel``'s statement of ``day`` (Asia/Shanghai) with our refunds; returns the finished run.

    Raises ``RunExists`` if the day was reconciled already (unless ``force``), ``RunInProgress`` if another run
    of it is moving; a channel error marks the run failed and is raised again.
    """
    current = reconciliation_start(channel=channel, day=day, force=force, actor=actor)
    try:
        with contextlib.closing(_statement(channel, day)) as lines:
            return reconciliation_complete(current, lines)
    except Exception as exc:
        _fail(current, exc)
        raise


def _statement(channel: str, day: date) -> Generator[StatementLine, None, None]:
    # A generator of its own, so that closing it also closes the adapter's (and its spooled file).
    yield from get_channel(channel).fetch_statement(day)


def reconciliation_start(*, channel: str, day: date, force: bool = False, actor: Staff | None = None) -> _Pass:
    """Claim the run of ``channel`` and ``day`` (creating it, or taking it over for a new pass)."""
    if channel not in Channel.values:
        raise UnknownChannel(field="channel")
    if day > shop_today():
        raise DayInFuture(field="day")
    now = timezone.now()
    fresh = {
        "status": RunStatus.RUNNING,
        "started_at": now,
        "heartbeat_at": now,
        "finished_at": None,
        "started_by_id": getattr(actor, "pk", None),
        "statement_lines": 0,
        "statement_total": Decimal("0.00"),
        "matched_count": 0,
        "error": "",
        **dict.fromkeys(COUNT_FIELDS.values(), 0),
    }
    with transaction.atomic():
        run = ReconciliationRun.objects.select_for_update().filter(channel=channel, business_day=day).first()
        if run is None:
            try:
                with transaction.atomic():
                    run = ReconciliationRun.objects.create(channel=channel, business_day=day, **fresh)
            except IntegrityError as exc:  # another process created it a moment ago
                raise RunInProgress() from exc
            return _Pass(run=run)
        if run.status == RunStatus.RUNNING and run.heartbeat_at > now - _stale_after():
            raise RunInProgress()
        if run.status == RunStatus.SUCCEEDED and not force:
            raise RunExists()
        run.discrepancies.filter(resolved_at__isnull=True).delete()
        kept = run.discrepancies.order_by()
        watermark = kept.aggregate(top=Max("id"))["top"] or 0
        carried: dict[tuple[str, str], Resolution] = {
            (kind, number): (by, at, note)
            for kind, number, by, at, note in kept.values_list(
                "kind", "out_refund_no", "resolved_by_id", "resolved_at", "resolution_note"
            ).iterator(chunk_size=BATCH_SIZE)
        }
        for name, value in fresh.items():
            setattr(run, name, value)
        run.save()
    return _Pass(run=run, carried=carried, watermark=watermark)


def reconciliation_complete(current: _Pass, lines: Iterable[StatementLine]) -> ReconciliationRun:
    """Match ``lines`` (the day's statement, streamed) against our refunds of the day, then record those the
    statement did not list; finish the run."""
    run = current.run
    current.late_candidates = _late_candidates(run)
    iterator = iter(lines)
    # The statement's first batch before our refunds: a channel that cannot give the statement fails the run at
    # once, without the day's refunds read for nothing.
    batch = list(itertools.islice(iterator, BATCH_SIZE))
    with DayLedger(run.channel) as ledger:
        # Closed however the reading ends: the connection must be free again for the run's failure to be written.
        with contextlib.closing(_our_refunds_of_the_day(run.channel, run.business_day)) as pages:
            for page in pages:
                ledger.add_ours(page)
        while batch:
            _match_lines(current, batch, ledger)
            batch = list(itertools.islice(iterator, BATCH_SIZE))
        for missing in ledger.unlisted(BATCH_SIZE):
            rows = [_row(current, DiscrepancyKind.MISSING_AT_CHANNEL, r.out_refund_no, r, None) for r in missing]
            _record(current, rows, {"missing_at_channel_count": len(rows)}, 0, Decimal("0.00"))
    with transaction.atomic():
        finished = timezone.now()
        if not _this_pass(current).update(status=RunStatus.SUCCEEDED, finished_at=finished, heartbeat_at=finished):
            raise RunSuperseded()
        _delete_previous(run, current.watermark)
    run.refresh_from_db()
    logger.info(
        "reconciled %s %s: %d lines, %d matched, %d discrepancies; %d of earlier days listed late",
        run.channel,
        run.business_day,
        run.statement_lines,
        run.matched_count,
        run.discrepancy_count,
        current.listed_late,
    )
    return run


def _match_lines(current: _Pass, batch: list[StatementLine], ledger: DayLedger) -> None:
    repeats, ours = ledger.listing([line.out_refund_no for line in batch])
    others = {line.out_refund_no for line in batch if line.out_refund_no and line.out_refund_no not in ours}
    ours.update((refund.out_refund_no, refund) for refund in _refunds_by_number(others))
    ours_here = [number for number, refund in ours.items() if refund.channel == current.run.channel]
    if current.late_candidates is not None:
        ours_here = [number for number in ours_here if number in current.late_candidates]
    current.listed_late += _resolve_late_listings(current.run, ours_here)
    counts: Counter[str] = Counter()
    rows = []
    total = Decimal("0.00")
    for line, repeated in zip(batch, repeats, strict=True):
        total += line.amount
        refund = ours.get(line.out_refund_no)
        kind = DiscrepancyKind.LISTED_TWICE if repeated else classify(line, refund, channel=current.run.channel)
        if kind is None:
            counts["matched_count"] += 1
            continue
        counts[COUNT_FIELDS[kind]] += 1
        rows.append(_row(current, kind, line.out_refund_no, refund, line))
    _record(current, rows, counts, len(batch), total)


def _refunds_by_number(numbers: set[str]) -> list[OurRefund]:
    """Our refunds with these request numbers, in plain queries on the unique index (for a batch of thousands,
    building the ORM's lookup cost more than the database's answer), ``LOOKUP_CHUNK`` numbers each: MariaDB
    turns an IN list of 1,000 values or more into a join with a derived table, three times slower here."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in ("id", "out_refund_no", "channel", "amount", "state", "destination"))
    wanted = sorted(numbers)
    found = []
    with connection.cursor() as cursor:
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT {columns} FROM {quote(Refund._meta.db_table)} WHERE {quote('out_refund_no')} IN ({marks})",  # noqa: S608 - names from the model, values bound
                chunk,
            )
            found += [
                OurRefund(pk, number, channel, _decimal(amount), state, destination)
                for pk, number, channel, amount, state, destination in cursor.fetchall()
            ]
    return found


def _decimal(value: Any) -> Decimal:
    """An amount as the driver returns it: a Decimal from MySQL, a number SQLite kept (read as Django does)."""
    return value if isinstance(value, Decimal) else Decimal(str(value)).quantize(CENT)


def _earlier_missing(run: ReconciliationRun) -> QuerySet[Discrepancy]:
    """Earlier days' open "missing at the channel" of the run's channel (within ``LATE_LISTING_DAYS``)."""
    return Discrepancy.objects.filter(
        kind=DiscrepancyKind.MISSING_AT_CHANNEL,
        resolved_at__isnull=True,
        run__channel=run.channel,
        run__business_day__lt=run.business_day,
        run__business_day__gte=run.business_day - timedelta(days=LATE_LISTING_DAYS),
    )


def _late_candidates(run: ReconciliationRun) -> set[str] | None:
    """The request numbers this day's statement could resolve as listed late, if few enough to hold (one query).
    One that an earlier day's run adds while this pass moves is left to that day's own next run."""
    numbers = set(_earlier_missing(run).order_by().values_list("out_refund_no", flat=True)[: LATE_CANDIDATES_MAX + 1])
    return numbers if len(numbers) <= LATE_CANDIDATES_MAX else None


def _resolve_late_listings(run: ReconciliationRun, numbers: list[str]) -> int:
    """Our refunds among ``numbers`` that an earlier day's run (within ``LATE_LISTING_DAYS``) found missing at the
    channel, and that this day's statement lists: those discrepancies are resolved, by nobody, with a note naming
    this statement. Whatever this line shows against our refund (an amount or status difference) is this run's
    own discrepancy. Returns how many were resolved."""
    if not numbers:
        return 0
    note = gettext("Listed late: on the channel's statement of %(day)s.") % {"day": f"{run.business_day:%Y-%m-%d}"}
    return (
        _earlier_missing(run).filter(out_refund_no__in=numbers).update(resolved_at=timezone.now(), resolution_note=note)
    )


def _record(current: _Pass, rows: list[tuple[Any, ...]], counts: Mapping[str, int], lines: int, total: Decimal) -> None:
    """One batch's results and the run's counters, in one transaction: a kill leaves whole batches only."""
    changes: dict[str, Any] = {name: F(name) + number for name, number in counts.items() if number}
    if lines:
        changes["statement_lines"] = F("statement_lines") + lines
        changes["statement_total"] = F("statement_total") + total
    with transaction.atomic():
        if not _this_pass(current).update(heartbeat_at=timezone.now(), **changes):
            raise RunSuperseded()
        _insert(rows)


def _this_pass(current: _Pass) -> QuerySet[ReconciliationRun]:
    """The run, as long as this pass still holds it: a pass that stalled past the stale limit and was taken
    over by another (``started_at`` tells passes apart) must not add to the new pass's results."""
    return ReconciliationRun.objects.filter(
        pk=current.run.pk, started_at=current.run.started_at, status=RunStatus.RUNNING
    )


_COLUMNS = (
    "run_id",
    "kind",
    "out_refund_no",
    "refund_id",
    "our_amount",
    "our_state",
    "channel_amount",
    "channel_status",
    "channel_refund_id",
    "channel_time",
    "resolved_by_id",
    "resolved_at",
    "resolution_note",
)


def _row(
    current: _Pass, kind: str, number: str, refund: OurRefund | None, line: StatementLine | None
) -> tuple[Any, ...]:
    """One discrepancy as the values of ``_COLUMNS``, with the resolution carried over from earlier results."""
    adapt = connection.ops.adapt_datetimefield_value
    by, at, note = current.carried.get((kind, number), (None, None, ""))
    return (
        current.run.pk,
        kind,
        number,
        refund.id if refund else None,
        refund.amount if refund else None,
        refund.state if refund else "",
        line.amount if line else None,
        str(line.status) if line else "",
        (line.channel_refund_id or "") if line else "",
        adapt(line.refunded_at) if line and line.refunded_at else None,
        by,
        adapt(at) if at else None,
        note,
    )


def _insert(rows: list[tuple[Any, ...]]) -> None:
    """A batch of discrepancies in one statement (a multi-row INSERT on MySQL), without building model
    instances: a day the channel and we disagree on entirely must not take hours."""
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in _COLUMNS)
    marks = ", ".join(["%s"] * len(_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {quote(Discrepancy._meta.db_table)} ({columns}) VALUES ({marks})", rows)  # noqa: S608 - names from the model, values bound


def _our_refunds_of_the_day(channel: str, day: date) -> Generator[list[tuple[int, str, Decimal]], None, None]:
    """Our refunds on ``channel`` whose money went back on ``day`` through the channel, as (id, request number,
    amount), ``BATCH_SIZE`` at a time, in no particular order, from one query whose rows are read as the database
    sends them (``_streaming_cursor``): the database picks its plan for the whole day at once, and nothing else
    runs on the connection until the last row is read. Those paid to store credit or by bank transfer never
    reached the channel's books."""
    start, end = shop_day_bounds(day)
    refunded = Refund.objects.filter(
        channel=channel,
        state=RefundState.REFUNDED,
        destination=RefundDestination.ORIGINAL,
        refunded_at__gte=start,
        refunded_at__lt=end,
    ).order_by()
    # The ORM writes the query; the rows are read as the driver returns them (a million refunds through the
    # ORM's converters cost seconds).
    sql, params = refunded.values_list("id", "out_refund_no", "amount").query.sql_with_params()
    with _streaming_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(BATCH_SIZE):
            yield [(pk, number, _decimal(amount)) for pk, number, amount in rows]


@contextlib.contextmanager
def _streaming_cursor() -> Iterator[CursorWrapper]:
    """A cursor whose rows come from the server as they are read, none held: on MySQL an unbuffered cursor
    (Django's own buffer the whole answer in the client); SQLite's cursors read lazily already."""
    connection.ensure_connection()
    if connection.vendor == "mysql":
        import MySQLdb.cursors  # MySQL's driver: only there

        raw = connection.connection.cursor(MySQLdb.cursors.SSCursor)
        # Wrapped as Django wraps its own: errors translated, execute wrappers and query logging applied.
        cursor = (connection.make_debug_cursor if connection.queries_logged else connection.make_cursor)(raw)
    else:
        cursor = connection.cursor()
    with cursor:
        yield cursor


def _delete_previous(run: ReconciliationRun, watermark: int) -> None:
    """The previous results' resolved rows, now carried over to this pass's rows."""
    if not watermark:
        return
    while True:
        ids = list(
            Discrepancy.objects.filter(run=run, id__lte=watermark)
            .order_by("id")
            .values_list("id", flat=True)[:DELETE_BATCH]
        )
        if not ids:
            return
        Discrepancy.objects.filter(id__in=ids).delete()


def _fail(current: _Pass, exc: Exception) -> None:
    run = current.run
    message = str(exc)[:500] or type(exc).__name__
    logger.warning("reconciliation of %s %s failed: %s", run.channel, run.business_day, message)
    now = timezone.now()
    _this_pass(current).update(status=RunStatus.FAILED, error=message, finished_at=now, heartbeat_at=now)
    run.refresh_from_db()


def _stale_after() -> timedelta:
    return timedelta(minutes=settings.RECONCILIATION_STALE_MINUTES)


def run_is_due(run: ReconciliationRun | None) -> bool:
    """Whether the scheduler should (re)run a day: never run, failed, or killed (running without progress)."""
    if run is None or run.status == RunStatus.FAILED:
        return True
    return run.status == RunStatus.RUNNING and run.heartbeat_at <= timezone.now() - _stale_after()


# --- resolving ------------------------------------------------------------------------------------------
@transaction.atomic
def discrepancy_resolve(*, discrepancy: Discrepancy, actor: Staff, note: str) -> Discrepancy:
    """Finance closes a discrepancy, saying how (the note is required and kept)."""
    if not actor.has_perm(RESOLVE_PERMISSION):
        raise NotAllowed()
    note = (note or "").strip()
    if not note:
        raise NoteRequired(field="note")
    locked = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
    if locked.resolved_at is not None:
        raise AlreadyResolved()
    locked.resolved_by = actor
    locked.resolved_at = timezone.now()
    locked.resolution_note = note[:500]
    locked.save(update_fields=["resolved_by", "resolved_at", "resolution_note"])
    return locked
