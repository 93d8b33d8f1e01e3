"""What every periodic sweep of every app is built from: keyset pages, one run at a time, and what a run did.

A sweep reads the database for what is due (nothing is remembered between runs), walks it in keyset pages
(``pages``: one index range per query, one page in memory) and handles each item in its own transaction, so it is
idempotent, works in bounded memory and survives being killed half way. ``sweep_run`` holds a Redis lock per
sweep (when Redis is configured; two overlapping runs would both see the same item as due) and counts what the
run did in a ``SweepOutcome``; a dry run takes no lock, writes nothing and lists what it would do.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from mall.exceptions import BusinessError

logger = logging.getLogger(__name__)
SWEEP_LOCK_SECONDS = 300  # a killed run frees the sweep after this
SWEEP_LOCK_RENEW_SECONDS = 30  # a live run renews it this often (checked after every item)
# Per-item failures a sweep counts and leaves for the next run; anything else is a bug and stops it.
ITEM_ERRORS: tuple[type[Exception], ...] = (BusinessError, DatabaseError)

KeepAlive = Callable[[], None]


@dataclass(frozen=True)
class Planned:
    object_id: int
    label: str  # order or refund number
    action: str
    detail: str = ""


@dataclass
class SweepOutcome:
    sweep: str
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    planned: list[Planned] = field(default_factory=list)  # filled by dry runs only
    locked_out: bool = False

    @property
    def ids(self) -> list[int]:
        """The ids a dry run would act on."""
        return [item.object_id for item in self.planned]

    def record(self, item: Planned) -> None:
        self.counts[item.action] += 1
        if self.dry_run:
            self.planned.append(item)

    def __str__(self) -> str:
        if self.locked_out:
            return _("%(sweep)s: another run is in progress; nothing done") % {"sweep": self.sweep}
        counts = ", ".join(f"{action} {n}" for action, n in sorted(self.counts.items())) or _("nothing to do")
        head = (
            _("%(sweep)s (dry run, nothing changed): %(counts)s") if self.dry_run else _("%(sweep)s: %(counts)s")
        ) % {
            "sweep": self.sweep,
            "counts": counts,
        }
        lines = [head] + [
            f"  {item.action} {item.label} (#{item.object_id}){': ' + item.detail if item.detail else ''}"
            for item in self.planned
        ]
        return "\n".join(lines)


def page_size(size: int | None = None) -> int:
    """Rows per page: ``size``, or ``SWEEP_BATCH_SIZE``."""
    return size or settings.SWEEP_BATCH_SIZE


def pages(queryset: QuerySet[Any], fields: Sequence[str], size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Rows (pk first, then ``fields``) in primary-key order, one page per query: keyset pagination, so each
    query is an index range and nothing but one page is ever in memory."""
    last = 0
    while True:
        page = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", *fields)[:size])
        if not page:
            return
        yield page
        last = page[-1][0]


def id_pages(queryset: QuerySet[Any], size: int) -> Iterator[list[int]]:
    """Primary keys of ``queryset`` in keyset pages of ``size`` (see ``pages``)."""
    for page in pages(queryset, (), size):
        yield [row[0] for row in page]


@contextmanager
def sweep_lock(name: str) -> Iterator[KeepAlive | None]:
    """Yield a keep-alive to call after each item, or None when another run holds the sweep."""
    if not settings.REDIS_URL:
        yield lambda: None
        return
    from django_redis import get_redis_connection

    lock = get_redis_connection("default").lock(f"mall:lock:sweep:{name}", timeout=SWEEP_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        yield None
        return
    renewed = time.monotonic()

    def keep_alive() -> None:
        nonlocal renewed
        if time.monotonic() - renewed > SWEEP_LOCK_RENEW_SECONDS:
            lock.reacquire()
            renewed = time.monotonic()

    try:
        yield keep_alive
    finally:
        if lock.owned():
            lock.release()


def sweep_run(
    name: str,
    *,
    dry_run: bool,
    body: Callable[[SweepOutcome, KeepAlive], None],
    log: logging.Logger = logger,
) -> SweepOutcome:
    """Run ``body`` under the sweep's lock (none for a dry run) and return what it recorded; ``log`` is the
    sweep's own logger, so that its lines are filed under its app."""
    outcome = SweepOutcome(sweep=name, dry_run=dry_run)
    if dry_run:
        body(outcome, lambda: None)
        return outcome
    with sweep_lock(name) as keep_alive:
        if keep_alive is None:
            outcome.locked_out = True
            log.info("%s: another run is in progress", name)
            return outcome
        body(outcome, keep_alive)
    if outcome.counts:
        log.info("%s: %s", name, dict(outcome.counts))
    return outcome
