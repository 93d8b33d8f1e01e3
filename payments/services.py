"""Money back through the original channel, exactly once.

``refund_execute`` is what the job runs: it sends the refund with its fixed request number, or, when an
earlier attempt's outcome is unknown, asks the channel first. A refund paid to store credit is credited to the
customer's balance instead (``payments.store_credit``), with no channel call. Temporary errors are raised to the
job so RQ retries with backoff; after ``REFUND_CHANNEL_MAX_ATTEMPTS`` of them the refund waits for a person (`failed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery

from mall.logging import log_context_bind
from mall.masking import MASK, secret_key
from mall.texts import Text
from mall.transactions import atomic_with_retry
from payments import texts
from payments.channels.base import (
    ChannelRejected,
    ChannelTemporaryError,
    RefundChannel,
    RefundNotification,
    RefundRequest,
    RefundResult,
    RefundStatus,
)
from payments.channels.registry import get_channel
from payments.metrics import CHANNEL_CALLS
from payments.models import AttemptOutcome, ChannelAttempt
from payments.store_credit import refund_credit_store
from refunds import flow
from refunds.exceptions import RefundNotAllowed
from refunds.models import Refund, RefundDestination, RefundState

logger = logging.getLogger(__name__)


def _masked(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The channel's answer without anything secret (the project's one masker decides what is), as JSON for staff
    to read."""
    result: dict[str, Any] = {}
    for key, value in raw.items():
        if secret_key(key) and value not in (None, ""):
            result[key] = MASK
        elif isinstance(value, Mapping):
            result[key] = _masked(value)
        else:
            result[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
    return result


def _record(
    refund: Refund,
    operation: str,
    outcome: str,
    started: float,
    *,
    raw: Mapping[str, Any] | None = None,
    code: str = "",
    message: str = "",
) -> ChannelAttempt:
    # Counted once the record is kept: a transaction rerun after a deadlock records the same call again.
    transaction.on_commit(CHANNEL_CALLS.labels(refund.channel, operation, outcome).inc)
    return ChannelAttempt.objects.create(
        refund=refund,
        operation=operation,
        outcome=outcome,
        error_code=code[:64],
        message=message[:255],
        raw=_masked(raw or {}),
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _request(refund: Refund) -> RefundRequest:
    payment = refund.order.payment
    return RefundRequest(
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        out_refund_no=refund.out_refund_no,
        amount=refund.amount,
        total_amount=payment.amount,
        reason=refund.get_reason_display()[:80],
    )


def _temporary_failures(refund: Refund) -> int:
    return ChannelAttempt.objects.filter(
        refund=refund, operation="refund", outcome=AttemptOutcome.TEMPORARY_ERROR
    ).count()


def _refund_with_last_outcome(refund_id: int) -> Refund:
    """The refund with its payment, and as ``last_outcome`` the outcome of its latest call to the channel (None
    before the first), in one query."""
    last_outcome = (
        ChannelAttempt.objects.filter(refund=OuterRef("pk"))
        .exclude(operation="notification")
        .order_by("-id")
        .values("outcome")[:1]
    )
    return (
        Refund.objects.select_related("order__payment").annotate(last_outcome=Subquery(last_outcome)).get(pk=refund_id)
    )


def _outcome_unknown(refund: Refund) -> bool:
    """An earlier request may have reached the channel: ask before sending again."""
    return getattr(refund, "last_outcome", None) in (AttemptOutcome.TEMPORARY_ERROR, AttemptOutcome.PROCESSING)


def _apply_result(refund: Refund, result: RefundResult, started: float) -> str:
    if result.status == RefundStatus.SUCCESS:
        flow.refund_mark_refunded(
            refund=refund, channel_refund_id=result.channel_refund_id or "", refunded_at=result.succeeded_at
        )
        return "refunded"
    if result.status in (RefundStatus.CLOSED, RefundStatus.FAILED):
        flow.refund_mark_failed(refund=refund, note=channel_refusal_note(result.channel_status or result.status))
        return "failed"
    return str(result.status)


# What the channels' own status words mean, for the person who must now choose another way to pay.
def channel_refusal_note(channel_status: str) -> Text:
    """The timeline note of a refund the channel will not pay: the channel's own word, and what it means (in the
    reader's language, when read)."""
    status = str(channel_status)[:64]
    if status.upper() in texts.CHANNEL_REFUSALS:
        return texts.CHANNEL_COULD_NOT_PAY_BECAUSE(status=status, meaning=status.upper())
    return texts.CHANNEL_COULD_NOT_PAY(status=status)


def refund_execute(*, refund_id: int) -> str:
    """Move the money of one refund in `refunding`. Returns what happened; raises ChannelTemporaryError for a
    retry. Safe to run twice, concurrently or after a crash: the channel request number never changes."""
    started = time.monotonic()
    refund = _refund_with_last_outcome(refund_id)
    log_context_bind(refund_no=refund.refund_no)
    if refund.state != RefundState.REFUNDING:
        return f"skipped: {refund.state}"
    if refund.destination == RefundDestination.STORE_CREDIT:
        return refund_credit_store(refund_id=refund.pk)  # the shop's own ledger: no channel call
    channel = get_channel(refund.channel)
    try:
        return _ask_channel(refund, channel, started)
    except ChannelRejected as error:
        note = texts.CHANNEL_REFUSED(code=error.code[:64], message=error.message[:400])
        return _fail(
            refund, "refund", AttemptOutcome.REJECTED, started, note=note, code=error.code, message=error.message
        )
    except ChannelTemporaryError as error:
        _record(refund, "refund", AttemptOutcome.TEMPORARY_ERROR, started, code=error.code, message=error.message)
        if _temporary_failures(refund) >= settings.REFUND_CHANNEL_MAX_ATTEMPTS:
            return _give_up(refund, channel, started, error)
        raise


def _ask_channel(refund: Refund, channel: RefundChannel, started: float) -> str:
    """Query first when an earlier attempt's outcome is unknown, else (or if the channel holds nothing) send."""
    if _outcome_unknown(refund):
        result = channel.query_refund(
            out_trade_no=refund.order.payment.out_trade_no,
            trade_no=refund.order.payment.trade_no,
            out_refund_no=refund.out_refund_no,
        )
        if result.status != RefundStatus.NOT_FOUND:
            return _settle(refund, "query", result, started)
        _record(refund, "query", result.status, started, raw=result.raw)
    return _settle(refund, "refund", channel.refund(_request(refund)), started)


@atomic_with_retry(lock_wait_timeout=True)
def _settle(refund: Refund, operation: str, result: RefundResult, started: float) -> str:
    """Apply the channel's answer and record it in one transaction: one commit per refund instead of two.
    Should the change fail, the record goes with it; the job's retry asks the channel again with the same
    request number and records the answer then.

    The change comes first because it locks the order and then the refund; the record's foreign key check
    takes a shared lock on the refund, and taken first it would invert that order: an execution and a
    notification settling the same refund at once would deadlock."""
    outcome = _apply_result(refund, result, started)
    _record(refund, operation, result.status, started, raw=result.raw)
    return outcome


@atomic_with_retry(lock_wait_timeout=True)
def _fail(
    refund: Refund, operation: str, outcome: str, started: float, *, note: Text, code: str = "", message: str = ""
) -> str:
    """Hand the refund to a person and record the channel's last answer, in one transaction (change first, as
    in ``_settle``)."""
    flow.refund_mark_failed(refund=refund, note=note)
    _record(refund, operation, outcome, started, code=code, message=message)
    return "failed"


def _give_up(refund: Refund, channel: Any, started: float, error: ChannelTemporaryError) -> str:
    """Retries are spent. A timed-out request may still have moved the money, so the refund is only handed to a
    person once the channel confirms it holds no such refund; while that is unknown it stays `refunding` and
    the sweep asks again later."""
    try:
        result = channel.query_refund(
            out_trade_no=refund.order.payment.out_trade_no,
            trade_no=refund.order.payment.trade_no,
            out_refund_no=refund.out_refund_no,
        )
    except ChannelTemporaryError:
        return "unknown"
    if result.status != RefundStatus.NOT_FOUND:
        return _settle(refund, "query", result, started)
    return _fail(refund, "query", result.status, started, note=texts.NO_ANSWER(error=str(error)[:400]))


def refund_apply_notification(*, channel_code: str, headers: Mapping[str, str], body: bytes) -> Refund | None:
    """A verified channel notification: settle the refund it names. Raises NotificationInvalid if forged."""
    started = time.monotonic()
    notification = get_channel(channel_code).parse_notification(headers, body)
    refund = (
        Refund.objects.select_related("order__payment")
        .filter(out_refund_no=notification.out_refund_no, channel=channel_code)
        .first()
    )
    if refund is None:
        logger.warning("notification for unknown refund request %s", notification.out_refund_no)
        return None
    log_context_bind(refund_no=refund.refund_no)
    if notification.amount != refund.amount:
        logger.error("notification amount %s differs from refund %s", notification.amount, refund.refund_no)
        return refund
    try:
        _settle_notification(refund, notification, started)
    except RefundNotAllowed:
        # The channel reports a refund it was never sent (ours is still under review, rejected, cancelled...):
        # nothing changes here. The notification is kept on record and acknowledged (the channel would only send
        # it again), and the day's reconciliation shows the difference to finance.
        logger.error(
            "notification %s for refund %s, which is %s and was never sent to the channel",
            notification.status,
            refund.refund_no,
            refund.state,
        )
        _record(refund, "notification", notification.status, started, raw=notification.raw)
    return refund


@atomic_with_retry(lock_wait_timeout=True)
def _settle_notification(refund: Refund, notification: RefundNotification, started: float) -> None:
    """Apply a notification and record it in one transaction, the change first (see ``_settle``)."""
    if notification.status == RefundStatus.SUCCESS and refund.state != RefundState.REFUNDED:
        flow.refund_mark_refunded(
            refund=refund,
            channel_refund_id=notification.channel_refund_id or "",
            refunded_at=notification.succeeded_at,
        )
    elif notification.status in (RefundStatus.CLOSED, RefundStatus.FAILED) and refund.state == RefundState.REFUNDING:
        flow.refund_mark_failed(
            refund=refund, note=channel_refusal_note(notification.channel_status or notification.status)
        )
    _record(refund, "notification", notification.status, started, raw=notification.raw)
