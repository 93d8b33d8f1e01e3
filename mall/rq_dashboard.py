"""The job queues' pages (django-rq's dashboard), for the operations role and superusers only.

django-rq lets every staff member in, and its pages can empty a queue, delete or requeue jobs: an agent or a
finance clerk must not reach them. Each of its views is wrapped here rather than copied, so its upgrades still
apply: the wrapper checks who asks, checks that the URL's parameters name something that exists (a made-up queue
index or job id is a 404, not an IndexError), and turns a Redis that does not answer into a 503.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, reverse
from django.utils.translation import gettext as _
from django_rq import urls as rq_urls
from django_rq.settings import get_queues_list
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.worker import Worker

if TYPE_CHECKING:
    from mall.actors import Visitor

# The permission of django-rq's own (table-less) dashboard model; the operations role holds it.
QUEUES_PERMISSION = "django_rq.admin"

View = Callable[..., HttpResponse]


def may_open_queues(user: Visitor) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(QUEUES_PERMISSION))


def _api_token_matches(request: HttpRequest, path_token: str | None) -> bool:
    """django-rq's statistics and metrics also answer a monitoring system holding ``RQ_API_TOKEN``."""
    expected = getattr(settings, "RQ_API_TOKEN", "")
    if not expected:
        return False
    header = request.headers.get("Authorization", "")
    offered = path_token or (header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else "")
    # Bytes, because compare_digest refuses non-ASCII strings (a path token may be any word character).
    return bool(offered) and secrets.compare_digest(offered.encode(), expected.encode())


def _scheduler_installed() -> bool:
    try:
        import rq_scheduler  # noqa: F401
    except ImportError:
        return False
    return True


def _check_parameters(kwargs: dict[str, Any]) -> None:
    """Raise Http404 unless every queue, job and worker the URL names exists."""
    queues = get_queues_list()
    for name in ("queue_index", "connection_index"):
        if name in kwargs and not 0 <= kwargs[name] < len(queues):
            raise Http404(_("There is no such job queue."))
    if "scheduler_index" in kwargs and not (_scheduler_installed() and 0 <= kwargs["scheduler_index"] < len(queues)):
        raise Http404(_("There is no such scheduler."))
    if "queue_index" not in kwargs:
        return
    from django_rq.queues import get_queue_by_index

    connection = get_queue_by_index(kwargs["queue_index"]).connection
    if "job_id" in kwargs and not Job.exists(kwargs["job_id"], connection=connection):
        raise Http404(_("There is no such job."))
    if "key" in kwargs:
        key = kwargs["key"]
        if not key.startswith(Worker.redis_worker_namespace_prefix) or not connection.exists(key):
            raise Http404(_("There is no such worker."))


def guard(view: View, *, token_allowed: bool = False) -> View:
    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (token_allowed and _api_token_matches(request, kwargs.get("token"))):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            if not may_open_queues(request.user):
                raise PermissionDenied(_("Only the operations role may open the job queues."))
        try:
            _check_parameters(kwargs)
            return view(request, *args, **kwargs)
        except NoSuchJobError as exc:
            # A job named in a form (bulk actions) that finished and expired meanwhile.
            raise Http404(_("There is no such job.")) from exc
        except InvalidJobOperation as exc:
            return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
        except (RedisConnectionError, RedisTimeoutError):
            return HttpResponse(
                _("The job queues cannot be shown: Redis does not answer."),
                status=503,
                content_type="text/plain; charset=utf-8",
            )

    return guarded


def _api_urlpatterns() -> list[URLPattern]:
    patterns = rq_urls.get_api_urlpatterns()
    for pattern in patterns:
        pattern.callback = guard(pattern.callback, token_allowed=True)
    return patterns


# Mounted under the namespace django-rq's templates link with ("django_rq:...").
urlpatterns: list[URLPattern] = _api_urlpatterns() + rq_urls.get_admin_urlpatterns(view_wrapper=guard)
app_name = "django_rq"
