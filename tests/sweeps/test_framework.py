"""The sweeps' common parts (``mall.sweeps``): keyset pages, the run's lock and what a run did."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mall.models import Product
from mall.sweeps import Planned, SweepOutcome, id_pages, page_size, pages, sweep_run
from tests.sweeps.conftest import product


@pytest.mark.django_db
def test_pages_walk_the_primary_key_one_query_per_page() -> None:
    made = [product(price=f"{n}.00").pk for n in range(1, 6)]
    queryset = Product.objects.filter(pk__in=made)
    with CaptureQueriesContext(connection) as queries:
        walked = list(pages(queryset, ["price"], 2))
    assert [[row[0] for row in page] for page in walked] == [made[0:2], made[2:4], made[4:5]]
    assert [str(row[1]) for page in walked for row in page] == ["1.00", "2.00", "3.00", "4.00", "5.00"]
    assert len(queries) == 4  # three pages, and the empty one that ends the walk
    assert list(id_pages(queryset, 3)) == [made[0:3], made[3:5]]


def test_page_size_defaults_to_the_setting(settings: Any) -> None:
    settings.SWEEP_BATCH_SIZE = 7
    assert (page_size(None), page_size(3)) == (7, 3)


def test_a_dry_run_lists_what_it_would_do() -> None:
    def body(outcome: SweepOutcome, keep_alive: Any) -> None:
        keep_alive()
        outcome.record(Planned(5, "O5", "refund", "short 1"))
        outcome.record(Planned(6, "O6", "allocate"))

    outcome = sweep_run("example", dry_run=True, body=body)
    assert (dict(outcome.counts), outcome.ids, outcome.locked_out) == ({"refund": 1, "allocate": 1}, [5, 6], False)
    assert (
        str(outcome)
        == "example (dry run, nothing changed): allocate 1, refund 1\n  refund O5 (#5): short 1\n  allocate O6 (#6)"
    )


@pytest.mark.services  # the sweep lock lives in Redis
def test_a_run_while_another_holds_the_sweep_does_nothing() -> None:
    from django_redis import get_redis_connection

    ran = []
    lock = get_redis_connection("default").lock("mall:lock:sweep:example", timeout=60)
    assert lock.acquire(blocking=False)
    try:
        outcome = sweep_run("example", dry_run=False, body=lambda outcome, keep_alive: ran.append(1))
    finally:
        lock.release()
    assert (outcome.locked_out, dict(outcome.counts), ran, str(outcome)) == (
        True,
        {},
        [],
        "example: another run is in progress; nothing done",
    )
    outcome = sweep_run(
        "example", dry_run=False, body=lambda outcome, keep_alive: outcome.record(Planned(1, "O1", "close"))
    )
    assert (outcome.locked_out, dict(outcome.counts), outcome.planned) == (False, {"close": 1}, [])
