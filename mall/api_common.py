"""Shared pieces of the REST API: pagination, the one exception handler that maps business errors, and the shape
of its error bodies."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.encoding import force_str
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mall.exceptions import BusinessError
from mall.outage import RETRY_AFTER_SECONDS, log_unavailable, unavailable_body, unavailable_dependency


@extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {}},
        ]
    }
)
class FieldErrorsField(serializers.JSONField):
    """A field's messages; for a list of items, the messages of each item's fields by the item's index."""


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The body of every error answer."""

    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(  # type: ignore[assignment]
        child=FieldErrorsField(),
        required=False,
        help_text="Each field at fault with its messages; the items of a list by their index, e.g. `items` → `0`.",
    )


M = TypeVar("M", bound=Model)


def get_exact_or_404(queryset: QuerySet[M], **lookup: Any) -> M:
    """``get_object_or_404`` for an object a customer names by its number (an order's, a refund's): each text in
    ``lookup`` must be the object's exactly. MariaDB's collation ignores case and trailing spaces, so "o1" would
    find "O1" there and not on SQLite."""
    return _exactly(get_object_or_404(queryset, **lookup), lookup)


def _exactly(found: M, lookup: dict[str, Any]) -> M:
    if any(getattr(found, name) != value for name, value in lookup.items() if isinstance(value, str)):
        raise Http404
    return found


class ExactLookup:
    """A viewset looked up by a number: the number in the path must be the object's exactly (``get_exact_or_404``)."""

    lookup_field: str
    lookup_url_kwarg: str | None
    kwargs: dict[str, Any]

    def get_object(self) -> Any:
        number = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        return _exactly(super().get_object(), {self.lookup_field: number})  # type: ignore[misc]


class PlainDecimalField(serializers.DecimalField):
    """A decimal as a JSON number or ASCII text writes it. Python's Decimal also reads other scripts' digits
    ("١" is 1) and full-width ones, which no client means to send as a quantity or an amount of money."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and not data.isascii():
            self.fail("invalid")
        return super().to_internal_value(data)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error body has ``code`` and ``detail``; validation errors add ``fields`` naming each field at fault.
    The database or Redis out of reach is a 503 ``service_unavailable`` naming it."""
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        log_unavailable(context["request"], dependency, exc)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return Response(unavailable_body(dependency), status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)
    if isinstance(exc, BusinessError):
        body: dict[str, Any] = {"code": exc.code, "detail": force_str(exc.message)}
        if exc.field:
            body["fields"] = {exc.field: [force_str(exc.message)]}
        return Response(body, status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"code": "invalid", "detail": _("Invalid input."), "fields": fields}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        response.data = {"code": code, "detail": force_str(detail)}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        response.data["code"] = "throttled"
    return response
