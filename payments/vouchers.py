"""Electronic refund vouchers: a PDF receipt per completed refund, stored through Django's storage (S3-compatible
object storage in production, local files by default), with its SHA-256, and handed out as short-lived
signed URLs only."""

from __future__ import annotations

import hashlib
import io

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from reportlab import rl_config
from reportlab.lib.pagesizes import A5
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from mall.money import yuan
from payments.models import RefundVoucher
from refunds.models import Refund, RefundState

FONT = "STSong-Light"  # a CID font built into reportlab: Chinese text without shipping a font file
SIGNED_URL_SECONDS = 300
_SALT = "refund-voucher"
# Binary (Flate only) streams: ASCII85 on top makes the file a quarter bigger and is encoded in pure Python, a
# good part of the CPU a voucher costs. Vouchers are the only PDFs this process writes.
rl_config.useA85 = 0


def register_font() -> None:
    """Load the voucher font once per process (a worker does it before its first job)."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def render_voucher_pdf(refund: Refund) -> bytes:
    register_font()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A5, invariant=True)
    _width, height = A5
    with translation.override(settings.LANGUAGE_CODE):
        pdf.setTitle(str(_("Refund voucher")) + f" {refund.refund_no}")
        pdf.setFont(FONT, 16)
        pdf.drawString(40, height - 60, str(_("Fruit mall refund voucher")))
        pdf.setFont(FONT, 10)
        refunded_at = timezone.localtime(refund.refunded_at) if refund.refunded_at else None
        rows = [
            (_("Refund number"), refund.refund_no),
            (_("Order number"), refund.order.order_no),
            (_("Refund amount"), yuan(refund.amount)),
            (_("Order amount paid"), yuan(refund.order.total_amount)),
            (_("Channel"), str(refund.get_channel_display())),
            (_("Paid to"), str(refund.get_destination_display())),
            (_("Channel trade number"), refund.order.payment.trade_no),
            (_("Channel refund id"), refund.channel_refund_id or "-"),
            (_("Channel request number"), refund.out_refund_no),
            (_("Reason"), str(refund.get_reason_display())),
            (_("Applied at"), f"{timezone.localtime(refund.created_at):%Y-%m-%d %H:%M:%S}"),
            (_("Refunded at"), f"{refunded_at:%Y-%m-%d %H:%M:%S}" if refunded_at else "-"),
        ]
        y = height - 100
        for label, value in rows:
            pdf.drawString(40, y, str(label))
            pdf.drawString(170, y, value)
            y -= 20
        pdf.drawString(40, y - 10, str(_("Times are Beijing time (UTC+8).")))
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def refund_issue_voucher(*, refund_id: int) -> RefundVoucher | None:
    """Create the voucher of a refunded refund, once."""
    return issue_voucher(Refund.objects.select_related("order__payment").get(pk=refund_id))


def issue_voucher(refund: Refund) -> RefundVoucher | None:
    """``refund_issue_voucher`` for a refund already loaded with its order and payment."""
    if refund.state != RefundState.REFUNDED:
        return None
    existing = RefundVoucher.objects.filter(refund=refund).first()
    if existing is not None:
        return existing
    data = render_voucher_pdf(refund)
    name = default_storage.save(
        f"refunds/vouchers/{timezone.localtime():%Y/%m}/{refund.refund_no}.pdf", ContentFile(data)
    )
    try:
        with transaction.atomic():
            return RefundVoucher.objects.create(
                refund=refund, file=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data)
            )
    except IntegrityError:
        default_storage.delete(name)  # a concurrent run won; keep its file
        return RefundVoucher.objects.get(refund=refund)


def voucher_url(voucher: RefundVoucher) -> str:
    """A link valid for a few minutes: the storage's own presigned URL on S3, a signed local link otherwise."""
    if settings.STORAGE_BACKEND == "s3":
        return str(default_storage.url(voucher.file.name))
    token = signing.TimestampSigner(salt=_SALT).sign(str(voucher.pk))
    return reverse("payments:voucher-download", args=[token])


def voucher_from_token(token: str) -> RefundVoucher | None:
    try:
        pk = signing.TimestampSigner(salt=_SALT).unsign(token, max_age=SIGNED_URL_SECONDS)
    except signing.BadSignature:
        return None
    return RefundVoucher.objects.filter(pk=pk).first()
