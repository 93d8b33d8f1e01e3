"""Finance's lists keep to what finance acts on, in short columns: the runs with their open count and reports, the
discrepancies with both amounts, both states and the resolved flag."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.urls import reverse

from reconciliation import services
from reconciliation.models import Discrepancy, ReconciliationRun
from tests.admin.conftest import login
from tests.reconciliation.test_admin import run  # noqa: F401 - the reconciled day of those tests

pytestmark = pytest.mark.django_db
RUNS = "admin:reconciliation_reconciliationrun_changelist"
DISCREPANCIES = "admin:reconciliation_discrepancy_changelist"


def headers(page: str) -> list[str]:
    head = re.search(r'<table id="result_list">\s*<thead>(.*?)</thead>', page, re.S)
    assert head is not None
    texts = re.findall(r'<div class="text">(?:<a [^>]*>|<span>)(.*?)(?:</a>|</span>)</div>', head.group(1))
    return [html.unescape(text) for text in texts if not text.startswith("<input")]  # not the select-all box


def row_cells(html: str) -> list[dict[str, str]]:
    body = re.search(r'<table id="result_list">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None
    return [
        dict(re.findall(r'<t[hd] class="field-(\w+)[^"]*">(.*?)</t[hd]>', row, re.S))
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


def test_run_list_columns(finance: Any, run: ReconciliationRun) -> None:  # noqa: F811
    html = login(finance).get(reverse(RUNS)).content.decode()
    assert headers(html) == [
        "Day",
        "Channel",
        "Status",
        "Statement",
        "Matched",
        "Found",
        "Open",
        "Finished",
        "Report",
    ]
    (cells,) = row_cells(html)
    assert cells["statement"] == '¥1,272.80<br><span class="quiet">3 lines</span>'
    assert cells["matched_count"] == "1"
    assert cells["found"] == (
        '<span title="missing at the channel: 1; missing with us: 1; amount differs: 1; status differs: 0; '
        'listed twice by the channel: 0">3</span>'
    )
    assert cells["still_open"] == (
        f'<a class="open-count alert" href="{reverse(DISCREPANCIES)}?run__id__exact={run.pk}&amp;resolved=no">3</a>'
    )
    assert cells["reports"] == (
        f'<a class="report-csv" href="{reverse("admin:reconciliation_run_csv", args=[run.pk])}">CSV</a> | '
        f'<a class="report-xlsx" href="{reverse("admin:reconciliation_run_xlsx", args=[run.pk])}">XLSX</a>'
    )


def test_a_run_with_nothing_open_is_not_flagged(finance: Any, run: ReconciliationRun) -> None:  # noqa: F811
    for row in Discrepancy.objects.all():
        services.discrepancy_resolve(discrepancy=row, actor=finance, note="checked with the channel")
    (cells,) = row_cells(login(finance).get(reverse(RUNS)).content.decode())
    assert cells["still_open"] == (
        f'<a class="open-count" href="{reverse(DISCREPANCIES)}?run__id__exact={run.pk}&amp;resolved=no">0</a>'
    )


def test_discrepancy_list_columns(finance: Any, run: ReconciliationRun) -> None:  # noqa: F811
    differs = run.refs["differs"]  # type: ignore[attr-defined]
    services.discrepancy_resolve(
        discrepancy=Discrepancy.objects.get(kind="missing_at_channel"), actor=finance, note="refunded by hand"
    )
    html = login(finance).get(reverse(DISCREPANCIES), {"run__id__exact": run.pk}).content.decode()
    assert headers(html) == [
        "Request / refund",
        "Class / run",
        "Our amount",
        "Channel amount",
        "States: ours / channel's",
        "Resolved",
    ]
    rows = {re.sub(r"<.*", "", cells["request_and_refund"]): cells for cells in row_cells(html)}
    amount = rows[differs.out_refund_no]
    refund_link = reverse("admin:refunds_refund_change", args=[differs.pk])
    assert amount["request_and_refund"] == (
        f'{differs.out_refund_no}<br><span class="quiet"><a href="{refund_link}">{differs.refund_no}</a></span>'
    )
    page = reverse("admin:reconciliation_discrepancy_change", args=[Discrepancy.objects.get(refund=differs).pk])
    assert amount["kind_and_run"] == (
        f'<a href="{page}?_changelist_filters=run__id__exact%3D{run.pk}">amount differs<br>'
        f'<span class="quiet">WeChat Pay {run.business_day:%Y-%m-%d}</span></a>'
    )
    assert (amount["our_amount_yuan"], amount["channel_amount_yuan"]) == ("¥1,234.50", "¥1,234.00")
    assert amount["states"] == "refunded / refunded"
    assert 'alt="False"' in amount["is_resolved"]
    unknown = rows["=1+1"]
    assert (unknown["our_amount_yuan"], unknown["channel_amount_yuan"], unknown["states"]) == (
        "—",
        "¥8.80",
        "— / refunded",
    )
    missing = rows[run.refs["missing"].out_refund_no]  # type: ignore[attr-defined]
    assert (missing["our_amount_yuan"], missing["channel_amount_yuan"]) == ("¥40.00", "—")
    assert 'alt="True"' in missing["is_resolved"]
