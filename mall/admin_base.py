"""Admin building blocks shared by the apps' consoles."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext


def object_pk(model: type[models.Model], object_id: str) -> Any | None:
    """The primary key an admin URL's object id names, or None where no record could have it ("abc", "1'"). A
    change page that loads its record itself goes through this first; Django's own view then answers "not found"."""
    field = model._meta.pk
    assert field is not None
    try:
        return field.to_python(unquote(object_id))
    except (ValidationError, ValueError, TypeError):
        return None


class ConsoleModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every list of the console: a bulk action whose selection names a record no primary key could be ("abc", from
    a hand-made form) runs on nothing and says so. Django filters by the raw values and answers 500."""

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        field = self.model._meta.pk
        assert field is not None
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                field.get_prep_value(value)
            except (ValidationError, ValueError, TypeError):
                message = gettext("The selection names no such record: nothing was changed.")
                self.message_user(request, message, messages.WARNING)
                return None
        return super().response_action(request, queryset, *args, **kwargs)


class ReadOnlyAdmin(ConsoleModelAdmin):
    """An admin that shows records and changes none of them (ledgers, carrier events, reconciliation runs)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
