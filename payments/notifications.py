"""Telling the customer their money is back. A record per (refund, event, medium) makes sending idempotent;
senders sit behind one small interface: email through Django's mail backend, SMS through an SMS gateway
adapter (the bundled one writes to the log, as the shop has no SMS contract in this environment). A customer with
no address on any medium gets the message recorded as `no_contact` once (what the inbox shows), and no retries."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from mall.logging import log_context_bind
from payments.models import CustomerNotification, NotificationStatus
from refunds.models import Refund, RefundDestination

logger = logging.getLogger(__name__)
EVENT_REFUNDED = "refunded"
# Refunds whose customer has no address on any medium (the same fields as ``_recipient``).
NO_ADDRESS = Q(customer__email="") & Q(order__receiver_phone="")


class Sender(Protocol):
    medium: str

    def send(self, *, recipient: str, subject: str, body: str) -> None: ...


class EmailSender:
    medium = "email"

    def send(self, *, recipient: str, subject: str, body: str) -> None:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient], fail_silently=False)


class LogSmsSender:
    """Stands in for the SMS gateway: records the message in the log (no real phone is reached from here)."""

    medium = "sms"

    def send(self, *, recipient: str, subject: str, body: str) -> None:
        logger.info("sms to %s: %s", recipient[-4:].rjust(len(recipient), "*"), body)


def senders() -> list[Sender]:
    return [EmailSender(), LogSmsSender()]


def _message(refund: Refund) -> tuple[str, str]:
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Your refund %(refund_no)s is complete") % {"refund_no": refund.refund_no}
        if refund.destination == RefundDestination.STORE_CREDIT:
            text = _(
                "¥%(amount)s for order %(order_no)s has been added to your store credit. Refund number: %(refund_no)s."
            )
        elif refund.destination == RefundDestination.OFFLINE:
            text = _(
                "¥%(amount)s for order %(order_no)s has been paid to you by bank transfer. "
                "Refund number: %(refund_no)s."
            )
        else:
            text = _(
                "¥%(amount)s for order %(order_no)s has been returned to your %(channel)s account. "
                "Refund number: %(refund_no)s."
            )
        body = text % {
            "amount": f"{refund.amount:.2f}",
            "order_no": refund.order.order_no,
            "channel": refund.get_channel_display(),
            "refund_no": refund.refund_no,
        }
    return str(subject), str(body)


def _recipient(refund: Refund, medium: str) -> str:
    if medium == "email":
        return str(refund.customer.email or "")
    return str(refund.order.receiver_phone or "")


def refund_notify_customer(*, refund_id: int) -> dict[str, str]:
    """Send the 'refunded' message on every medium the customer has; each at most once. Raises if a send
    failed and attempts remain, so the job is retried (up to NOTIFICATION_MAX_ATTEMPTS)."""
    refund = Refund.objects.select_related("order", "customer").get(pk=refund_id)
    log_context_bind(refund_no=refund.refund_no)
    return notify_refunded(refund)


def notify_refunded(refund: Refund) -> dict[str, str]:
    """``refund_notify_customer`` for a refund already loaded with its order and customer."""
    subject, body = _message(refund)
    wanted = {sender.medium: (sender, _recipient(refund, sender.medium)) for sender in senders()}
    wanted = {medium: pair for medium, pair in wanted.items() if pair[1]}
    if not wanted:
        return notifications_record_no_contact(refunds=[refund])[refund.pk]
    notes = _notes(refund)
    missing = [
        CustomerNotification(
            refund=refund, event=EVENT_REFUNDED, medium=medium, recipient=recipient, subject=subject, body=body
        )
        for medium, (_sender, recipient) in wanted.items()
        if medium not in notes
    ]
    if missing:
        try:
            with transaction.atomic():
                CustomerNotification.objects.bulk_create(missing)
        except IntegrityError:
            pass  # a concurrent run recorded them first: theirs are read back below
        notes = _notes(refund)
    results: dict[str, str] = {}
    failed = False
    for medium, (sender, recipient) in wanted.items():
        note = notes[medium]
        if note.status != NotificationStatus.PENDING:
            results[medium] = note.status
            continue
        note.attempts += 1
        try:
            sender.send(recipient=recipient, subject=subject, body=body)
        except Exception as error:  # noqa: BLE001 - any sender failure is retried, then recorded
            note.last_error = f"{type(error).__name__}: {error}"[:255]
            if note.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
                note.status = NotificationStatus.FAILED
            else:
                failed = True
        else:
            note.status = NotificationStatus.SENT
            note.sent_at = timezone.now()
        note.save(update_fields=["attempts", "last_error", "status", "sent_at"])
        results[medium] = note.status
    if failed:
        raise RuntimeError(f"notification of refund {refund.refund_no} will be retried")
    return results


def notifications_record_no_contact(*, refunds: Iterable[Refund]) -> dict[int, dict[str, str]]:
    """Record the 'refunded' message of refunds whose customer has no address, once per medium, as `no_contact`:
    kept for the customer to read in the shop, and never handed to a sender or retried. Returns each refund's
    statuses by medium. The refunds must be loaded with their order and customer."""
    records = []
    for refund in refunds:
        subject, body = _message(refund)
        records += [
            CustomerNotification(
                refund=refund,
                event=EVENT_REFUNDED,
                medium=sender.medium,
                recipient="",
                subject=subject,
                body=body,
                status=NotificationStatus.NO_CONTACT,
            )
            for sender in senders()
        ]
    # A concurrent run that recorded them first wins; what is stored is read back.
    CustomerNotification.objects.bulk_create(records, ignore_conflicts=True)
    statuses: dict[int, dict[str, str]] = {record.refund_id: {} for record in records}
    stored = CustomerNotification.objects.filter(refund_id__in=list(statuses), event=EVENT_REFUNDED)
    for refund_id, medium, status in stored.values_list("refund_id", "medium", "status"):
        statuses[refund_id][medium] = status
    return statuses


def _notes(refund: Refund) -> dict[str, CustomerNotification]:
    """The refund's 'refunded' notifications by medium."""
    return {note.medium: note for note in CustomerNotification.objects.filter(refund=refund, event=EVENT_REFUNDED)}
