"""A run's report for finance, as CSV (UTF-8 with a BOM, so that Excel reads the Chinese) or XLSX.

Both are streamed: rows are read in keyset pages and written as they come (the CSV straight into the response,
the XLSX through XlsxWriter's constant-memory mode into a temporary file), so a run with a million discrepancies
needs no million objects. Amounts are numbers a spreadsheet can add up: plain in the CSV (1234.50, the
currency named in the column's header), numeric cells formatted as ¥ in the XLSX; times are Asia/Shanghai.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import IO, Any, NamedTuple

import xlsxwriter
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from mall import money
from mall.shoptime import SHOP_TZ
from reconciliation.models import Discrepancy, DiscrepancyKind, ReconciliationRun
from refunds.models import RefundState
from refunds.selectors import refunded_by_destination

PAGE = 1000
YUAN_FORMAT = '"¥"#,##0.00'
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
# Cells a spreadsheet would read as a formula: text from a channel must never run as one.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CHANNEL_STATUS_LABELS = {
    "success": gettext_lazy("refunded"),
    "processing": gettext_lazy("processing"),
    "closed": gettext_lazy("closed"),
    "failed": pgettext_lazy("channel refund status", "failed"),
    "not_found": gettext_lazy("not found"),
}


def headers() -> list[str]:
    return [
        _("Class"),
        _("Channel request number"),
        _("Our refund number"),
        _("Our amount (CNY)"),
        _("Our state"),
        _("Channel amount (CNY)"),
        _("Channel status"),
        _("Channel refund id"),
        _("Channel time"),
        _("Resolved by"),
        _("Resolved at"),
        _("Resolution note"),
    ]


def yuan(amount: Decimal | None) -> str:
    return "" if amount is None else money.yuan(amount)


def plain_amount(amount: Decimal | None) -> str:
    """1234.50: no currency sign and no thousands separator, so that a spreadsheet reads the cell as a number."""
    return "" if amount is None else f"{amount:.2f}"


def china_time(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(SHOP_TZ).strftime("%Y-%m-%d %H:%M:%S")


def state_label(state: str) -> str:
    return str(RefundState(state).label) if state in RefundState.values else state


def channel_status_label(status: str) -> str:
    return str(CHANNEL_STATUS_LABELS.get(status, status))


def kind_label(kind: str) -> str:
    return str(DiscrepancyKind(kind).label) if kind in DiscrepancyKind.values else kind


def filename(run: ReconciliationRun, extension: str) -> str:
    return f"reconciliation-{run.channel}-{run.business_day:%Y-%m-%d}.{extension}"


_FIELDS = (
    "id",
    "kind",
    "out_refund_no",
    "refund__refund_no",
    "our_amount",
    "our_state",
    "channel_amount",
    "channel_status",
    "channel_refund_id",
    "channel_time",
    "resolved_by__username",
    "resolved_at",
    "resolution_note",
)


def discrepancy_values(run: ReconciliationRun) -> Iterator[tuple[Any, ...]]:
    """The run's discrepancies in report order (class, then request number), a page per query."""
    rows = Discrepancy.objects.filter(run=run).order_by("kind", "out_refund_no", "id")
    last: tuple[str, str, int] | None = None
    while True:
        page = rows
        if last is not None:
            kind, number, pk = last
            later_in_kind = Q(out_refund_no__gt=number) | Q(out_refund_no=number, id__gt=pk)
            page = page.filter(Q(kind__gt=kind) | Q(kind=kind) & later_in_kind)
        values = list(page.values_list(*_FIELDS)[:PAGE])
        if not values:
            return
        yield from (row[1:] for row in values)
        last = (values[-1][1], values[-1][2], values[-1][0])


class ReportRow(NamedTuple):
    """One discrepancy as the report shows it: labels in the active language, money and times still typed."""

    kind: str
    out_refund_no: str
    refund_no: str
    our_amount: Decimal | None
    our_state: str
    channel_amount: Decimal | None
    channel_status: str
    channel_refund_id: str
    channel_time: datetime | None
    resolved_by: str
    resolved_at: datetime | None
    resolution_note: str


def report_rows(run: ReconciliationRun) -> Iterator[ReportRow]:
    for (
        kind,
        number,
        refund_no,
        our_amount,
        our_state,
        ch_amount,
        ch_status,
        ch_id,
        ch_time,
        by,
        at,
        note,
    ) in discrepancy_values(run):
        yield ReportRow(
            kind_label(kind),
            number,
            refund_no or "",
            our_amount,
            state_label(our_state) if our_state else "",
            ch_amount,
            channel_status_label(ch_status) if ch_status else "",
            ch_id,
            ch_time,
            by or "",
            at,
            note,
        )


def text_rows(run: ReconciliationRun) -> Iterator[list[str]]:
    """The CSV's cells: text guarded against formulas, amounts as the plain numbers we print (a negative one
    must stay a number, not become text)."""
    for row in report_rows(run):
        yield [
            _safe(row.kind),
            _safe(row.out_refund_no),
            _safe(row.refund_no),
            plain_amount(row.our_amount),
            _safe(row.our_state),
            plain_amount(row.channel_amount),
            _safe(row.channel_status),
            _safe(row.channel_refund_id),
            china_time(row.channel_time),
            _safe(row.resolved_by),
            china_time(row.resolved_at),
            _safe(row.resolution_note),
        ]


def _safe(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def csv_chunks(run: ReconciliationRun) -> Iterator[str]:
    """The CSV report, a line at a time, starting with the BOM Excel needs to read UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: list[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield "\ufeff" + line([_safe(title) for title in headers()])
    for row in text_rows(run):
        yield line(row)


def summary_rows(run: ReconciliationRun) -> list[tuple[str, Any]]:
    return [
        (_("Channel"), run.get_channel_display()),
        (_("Business day"), run.business_day.isoformat()),
        (_("Status"), run.get_status_display()),
        (_("Finished at"), china_time(run.finished_at)),
        (_("Statement lines"), run.statement_lines),
        (_("Statement total"), run.statement_total),
        (_("Matched"), run.matched_count),
        (kind_label(DiscrepancyKind.MISSING_AT_CHANNEL), run.missing_at_channel_count),
        (kind_label(DiscrepancyKind.MISSING_WITH_US), run.missing_with_us_count),
        (kind_label(DiscrepancyKind.AMOUNT_DIFFERS), run.amount_differs_count),
        (kind_label(DiscrepancyKind.STATUS_DIFFERS), run.status_differs_count),
        (kind_label(DiscrepancyKind.LISTED_TWICE), run.listed_twice_count),
        *destination_rows(run),
    ]


def destination_rows(run: ReconciliationRun) -> list[tuple[str, Any]]:
    """What went back that day on the run's channel's orders, per destination: only the original payment is on the
    channel's statement; store credit and bank transfers are the shop's own payments."""
    return [
        (_("Refunded to %(destination)s (%(count)d)") % {"destination": row.label, "count": row.count}, row.amount)
        for row in refunded_by_destination(day=run.business_day, channel=run.channel)
    ]


def write_xlsx(run: ReconciliationRun, out: IO[bytes]) -> None:
    """The XLSX report: a summary sheet and the discrepancies, written row by row (XlsxWriter's constant-memory
    mode: each row goes to a temporary file as soon as the next begins)."""
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    bold = book.add_format({"bold": True})
    formats = {
        "money": book.add_format({"num_format": YUAN_FORMAT}),
        "time": book.add_format({"num_format": TIME_FORMAT}),
    }
    summary = book.add_worksheet(_("Summary"))
    summary.set_column(0, 1, 24)
    for place, (label, value) in enumerate(summary_rows(run)):
        summary.write_string(place, 0, label)
        if isinstance(value, Decimal):
            summary.write_number(place, 1, float(value), formats["money"])
        elif isinstance(value, int):
            summary.write_number(place, 1, value)
        else:
            summary.write_string(place, 1, str(value))

    sheet = book.add_worksheet(_("Discrepancies"))
    sheet.freeze_panes(1, 0)  # the header stays in view while finance scrolls
    for column, width in enumerate((16, 28, 24, 12, 12, 12, 12, 30, 20, 14, 20, 40)):
        sheet.set_column(column, column, width)
    titles = headers()
    for column, title in enumerate(titles):
        sheet.write_string(0, column, title, bold)
    last_row = 0
    for last_row, row in enumerate(report_rows(run), start=1):
        _text(sheet, last_row, 0, row.kind)
        _text(sheet, last_row, 1, row.out_refund_no)
        _text(sheet, last_row, 2, row.refund_no)
        _money(sheet, last_row, 3, row.our_amount, formats)
        _text(sheet, last_row, 4, row.our_state)
        _money(sheet, last_row, 5, row.channel_amount, formats)
        _text(sheet, last_row, 6, row.channel_status)
        _text(sheet, last_row, 7, row.channel_refund_id)
        _time(sheet, last_row, 8, row.channel_time, formats)
        _text(sheet, last_row, 9, row.resolved_by)
        _time(sheet, last_row, 10, row.resolved_at, formats)
        _text(sheet, last_row, 11, row.resolution_note)
    # The filter spans the header and every row written.
    sheet.autofilter(0, 0, last_row, len(titles) - 1)
    book.close()


def _text(sheet: Any, row: int, column: int, value: str) -> None:
    """Text, even when it looks like a formula; an empty value leaves the cell empty."""
    if value:
        sheet.write_string(row, column, value)


def _money(sheet: Any, row: int, column: int, amount: Decimal | None, formats: dict[str, Any]) -> None:
    if amount is None:
        sheet.write_blank(row, column, None, formats["money"])
    else:
        sheet.write_number(row, column, float(amount), formats["money"])


def _time(sheet: Any, row: int, column: int, moment: datetime | None, formats: dict[str, Any]) -> None:
    if moment is None:
        sheet.write_blank(row, column, None, formats["time"])
    else:
        sheet.write_datetime(row, column, moment.astimezone(SHOP_TZ).replace(tzinfo=None), formats["time"])


def xlsx_file(run: ReconciliationRun) -> IO[bytes]:
    """The XLSX report in an anonymous temporary file, rewound; it vanishes once closed."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent
    write_xlsx(run, spool)
    spool.seek(0)
    return spool
