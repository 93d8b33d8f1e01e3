"""Forms of the refund console. They only parse; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from mall.models import Order
from mall.money import CENT, yuan
from refunds.models import CUSTOMER_DESTINATIONS, DisputeOutcome, RefundDestination
from refunds.rejections import RejectionReason


class ActForm(forms.Form):
    """The fields a refund page button posts; ``service_kwargs`` are what its service is called with."""

    note = forms.CharField(label=_("Note (optional)"), max_length=255, required=False)

    def service_kwargs(self) -> dict[str, Any]:
        return {"note": self.cleaned_data["note"]}


class ApproveForm(ActForm):
    pass


class ReasonChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        assert isinstance(obj, RejectionReason)
        return obj.label()  # in the reader's language, when the form is drawn


class RejectForm(ActForm):
    """A preset reason (required; the list supervisors keep) and, optionally, the reviewer's own words."""

    reason = ReasonChoiceField(
        label=_("Rejection reason"),
        queryset=RejectionReason.objects.filter(active=True),
        widget=forms.RadioSelect,
        empty_label=None,
        error_messages={
            "required": _("Choose a reason for rejecting."),
            "invalid_choice": _("This reason is no longer offered: choose another."),
        },
    )
    note = forms.CharField(
        label=_("In your own words (shown to the customer)"),
        max_length=255,
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "cols": 40,
                "placeholder": _("In your own words (optional, shown to the customer)"),
                "aria-label": _("In your own words (shown to the customer)"),
            }
        ),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        reason = data.get("reason")
        if reason is not None and reason.needs_note and not data.get("note", "").strip():
            self.add_error("note", _("This reason needs a few words of your own."))
        return data

    def service_kwargs(self) -> dict[str, Any]:
        return {"note": self.cleaned_data["note"], "reason": self.cleaned_data["reason"]}


class OverturnForm(ActForm):
    note = forms.CharField(
        label=_("Why the rejection is overturned"),
        max_length=255,
        widget=forms.Textarea(
            attrs={
                "rows": 1,
                "cols": 36,
                "placeholder": _("Why the rejection is overturned (required)"),
                "aria-label": _("Why the rejection is overturned"),
            }
        ),
        error_messages={"required": _("A reason is required to overturn a decision.")},
    )


class PayeeForm(ActForm):
    note = forms.CharField(
        label=_("Whom to pay: name, bank and account"),
        max_length=255,
        widget=forms.Textarea(
            attrs={
                "rows": 1,
                "cols": 36,
                "placeholder": _("Whom to pay: name, bank and account (for finance, required)"),
                "aria-label": _("Whom to pay: name, bank and account"),
            }
        ),
        error_messages={"required": _("Say whom to pay: name, bank and account.")},
    )


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    internal = forms.BooleanField(label=_("Internal: not shown to the customer"), required=False, initial=True)


class CompensationForm(forms.Form):
    MODE_PERCENT = "percent"
    MODE_AMOUNT = "amount"

    order_no = forms.CharField(label=_("Order number"), max_length=32)
    order_item = forms.TypedChoiceField(label=_("Item"), coerce=int, choices=())
    mode = forms.ChoiceField(
        label=_("Compensate"),
        choices=[(MODE_PERCENT, _("a percentage of what was paid for the item")), (MODE_AMOUNT, _("a fixed amount"))],
        widget=forms.RadioSelect,
        initial=MODE_PERCENT,
    )
    value = forms.DecimalField(label=_("Percentage or amount (¥)"), max_digits=10, decimal_places=2, min_value=CENT)
    reason = forms.CharField(
        label=_("Reason (shown on the refund)"), max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )
    destination = forms.ChoiceField(
        label=_("Refund to"),
        choices=[(d.value, d.label) for d in CUSTOMER_DESTINATIONS],
        widget=forms.RadioSelect,
        initial=RefundDestination.ORIGINAL,
        required=False,  # the original payment unless chosen otherwise
    )

    def __init__(self, *args: Any, order: Order | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if order is not None:
            field = self.fields["order_item"]
            assert isinstance(field, forms.TypedChoiceField)
            field.choices = [
                (item.pk, f"{item.sku} {item.name} × {item.quantity} — {yuan(item.amount)}")
                for item in order.items.all()
            ]

    def clean_destination(self) -> str:
        return str(self.cleaned_data.get("destination") or RefundDestination.ORIGINAL)


class DisputeOpenForm(forms.Form):
    reason = forms.CharField(
        label=_("What is contested"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )


class DisputeNoteForm(forms.Form):
    body = forms.CharField(label=_("Note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class DisputeResolveForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=DisputeOutcome.choices, widget=forms.RadioSelect)
    amount = forms.DecimalField(
        label=_("Compensation amount (¥, partial outcome only)"),
        max_digits=12,
        decimal_places=2,
        min_value=CENT,
        required=False,
    )
    note = forms.CharField(label=_("Resolution"), max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("outcome") == DisputeOutcome.PARTIAL and not data.get("amount"):
            self.add_error("amount", _("A partial outcome needs an amount."))
        return data
