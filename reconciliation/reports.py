"""A run's report for finance, as CSV (UTF-8 with a BOM, so that Excel reads the Chinese) or XLSX.

Both are streamed: rows are read in keyset pages and written as they come (the CSV straight into the response,
the XLSX through openpyxl's write-only mode into a temporary file), so a run with a million discrepancies
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

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

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
    """The XLSX report: a summary sheet and the discrepancies, written row by row (openpyxl write-only)."""
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    summary = book.create_sheet(_("Summary"))
    summary.column_dimensions["A"].width = 24
    summary.column_dimensions["B"].width = 24
    for label, value in summary_rows(run):
        cell = WriteOnlyCell(summary, value=value)
        if isinstance(value, Decimal):
            cell.number_format = YUAN_FORMAT
        summary.append([WriteOnlyCell(summary, value=label), cell])

    sheet = book.create_sheet(_("Discrepancies"))
    sheet.freeze_panes = "A2"  # the header stays in view while finance scrolls; set before the first row is written
    for column, width in zip("ABCDEFGHIJKL", (16, 28, 24, 12, 12, 12, 12, 30, 20, 14, 20, 40), strict=True):
        sheet.column_dimensions[column].width = width
    header_cells = []
    for title in headers():
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    last_row = 1
    for row in report_rows(run):
        last_row += 1
        sheet.append(
            [
                _text(sheet, row.kind),
                _text(sheet, row.out_refund_no),
                _text(sheet, row.refund_no),
                _money(sheet, row.our_amount),
                _text(sheet, row.our_state),
                _money(sheet, row.channel_amount),
                _text(sheet, row.channel_status),
                _text(sheet, row.channel_refund_id),
                _time(sheet, row.channel_time),
                _text(sheet, row.resolved_by),
                _time(sheet, row.resolved_at),
                _text(sheet, row.resolution_note),
            ]
        )
    # A write-only sheet knows no dimensions: the filter spans the header and every row written.
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header_cells))}{last_row}"
    book.save(out)


def _text(sheet: Any, value: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # text, even when it looks like a formula
    return cell


def _money(sheet: Any, amount: Decimal | None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=amount)
    cell.number_format = YUAN_FORMAT
    return cell


def _time(sheet: Any, moment: datetime | None) -> WriteOnlyCell:
    local = moment.astimezone(SHOP_TZ).replace(tzinfo=None) if moment else None
    cell = WriteOnlyCell(sheet, value=local)
    cell.number_format = TIME_FORMAT
    return cell


def xlsx_file(run: ReconciliationRun) -> IO[bytes]:
    """The XLSX report in an anonymous temporary file, rewound; it vanishes once closed."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent
    write_xlsx(run, spool)
    spool.seek(0)
    return spool
