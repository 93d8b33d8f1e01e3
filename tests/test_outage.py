"""A dependency that goes away gives a 503 that names it, never a 500, and Redis going away does not stop
applications: the throttle lets them through, the order's row lock alone serialises them, and the jobs that
could not be handed over are found by the re-dispatch sweep once Redis is back.

Redis is a private ``redis-server`` that the tests kill and pause; the database is made unreachable by pointing
the connection at a closed port (MariaDB only: closing SQLite's in-memory test database would destroy it)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import time_machine
from django.db import IntegrityError, OperationalError, connection
from django.test import RequestFactory
from django.utils import timezone
from rq import Queue

from mall.outage import server_error, unavailable_dependency
from payments import jobs as payment_jobs
from refunds.models import Refund, RefundState
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory, make_order
from tests.redis_server import PrivateRedis, free_port, private_redis, use_redis

DATABASE_DOWN = {"code": "service_unavailable", "detail": "The database is unavailable; please try again in a moment."}


@pytest.fixture
def own_redis(tmp_path: Path, settings: Any) -> Iterator[PrivateRedis]:
    """A private Redis that this process uses for everything: cache, locks, throttle and job queues."""
    with private_redis(tmp_path) as server:
        use_redis(settings, server.url)
        yield server


def _apply_body(order: Any) -> dict[str, Any]:
    item = order.items.get()
    return {
        "order_no": order.order_no,
        "reason": "not_shipped",
        "kind": "refund_only",
        "items": [{"order_item_id": item.pk, "quantity": str(item.quantity)}],
    }


@pytest.mark.django_db
def test_applications_go_on_without_redis_and_the_sweep_hands_their_jobs_out_once_it_is_back(
    own_redis: PrivateRedis, caplog: Any, django_capture_on_commit_callbacks: Any
) -> None:
    customer = UserFactory()
    product = ProductFactory(price=Decimal("12.50"))
    before, during = (make_order(customer, lines=[(product, "2")]) for _ in range(2))
    api = client_for(customer)
    queued = Queue("refunds", connection=own_redis.client())

    with django_capture_on_commit_callbacks(execute=True):
        first = api.post("/api/v1/refunds/", _apply_body(before), format="json")
    assert first.status_code == 201, first.content
    assert len(queued.job_ids) == 1  # with Redis: the execution job is queued at once

    own_redis.kill()
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        second = api.post("/api/v1/refunds/", _apply_body(during), format="json")
        again = api.post("/api/v1/refunds/", _apply_body(during), format="json")

    assert second.status_code == 201, second.content
    assert second.json()["state"] == "refunding"
    # The database alone still refuses a claim beyond what was paid.
    assert again.status_code == 409, again.content
    assert again.json()["code"] == "amount_exceeded"
    refund = Refund.objects.get(refund_no=second.json()["refund_no"])
    assert (refund.state, refund.amount) == (RefundState.REFUNDING, Decimal("25.00"))
    item = during.items.get()
    item.refresh_from_db()
    assert (item.refund_claimed_quantity, item.refund_claimed_amount) == (Decimal("2"), Decimal("25.00"))
    assert Refund.objects.filter(order=during).count() == 1
    messages = [record.getMessage() for record in caplog.records]
    assert "Redis unreachable (ConnectionError); the application throttle lets this request through" in messages
    assert (
        f"Redis unreachable (ConnectionError); the application on order {during.order_no} relies on the database row "
        "lock alone" in messages
    )
    assert any(message.startswith("could not enqueue payments.jobs.refund_execute") for message in messages)

    own_redis.start()  # empty: the job queued before the outage is gone as well
    assert queued.job_ids == []
    with (
        time_machine.travel(timezone.now() + timedelta(minutes=3)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        swept = payment_jobs.sweep_refunding()
    first_refund = Refund.objects.get(refund_no=first.json()["refund_no"])
    assert sorted(swept) == sorted([first_refund.pk, refund.pk])
    assert sorted(job.args[0] for job in queued.get_jobs()) == sorted(swept)


@pytest.mark.django_db
def test_readyz_names_redis_that_does_not_answer_within_a_second(own_redis: PrivateRedis, media_root: Any) -> None:
    from django.test import Client

    own_redis.pause()  # the kernel still accepts the connection; Redis never answers
    started = time.monotonic()
    try:
        response = Client().get("/readyz")
    finally:
        own_redis.resume()
    elapsed = time.monotonic() - started
    print(f"/readyz with Redis hanging answered {response.status_code} in {elapsed:.2f} s")
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]
    assert response.json()["checks"]["database"] == "ok"
    assert elapsed < 5  # a probe that waited for Redis would hang far longer (no answer ever comes)

    own_redis.kill()
    response = Client().get("/readyz")
    assert (response.status_code, response.json()["failed"]) == (503, ["redis"])


def _database_unreachable(monkeypatch: Any) -> None:
    # Django reconnects on the next query, to a port where nothing listens.
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(connection.settings_dict, "PORT", str(free_port()))


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_api_answers_503_in_its_error_shape_while_the_database_is_down(monkeypatch: Any) -> None:
    customer = UserFactory()
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("12.50")), "1")])
    body = _apply_body(order)
    api = client_for(customer)
    _database_unreachable(monkeypatch)
    try:
        listed = api.get("/api/v1/orders/", HTTP_ACCEPT_LANGUAGE="en")
        applied = api.post("/api/v1/refunds/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
        chinese = api.get("/api/v1/refunds/")
    finally:
        connection.close()
    for response in (listed, applied):
        assert response.status_code == 503
        assert response["Content-Type"] == "application/json"
        assert response["Retry-After"] == "5"
        assert response.json() == DATABASE_DOWN
    assert chinese.status_code == 503
    assert chinese.json() == {"code": "service_unavailable", "detail": "数据库暂时不可用，请稍后重试。"}
    monkeypatch.undo()
    assert Refund.objects.filter(order=order).count() == 0


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_console_answers_a_plain_503_page_while_the_database_is_down(client: Any, monkeypatch: Any) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    _database_unreachable(monkeypatch)
    try:
        response = client.get("/admin/refunds/refund/", HTTP_ACCEPT_LANGUAGE="en")
    finally:
        connection.close()
    assert response.status_code == 503
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    assert "<h1>Service temporarily unavailable</h1>" in page
    assert "The database is unavailable; please try again in a moment." in page


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_only_a_dependency_out_of_reach_is_an_outage_not_a_bad_query(monkeypatch: Any) -> None:
    request = RequestFactory().get("/api/v1/orders/")
    # A bad query (MariaDB reports an unknown column as an OperationalError too) stays a 500.
    with pytest.raises(OperationalError) as bad_column, connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM mall_order")
    assert bad_column.value.args[0] == 1054
    assert unavailable_dependency(bad_column.value) is None
    with pytest.raises(IntegrityError) as duplicate:
        UserFactory(username="twice")
        UserFactory(username="twice")
    assert unavailable_dependency(duplicate.value) is None
    try:
        raise bad_column.value
    except OperationalError:
        assert server_error(request).status_code == 500

    with pytest.raises(redis.exceptions.ConnectionError) as refused:
        redis.Redis(port=free_port(), socket_connect_timeout=1).ping()
    assert unavailable_dependency(refused.value) == "redis"

    _database_unreachable(monkeypatch)
    try:
        with pytest.raises(OperationalError) as unreachable:
            connection.ensure_connection()
    finally:
        connection.close()
    assert unreachable.value.args[0] in (2002, 2003)  # MariaDB's client says 2002 for TCP as well
    assert unavailable_dependency(unreachable.value) == "database"
    # Outside any view (a middleware reading the session), the same failure is a 503 as well.
    try:
        raise unreachable.value
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
