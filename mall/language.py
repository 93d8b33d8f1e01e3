"""The console's language switch: Django's ``set_language`` for the languages the site speaks, and only those."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.translation import gettext
from django.views.decorators.http import require_POST
from django.views.i18n import set_language


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """Keeps the choice in the language cookie and goes back to ``next`` (on this site only). A language the site
    does not speak is refused with 400, and no cookie is set: Django's view would store any language it has a
    catalogue for."""
    code = request.POST.get("language", "")
    if code not in dict(settings.LANGUAGES):
        choices = ", ".join(dict(settings.LANGUAGES))
        message = gettext("language: choose one of %(choices)s.") % {"choices": choices}
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
    return set_language(request)
