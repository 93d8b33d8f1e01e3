"""What Django answers for a request it refuses before any view decides (``handler400``): a body over
``DATA_UPLOAD_MAX_MEMORY_SIZE``, more fields or files than allowed, a malformed request; and for a path no route
matches (``handler404``).

Under ``/api/`` the answer is in the API's error shape, as every other refusal of the API; elsewhere (the console, the
notification endpoints) Django's own plain 400 page."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

API_PREFIX = "/api/"


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not request.path.startswith(API_PREFIX):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        body = {"code": "request_too_large", "detail": _("The request body is too large.")}
        return JsonResponse(body, status=413)
    if isinstance(exception, TooManyFieldsSent):
        body = {"code": "too_many_fields", "detail": _("The request has too many fields.")}
    elif isinstance(exception, TooManyFilesSent):
        body = {"code": "too_many_files", "detail": _("The request has too many files.")}
    else:
        body = {"code": "bad_request", "detail": _("The request could not be read.")}
    return JsonResponse(body, status=400)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    # A client that mistyped an API path reads the same shape as for an order that does not exist.
    if not request.path.startswith(API_PREFIX):
        return defaults.page_not_found(request, exception)
    return JsonResponse(
        {"code": "not_found", "detail": _("No such API path: %(path)s") % {"path": request.path}}, status=404
    )
