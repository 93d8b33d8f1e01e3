"""Our refunds of a day, the ones its statement should list: read by one query whose rows are taken as the
database sends them, a batch at a time; every refund of the day once, none of another day, channel, state or
destination. (That one query costs what reading the day alone costs shows in ``benchmarks/reconcile_million.py``:
a small table's plan proves nothing.)"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mall.shoptime import SHOP_TZ, shop_today
from reconciliation import services
from refunds.models import Refund, RefundDestination, RefundState
from tests.reconciliation.helpers import our_refund

pytestmark = pytest.mark.django_db


def test_every_refund_of_the_day_once_in_batches_from_one_query(monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    day = shop_today()
    noon = datetime.combine(day, time(12, 0), tzinfo=SHOP_TZ)
    same = [our_refund("alipay", "10.00", refunded_at=noon) for _ in range(4)]
    first = our_refund("alipay", "11.05", refunded_at=datetime.combine(day, time(0, 0), tzinfo=SHOP_TZ))
    last = our_refund("alipay", "12.00", refunded_at=datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHOP_TZ))
    our_refund("alipay", "13.00", refunded_at=noon - timedelta(days=1))  # another day
    our_refund("wechat", "14.00", refunded_at=noon)  # another channel
    credit = our_refund("alipay", "15.00", refunded_at=noon)
    Refund.objects.filter(pk=credit.pk).update(destination=RefundDestination.STORE_CREDIT)  # never on a statement
    our_refund("alipay", "16.00", state=RefundState.FAILED)
    our_refund("alipay", "17.00", state=RefundState.REFUNDING)
    day_end = Refund.objects.filter(pk=last.pk).values_list("refunded_at", flat=True).get()
    assert day_end is not None
    assert day_end.astimezone(SHOP_TZ).date() == day + timedelta(days=1)  # the next day's first moment: not this day

    with CaptureQueriesContext(connection) as queries:
        pages = list(services._our_refunds_of_the_day("alipay", day))

    assert len(queries) == 1
    assert [len(page) for page in pages] == [2, 2, 1]
    expected = {(r.pk, r.out_refund_no, Decimal("10.00")) for r in same} | {
        (first.pk, first.out_refund_no, Decimal("11.05"))
    }
    assert sorted(row for page in pages for row in page) == sorted(expected)
    assert all(type(amount) is Decimal for page in pages for _pk, _number, amount in page)
