"""The simulator's book of paid trades, refunds and pending faults. Thread-safe; optionally persisted.

The ledger enforces what a real channel enforces: a trade is never refunded beyond what was paid, and one
refund request number refunds once — a repeat is answered with the first result.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from payments.simulator.common import CHANNELS, CHINA_TZ, now, yuan

FAULT_KINDS = (
    "timeout",
    "http_500",
    "processing",
    "business_error",
    "bad_signature",
    "duplicate_notify",
    "out_of_order_notify",
    "stale_notify",
)
NOTIFY_FAULTS = ("duplicate_notify", "out_of_order_notify", "stale_notify")
OPERATIONS = ("refund", "query", "statement", "notify", "*")
# Refund states as the ledger keeps them (WeChat Pay's names; Alipay's answers are derived from them).
SUCCESS, PROCESSING = "SUCCESS", "PROCESSING"
# A trade whose original path is dead, on demand: WeChat Pay books its refunds ABNORMAL (the payer's card or
# account is closed) or CLOSED; Alipay refuses them because the trade is closed (ACQ.TRADE_HAS_CLOSE).
ABNORMAL, CLOSED, TRADE_CLOSED = "ABNORMAL", "CLOSED", "TRADE_CLOSED"
REFUND_OUTCOMES = {"wechat": ("", ABNORMAL, CLOSED), "alipay": ("", TRADE_CLOSED)}


@dataclass
class Trade:
    channel: str
    out_trade_no: str
    trade_no: str
    amount: Decimal
    notify_url: str = ""
    paid_at: datetime = field(default_factory=now)
    # "" (refunds succeed), or how the channel answers every refund on this trade (``REFUND_OUTCOMES``).
    refund_outcome: str = ""


@dataclass
class Refund:
    channel: str
    out_trade_no: str
    trade_no: str
    out_refund_no: str
    refund_id: str
    amount: Decimal
    status: str
    reason: str = ""
    notify_url: str = ""
    created_at: datetime = field(default_factory=now)
    succeeded_at: datetime | None = None
    settle_at: datetime | None = None
    # What a PROCESSING refund becomes when its time comes (SUCCESS, or its trade's ABNORMAL or CLOSED).
    settle_to: str = SUCCESS


@dataclass
class Fault:
    id: int
    channel: str
    kind: str
    operation: str
    remaining: int | None
    probability: float
    params: dict[str, Any]


# A timeout holds the answer back this long (bounded, so that a forgotten fault cannot hang a thread).
MAX_FAULT_DELAY_SECONDS = 60.0


def fault_delay(fault: Fault) -> float:
    return min(float(fault.params.get("delay", 3.0)), MAX_FAULT_DELAY_SECONDS)


Outcome = Literal["created", "repeat", "mismatch", "exceeds"]


class Ledger:
    def __init__(self, state_path: Path | None = None, *, rng: random.Random | None = None) -> None:
        self._lock = threading.RLock()
        self._state_path = state_path
        self._rng = rng or random.Random()  # noqa: S311 - fault dice, not cryptography
        self._fault_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self.trades: dict[tuple[str, str], Trade] = {}
        self.refunds: dict[tuple[str, str, str], Refund] = {}
        # Indexes: (channel, trade_no) -> out_trade_no; (channel, out_trade_no) -> that trade's refunds.
        self._by_trade_no: dict[tuple[str, str], str] = {}
        self._trade_refunds: dict[tuple[str, str], list[Refund]] = {}
        self.faults: list[Fault] = []
        self.notifications: list[dict[str, Any]] = []
        # Bumped by every change to trades or refunds, so that derived files (statements) can be reused.
        self.version = 0
        if state_path is not None and state_path.exists():
            self._load(state_path)

    # --- trades ---------------------------------------------------------------------------------------------
    def register_trade(self, trade: Trade) -> Trade:
        if trade.channel not in CHANNELS:
            raise ValueError(f"unknown channel {trade.channel!r}")
        if trade.amount <= 0:
            raise ValueError("amount must be positive")
        with self._lock:
            existing = self.trades.get((trade.channel, trade.out_trade_no))
            if existing is not None:
                if (existing.trade_no, existing.amount) != (trade.trade_no, trade.amount):
                    raise ValueError("this out_trade_no is already registered with other facts")
                if trade.notify_url and trade.notify_url != existing.notify_url:
                    existing.notify_url = trade.notify_url
                    self._save()
                return existing
            if (trade.channel, trade.trade_no) in self._by_trade_no:
                raise ValueError("this trade_no is already registered for another out_trade_no")
            self._add_trade(trade)
            self._save()
            return trade

    def set_refund_outcome(self, channel: str, out_trade_no: str, outcome: str) -> Trade:
        """From now on, answer every refund of the trade with ``outcome`` ("" for success again)."""
        if outcome not in REFUND_OUTCOMES.get(channel, ()):
            raise ValueError(f"refund_outcome must be one of {REFUND_OUTCOMES.get(channel, ())} on {channel}")
        with self._lock:
            trade = self.trades.get((channel, out_trade_no))
            if trade is None:
                raise ValueError("no such trade")
            trade.refund_outcome = outcome
            self._save()
            return trade

    def _add_trade(self, trade: Trade) -> None:
        self.trades[(trade.channel, trade.out_trade_no)] = trade
        self._by_trade_no[(trade.channel, trade.trade_no)] = trade.out_trade_no

    def _add_refund(self, refund: Refund) -> None:
        self.refunds[self._refund_key(refund.channel, refund.out_trade_no, refund.out_refund_no)] = refund
        self._trade_refunds.setdefault((refund.channel, refund.out_trade_no), []).append(refund)

    def find_trade(self, channel: str, *, out_trade_no: str = "", trade_no: str = "") -> Trade | None:
        with self._lock:
            if out_trade_no:
                trade = self.trades.get((channel, out_trade_no))
                if trade is not None and trade_no and trade.trade_no != trade_no:
                    return None
                return trade
            if trade_no:
                found = self._by_trade_no.get((channel, trade_no))
                return self.trades.get((channel, found)) if found is not None else None
            return None

    # --- refunds --------------------------------------------------------------------------------------------
    @staticmethod
    def _refund_key(channel: str, out_trade_no: str, out_refund_no: str) -> tuple[str, str, str]:
        # Alipay's out_request_no is unique per trade; WeChat Pay's out_refund_no per merchant.
        return (channel, out_trade_no if channel == "alipay" else "", out_refund_no)

    def find_refund(self, channel: str, out_refund_no: str, out_trade_no: str = "") -> Refund | None:
        with self._lock:
            return self.refunds.get(self._refund_key(channel, out_trade_no, out_refund_no))

    def refunded_total(self, trade: Trade) -> Decimal:
        with self._lock:
            refunds = self._trade_refunds.get((trade.channel, trade.out_trade_no), [])
            return sum((r.amount for r in refunds if r.status in (SUCCESS, PROCESSING)), Decimal("0.00"))

    def request_refund(
        self,
        trade: Trade,
        *,
        out_refund_no: str,
        amount: Decimal,
        reason: str,
        notify_url: str,
        settle_after: float | None = None,
    ) -> tuple[Outcome, Refund | None]:
        """Apply one refund request atomically. ``settle_after`` makes it PROCESSING for that many seconds."""
        with self._lock:
            key = self._refund_key(trade.channel, trade.out_trade_no, out_refund_no)
            existing = self.refunds.get(key)
            if existing is not None:
                same = existing.amount == amount and existing.out_trade_no == trade.out_trade_no
                return ("repeat" if same else "mismatch"), existing
            if self.refunded_total(trade) + amount > trade.amount:
                return "exceeds", None
            final = trade.refund_outcome if trade.refund_outcome in (ABNORMAL, CLOSED) else SUCCESS
            moment = now()
            seq = next(self._seq)
            refund = Refund(
                channel=trade.channel,
                out_trade_no=trade.out_trade_no,
                trade_no=trade.trade_no,
                out_refund_no=out_refund_no,
                refund_id=f"5030{moment.astimezone(CHINA_TZ):%Y%m%d}{seq:016d}" if trade.channel == "wechat" else "",
                amount=amount,
                status=PROCESSING if settle_after is not None else final,
                reason=reason,
                notify_url=notify_url,
                created_at=moment,
                succeeded_at=moment if settle_after is None and final == SUCCESS else None,
                settle_at=moment + timedelta(seconds=settle_after) if settle_after is not None else None,
                settle_to=final,
            )
            self._add_refund(refund)
            self._save()
            return "created", refund

    def settle_if_due(self, refund: Refund) -> bool:
        """A PROCESSING refund whose time has come becomes SUCCESS. True if it changed now."""
        with self._lock:
            if refund.status != PROCESSING or refund.settle_at is None or refund.settle_at > now():
                return False
            refund.status = refund.settle_to
            refund.succeeded_at = now() if refund.settle_to == SUCCESS else None
            self._save()
            return True

    def refunds_on(self, channel: str, day: date) -> Iterator[Refund]:
        """Refunds of one channel that succeeded (or, still processing, were made) on a Beijing day."""
        start = datetime.combine(day, time.min, tzinfo=CHINA_TZ)
        end = start + timedelta(days=1)
        with self._lock:
            candidates = [r for r in self.refunds.values() if r.channel == channel]
        # Book order (the order refunds happened in); no sorting, so a big day costs no extra memory.
        for refund in candidates:
            moment = refund.succeeded_at or refund.created_at
            if start <= moment < end:
                yield refund

    def trades_paid_on(self, channel: str, day: date) -> Iterator[Trade]:
        with self._lock:
            candidates = [t for t in self.trades.values() if t.channel == channel]
        for trade in candidates:
            if trade.paid_at.astimezone(CHINA_TZ).date() == day:
                yield trade

    def seed_refunds(self, channel: str, day: date, count: int, amount: Decimal) -> None:
        """Bulk paid trades each refunded in full on ``day`` (to exercise statements of realistic size)."""
        with self._lock:
            base = datetime.combine(day, time(0, 0, 1), tzinfo=CHINA_TZ)
            tag = f"{day:%Y%m%d}{next(self._seq):06d}"
            for i in range(count):
                moment = base + timedelta(seconds=i % 86000, microseconds=i // 86000)
                trade = Trade(channel, f"BULK{tag}{i:08d}", f"T{tag}{i:08d}", amount, paid_at=moment)
                self._add_trade(trade)
                refund_id = f"5030{tag}{i:010d}" if channel == "wechat" else ""
                refund = Refund(
                    channel, trade.out_trade_no, trade.trade_no, f"RBULK{tag}{i:08d}", refund_id, amount, SUCCESS
                )
                refund.created_at = refund.succeeded_at = moment
                self._add_refund(refund)
            self._save()

    # --- faults ---------------------------------------------------------------------------------------------
    def add_fault(
        self,
        *,
        channel: str,
        kind: str,
        operation: str | None = None,
        count: int | None = 1,
        probability: float = 1.0,
        **params: Any,
    ) -> Fault:
        if channel not in (*CHANNELS, "*"):
            raise ValueError(f"unknown channel {channel!r}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        operation = operation or ("notify" if kind in NOTIFY_FAULTS else "refund")
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or null for every time)")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        with self._lock:
            fault = Fault(next(self._fault_ids), channel, kind, operation, count, probability, params)
            self.faults.append(fault)
            return fault

    def take_fault(self, channel: str, operation: str, kinds: tuple[str, ...]) -> Fault | None:
        """The first armed fault that applies, consuming one of its uses (after the probability roll)."""
        with self._lock:
            for fault in self.faults:
                if fault.kind not in kinds or fault.channel not in (channel, "*"):
                    continue
                if fault.operation not in (operation, "*"):
                    continue
                if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                return fault
            return None

    # --- notifications log ----------------------------------------------------------------------------------
    def log_notification(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.notifications.append(entry)

    # --- whole ledger ---------------------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.trades.clear()
            self.refunds.clear()
            self._by_trade_no.clear()
            self._trade_refunds.clear()
            self.faults.clear()
            self.notifications.clear()
            self._save()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            trades = []
            for trade in self.trades.values():
                row = _plain(trade)
                row["refunded"] = yuan(self.refunded_total(trade))
                trades.append(row)
            return {
                "trades": trades,
                "refunds": [_plain(r) for r in self.refunds.values()],
                "faults": [dataclasses.asdict(f) for f in self.faults],
                "notifications": list(self.notifications),
            }

    def _save(self) -> None:
        self.version += 1
        if self._state_path is None:
            return
        state = {
            "trades": [_plain(t) for t in self.trades.values()],
            "refunds": [_plain(r) for r in self.refunds.values()],
        }
        tmp = self._state_path.with_suffix(self._state_path.suffix + ".tmp")
        tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self._state_path)

    def _load(self, path: Path) -> None:
        state = json.loads(path.read_text(encoding="utf-8"))
        for row in state.get("trades", []):
            self._add_trade(Trade(**_typed(row, Trade)))
        for row in state.get("refunds", []):
            self._add_refund(Refund(**_typed(row, Refund)))


def _plain(obj: Trade | Refund) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Decimal):
            value = yuan(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        row[f.name] = value
    return row


def _typed(row: dict[str, Any], cls: type[Trade] | type[Refund]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key not in names:
            continue
        if key == "amount":
            value = Decimal(value)
        elif key.endswith("_at") and value:
            value = datetime.fromisoformat(value)
        out[key] = value
    return out
