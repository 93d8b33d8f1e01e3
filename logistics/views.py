"""The carrier notification endpoint. Verified before anything is read; a forged or stale message is refused
with 400 and changes nothing; a repeated one is acknowledged and changes nothing either."""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from logistics import services
from logistics.carriers import NotificationInvalid, get_carrier

logger = logging.getLogger(__name__)
MAX_NOTIFICATION_BYTES = 64 * 1024


@csrf_exempt
@require_POST
def carrier_notify(request: HttpRequest) -> JsonResponse:
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_NOTIFICATION_BYTES:
        return JsonResponse({"code": "FAIL", "message": _("The notification is too large.")}, status=413)
    try:
        notification = get_carrier().parse_notification(request.headers, request.body)
    except NotificationInvalid as error:
        logger.warning("carrier notification refused: %s", error)
        return JsonResponse({"code": "FAIL", "message": _("The notification could not be verified.")}, status=400)
    outcome = services.carrier_notification_handle(notification=notification)
    logger.info(
        "carrier notification %s (%s %s): %s",
        notification.event_id,
        notification.kind,
        notification.tracking_no,
        outcome,
    )
    return JsonResponse({"code": "SUCCESS"})
