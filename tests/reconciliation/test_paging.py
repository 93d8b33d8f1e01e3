"""Our refunds of a day, page by page: every refund once, in (refunded_at, id) order, however many share a time.
(That each page is a range of the index ``refund_day_channel`` starting where the last one ended, rather than a
scan from the day's start, shows in ``benchmarks/reconcile_million.py``: a small table's plan proves nothing.)"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest

from mall.shoptime import SHOP_TZ, shop_today
from reconciliation import services
from refunds.models import Refund, RefundDestination, RefundState
from tests.reconciliation.helpers import our_refund

pytestmark = pytest.mark.django_db


def test_every_refund_of_the_day_once_in_order_when_pages_end_inside_a_shared_time(monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    day = shop_today()
    noon = datetime.combine(day, time(12, 0), tzinfo=SHOP_TZ)
    same = [our_refund("alipay", "10.00", refunded_at=noon) for _ in range(5)]  # pages end inside these
    before = our_refund("alipay", "11.00", refunded_at=noon - timedelta(hours=1))
    after = our_refund("alipay", "12.00", refunded_at=noon + timedelta(seconds=1))
    our_refund("alipay", "13.00", refunded_at=noon - timedelta(days=1))  # another day
    our_refund("wechat", "14.00", refunded_at=noon)  # another channel
    credit = our_refund("alipay", "15.00", refunded_at=noon)
    Refund.objects.filter(pk=credit.pk).update(destination=RefundDestination.STORE_CREDIT)  # never on a statement
    our_refund("alipay", "16.00", state=RefundState.FAILED)

    pages = list(services._our_refunds_of_the_day("alipay", day))

    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [refund.id for page in pages for refund in page] == [before.pk, *sorted(r.pk for r in same), after.pk]
