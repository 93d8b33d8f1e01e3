"""Admin building blocks shared by the apps' consoles."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest


def object_pk(model: type[models.Model], object_id: str) -> Any | None:
    """The primary key an admin URL's object id names, or None where no record could have it ("abc", "1'"). A
    change page that loads its record itself goes through this first; Django's own view then answers "not found"."""
    field = model._meta.pk
    assert field is not None
    try:
        return field.to_python(unquote(object_id))
    except (ValidationError, ValueError, TypeError):
        return None


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """An admin that shows records and changes none of them (ledgers, carrier events, reconciliation runs)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
