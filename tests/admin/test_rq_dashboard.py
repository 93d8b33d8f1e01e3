"""The job queues' pages (django-rq) open only to the operations role and superusers; bad parameters are 404s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django_rq.settings import get_queues_map

from mall.roles import OPERATIONS
from tests.admin.conftest import login
from tests.factories import UserFactory, staff_user

pytestmark = pytest.mark.django_db

REFUNDS = get_queues_map()["refunds"]
OUT_OF_RANGE = len(get_queues_map())


def job_that_never_runs() -> None:
    """Enqueued by these tests only; no worker listens while they run."""


@pytest.fixture
def operator(db: None) -> Any:
    return staff_user(OPERATIONS, "operator")


@pytest.fixture
def superuser(db: None) -> Any:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def refunds_queue() -> Iterator[Any]:
    import django_rq

    queue = django_rq.get_queue("refunds")
    queue.empty()
    yield queue
    queue.empty()


def page_urls(job_id: str) -> list[str]:
    """Every page of the dashboard a view or an action lives on, for one queue and one job."""
    q = REFUNDS
    return [
        "/admin/django_rq/",
        f"/admin/django_rq/queues/{q}/",
        f"/admin/django_rq/queues/{q}/details/",
        f"/admin/django_rq/queues/{q}/finished/",
        f"/admin/django_rq/queues/{q}/failed/",
        f"/admin/django_rq/queues/{q}/failed/clear/",
        f"/admin/django_rq/queues/{q}/scheduled/",
        f"/admin/django_rq/queues/{q}/started/",
        f"/admin/django_rq/queues/{q}/deferred/",
        f"/admin/django_rq/queues/{q}/empty/",
        f"/admin/django_rq/queues/{q}/requeue-all/",
        f"/admin/django_rq/queues/{q}/{job_id}/",
        f"/admin/django_rq/queues/{q}/{job_id}/delete/",
        f"/admin/django_rq/queues/{q}/{job_id}/requeue/",
        f"/admin/django_rq/queues/{q}/{job_id}/enqueue/",
        f"/admin/django_rq/queues/confirm-action/{q}/",
        f"/admin/django_rq/queues/actions/{q}/",
        f"/admin/django_rq/workers/{q}/",
        "/admin/django_rq/stats.json",
        "/admin/django_rq/metrics",
    ]


def destructive_posts(client: Client, job_id: str) -> list[int]:
    q = REFUNDS
    return [
        client.post(f"/admin/django_rq/queues/{q}/empty/").status_code,
        client.post(f"/admin/django_rq/queues/{q}/{job_id}/delete/").status_code,
        client.post(f"/admin/django_rq/queues/{q}/actions/", {"action": "delete", "job_ids": [job_id]}).status_code,
        client.post(f"/admin/django_rq/queues/actions/{q}/", {"action": "delete", "job_ids": [job_id]}).status_code,
        client.post(f"/admin/django_rq/queues/{q}/{job_id}/stop/").status_code,
        client.post(f"/admin/django_rq/queues/{q}/failed/clear/").status_code,
    ]


@pytest.mark.services
@pytest.mark.parametrize("role_fixture", ["agent", "finance", "supervisor"])
def test_other_staff_get_403_everywhere_and_the_queue_keeps_its_jobs(
    role_fixture: str, request: Any, refunds_queue: Any
) -> None:
    jobs = [refunds_queue.enqueue(job_that_never_runs) for _ in range(3)]
    before = refunds_queue.get_job_ids()
    client = login(request.getfixturevalue(role_fixture))
    for url in page_urls(jobs[0].id):
        assert client.get(url).status_code == 403, url
    # A made-up index is refused for who asks before anything is looked up.
    assert client.get(f"/admin/django_rq/queues/{OUT_OF_RANGE}/").status_code == 403
    assert destructive_posts(client, jobs[0].id) == [403, 403, 403, 403, 403, 403]
    assert refunds_queue.count == 3
    assert refunds_queue.get_job_ids() == before == [job.id for job in jobs]
    assert b'id="job-queues"' not in client.get("/admin/").content


@pytest.mark.services
@pytest.mark.parametrize("role_fixture", ["operator", "superuser"])
def test_operations_and_superusers_open_every_page(role_fixture: str, request: Any, refunds_queue: Any) -> None:
    job = refunds_queue.enqueue(job_that_never_runs)
    client = login(request.getfixturevalue(role_fixture))
    statuses = {url: client.get(url).status_code for url in page_urls(job.id)}
    # confirm-action and actions only redirect back on a GET; the rest are pages.
    redirects = {f"/admin/django_rq/queues/confirm-action/{REFUNDS}/", f"/admin/django_rq/queues/actions/{REFUNDS}/"}
    assert statuses == {url: 302 if url in redirects else 200 for url in statuses}
    listing = client.get(f"/admin/django_rq/queues/{REFUNDS}/")
    assert job.id.encode() in listing.content
    index = client.get("/admin/")
    assert b'id="job-queues"' in index.content
    assert f'href="{reverse("django_rq:home")}"'.encode() in index.content


@pytest.mark.services
def test_the_operator_empties_the_queue_and_deletes_a_job(operator: Any, refunds_queue: Any) -> None:
    kept, deleted = refunds_queue.enqueue(job_that_never_runs), refunds_queue.enqueue(job_that_never_runs)
    client = login(operator)
    response = client.post(f"/admin/django_rq/queues/{REFUNDS}/{deleted.id}/delete/")
    assert (response.status_code, response["Location"]) == (302, f"/admin/django_rq/queues/{REFUNDS}/")
    assert refunds_queue.get_job_ids() == [kept.id]
    assert client.post(f"/admin/django_rq/queues/{REFUNDS}/empty/").status_code == 302
    assert refunds_queue.count == 0


def test_anonymous_visitors_are_sent_to_the_login_page() -> None:
    client = Client()
    for url in page_urls("any-job"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/admin/login/?next={url}"


@pytest.mark.parametrize(
    "url",
    [
        f"/admin/django_rq/queues/{OUT_OF_RANGE}/",
        "/admin/django_rq/queues/99/",
        "/admin/django_rq/queues/99/details/",
        "/admin/django_rq/queues/99/finished/",
        "/admin/django_rq/queues/99/failed/",
        "/admin/django_rq/queues/99/failed/clear/",
        "/admin/django_rq/queues/99/scheduled/",
        "/admin/django_rq/queues/99/started/",
        "/admin/django_rq/queues/99/deferred/",
        "/admin/django_rq/queues/99/empty/",
        "/admin/django_rq/queues/99/requeue-all/",
        "/admin/django_rq/queues/99/some-job/",
        "/admin/django_rq/queues/99/some-job/results/1-0/",
        "/admin/django_rq/queues/99/some-job/delete/",
        "/admin/django_rq/queues/99/some-job/requeue/",
        "/admin/django_rq/queues/99/some-job/enqueue/",
        "/admin/django_rq/queues/confirm-action/99/",
        "/admin/django_rq/queues/actions/99/",
        "/admin/django_rq/workers/99/",
        "/admin/django_rq/workers/99/rq:worker:w1/",
        "/admin/django_rq/schedulers/0/",
        "/admin/django_rq/schedulers/99/",
        "/admin/django_rq/cron-schedulers/99/nightly/",
        "/admin/django_rq/cron-schedulers/99/nightly/jobs/a/b/",
    ],
)
def test_an_unknown_queue_index_is_a_404(url: str, operator: Any) -> None:
    client = login(operator)
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "delete", "job_ids": ["x"]}).status_code == 404


@pytest.mark.services
def test_unknown_jobs_workers_and_schedulers_are_404s(operator: Any, refunds_queue: Any) -> None:
    client = login(operator)
    q = REFUNDS
    for url in [
        f"/admin/django_rq/queues/{q}/no-such-job/",
        f"/admin/django_rq/queues/{q}/no-such-job/results/1-0/",
        f"/admin/django_rq/queues/{q}/no-such-job/delete/",
        f"/admin/django_rq/queues/{q}/no-such-job/requeue/",
        f"/admin/django_rq/queues/{q}/no-such-job/enqueue/",
        f"/admin/django_rq/workers/{q}/not-a-worker-key/",
        f"/admin/django_rq/workers/{q}/rq:worker:gone/",
        f"/admin/django_rq/cron-schedulers/{q}/no-such-scheduler/",
    ]:
        assert client.get(url).status_code == 404, url
        assert client.post(url).status_code == 404, url
    # A bulk delete naming a job that expired meanwhile.
    response = client.post(f"/admin/django_rq/queues/actions/{q}/", {"action": "delete", "job_ids": ["gone"]})
    assert response.status_code == 404


@pytest.mark.services
def test_requeueing_a_job_that_did_not_fail_is_a_409(operator: Any, refunds_queue: Any) -> None:
    job = refunds_queue.enqueue(job_that_never_runs)
    response = login(operator).post(f"/admin/django_rq/queues/{REFUNDS}/{job.id}/requeue/")
    assert response.status_code == 409
    assert refunds_queue.get_job_ids() == [job.id]


def test_without_a_configured_token_no_token_opens_the_statistics(settings: Any) -> None:
    client = Client()
    settings.RQ_API_TOKEN = ""
    assert client.get("/admin/django_rq/stats.json/anything/").status_code == 302
    assert client.get("/admin/django_rq/stats.json/é/").status_code == 302
    assert client.get("/admin/django_rq/metrics", headers={"authorization": "Bearer "}).status_code == 302


@pytest.mark.services
def test_a_configured_monitoring_token_reads_the_statistics_and_nothing_else(settings: Any, agent: Any) -> None:
    client = Client()
    settings.RQ_API_TOKEN = "s3cretToken42"
    bearer = {"authorization": "Bearer s3cretToken42"}
    stats = client.get("/admin/django_rq/stats.json", headers=bearer)
    assert stats.status_code == 200
    assert "refunds" in {queue["name"] for queue in stats.json()["queues"]}
    assert client.get("/admin/django_rq/stats.json/s3cretToken42/").status_code == 200
    assert client.get("/admin/django_rq/metrics", headers=bearer).status_code == 200
    for wrong in ("wrong", "é", "s3cretToken4"):
        assert client.get(f"/admin/django_rq/stats.json/{wrong}/").status_code == 302
        bad_header = {"authorization": f"Bearer {wrong}"}
        assert client.get("/admin/django_rq/stats.json", headers=bad_header).status_code == 302
    # The token opens no page; staff outside the role stay out of the statistics without it.
    assert client.get("/admin/django_rq/", headers=bearer).status_code == 302
    assert login(agent).get("/admin/django_rq/stats.json").status_code == 403
