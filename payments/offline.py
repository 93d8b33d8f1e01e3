"""Bank transfers made by hand, for refunds the channel could not pay (WeChat Pay ``ABNORMAL``: the customer's card
or account is closed; a closed Alipay trade).

A person who decides refunds chooses the transfer on a failed refund and says whom to pay (``offline_transfer_
request``); finance makes it and records the bank's reference and a proof, stored like the vouchers (object storage
in production, local files by default), and the refund becomes `refunded` with destination `offline`
(``offline_transfer_confirm``). Maker-checker: whoever chose the transfer never confirms it, checked here under the
row locks and refused by the database too. Finance may also give up on a transfer it cannot make
(``offline_transfer_abandon``): the refund waits for a person again.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mall.actors import Staff
from mall.photos import PhotoRefused, photo_type
from mall.texts import literal
from payments.exceptions import TransferForbidden, TransferInvalid, TransferNotAllowed
from payments.models import OfflineTransfer, transfer_proof_path
from refunds import remedies
from refunds.lifecycle import lock_refund
from refunds.models import Refund, RefundState
from refunds.texts import TRANSFER_ABANDONED, TRANSFERRED_REFERENCE

logger = logging.getLogger(__name__)

CONFIRM_PERMISSION = "payments.confirm_offline_transfer"
MAX_PROOF_BYTES = 5 * 1024 * 1024
MAX_REFERENCE = 64
PDF = ("application/pdf", "pdf")


@transaction.atomic
def offline_transfer_request(*, refund: Refund, actor: Staff, note: str) -> Refund:
    """Choose a bank transfer for a failed refund. ``note`` says whom to pay (name, bank, account): it is kept for
    finance, out of the customer's timeline."""
    payee = (note or "").strip()
    if not payee:
        raise TransferInvalid(_("Say whom to pay: name, bank and account."), field="note")
    if len(payee) > 255:
        raise TransferInvalid(_("At most 255 characters."), field="note")
    refund = remedies.refund_choose_offline_transfer(refund=refund, actor=actor)
    # A transfer finance abandoned earlier is chosen again on the same row: the events keep who did what before.
    OfflineTransfer.objects.update_or_create(
        refund=refund,
        defaults={
            "amount": refund.amount,
            "payee": payee,
            "requested_by": actor,
            "requested_at": timezone.now(),
            "reference": "",
            "proof": "",
            "proof_sha256": "",
            "proof_content_type": "",
            "confirmed_by": None,
            "confirmed_at": None,
        },
    )
    return refund


def confirm_blocker(*, transfer: OfflineTransfer, actor: Staff) -> str | None:
    """Why ``actor`` may not confirm ``transfer``, or None. The console shows it; the service enforces it."""
    if not actor.has_perm(CONFIRM_PERMISSION):
        return str(_("Only finance records bank transfers."))
    if transfer.requested_by_id == actor.pk:
        return str(_("You chose this transfer: another person must confirm it."))
    return None


def _proof(upload: File[bytes] | None) -> tuple[bytes, str, str]:
    """The proof's bytes, content type and extension: a PDF, or a JPEG, PNG or WebP picture of at most 5 MB."""
    if upload is None:
        raise TransferInvalid(_("Attach the bank's proof of the transfer (PDF or photo)."), field="proof")
    if upload.size is None or upload.size > MAX_PROOF_BYTES:
        raise TransferInvalid(_("The proof is larger than 5 MB."), field="proof")
    data = upload.read(MAX_PROOF_BYTES + 1)
    if len(data) > MAX_PROOF_BYTES:
        raise TransferInvalid(_("The proof is larger than 5 MB."), field="proof")
    if data.startswith(b"%PDF-"):
        return data, *PDF
    try:
        content_type, extension = photo_type(data)
    except PhotoRefused:
        raise TransferInvalid(_("The proof must be a PDF or a JPEG, PNG or WebP picture."), field="proof") from None
    return data, content_type, extension


def offline_transfer_confirm(
    *, refund: Refund, actor: Staff, reference: str, proof: File[bytes] | None
) -> OfflineTransfer:
    """Finance made the transfer: record its reference and proof, and the refund is refunded. Anything refused
    changes nothing (the proof is stored only once everything else holds, and removed if the transaction fails)."""
    if not actor.has_perm(CONFIRM_PERMISSION):
        raise TransferForbidden(_("Only finance records bank transfers."))
    reference = (reference or "").strip()
    if not reference:
        raise TransferInvalid(_("The bank's reference of the transfer is required."), field="reference")
    if len(reference) > MAX_REFERENCE:
        raise TransferInvalid(_("At most 64 characters."), field="reference")
    data, content_type, extension = _proof(proof)
    digest = hashlib.sha256(data).hexdigest()
    stored: str | None = None
    try:
        with transaction.atomic():
            refund = lock_refund(refund.pk)
            transfer = OfflineTransfer.objects.select_for_update().filter(refund=refund).first()
            if transfer is None or refund.state != RefundState.AWAITING_TRANSFER:
                raise TransferNotAllowed()
            blocker = confirm_blocker(transfer=transfer, actor=actor)
            if blocker is not None:
                raise TransferForbidden(blocker)
            stored = default_storage.save(
                transfer_proof_path(transfer, f"{refund.refund_no}-{digest[:12]}.{extension}"), ContentFile(data)
            )
            transfer.reference = reference
            transfer.proof.name = stored
            transfer.proof_sha256 = digest
            transfer.proof_content_type = content_type
            transfer.confirmed_by = actor
            transfer.confirmed_at = timezone.now()
            transfer.save()
            note = TRANSFERRED_REFERENCE(reference=reference)
            remedies.refund_mark_transferred(refund=refund, actor=actor, note=note)
    except Exception:
        if stored is not None:
            default_storage.delete(stored)
        raise
    logger.info("refund %s paid by bank transfer %s", refund.refund_no, reference)
    return transfer


@transaction.atomic
def offline_transfer_abandon(*, refund: Refund, actor: Staff, note: str) -> Refund:
    """Finance cannot make the transfer (the account does not exist, the payee is unknown): the refund waits for
    a person again (`failed`), who may choose anew."""
    if not actor.has_perm(CONFIRM_PERMISSION):
        raise TransferForbidden(_("Only finance records bank transfers."))
    note = (note or "").strip()
    if not note:
        raise TransferInvalid(_("Say why the transfer cannot be made."), field="note")
    refund = lock_refund(refund.pk)
    if refund.state != RefundState.AWAITING_TRANSFER:
        raise TransferNotAllowed()
    text = TRANSFER_ABANDONED(why=literal(note[:400]))
    return remedies.refund_mark_transfer_abandoned(refund=refund, actor=actor, note=text)


__all__ = [
    "CONFIRM_PERMISSION",
    "confirm_blocker",
    "offline_transfer_abandon",
    "offline_transfer_confirm",
    "offline_transfer_request",
]
