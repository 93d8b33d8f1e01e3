"""The customer's inbox: their messages about their refunds, newest first, in the request's language; and marking
one read. Another customer's message answers 404."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from mall.actors import signed_in
from notices import services
from notices.catalogue import MessageEvent
from notices.models import CustomerMessage
from refunds.serializers import ErrorSerializer


class NotificationSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    event = serializers.ChoiceField(choices=MessageEvent.choices, help_text="What the message tells of.")
    refund_no = serializers.CharField(source="refund.refund_no")
    title = serializers.CharField(help_text="In the request's language (Accept-Language).")
    body = serializers.CharField(help_text="In the request's language (Accept-Language).")
    read = serializers.SerializerMethodField()

    class Meta:
        model = CustomerMessage
        fields = ["id", "event", "refund_no", "title", "body", "created_at", "read"]
        read_only_fields = fields

    def get_read(self, message: CustomerMessage) -> bool:
        return message.read_at is not None


ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No or bad credentials."),
    404: OpenApiResponse(ErrorSerializer, description="No such message of yours."),
}


@extend_schema_view(
    list=extend_schema(
        summary="Your messages about your refunds, newest first",
        responses={200: NotificationSerializer(many=True), 401: ERRORS[401]},
    ),
)
class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    serializer_class = NotificationSerializer
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self) -> QuerySet[CustomerMessage]:
        return (
            CustomerMessage.objects.filter(customer_id=self.request.user.pk)
            .select_related("refund")
            .only("id", "event", "params", "created_at", "read_at", "refund", "refund__refund_no")
            .order_by("-created_at", "-id")
        )

    @extend_schema(
        summary="Mark one of your messages read", request=None, responses={200: NotificationSerializer, **ERRORS}
    )
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str) -> Response:
        try:
            message = services.message_mark_read(message_id=int(pk), customer=signed_in(request.user))
        except CustomerMessage.DoesNotExist:
            raise NotFound() from None
        return Response(NotificationSerializer(message, context=self.get_serializer_context()).data)
