"""The shop's time: Asia/Shanghai, where its business day, its caps per day and its statements' days are counted.

Asia/Shanghai has kept UTC+8 without daylight saving time since 1991, so a fixed offset (``SHOP_OFFSET``) is exact
for every time the shop has records of; the database uses it to group by day without time zone tables.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.db.models.functions import TruncDate
from django.utils import timezone

SHOP_TZ = ZoneInfo("Asia/Shanghai")
SHOP_OFFSET = timedelta(hours=8)


def shop_today(now: datetime | None = None) -> date:
    """The shop's business day at ``now`` (default: this instant)."""
    return timezone.localtime(now or timezone.now(), SHOP_TZ).date()


def shop_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of the shop's business day ``day``, as aware datetimes."""
    start = datetime.combine(day, time.min, tzinfo=SHOP_TZ)
    return start, start + timedelta(days=1)


def shop_localtime(moment: datetime) -> datetime:
    """An aware ``moment`` as the shop's wall clock shows it."""
    return timezone.localtime(moment, SHOP_TZ)


def shop_day_of(field: str) -> TruncDate:
    """The shop's business day of the datetime column ``field``, computed by the database (MySQL's CONVERT_TZ
    would need the time zone tables loaded)."""
    shifted = ExpressionWrapper(F(field) + Value(SHOP_OFFSET), output_field=DateTimeField())
    return TruncDate(shifted, tzinfo=UTC)
