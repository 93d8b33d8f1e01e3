"""Finance in the console: runs with their counts, discrepancies filtered and resolved with a note, reports."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from mall.shoptime import SHOP_TZ, shop_today
from payments.channels import RefundStatus, StatementLine
from reconciliation import services
from reconciliation.models import Discrepancy, ReconciliationRun
from refunds.models import RefundState
from tests.admin.conftest import login
from tests.reconciliation.helpers import our_refund

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:reconciliation_discrepancy_changelist"
LINE_TIME = datetime(2026, 3, 9, 23, 30, 5, tzinfo=SHOP_TZ)


def line(number: str, amount: str, status: RefundStatus = RefundStatus.SUCCESS) -> StatementLine:
    return StatementLine("ORD1", "T1", number, "5030001", Decimal(amount), status, LINE_TIME)


@pytest.fixture
def run() -> ReconciliationRun:
    """A reconciled day: one refund matched, one missing at the channel, one whose amount differs, one line
    unknown to us (its number looks like a spreadsheet formula)."""
    matched, missing, differs = (our_refund("wechat", amount) for amount in ("30.00", "40.00", "1234.50"))
    statement = [line(matched.out_refund_no, "30.00"), line(differs.out_refund_no, "1234.00"), line("=1+1", "8.80")]
    current = services.reconciliation_start(channel="wechat", day=shop_today())
    finished = services.reconciliation_complete(current, iter(statement))
    finished.refs = {"missing": missing, "differs": differs}  # type: ignore[attr-defined]
    return finished


def snapshot() -> list[tuple[Any, ...]]:
    fields = ("id", "resolved_by_id", "resolved_at", "resolution_note")
    return list(Discrepancy.objects.order_by("id").values_list(*fields))


def resolve_post(client: Any, rows: list[Discrepancy], note: str) -> Any:
    data = {"action": "resolve_selected", "_selected_action": [row.pk for row in rows], "apply": "1", "note": note}
    return client.post(reverse(CHANGELIST), data)


def test_finance_sees_runs_with_their_counts(finance: Any, run: ReconciliationRun) -> None:
    response = login(finance).get(reverse("admin:reconciliation_reconciliationrun_changelist"))
    assert response.status_code == 200
    result = response.context["cl"].result_list
    assert [(r.channel, r.matched_count, r.missing_at_channel_count, r.amount_differs_count) for r in result] == [
        ("wechat", 1, 1, 1)
    ]
    assert result[0].open_count == 3
    body = response.content.decode()
    assert "¥1,272.80" in body  # statement total
    assert reverse("admin:reconciliation_run_csv", args=[run.pk]) in body
    assert reverse("admin:reconciliation_run_start") in body
    # The open count links to the run's open discrepancies.
    listing = login(finance).get(reverse(CHANGELIST), {"run__id__exact": run.pk, "resolved": "no"})
    assert sorted(row.kind for row in listing.context["cl"].result_list) == [
        "amount_differs",
        "missing_at_channel",
        "missing_with_us",
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind__exact": "amount_differs"}, ["amount_differs"]),
        ({"run__channel__exact": "alipay"}, []),
        ({"run__channel__exact": "wechat"}, ["amount_differs", "missing_at_channel", "missing_with_us"]),
        ({"resolved": "yes"}, []),
        ({"resolved": "no"}, ["amount_differs", "missing_at_channel", "missing_with_us"]),
    ],
)
def test_discrepancies_filter_by_class_channel_and_resolution(
    finance: Any, run: ReconciliationRun, query: dict[str, str], expected: list[str]
) -> None:
    response = login(finance).get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    assert sorted(row.kind for row in response.context["cl"].result_list) == expected


def test_finance_resolves_with_a_note(finance: Any, run: ReconciliationRun) -> None:
    rows = list(Discrepancy.objects.filter(kind__in=["amount_differs", "missing_at_channel"]).order_by("kind"))
    response = resolve_post(login(finance), rows, "  refunded the difference by hand, voucher 88  ")
    assert response.status_code == 302
    resolved = Discrepancy.objects.filter(resolved_at__isnull=False).order_by("kind")
    assert [(d.kind, d.resolved_by_id, d.resolution_note) for d in resolved] == [
        ("amount_differs", finance.pk, "refunded the difference by hand, voucher 88"),
        ("missing_at_channel", finance.pk, "refunded the difference by hand, voucher 88"),
    ]
    assert Discrepancy.objects.get(kind="missing_with_us").resolved_at is None
    listing = login(finance).get(reverse(CHANGELIST), {"resolved": "yes"})
    assert sorted(row.kind for row in listing.context["cl"].result_list) == ["amount_differs", "missing_at_channel"]


def test_the_note_is_required_and_nothing_changes_without_it(finance: Any, run: ReconciliationRun) -> None:
    before = snapshot()
    response = resolve_post(login(finance), list(Discrepancy.objects.all()), "   ")
    assert response.status_code == 200
    assert response.context["form"].errors == {"note": ["This field is required."]}
    assert snapshot() == before


def test_an_agent_may_not_see_or_resolve(agent: Any, run: ReconciliationRun) -> None:
    before = snapshot()
    client = login(agent)
    assert resolve_post(client, list(Discrepancy.objects.all()), "done").status_code == 403
    assert client.get(reverse("admin:reconciliation_reconciliationrun_changelist")).status_code == 403
    assert client.get(reverse("admin:reconciliation_run_csv", args=[run.pk])).status_code == 403
    assert client.get(reverse("admin:reconciliation_run_start")).status_code == 403
    assert snapshot() == before


def test_finance_stays_read_only_on_refunds(finance: Any, run: ReconciliationRun) -> None:
    refund = run.refs["missing"]  # type: ignore[attr-defined]
    client = login(finance)
    assert client.get(reverse("admin:refunds_refund_change", args=[refund.pk])).status_code == 200
    assert (finance.has_perm("refunds.view_refund"), finance.has_perm("refunds.change_refund")) == (True, False)
    assert finance.has_perm("refunds.approve_refund") is False


def test_resolving_twice_is_refused_and_keeps_the_first_note(finance: Any, run: ReconciliationRun) -> None:
    row = Discrepancy.objects.get(kind="missing_with_us")
    services.discrepancy_resolve(discrepancy=row, actor=finance, note="test line from the portal")
    before = snapshot()
    response = resolve_post(login(finance), [row], "another note")
    assert response.status_code == 302
    assert snapshot() == before


def expected_report_rows(run: ReconciliationRun) -> list[list[str]]:
    missing, differs = run.refs["missing"], run.refs["differs"]  # type: ignore[attr-defined]
    return [
        ["amount differs", differs.out_refund_no, differs.refund_no, "1234.50", "refunded", "1234.00", "refunded",
         "5030001", "2026-03-09 23:30:05", "", "", ""],
        ["missing at the channel", missing.out_refund_no, missing.refund_no, "40.00", "refunded", "", "", "", "", "",
         "", ""],
        ["missing with us", "'=1+1", "", "", "", "8.80", "refunded", "5030001", "2026-03-09 23:30:05", "", "", ""],
    ]  # fmt: skip


def test_csv_report_has_a_bom_and_exactly_the_runs_rows(finance: Any, run: ReconciliationRun) -> None:
    response = login(finance).get(reverse("admin:reconciliation_run_csv", args=[run.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="reconciliation-wechat-{run.business_day:%Y-%m-%d}.csv"'
    )
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == [
        "Class",
        "Channel request number",
        "Our refund number",
        "Our amount (CNY)",
        "Our state",
        "Channel amount (CNY)",
        "Channel status",
        "Channel refund id",
        "Channel time",
        "Resolved by",
        "Resolved at",
        "Resolution note",
    ]
    assert table[1:] == expected_report_rows(run)


def test_csv_amounts_stay_numbers_even_when_negative(finance: Any, run: ReconciliationRun) -> None:
    # A leading minus would otherwise be taken for a formula and turned into text.
    Discrepancy.objects.filter(kind="missing_with_us").update(channel_amount=Decimal("-8.80"))
    raw = b"".join(login(finance).get(reverse("admin:reconciliation_run_csv", args=[run.pk])).streaming_content)
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [(row[3], row[5]) for row in table[1:]] == [("1234.50", "1234.00"), ("40.00", ""), ("", "-8.80")]


def test_csv_report_is_chinese_by_default(finance: Any, run: ReconciliationRun) -> None:
    from django.test import Client

    client = Client()
    client.force_login(finance)
    raw = b"".join(client.get(reverse("admin:reconciliation_run_csv", args=[run.pk])).streaming_content)
    header = next(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header == [
        "差异类别",
        "渠道请求号",
        "我方退款单号",
        "我方金额（元）",
        "我方状态",
        "渠道金额（元）",
        "渠道状态",
        "渠道退款单号",
        "渠道时间",
        "处理人",
        "处理时间",
        "处理说明",
    ]


def test_xlsx_report_has_a_summary_and_exactly_the_runs_rows(finance: Any, run: ReconciliationRun) -> None:
    resolved = Discrepancy.objects.get(kind="missing_with_us")
    moment = timezone.now()
    services.discrepancy_resolve(discrepancy=resolved, actor=finance, note="=not a formula")
    response = login(finance).get(reverse("admin:reconciliation_run_xlsx", args=[run.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["Summary", "Discrepancies"]
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True)}
    assert (summary["Statement lines"], summary["Statement total"], summary["Matched"]) == (3, 1272.8, 1)
    assert summary["missing at the channel"] == 1
    sheet = book["Discrepancies"]
    assert sheet["D2"].number_format == '"¥"#,##0.00'
    assert [sheet[f"{column}{row}"].number_format for column in "DF" for row in (2, 3, 4)] == ['"¥"#,##0.00'] * 6
    assert (sheet.freeze_panes, sheet.auto_filter.ref) == ("A2", "A1:L4")
    assert all(isinstance(sheet[cell].value, float | int) for cell in ("D2", "F2", "D3", "F4"))
    assert sheet["D1"].value == "Our amount (CNY)" and sheet["F1"].value == "Channel amount (CNY)"
    values = list(sheet.iter_rows(min_row=2, values_only=True))
    missing, differs = run.refs["missing"], run.refs["differs"]  # type: ignore[attr-defined]
    at = values[2][10]
    assert isinstance(at, datetime)
    assert abs(at - moment.astimezone(SHOP_TZ).replace(tzinfo=None)).total_seconds() < 5
    assert values == [
        ("amount differs", differs.out_refund_no, differs.refund_no, 1234.5, "refunded", 1234, "refunded", "5030001",
         datetime(2026, 3, 9, 23, 30, 5), None, None, None),
        ("missing at the channel", missing.out_refund_no, missing.refund_no, 40, "refunded", None, None, None, None,
         None, None, None),
        ("missing with us", "=1+1", None, None, None, 8.8, "refunded", "5030001", datetime(2026, 3, 9, 23, 30, 5),
         "finance", at, "=not a formula"),
    ]  # fmt: skip


def test_xlsx_report_keeps_text_a_spreadsheet_forbids_instead_of_failing(finance: Any, run: ReconciliationRun) -> None:
    """A control character (from a channel's cell, or pasted into a note) has no place in XLSX's XML: the report
    writes it escaped, as Excel does, and still downloads."""
    noted = Discrepancy.objects.get(kind="amount_differs")
    services.discrepancy_resolve(discrepancy=noted, actor=finance, note="bell\x07 here")
    response = login(finance).get(reverse("admin:reconciliation_run_xlsx", args=[run.pk]))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))["Discrepancies"]
    assert (sheet["A2"].value, sheet["L2"].value) == ("amount differs", "bell_x0007_ here")


def test_finance_starts_a_run_from_the_console(
    finance: Any, channel_simulator: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.JOBS_IN_PROCESS = True  # the job runs right after the commit, as without Redis
    refund = our_refund("alipay", "30.00", state=RefundState.REFUNDED)
    client = login(finance)
    future = client.post(reverse("admin:reconciliation_run_start"), {"channel": "alipay", "day": "2099-01-01"})
    assert future.status_code == 200
    assert future.context["form"].errors == {"day": ["A business day that has not begun cannot be reconciled."]}
    assert ReconciliationRun.objects.count() == 0

    today = shop_today().isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(reverse("admin:reconciliation_run_start"), {"channel": "alipay", "day": today})
    assert started.status_code == 302
    run = ReconciliationRun.objects.get()
    assert (run.channel, run.status, run.started_by_id, run.missing_at_channel_count) == (
        "alipay",
        "succeeded",
        finance.pk,
        1,
    )
    assert list(Discrepancy.objects.values_list("refund_id", flat=True)) == [refund.pk]

    again = client.post(reverse("admin:reconciliation_run_start"), {"channel": "alipay", "day": today})
    assert again.status_code == 200
    assert again.context["form"].errors == {
        "force": ["This day was already reconciled for this channel; run it again with force to replace it."]
    }


def test_only_finance_holds_reconciliation_permissions() -> None:
    from django.contrib.auth.models import Group

    from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, FINANCE, roles_bootstrap

    roles_bootstrap()

    def held(role: str) -> set[str]:
        perms = Group.objects.get(name=role).permissions.filter(content_type__app_label="reconciliation")
        return set(perms.values_list("codename", flat=True))

    assert held(FINANCE) == {"view_reconciliationrun", "view_discrepancy", "run_reconciliation", "resolve_discrepancy"}
    assert (held(CUSTOMER_SERVICE), held(CS_SUPERVISOR)) == (set(), set())


def test_list_pages_take_a_fixed_number_of_queries(
    finance: Any, run: ReconciliationRun, django_assert_max_num_queries: Any
) -> None:
    more = [our_refund("wechat", "10.00") for _ in range(5)]
    current = services.reconciliation_start(channel="wechat", day=shop_today(), force=True)
    services.reconciliation_complete(current, iter([]))
    assert Discrepancy.objects.count() == 3 + len(more)
    client = login(finance)
    with django_assert_max_num_queries(12):
        assert client.get(reverse(CHANGELIST)).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(reverse("admin:reconciliation_reconciliationrun_changelist")).status_code == 200


def test_finance_opens_a_run_and_a_discrepancy_read_only(finance: Any, run: ReconciliationRun) -> None:
    client = login(finance)
    page = client.get(reverse("admin:reconciliation_reconciliationrun_change", args=[run.pk]))
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}  # every field shown is read-only
    assert "¥1,272.80" in page.content.decode()

    differs = Discrepancy.objects.get(kind="amount_differs")
    page = client.get(reverse("admin:reconciliation_discrepancy_change", args=[differs.pk]))
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}
    body = page.content.decode()
    assert run.refs["differs"].refund_no in body  # type: ignore[attr-defined]
    assert "¥1,234.50" in body and "¥1,234.00" in body
