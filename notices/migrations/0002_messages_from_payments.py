"""The "money back" messages the payment side recorded (``payments.CustomerNotification``, one row per medium with
the text already written in the shop's language) become inbox messages with codes and parameters, rendered in
each reader's language; each email row becomes the message's delivery, with its tries. SMS rows, which were only
ever written to the log, are not kept. Going back writes the email rows again, in the shop's language."""

from typing import Any

from django.conf import settings
from django.db import migrations
from django.urls import NoReverseMatch, reverse
from django.utils import translation

BATCH = 1000
STATUS_TO_DELIVERY = {"pending": "pending", "sent": "sent", "failed": "undeliverable"}
DELIVERY_TO_STATUS = {"pending": "pending", "sent": "sent", "undeliverable": "failed"}


def _voucher_path(refund_no: str) -> str:
    try:
        return reverse("refund-voucher", kwargs={"refund_no": refund_no})
    except NoReverseMatch:
        return f"/api/v1/refunds/{refund_no}/voucher/"


def _keep_times(*models: Any) -> None:
    # The copies keep the times of the rows they come from (these historical models are this migration's own).
    for model in models:
        model._meta.get_field("created_at").auto_now_add = False


def forwards(apps: Any, schema_editor: Any) -> None:
    CustomerNotification = apps.get_model("payments", "CustomerNotification")
    CustomerMessage = apps.get_model("notices", "CustomerMessage")
    MessageDelivery = apps.get_model("notices", "MessageDelivery")
    _keep_times(CustomerMessage, MessageDelivery)
    last = 0
    while True:
        refund_ids = list(
            CustomerNotification.objects.filter(refund_id__gt=last, event="refunded")
            .order_by("refund_id")
            .values_list("refund_id", flat=True)
            .distinct()[:BATCH]
        )
        if not refund_ids:
            return
        last = refund_ids[-1]
        rows = CustomerNotification.objects.filter(refund_id__in=refund_ids, event="refunded").select_related(
            "refund__order"
        )
        by_refund: dict[int, list[Any]] = {}
        for row in rows.order_by("refund_id", "id"):
            by_refund.setdefault(row.refund_id, []).append(row)
        messages = []
        for notes in by_refund.values():
            refund = notes[0].refund
            messages.append(
                CustomerMessage(
                    customer_id=refund.customer_id,
                    refund_id=refund.pk,
                    event="refunded",
                    key="refunded",
                    params={
                        "refund_no": refund.refund_no,
                        "order_no": refund.order.order_no,
                        "amount": str(refund.amount),
                        "channel": refund.channel,
                        "voucher": _voucher_path(refund.refund_no),
                    },
                    created_at=min(note.created_at for note in notes),
                )
            )
        CustomerMessage.objects.bulk_create(messages, ignore_conflicts=True)
        message_of = dict(
            CustomerMessage.objects.filter(refund_id__in=list(by_refund), key="refunded").values_list("refund_id", "pk")
        )
        deliveries = [
            MessageDelivery(
                message_id=message_of[note.refund_id],
                medium="email",
                recipient=note.recipient,
                status=STATUS_TO_DELIVERY[note.status],
                attempts=note.attempts,
                last_error=note.last_error,
                language=settings.LANGUAGE_CODE,
                sent_at=note.sent_at or (note.created_at if note.status == "sent" else None),
                created_at=note.created_at,
            )
            for notes in by_refund.values()
            for note in notes
            if note.medium == "email" and note.recipient and note.status in STATUS_TO_DELIVERY
        ]
        MessageDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)


def backwards(apps: Any, schema_editor: Any) -> None:
    from notices.catalogue import message_body, message_title

    CustomerNotification = apps.get_model("payments", "CustomerNotification")
    MessageDelivery = apps.get_model("notices", "MessageDelivery")
    _keep_times(CustomerNotification)
    last = 0
    with translation.override(settings.LANGUAGE_CODE):
        while True:
            page = list(
                MessageDelivery.objects.filter(pk__gt=last, message__event="refunded", medium="email")
                .select_related("message")
                .order_by("pk")[:BATCH]
            )
            if not page:
                return
            last = page[-1].pk
            CustomerNotification.objects.bulk_create(
                [
                    CustomerNotification(
                        refund_id=delivery.message.refund_id,
                        event="refunded",
                        medium="email",
                        recipient=delivery.recipient,
                        subject=message_title("refunded", delivery.message.params)[:200],
                        body=message_body("refunded", delivery.message.params),
                        status=DELIVERY_TO_STATUS[delivery.status],
                        attempts=delivery.attempts,
                        last_error=delivery.last_error,
                        sent_at=delivery.sent_at,
                        created_at=delivery.created_at,
                    )
                    for delivery in page
                ],
                ignore_conflicts=True,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("notices", "0001_initial"),
        ("payments", "0002_customernotification_no_contact"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
