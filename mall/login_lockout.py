"""Failed console logins (django-axes): the page a locked-out user sees, and the lists a supervisor unlocks from.

Axes counts failures per username and client address (settings ``AXES_*``); deleting a user's access attempt
in the console, or ``manage.py axes_reset_username <name>``, lifts the lockout before the cool-off ends.
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.validators import MaxLengthValidator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy, gettext_noop, ngettext

from mall.admin_base import ConsoleModelAdmin


class ConsoleLoginForm(AdminAuthenticationForm):
    """The console's login form. A username longer than any account's is a form error, found before anything is
    authenticated: Django's form sets its length only on the input element, and the failed attempt axes then
    records would not fit its column."""

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        username = self.fields["username"]
        assert isinstance(username, forms.CharField)  # Django's UsernameField
        username.validators.append(MaxLengthValidator(username.max_length))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """Axes' lockout answer, as a console page in the user's language instead of a bare English sentence."""
    cool_off = get_cool_off(request)
    context = {
        **admin.site.each_context(request),
        "title": "",
        "failure_limit": get_failure_limit(request, credentials),
        "cooloff_minutes": int(cool_off.total_seconds() // 60) if cool_off else None,
    }
    response = TemplateResponse(request, "admin/login_locked_out.html", context, status=429)
    return response.render()


# Axes ships no Chinese catalogue: the words of its lists are translated in ours, which makemessages collects from
# here. With them, Django 5.2's screen-reader captions of the index, which its Chinese catalogue lacks too.
THIRD_PARTY_TEXTS = (
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("Access Attempt"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("Access lock out"),
    gettext_noop("Attempt Remaining"),
    gettext_noop("Attempt Time"),
    gettext_noop("Expires At"),
    gettext_noop("Failed Logins"),
    gettext_noop("Form Data"),
    gettext_noop("GET Data"),
    gettext_noop("POST Data"),
    gettext_noop("IP Address"),
    gettext_noop("Locked Out"),
    gettext_noop("Logout Time"),
    gettext_noop("Meta Data"),
    gettext_noop("Not set"),
    gettext_noop("Path"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("User Agent"),
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
)


# Axes' own lists (registered here, AXES_ENABLE_ADMIN being off) without their date hierarchy, which MariaDB
# without time zone tables answers with a 500: the same reason the order list filters by date range instead.
@admin.register(AccessAttempt)
class LockoutAttemptAdmin(ConsoleModelAdmin, AccessAttemptAdmin):  # type: ignore[misc]
    date_hierarchy = None
    status = admin.display(description=gettext_lazy("Status"))(AccessAttemptAdmin.status)

    @admin.action(description=gettext_lazy("Remove expired lockouts"))
    def cleanup_expired_attempts(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        """Axes' own action reads the time its login handler stamps on a login request, which a console request
        never carries (it answered 500), and words its message in English only. Expired: older than the cool-off."""
        request.axes_attempt_time = timezone.now()  # type: ignore[attr-defined]
        count = self.handler.clean_expired_user_attempts(request=request)
        message = ngettext("Removed %(count)d expired lockout.", "Removed %(count)d expired lockouts.", count)
        self.message_user(request, message % {"count": count})


@admin.register(AccessFailureLog)
class LockoutFailureLogAdmin(ConsoleModelAdmin, AccessFailureLogAdmin):  # type: ignore[misc]
    date_hierarchy = None


@admin.register(AccessLog)
class LockoutAccessLogAdmin(ConsoleModelAdmin, AccessLogAdmin):  # type: ignore[misc]
    date_hierarchy = None
