"""Why a refund was rejected: a preset list of reasons that supervisors keep in the console, each with its label in
every language of the shop, and the text the customer and staff read of a rejection (the reason's label in the
reader's language, then the reviewer's own words).

The list is data, not code: supervisors add, reword, reorder and retire reasons without a release. A reason that a
refund names is never deleted, only retired (``active``), so every rejection keeps its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from refunds.models import Refund, RefundEvent


class RejectionReason(models.Model):
    code = models.SlugField(
        _("code"),
        max_length=32,
        unique=True,
        help_text=_("A short name that never changes (letters, digits, hyphens and underscores)."),
    )
    label_zh_hans = models.CharField(_("label in Chinese"), max_length=100)
    label_en = models.CharField(_("label in English"), max_length=100)
    needs_note = models.BooleanField(
        _("needs a note"), default=False, help_text=_("The reviewer must add their own words (e.g. “other”).")
    )
    active = models.BooleanField(_("offered"), default=True, help_text=_("Retired reasons are no longer offered."))
    position = models.PositiveSmallIntegerField(_("position"), default=0, help_text=_("Smaller numbers come first."))

    class Meta:
        app_label = "refunds"
        verbose_name = _("rejection reason")
        verbose_name_plural = _("rejection reasons")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(label_zh_hans="") & ~Q(label_en=""), name="rejection_reason_labels_not_empty"
            )
        ]

    def __str__(self) -> str:
        return self.label()

    def label(self, language: str | None = None) -> str:
        """The label in ``language`` (by default the active one): Chinese for any ``zh`` variant, else English."""
        language = (language or get_language() or "zh-hans").lower()
        return self.label_zh_hans if language.startswith("zh") else self.label_en


def rejection_text(reason: RejectionReason | None, note: str) -> str:
    """What a rejection says to its reader, in the active language: the preset reason's label, then the reviewer's
    words (either may be missing: rejections made before the preset list have only words)."""
    parts = [reason.label()] if reason is not None else []
    if note.strip():
        parts.append(note.strip())
    return (
        gettext("%(reason)s: %(note)s") % {"reason": parts[0], "note": parts[1]} if len(parts) == 2 else "".join(parts)
    )


def refund_rejection_text(refund: Refund) -> str:
    """Why the refund stands rejected, as its reader sees it; "" for a refund that is not rejected."""
    if refund.state != "rejected":
        return ""
    return rejection_text(refund.rejection_reason, refund.decision_note)


def timeline_notes(refund: Refund, events: Sequence[RefundEvent]) -> list[str]:
    """The note each of ``events`` shows its reader. The refund's last rejection (the one its ``rejection_reason``
    belongs to) reads as the reason's label in the reader's language and the reviewer's words; every other event
    shows its own note."""
    last_rejection = None
    if refund.rejection_reason_id is not None:
        rejections = [e for e in events if e.to_state == "rejected" and e.from_state != "rejected"]
        last_rejection = rejections[-1] if rejections else None
    return [
        rejection_text(refund.rejection_reason, event.note) if event is last_rejection else event.note
        for event in events
    ]
