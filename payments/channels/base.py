"""The refund channel port: what the rest of the shop may ask of a payment channel, in the shop's own terms.

Adapters (``alipay.py``, ``wechat.py``) translate these calls to each SDK; nothing outside this package
imports an SDK. Amounts are ``Decimal`` yuan with two places everywhere on this side of the port.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Any, Protocol, runtime_checkable

from mall.masking import redact
from mall.money import CENT

# Notifications older than this are refused: a replayed, validly signed message must not act twice.
NOTIFICATION_MAX_AGE_SECONDS = 300


class RefundStatus(enum.StrEnum):
    SUCCESS = "success"
    PROCESSING = "processing"
    CLOSED = "closed"
    FAILED = "failed"
    NOT_FOUND = "not_found"


# --- errors ---------------------------------------------------------------------------------------------
class ChannelError(Exception):
    """A channel call did not give a usable answer."""

    def __init__(self, message: str, *, channel: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.channel = channel
        self.code = code

    def __str__(self) -> str:
        prefix = f"[{self.channel}] " if self.channel else ""
        suffix = f" ({self.code})" if self.code else ""
        return f"{prefix}{self.message}{suffix}"


class ChannelTemporaryError(ChannelError):
    """The outcome is unknown or the channel is busy: retry with the SAME out_refund_no, or query."""


class ChannelRejected(ChannelError):
    """The channel refused the request for good; ``code`` and ``message`` are the channel's own."""


class NotificationInvalid(Exception):
    """A notification that is forged, stale, malformed or not ours. It must change nothing."""


# --- values ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    trade_no: str
    out_refund_no: str
    amount: Decimal
    total_amount: Decimal
    reason: str = ""

    def __post_init__(self) -> None:
        # Validate up front so that a bad amount never reaches a channel half-converted.
        _checked_yuan(self.amount)
        _checked_yuan(self.total_amount)
        if self.amount > self.total_amount:
            raise ValueError("refund amount exceeds the trade total")
        if not self.out_refund_no:
            raise ValueError("out_refund_no is required")
        if not (self.out_trade_no or self.trade_no):
            raise ValueError("out_trade_no or trade_no is required")


@dataclass(frozen=True)
class RefundResult:
    status: RefundStatus
    out_refund_no: str
    channel_refund_id: str | None = None
    amount: Decimal | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # True: this very call moved money; False: it did not (a repeat, or not yet); None: the channel doesn't say.
    fund_change: bool | None = None
    succeeded_at: datetime | None = None
    # The channel's own word for the refund's status (WeChat Pay ``ABNORMAL``, Alipay ``REFUND_FAIL``): its reason.
    channel_status: str = ""


@dataclass(frozen=True)
class RefundNotification:
    out_refund_no: str
    channel_refund_id: str | None
    status: RefundStatus
    amount: Decimal
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # When the channel says the money went back (not when we heard of it): the day reconciliation files it under.
    succeeded_at: datetime | None = None
    channel_status: str = ""


@dataclass(frozen=True)
class StatementLine:
    out_trade_no: str
    trade_no: str
    out_refund_no: str
    channel_refund_id: str | None
    amount: Decimal
    status: RefundStatus
    refunded_at: datetime | None


# --- the port -------------------------------------------------------------------------------------------
@runtime_checkable
class RefundChannel(Protocol):
    """One payment channel's refund operations. Every method may raise ``ChannelTemporaryError``."""

    @property
    def code(self) -> str: ...

    def refund(self, req: RefundRequest) -> RefundResult:
        """Ask for a refund. Repeating the same ``out_refund_no`` never refunds twice.

        Raises ``ChannelRejected`` for a final business refusal and ``ChannelTemporaryError`` when the
        outcome is unknown (timeout, 5xx, busy, unverifiable answer): then retry or query, same number.
        """
        ...

    def query_refund(self, *, out_trade_no: str, trade_no: str, out_refund_no: str) -> RefundResult:
        """The channel's current truth about one refund; ``status`` is ``not_found`` if it never arrived."""
        ...

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> RefundNotification:
        """Verify and read a refund notification exactly as received (headers and raw body).

        Raises ``NotificationInvalid`` for a bad signature, a stale timestamp (older than five minutes where
        the protocol carries one), a foreign merchant, or anything malformed. An adapter may consult the
        channel to complete facts the message lacks; it then raises ``ChannelTemporaryError`` if it can't.
        """
        ...

    def fetch_statement(self, day: date) -> Iterator[StatementLine]:
        """Stream the refund lines of one business day (Asia/Shanghai) from the channel's statement.

        A generator: lines are produced one by one and never gathered in memory.
        """
        ...


# --- money ----------------------------------------------------------------------------------------------
_EXACT = Context(prec=28, traps=[Inexact, InvalidOperation])


def _checked_yuan(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal) or isinstance(amount, bool):
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError("money must be a finite amount")
    try:
        quantized = amount.quantize(CENT, context=_EXACT)
    except (Inexact, InvalidOperation) as exc:
        raise ValueError(f"{amount} has more than two decimal places") from exc
    if quantized <= 0:
        raise ValueError("refund amounts must be positive")
    return quantized


def yuan_to_str(amount: Decimal) -> str:
    """Alipay's form of money: yuan with exactly two decimals, e.g. ``Decimal("12.5")`` → ``"12.50"``."""
    return f"{_checked_yuan(amount):f}"


def yuan_to_fen(amount: Decimal) -> int:
    """WeChat Pay's form of money: integer fen, e.g. ``Decimal("12.50")`` → ``1250``."""
    return int(_checked_yuan(amount) * 100)


def fen_to_yuan(fen: int) -> Decimal:
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise TypeError(f"fen must be an int, not {type(fen).__name__}")
    return (Decimal(fen) / 100).quantize(CENT)


def parse_yuan(text: str) -> Decimal:
    """Read a channel's yuan string (``"12.50"``, ``"-12.5"``) exactly."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    try:
        return value.quantize(CENT, context=_EXACT)
    except (Inexact, InvalidOperation) as exc:
        raise ValueError(f"{text!r} has more than two decimal places") from exc


# --- raw payloads ---------------------------------------------------------------------------------------
def mask_raw(data: Any) -> Any:
    """A copy of a channel payload that is safe to store and log: signatures, ciphertexts, keys and the payer's
    personal data masked by the project's one masker (``mall.masking``)."""
    return redact(data)
