"""Telling customers where their refunds stand: a message in the inbox, and an email where there is an address.

``customer_notify`` is the one way in: it records the message (once per refund and key) and, when the customer
has an email address, a delivery whose first try is a job on the ``notifications`` queue after commit. A try
that fails is tried again with backoff (RQ's ``Retry``), ``NOTIFICATION_MAX_ATTEMPTS`` tries in all, then the
delivery is recorded as undeliverable and never tried again; a customer without an address gets the inbox only.
Each email is written when it is sent, in the customer's language (``mall.selectors.customer_language``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation

from mall.actors import Customer
from mall.jobs import job_enqueue
from mall.selectors import customer_language
from mall.texts import text_params
from notices.catalogue import MessageEvent
from notices.models import CustomerMessage, DeliveryStatus, Medium, MessageDelivery
from refunds.models import Refund

logger = logging.getLogger(__name__)

DELIVERY_JOB = "notices.jobs.delivery_send"
# How long one try may take before another worker may try the same delivery (an SMTP conversation is seconds).
LEASE = timedelta(minutes=5)


class DeliveryFailed(Exception):
    """A try failed and tries remain: the job raises it so that RQ tries again after its backoff."""


def max_attempts() -> int:
    return max(1, int(settings.NOTIFICATION_MAX_ATTEMPTS))


def retry_intervals() -> tuple[int, ...]:
    """The waits before the second, third... try: the backoff doubles (60 s, 120 s by default)."""
    base = int(settings.NOTIFICATION_RETRY_SECONDS)
    return tuple(base * 2**index for index in range(max_attempts() - 1))


def customer_notify(
    *, refund: Refund, event: str, params: Mapping[str, Any], key: str | None = None
) -> CustomerMessage:
    """Tell the refund's customer of ``event`` (``notices.catalogue.MessageEvent``) with ``params`` (texts,
    amounts and words; stored, rendered when read). Once per refund and ``key`` (``event`` when none is given):
    calling again returns the message told before and sends nothing."""
    if event not in MessageEvent.values:
        raise ValueError(f"{event!r} is not a message event")
    stored = {"refund_no": refund.refund_no, **text_params(**params)}
    with transaction.atomic():
        message, created = CustomerMessage.objects.get_or_create(
            refund=refund,
            key=(key or event)[:64],
            defaults={"customer_id": refund.customer_id, "event": event, "params": stored},
        )
        if created:
            _email_schedule(message, _email_if_loaded(refund))
    return message


def _email_if_loaded(refund: Refund) -> str | None:
    """The customer's address when the caller loaded the customer with the refund (the follow-up job does), so that
    scheduling the email costs no query of its own; None to read it."""
    return str(refund.customer.email) if Refund.customer.is_cached(refund) else None


def replacement_shipped_notify(*, refund: Refund, carrier: str, tracking_no: str) -> CustomerMessage:
    """Tell the customer their replacement (补发) is on its way, once per parcel."""
    return customer_notify(
        refund=refund,
        event=MessageEvent.REPLACEMENT_SHIPPED,
        params={"carrier": carrier, "tracking_no": tracking_no},
        key=f"{MessageEvent.REPLACEMENT_SHIPPED}:{tracking_no}",
    )


def _email_schedule(message: CustomerMessage, email: str | None = None) -> None:
    if email is None:
        email = get_user_model().objects.filter(pk=message.customer_id).values_list("email", flat=True).first()
    if not email:
        return  # the inbox only
    delivery = MessageDelivery.objects.create(
        message=message, medium=Medium.EMAIL, recipient=email, next_attempt_at=timezone.now()
    )
    job_enqueue(DELIVERY_JOB, delivery.pk, queue="notifications", retry_intervals=retry_intervals())


def message_mark_read(*, message_id: int, customer: Customer) -> CustomerMessage:
    """Mark one of ``customer``'s messages read (once: the first reading's time is kept). Another customer's
    message does not exist for them (``CustomerMessage.DoesNotExist``)."""
    CustomerMessage.objects.filter(pk=message_id, customer=customer, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    return CustomerMessage.objects.select_related("refund").get(pk=message_id, customer=customer)


def delivery_send(*, delivery_id: int) -> str:
    """One try of a delivery; returns its status. Raises ``DeliveryFailed`` when the try failed and tries
    remain, so that the job is tried again. A delivery sent, undeliverable, or being tried by another worker is
    left alone: running this twice sends one email."""
    now = timezone.now()
    free = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    claimed = MessageDelivery.objects.filter(
        free, pk=delivery_id, status=DeliveryStatus.PENDING, attempts__lt=max_attempts()
    ).update(attempts=F("attempts") + 1, leased_until=now + LEASE)
    delivery = MessageDelivery.objects.select_related("message__refund").get(pk=delivery_id)
    if not claimed:
        return str(delivery.status)
    message = delivery.message
    language = customer_language(customer_id=message.customer_id)
    with translation.override(language):
        subject = " ".join(message.title.split())  # a header is one line
        body = message.body
    try:
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [delivery.recipient]).send()
    except Exception as error:  # noqa: BLE001 - whatever the mail relay did, the try counts and is recorded
        return _failed(delivery, error, now)
    MessageDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), language=language, last_error="", leased_until=None
    )
    return str(DeliveryStatus.SENT)


def _failed(delivery: MessageDelivery, error: Exception, now: Any) -> str:
    spent = delivery.attempts >= max_attempts()
    intervals = retry_intervals()
    wait = intervals[min(delivery.attempts, len(intervals)) - 1] if intervals else 0
    MessageDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.UNDELIVERABLE if spent else DeliveryStatus.PENDING,
        last_error=f"{type(error).__name__}: {error}"[:255],
        leased_until=None,
        next_attempt_at=None if spent else now + timedelta(seconds=wait),
    )
    if spent:
        logger.warning(
            "message %s undeliverable to its %s after %d tries: %s",
            delivery.message_id,
            delivery.medium,
            delivery.attempts,
            type(error).__name__,
        )
        return str(DeliveryStatus.UNDELIVERABLE)
    raise DeliveryFailed(f"try {delivery.attempts} of message {delivery.message_id} failed: {error}") from error


def deliveries_give_up() -> int:
    """Deliveries whose every try was spent without an answer (a worker killed mid-send): undeliverable."""
    now = timezone.now()
    free = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    return MessageDelivery.objects.filter(free, status=DeliveryStatus.PENDING, attempts__gte=max_attempts()).update(
        status=DeliveryStatus.UNDELIVERABLE, leased_until=None, next_attempt_at=None
    )


__all__ = [
    "DeliveryFailed",
    "customer_notify",
    "deliveries_give_up",
    "delivery_send",
    "message_mark_read",
    "replacement_shipped_notify",
]
