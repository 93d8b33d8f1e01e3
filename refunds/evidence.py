"""Evidence photos: checked by content (not by name), limited in size and number, stored through Django's
storage API (local files or S3-compatible object storage)."""

from __future__ import annotations

import hashlib
import uuid

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from mall.actors import Staff
from mall.photos import PhotoRefused, photo_type
from refunds import texts
from refunds.exceptions import EvidenceRejected, RefundNotAllowed
from refunds.models import Refund, RefundEvidence, RefundState
from refunds.services import refund_record_event

MAX_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 9
CLOSED_STATES = (RefundState.REFUNDED, RefundState.CANCELLED, RefundState.REPLACED)


def refund_add_evidence(*, refund: Refund, actor: Staff, upload: UploadedFile[bytes]) -> RefundEvidence:
    if upload.size is None or upload.size > MAX_BYTES:
        raise EvidenceRejected(_("A photo may be at most 5 MB."), field="file")
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise EvidenceRejected(_("A photo may be at most 5 MB."), field="file")
    if not data:
        raise EvidenceRejected(_("The file is empty."), field="file")
    try:
        content_type, extension = photo_type(data)
    except PhotoRefused as refused:
        raise EvidenceRejected(str(refused), field="file") from None
    with transaction.atomic():
        locked = Refund.objects.select_for_update().get(pk=refund.pk)
        if locked.state in CLOSED_STATES:
            raise RefundNotAllowed(_("This refund is closed."), state=locked.state)
        if RefundEvidence.objects.filter(refund=locked).count() >= MAX_PHOTOS:
            raise EvidenceRejected(_("At most 9 photos per refund."), field="file")
        evidence = RefundEvidence(
            refund=locked,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            uploaded_by=actor,
        )
        # The stored name is ours: the uploaded name is never trusted.
        evidence.file.save(f"{uuid.uuid4().hex}.{extension}", ContentFile(data), save=False)
        try:
            evidence.save()
        except Exception:
            evidence.file.delete(save=False)
            raise
        refund_record_event(refund=locked, from_state=locked.state, actor=actor, note=texts.PHOTO_ADDED())
    return evidence
