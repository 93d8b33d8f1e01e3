"""A transaction that lost a lock conflict runs again from the start, a bounded number of times, and only where it
owns the transaction (mall.transactions)."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import OperationalError, connections, transaction

from mall.models import Product
from mall.transactions import ATTEMPTS, DEADLOCK, LOCK_WAIT_TIMEOUT, atomic_with_retry
from tests.factories import ProductFactory

# The helper must own the transaction: pytest-django's per-test transaction would make every call a nested one.
pytestmark = pytest.mark.django_db(transaction=True)

DEADLOCK_ERROR = OperationalError(DEADLOCK, "Deadlock found when trying to get lock; try restarting transaction")
LOCK_WAIT_ERROR = OperationalError(LOCK_WAIT_TIMEOUT, "Lock wait timeout exceeded; try restarting transaction")


def _conflicts(caplog: Any) -> list[tuple[int, str]]:
    return [
        (record.db_error_code, record.levelname)
        for record in caplog.records
        if record.name == "mall.transactions" and hasattr(record, "db_error_code")
    ]


def _losing(times: int, error: OperationalError, runs: list[str], *, sku: str) -> Any:
    """A transaction body that writes a product, then loses ``times`` times with ``error`` before it succeeds."""

    def body() -> str:
        runs.append(sku)
        Product.objects.create(sku=sku, name="苹果", price=Decimal("9.90"))
        if len(runs) <= times:
            raise error
        return "done"

    return body


def test_a_lost_deadlock_runs_the_whole_transaction_again(caplog: Any) -> None:
    runs: list[str] = []
    body = atomic_with_retry(_losing(2, DEADLOCK_ERROR, runs, sku="SKU-RETRY"))

    assert body() == "done"

    assert len(runs) == 3
    # What the lost runs wrote was rolled back with them: one product, from the run that committed.
    assert Product.objects.filter(sku="SKU-RETRY").count() == 1
    assert _conflicts(caplog) == [(DEADLOCK, "WARNING"), (DEADLOCK, "WARNING")]


def test_it_gives_up_after_its_limit_and_leaves_nothing(caplog: Any) -> None:
    runs: list[str] = []
    body = atomic_with_retry(attempts=3)(_losing(99, DEADLOCK_ERROR, runs, sku="SKU-GIVE-UP"))

    with pytest.raises(OperationalError) as raised:
        body()

    assert raised.value.args[0] == DEADLOCK
    assert len(runs) == 3
    assert not Product.objects.filter(sku="SKU-GIVE-UP").exists()
    assert _conflicts(caplog) == [(DEADLOCK, "WARNING"), (DEADLOCK, "WARNING"), (DEADLOCK, "ERROR")]


def test_the_default_limit() -> None:
    runs: list[str] = []
    with pytest.raises(OperationalError):
        atomic_with_retry(_losing(99, DEADLOCK_ERROR, runs, sku="SKU-DEFAULT"))()
    assert len(runs) == ATTEMPTS == 4


def test_a_lock_wait_timeout_is_run_again_only_where_the_service_asked() -> None:
    plain: list[str] = []
    with pytest.raises(OperationalError):
        atomic_with_retry(_losing(1, LOCK_WAIT_ERROR, plain, sku="SKU-WAIT-PLAIN"))()
    assert len(plain) == 1
    assert not Product.objects.filter(sku="SKU-WAIT-PLAIN").exists()

    patient: list[str] = []
    assert atomic_with_retry(lock_wait_timeout=True)(_losing(1, LOCK_WAIT_ERROR, patient, sku="SKU-WAIT"))() == "done"
    assert len(patient) == 2
    assert Product.objects.filter(sku="SKU-WAIT").count() == 1


def test_other_database_errors_are_not_run_again(caplog: Any) -> None:
    runs: list[str] = []
    gone = OperationalError(2006, "MySQL server has gone away")
    with pytest.raises(OperationalError):
        atomic_with_retry(_losing(1, gone, runs, sku="SKU-GONE"))()
    assert len(runs) == 1
    assert _conflicts(caplog) == []


def test_inside_a_callers_transaction_it_runs_once_and_the_caller_gets_the_error(caplog: Any) -> None:
    runs: list[str] = []
    body = atomic_with_retry(_losing(1, DEADLOCK_ERROR, runs, sku="SKU-NESTED"))
    with pytest.raises(OperationalError), transaction.atomic():
        body()
    assert len(runs) == 1
    assert not Product.objects.filter(sku="SKU-NESTED").exists()
    assert _conflicts(caplog) == []


@pytest.mark.services
def test_a_real_deadlock_on_mariadb_is_resolved_by_running_the_victim_again(caplog: Any) -> None:
    """Two transactions lock two rows in opposite orders: InnoDB rolls one back with 1213, and the retry runs
    that one again once the other has committed; both finish."""
    first, second = ProductFactory(), ProductFactory()
    both_hold_one = threading.Barrier(2)
    runs: list[str] = []
    results: dict[str, Any] = {}

    def lock_in_order(name: str, pks: tuple[int, int]) -> Any:
        @atomic_with_retry
        def body() -> str:
            runs.append(name)
            Product.objects.select_for_update().get(pk=pks[0])
            if runs.count(name) == 1:
                both_hold_one.wait(timeout=10)  # the first run of each waits until the other holds its first row
            Product.objects.filter(pk=pks[1]).update(name=f"locked by {name}")
            return name

        def thread() -> None:
            try:
                results[name] = body()
            except Exception as error:  # noqa: BLE001 - the assertion below shows it
                results[name] = error
            finally:
                connections.close_all()

        return threading.Thread(target=thread)

    threads = [lock_in_order("a", (first.pk, second.pk)), lock_in_order("b", (second.pk, first.pk))]
    for item in threads:
        item.start()
    for item in threads:
        item.join(timeout=60)

    assert results == {"a": "a", "b": "b"}
    assert sorted(runs) == ["a", "a", "b"] or sorted(runs) == ["a", "b", "b"]
    assert _conflicts(caplog) == [(DEADLOCK, "WARNING")]
