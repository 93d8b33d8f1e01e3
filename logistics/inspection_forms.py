"""Forms of the quality inspection: one row per returned item (what arrived, in which condition, with photos) and
the confirmation that completes it. They only parse; ``logistics.inspection`` decides, and its refusals are shown
at the field they name."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from logistics.inspection import RecordLine
from logistics.models import Condition
from logistics.selectors import InspectionPlan, PlannedItem
from mall.exceptions import BusinessError
from mall.models import SaleUnit
from mall.quantities import quantity_number, unit_label

PHOTO_TYPES = "image/jpeg,image/png,image/webp"
# What the services call a field, and what the row calls it.
SERVICE_FIELDS = {"quantity": "received_quantity", "condition": "condition", "photos": "photos"}


class MultiplePhotoInput(forms.FileInput):
    allow_multiple_selected = True


class MultiplePhotoField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultiplePhotoInput(attrs={"accept": PHOTO_TYPES}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultiplePhotoField, self).clean(f, initial) for f in files]


class InspectionLineForm(forms.Form):
    """What arrived of one returned item: its quantity in the unit it is sold in, one condition, notes, photos.
    An empty quantity (or 0) records nothing of the item."""

    received_quantity = forms.DecimalField(
        label=_("Received"), max_digits=10, decimal_places=3, min_value=Decimal("0"), required=False
    )
    condition = forms.ChoiceField(
        label=_("Condition"), choices=Condition.choices, initial=Condition.RESELLABLE, required=False
    )
    notes = forms.CharField(
        label=_("Notes"), max_length=500, required=False, widget=forms.TextInput(attrs={"size": 24})
    )
    photos = MultiplePhotoField(label=_("Photos"), required=False)

    def __init__(self, *args: Any, item: PlannedItem, **kwargs: Any) -> None:
        order_item = item.order_item
        kwargs.setdefault(
            "initial", {"received_quantity": quantity_number(item.remaining), "condition": Condition.RESELLABLE}
        )
        kwargs["prefix"] = f"item-{order_item.pk}"
        super().__init__(*args, **kwargs)
        self.item = item
        self.unit = unit_label(order_item.unit)
        field = self.fields["received_quantity"]
        field.label = gettext("Received (%(unit)s)") % {"unit": self.unit}
        for row_field in self.fields.values():  # the rows have no visible labels: the table's head says it
            row_field.widget.attrs["aria-label"] = f"{order_item.name}: {row_field.label}"
        field.widget.attrs.update(
            {
                "step": "1" if order_item.unit == SaleUnit.PIECE else "0.001",
                "min": "0",
                "max": quantity_number(item.remaining),
                "class": "inspection-quantity",
            }
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("received_quantity") and not data.get("condition") and "condition" not in self.errors:
            self.add_error("condition", forms.Field.default_error_messages["required"])
        return data

    def line(self) -> RecordLine | None:
        quantity = self.cleaned_data.get("received_quantity")
        if not quantity:
            return None
        return RecordLine(
            order_item_id=self.item.order_item.pk,
            received_quantity=quantity,
            condition=self.cleaned_data["condition"],
            notes=self.cleaned_data.get("notes") or "",
            photos=self.cleaned_data.get("photos") or [],
        )


class InspectionForm:
    """A row for each returned item that may still be recorded, pre-filled with what is left of it in the
    resellable condition: when everything came back as claimed, recording it is one click."""

    def __init__(self, data: Any = None, files: Any = None, *, plan: InspectionPlan) -> None:
        self.rows = [InspectionLineForm(data, files, item=item) for item in plan.items if item.remaining > 0]
        self.errors: list[str] = []
        self._recorded: list[InspectionLineForm] = []

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def is_valid(self) -> bool:
        valid = all([row.is_valid() for row in self.rows])
        if valid:
            self._recorded = [row for row in self.rows if row.line() is not None]
            if not self._recorded:
                self.errors.append(gettext("Give the quantity received of at least one item."))
                valid = False
        return valid

    def lines(self) -> list[RecordLine]:
        return [line for row in self._recorded if (line := row.line()) is not None]

    def add_service_error(self, error: BusinessError) -> None:
        """Show a refusal of ``inspection_record_lines`` at the row and field it names (else above the rows)."""
        index = error.params.get("line")
        field = SERVICE_FIELDS.get(error.field or "")
        if isinstance(index, int) and 0 <= index < len(self._recorded) and field is not None:
            self._recorded[index].add_error(field, str(error.message))
        else:
            self.errors.append(str(error.message))

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(row.errors for row in self.rows)


class InspectionCompleteForm(forms.Form):
    """The confirmation: the amount the person was shown (checked again when completing) and an optional note."""

    expected_amount = forms.DecimalField(max_digits=12, decimal_places=2, widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("Note to the customer (optional)"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"size": 50}),
    )
