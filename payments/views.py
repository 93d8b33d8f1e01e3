"""Channel notification endpoints and voucher downloads."""

from __future__ import annotations

import logging
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from payments.channels.base import ChannelTemporaryError, NotificationInvalid
from payments.services import refund_apply_notification
from payments.vouchers import voucher_from_token

logger = logging.getLogger(__name__)
_Response = TypeVar("_Response", bound=HttpResponse)


def _headers(request: HttpRequest) -> dict[str, str]:
    return {key: value for key, value in request.headers.items()}


def _unconfigured(channel: str, error: ImproperlyConfigured, response: _Response) -> _Response:
    """503 in the channel's own form: nothing was read or changed, and the channel sends the notification again
    later, once the settings are fixed. One warning says why; Django's own error line for a 5xx would repeat it."""
    logger.warning("%s notification not read: the channel is not configured (%s)", channel, error)
    response["Retry-After"] = "600"
    response._has_been_logged = True  # type: ignore[attr-defined]  # django.utils.log.log_response's own marker
    return response


@csrf_exempt
@require_POST
def notify_alipay(request: HttpRequest) -> HttpResponse:
    try:
        refund_apply_notification(channel_code="alipay", headers=_headers(request), body=request.body)
    except NotificationInvalid as error:
        logger.warning("refused alipay notification: %s", error)
        return HttpResponse("fail", status=400, content_type="text/plain")
    except ChannelTemporaryError:
        return HttpResponse("fail", status=503, content_type="text/plain")
    except ImproperlyConfigured as error:
        return _unconfigured("alipay", error, HttpResponse("fail", status=503, content_type="text/plain"))
    return HttpResponse("success", content_type="text/plain")


@csrf_exempt
@require_POST
def notify_wechat(request: HttpRequest) -> JsonResponse:
    try:
        refund_apply_notification(channel_code="wechat", headers=_headers(request), body=request.body)
    except NotificationInvalid as error:
        logger.warning("refused wechat notification: %s", error)
        return JsonResponse({"code": "FAIL", "message": "invalid notification"}, status=400)
    except ChannelTemporaryError:
        return JsonResponse({"code": "FAIL", "message": "try again"}, status=503)
    except ImproperlyConfigured as error:
        body = {"code": "FAIL", "message": "payment channel not configured"}
        return _unconfigured("wechat", error, JsonResponse(body, status=503))
    return JsonResponse({"code": "SUCCESS", "message": ""})


@require_GET
def voucher_download(request: HttpRequest, token: str) -> FileResponse:
    voucher = voucher_from_token(token)
    if voucher is None:
        raise Http404
    # Saved under the refund's number, the name the customer and staff know it by.
    filename = f"{voucher.refund.refund_no}.pdf"
    return FileResponse(voucher.file.open("rb"), content_type="application/pdf", as_attachment=True, filename=filename)
