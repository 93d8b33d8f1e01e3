"""Customer refund endpoints. Views parse, authorise (own refunds only: another's is 404) and call a service."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Prefetch, QuerySet
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle

from mall.actors import signed_in
from mall.api_common import ExactLookup
from mall.outage import REDIS_DOWN
from mall.services import customer_language_remember
from refunds import evidence, flow, services
from refunds.exceptions import InvalidRefundRequest
from refunds.models import Refund, RefundEvent
from refunds.serializers import (
    ErrorSerializer,
    EvidenceInSerializer,
    RefundApplySerializer,
    RefundSerializer,
    ReturnShipmentInSerializer,
)

logger = logging.getLogger(__name__)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `fields` names each field at fault."),
    401: OpenApiResponse(ErrorSerializer, description="No or bad credentials."),
    404: OpenApiResponse(ErrorSerializer, description="No such refund or order of yours."),
    409: OpenApiResponse(ErrorSerializer, description="The current state or amounts no longer allow it."),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers an operation really gives, for its schema."""
    return {code: ERRORS[code] for code in codes}


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "At most 64 printable ASCII characters. Retrying with the same key and body returns the same refund; "
        "another body answers 409."
    ),
)


# Drop what left the window, count what is in it, and record this request only if it is allowed: one round trip.
_SLIDING_WINDOW = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  return {0, count, redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, math.ceil(window * 1000))
return {1, count + 1, ''}
"""


class ApplicationThrottle(ScopedRateThrottle):
    """The per-customer rate of a scope (``refund_apply``) as ScopedRateThrottle counts it: a sliding window of
    the requests it let through. With Redis the window is a sorted set that one script prunes, counts and adds
    to in a single round trip (the cache-based throttle reads and writes a pickled list: two). Without Redis,
    ScopedRateThrottle itself. While Redis does not answer it lets every request through."""

    _script: Any = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if not settings.REDIS_URL:
            return super().allow_request(request, view)
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None or self.num_requests is None or self.duration is None:
            return True
        self.now = self.timer()
        from django_redis import get_redis_connection

        client = get_redis_connection("default")
        script = ApplicationThrottle._script
        if script is None or script.registered_client is not client:  # once per connection (and per cache reset)
            script = ApplicationThrottle._script = client.register_script(_SLIDING_WINDOW)
        try:
            allowed, count, oldest = script(
                keys=[cache.make_key(f"{self.key}:window")],
                args=[self.now, self.duration, self.num_requests, uuid.uuid4().hex],
            )
        except REDIS_DOWN as error:
            # Open, not shut: an outage of the counter must not stop applications, which the database still
            # checks one by one (PRODUCT.md: without Redis the database holds the line).
            logger.warning(
                "Redis unreachable (%s); the application throttle lets this request through", type(error).__name__
            )
            return True
        # What ScopedRateThrottle.wait() reads: as many entries as are in the window, the oldest last.
        self.history = [float(oldest)] * int(count) if oldest else []
        return bool(allowed)


def refunds_for_customer(customer: Any) -> QuerySet[Refund]:
    return (
        Refund.objects.filter(customer=customer)
        .select_related("order", "return_shipment", "rejection_reason", "replacement")
        .prefetch_related(
            "items__order_item",
            "evidence",
            Prefetch("events", queryset=RefundEvent.objects.filter(internal=False).order_by("created_at", "id")),
        )
        .order_by("-created_at", "-id")
    )


@extend_schema_view(
    list=extend_schema(summary="Your refunds", responses={200: RefundSerializer(many=True), 401: ERRORS[401]}),
    retrieve=extend_schema(
        summary="One refund with its timeline", responses={200: RefundSerializer, **errors(401, 404)}
    ),
)
class RefundViewSet(
    ExactLookup,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    serializer_class = RefundSerializer
    lookup_field = "refund_no"
    lookup_value_regex = r"[A-Za-z0-9_-]{1,32}"
    throttle_scope = "refund_apply"

    def get_queryset(self) -> QuerySet[Refund]:
        return refunds_for_customer(self.request.user)

    def get_throttles(self) -> list[BaseThrottle]:
        if self.action == "create":
            return [ApplicationThrottle()]
        return []

    def _present(self, refund: Refund, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=refund.pk)
        return Response(RefundSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        summary="Apply for a refund",
        request=RefundApplySerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: RefundSerializer, **ERRORS, 429: ErrorSerializer},
    )
    def create(self, request: Request) -> Response:
        data = RefundApplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip() or None
        # Printable ASCII: a header's other bytes arrive decoded as Latin-1, and a key stored so would not be the
        # one the client meant (nor match its retry from another HTTP stack).
        if key is not None and (len(key) > 64 or not (key.isascii() and key.isprintable())):
            raise InvalidRefundRequest(_("At most 64 printable ASCII characters."), field="Idempotency-Key")
        refund, created = services.refund_apply(
            customer=request.user,
            order_no=data.validated_data["order_no"],
            reason=data.validated_data["reason"],
            kind=data.validated_data["kind"],
            items=data.item_requests(),
            description=data.validated_data["description"],
            idempotency_key=key,
            destination=data.validated_data["destination"],
        )
        if request.META.get("HTTP_ACCEPT_LANGUAGE"):
            # The language the customer applies in is the one their messages are emailed in.
            customer_language_remember(customer=signed_in(request.user), language=translation.get_language())
        if not created:
            return self._present(refund, status.HTTP_201_CREATED)
        # A new refund comes back from the service with everything it shows loaded: nothing to read back.
        body = RefundSerializer(refund, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Withdraw a refund", request=None, responses={200: RefundSerializer, **errors(401, 404, 409)}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, refund_no: str) -> Response:
        refund = self.get_object()
        refund = services.refund_cancel(refund=refund, actor=signed_in(request.user))
        return self._present(refund)

    @extend_schema(
        summary="Upload a photo (JPEG, PNG or WebP, at most 5 MB, 9 per refund)",
        request={"multipart/form-data": EvidenceInSerializer},
        responses={201: RefundSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def evidence(self, request: Request, refund_no: str) -> Response:
        refund = self.get_object()
        data = EvidenceInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        evidence.refund_add_evidence(refund=refund, actor=signed_in(request.user), upload=data.validated_data["file"])
        return self._present(refund, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Tell us how the goods are sent back",
        request=ReturnShipmentInSerializer,
        responses={200: RefundSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="return-shipment")
    def return_shipment(self, request: Request, refund_no: str) -> Response:
        refund = self.get_object()
        data = ReturnShipmentInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = flow.refund_return_submit(
            refund=refund,
            actor=signed_in(request.user),
            carrier=data.validated_data["carrier"],
            tracking_no=data.validated_data["tracking_no"],
        )
        return self._present(refund)
