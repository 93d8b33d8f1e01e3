"""Telling the customer their money is back. A record per (refund, event, medium) makes sending idempotent;
senders sit behind one small interface: email through Django's mail backend, SMS through an SMS gateway
adapter (the bundled one writes to the log, as the shop has no SMS contract in this environment)."""

from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from payments.models import CustomerNotification, NotificationStatus
from refunds.models import Refund

logger = logging.getLogger(__name__)
EVENT_REFUNDED = "refunded"


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
        body = _(
            "¥%(amount)s for order %(order_no)s has been returned to your %(channel)s account. "
            "Refund number: %(refund_no)s."
        ) % {
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
    return notify_refunded(Refund.objects.select_related("order", "customer").get(pk=refund_id))


def notify_refunded(refund: Refund) -> dict[str, str]:
    """``refund_notify_customer`` for a refund already loaded with its order and customer."""
    subject, body = _message(refund)
    wanted = {sender.medium: (sender, _recipient(refund, sender.medium)) for sender in senders()}
    wanted = {medium: pair for medium, pair in wanted.items() if pair[1]}
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


def _notes(refund: Refund) -> dict[str, CustomerNotification]:
    """The refund's 'refunded' notifications by medium."""
    return {note.medium: note for note in CustomerNotification.objects.filter(refund=refund, event=EVENT_REFUNDED)}
