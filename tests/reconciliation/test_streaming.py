"""A long statement is streamed: parsing and matching 10,000 or 50,000 lines holds one batch at a time, with the
same memory bound for both, not the day."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from mall.shoptime import SHOP_TZ, shop_today
from payments.channels.wechat import parse_bill
from payments.simulator.ledger import SUCCESS, Refund, Trade
from payments.simulator.statements import write_wechat_refund_bill
from reconciliation import services
from reconciliation.models import Discrepancy
from tests.reconciliation.helpers import our_refund

# A list of 50,000 parsed lines alone would take tens of MB; one batch of 1,000 takes well under 1 MB.
PEAK_BOUND_BYTES = 8 * 1024 * 1024


def generated_bill(path: Path, known: list[str], lines: int) -> None:
    """A WeChat Pay refund bill of ``lines`` lines: the first ``known`` request numbers are ours, the rest not."""
    base = datetime(2026, 3, 9, 0, 0, 1, tzinfo=SHOP_TZ)

    def refunds() -> Iterator[tuple[Refund, Trade | None]]:
        for i in range(lines):
            number = known[i] if i < len(known) else f"RQGEN{i:010d}"
            refund = Refund("wechat", f"ORD{i:010d}", f"T{i:010d}", number, f"5030{i:016d}", Decimal("20.00"), SUCCESS)
            refund.created_at = refund.succeeded_at = base + timedelta(seconds=i % 86000)
            yield refund, None

    write_wechat_refund_bill(path, refunds(), app_id="wx0", mch_id="1900000001", gzipped=False)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "line_count",
    [10_000, pytest.param(50_000, marks=pytest.mark.slow)],  # the same bound for both: memory does not grow
)
def test_a_long_statement_is_matched_in_bounded_memory(
    tmp_path: Path, line_count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of 1,000 (production matches 5,000): the bound then says "one batch", whatever the day's length.
    monkeypatch.setattr(services, "BATCH_SIZE", 1000)
    ours = [our_refund("wechat", "20.00") for _ in range(3)]
    bill = tmp_path / "bill.csv"
    generated_bill(bill, [r.out_refund_no for r in ours[:2]], line_count)
    day = shop_today()

    current = services.reconciliation_start(channel="wechat", day=day)
    with bill.open("rb") as raw:
        lines = parse_bill(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        tracemalloc.start()
        try:
            run = services.reconciliation_complete(current, lines)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    print(f"\nreconciliation of {line_count} lines: tracemalloc peak {peak / 1024 / 1024:.2f} MiB")
    assert peak < PEAK_BOUND_BYTES
    assert (
        run.statement_lines,
        run.statement_total,
        run.matched_count,
        run.missing_with_us_count,
        run.missing_at_channel_count,
    ) == (line_count, Decimal("20.00") * line_count, 2, line_count - 2, 1)
    assert Discrepancy.objects.filter(kind="missing_with_us").count() == line_count - 2
    assert list(Discrepancy.objects.filter(kind="missing_at_channel").values_list("refund_id", flat=True)) == [
        ours[2].pk
    ]
