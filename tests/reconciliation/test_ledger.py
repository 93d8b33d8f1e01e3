"""The day's ledger: our refunds of the day and the numbers the statement listed, in a temporary SQLite file."""

from __future__ import annotations

import os
from decimal import Decimal

from reconciliation.matching import DayLedger, OurRefund


def refund(pk: int, number: str, amount: str) -> OurRefund:
    return OurRefund(pk, number, "wechat", Decimal(amount), "refunded", "original")


def test_lines_find_our_refunds_of_the_day_and_repeats_across_batches() -> None:
    with DayLedger("wechat") as ledger:
        ledger.add_ours([(1, "RQ1", Decimal("10.50")), (2, "RQ2", Decimal("0.01"))])
        ledger.add_ours([(3, "RQ3", Decimal("99999.99"))])

        repeats, ours = ledger.listing(["RQ1", "FOREIGN", "", "RQ1", "", "RQ3"])
        assert repeats == [False, False, False, True, False, False]
        assert ours == {"RQ1": refund(1, "RQ1", "10.50"), "RQ3": refund(3, "RQ3", "99999.99")}

        repeats, ours = ledger.listing(["FOREIGN", "RQ3", "NEW", "RQ2"])
        assert repeats == [True, True, False, False]
        assert ours == {"RQ3": refund(3, "RQ3", "99999.99"), "RQ2": refund(2, "RQ2", "0.01")}

        assert list(ledger.unlisted(10)) == []


def test_unlisted_gives_our_refunds_the_statement_never_named_in_pages() -> None:
    with DayLedger("alipay") as ledger:
        ledger.add_ours([(pk, f"RQ{pk:02d}", Decimal(f"{pk}.10")) for pk in range(1, 8)])
        ledger.listing(["RQ02", "RQ05", "RQ99"])

        pages = list(ledger.unlisted(2))

    assert [[(r.id, r.out_refund_no, r.amount) for r in page] for page in pages] == [
        [(1, "RQ01", Decimal("1.10")), (3, "RQ03", Decimal("3.10"))],
        [(4, "RQ04", Decimal("4.10")), (6, "RQ06", Decimal("6.10"))],
        [(7, "RQ07", Decimal("7.10"))],
    ]
    assert {(r.channel, r.state, r.destination) for page in pages for r in page} == {("alipay", "refunded", "original")}


def test_the_ledger_file_is_removed_when_closed() -> None:
    ledger = DayLedger("alipay")
    folder = ledger._dir.name
    assert os.listdir(folder) == ["day.sqlite3"]
    ledger.close()
    assert not os.path.exists(folder)
