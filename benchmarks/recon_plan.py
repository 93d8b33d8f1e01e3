"""What ``reconcile_million.py`` seeds: a channel's refunds of one day, its statement with discrepancies at known
lines, the results the reconciliation must find, and runs with many discrepancies for the reports.

Refund ``seq`` (1..N) of a channel has the request number ``A000000042`` (Alipay) or ``W000000042`` (WeChat Pay) and
the amount ``10.50 + seq mod 90``. Its residue ``seq mod 1009`` says what is wrong with it, if anything:

====  ==================================================================  =====================================
1     ours, refunded to the original payment; not on the statement        missing at the channel
2     on the statement for 1.00 more                                      amount differs
3     ours still ``refunding`` (so not among the day's refunded)          status differs
4     listed twice                                                        listed twice (the second line)
5     followed by a line whose number we never issued (``XA...``)         missing with us
6     ours paid to store credit, yet the channel lists it as paid         status differs
7     ours paid to store credit, not on the statement                     nothing (never a channel's refund)
8     WeChat Pay only: listed ``CLOSED`` while ours is refunded            status differs
9     followed by a line naming the other channel's refund of that seq    missing with us
====  ==================================================================  =====================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

CHANNELS = ("alipay", "wechat")
PREFIX = {"alipay": "A", "wechat": "W"}
EVERY = 1009
ONE = Decimal("1.00")
HALF = Decimal("0.50")
DAY_SECONDS = 86000


class Plan:
    def __init__(self, channel: str, lines: int, day: date) -> None:
        self.channel = channel
        self.lines = lines
        self.day = day
        self.prefix = PREFIX[channel]
        self.other = PREFIX[next(c for c in CHANNELS if c != channel)]
        self.filename = f"{channel}-{day:%Y%m%d}" + (".csv.zip" if channel == "alipay" else ".csv.gz")

    def number(self, seq: int, prefix: str | None = None) -> str:
        return f"{prefix or self.prefix}{seq:09d}"

    @staticmethod
    def amount(seq: int) -> Decimal:
        return Decimal(10 + seq % 90) + HALF

    def insert_sql(self, start: datetime) -> str:
        """Our refunds of the day, one ``INSERT ... SELECT`` over MariaDB's sequence engine."""
        r = f"seq MOD {EVERY}"
        at = f"TIMESTAMP('{start:%Y-%m-%d %H:%M:%S}') + INTERVAL (seq * {DAY_SECONDS} DIV {self.lines}) SECOND"
        return (
            "INSERT INTO refunds_refund (refund_no, state, reason, kind, source, description, amount,"
            " shipping_fee_amount, channel, out_refund_no, channel_refund_id, requires_supervisor, decision_note,"
            " escalation_reason, request_fingerprint, created_at, updated_at, state_changed_at, refunded_at,"
            " customer_id, order_id, destination)"
            f" SELECT CONCAT('R{self.prefix}', LPAD(seq, 12, '0')), IF({r} = 3, 'refunding', 'refunded'),"
            f" 'quality_issue', 'refund_only', 'customer', '', 10.50 + seq MOD 90, 0.00, '{self.channel}',"
            f" CONCAT('{self.prefix}', LPAD(seq, 9, '0')), '', 0, '', '', '', {at} - INTERVAL 1 DAY, {at}, {at},"
            f" IF({r} = 3, NULL, {at}), 1, 1, IF({r} IN (6, 7), 'store_credit', 'original')"
            f" FROM seq_1_to_{self.lines}"
        )

    def statement_lines(self) -> Iterator[tuple[str, Decimal, str, int]]:
        """(request number, amount, channel status, seq) of each statement line, in the order written."""
        closed = "CLOSED" if self.channel == "wechat" else "SUCCESS"
        for seq in range(1, self.lines + 1):
            r = seq % EVERY
            if r in (1, 7):
                continue
            amount = self.amount(seq)
            yield self.number(seq), amount + ONE if r == 2 else amount, closed if r == 8 else "SUCCESS", seq
            if r == 4:
                yield self.number(seq), amount, "SUCCESS", seq
            elif r == 5:
                yield self.number(seq, "X" + self.prefix), amount, "SUCCESS", seq
            elif r == 9:
                yield self.number(seq, self.other), amount, "SUCCESS", seq

    def write_statement(self, path: Path) -> str:
        """The day's statement with the simulator's writers; returns the SHA1 WeChat Pay announces ("" for Alipay)."""
        from mall.shoptime import shop_day_bounds
        from payments.simulator.ledger import Refund
        from payments.simulator.statements import write_alipay_trade_bill, write_wechat_refund_bill

        start, _end = shop_day_bounds(self.day)
        trade = "T" + self.prefix

        def rows() -> Iterator[tuple[Refund, None]]:
            for number, amount, status, seq in self.statement_lines():
                moment = start + timedelta(seconds=seq * DAY_SECONDS // self.lines)
                refund = Refund(
                    self.channel,
                    f"O{number}",
                    f"{trade}{seq:012d}",
                    number,
                    f"5030{seq:012d}" if self.channel == "wechat" else "",
                    amount,
                    status,
                    created_at=moment,
                    succeeded_at=moment if status == "SUCCESS" else None,
                )
                yield refund, None

        if self.channel == "alipay":
            write_alipay_trade_bill(path, self.day, account="2021000000000000", payments=[], refunds=rows())
            return ""
        digest, _count = write_wechat_refund_bill(
            path, rows(), app_id="wx0000000000", mch_id="1900000000", gzipped=True
        )
        return digest

    def expected(self) -> dict[str, Any]:
        """The run's exact results: every discrepancy as (class, request number), and the run's counters."""
        found: list[tuple[str, str]] = []
        seen: set[str] = set()
        lines = matched = 0
        total = Decimal("0.00")
        for number, amount, _status, seq in self.statement_lines():
            lines += 1
            total += amount
            r = seq % EVERY
            kind = None
            if number in seen:
                kind = "listed_twice"
            elif number != self.number(seq):
                kind = "missing_with_us"
            elif r == 2:
                kind = "amount_differs"
            elif r in (3, 6) or (r == 8 and self.channel == "wechat"):
                kind = "status_differs"
            seen.add(number)
            if kind is None:
                matched += 1
            else:
                found.append((kind, number))
        found += [("missing_at_channel", self.number(seq)) for seq in range(1, self.lines + 1) if seq % EVERY == 1]
        by_kind = Counter(kind for kind, _n in found)
        return {
            "filename": self.filename,
            "discrepancies": found,
            "ours_listed": sum(1 for seq in range(1, self.lines + 1) if seq % EVERY not in (3, 6, 7)),
            "counts": {
                "statement_lines": lines,
                "statement_total": str(total),
                "matched_count": matched,
                **{f"{kind}_count": by_kind[kind] for kind in KINDS},
            },
        }


KINDS = ("missing_at_channel", "missing_with_us", "amount_differs", "status_differs", "listed_twice")


def seed_report_run(rows: int) -> int:
    """A succeeded run with ``rows`` discrepancies of every class (a tenth resolved); returns its id."""
    from django.db import connection
    from django.utils import timezone

    from reconciliation.models import ReconciliationRun

    now = timezone.now()
    day = date(2020, 1, 1) + timedelta(days=rows % 997)
    ReconciliationRun.objects.filter(channel="alipay", business_day=day).delete()
    run = ReconciliationRun.objects.create(
        channel="alipay", business_day=day, status="succeeded", started_at=now, heartbeat_at=now, finished_at=now
    )
    kinds = "ELT(1 + seq MOD 5, " + ", ".join(f"'{kind}'" for kind in KINDS) + ")"
    with connection.cursor() as cur:
        cur.execute("SELECT MIN(id), COUNT(*) FROM refunds_refund")
        first, count = cur.fetchone()
        cur.execute("SET SESSION foreign_key_checks = 0")
        cur.execute(
            "INSERT INTO reconciliation_discrepancy (run_id, kind, out_refund_no, refund_id, our_amount, our_state,"
            " channel_amount, channel_status, channel_refund_id, channel_time, resolved_by_id, resolved_at,"
            " resolution_note)"
            f" SELECT {run.pk}, {kinds}, CONCAT('RPT', LPAD(seq, 9, '0')),"
            f" IF(seq MOD 5 = 1, NULL, {first} + seq MOD {count}), IF(seq MOD 5 = 1, NULL, 10.50 + seq MOD 90),"
            " IF(seq MOD 5 = 1, '', 'refunded'), IF(seq MOD 5 = 0, NULL, 11.50 + seq MOD 90),"
            " IF(seq MOD 5 = 0, '', 'success'), CONCAT('5030', LPAD(seq, 12, '0')), UTC_TIMESTAMP(6),"
            " NULL, IF(seq MOD 10 = 3, UTC_TIMESTAMP(6), NULL), IF(seq MOD 10 = 3, '已与渠道核实：=SUM(A1)', '')"
            f" FROM seq_1_to_{rows}"
        )
        cur.execute("SET SESSION foreign_key_checks = 1")
    return run.pk
