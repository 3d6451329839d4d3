"""Report tables and interaction rows as CSV or XLSX (the API and later task exports).

Text cells starting like a formula (``=``, ``+``, ``-``, ``@``) are written behind an
apostrophe in CSV, so a spreadsheet shows names typed by people instead of running them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from apps.reports.kpis import KPIS
from apps.reports.selectors import ReportTable

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("json", "csv", "xlsx")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell: text that a spreadsheet would run as a formula is written behind an
    apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def xlsx_cell(value):
    """An XLSX cell: characters the format forbids are dropped."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def table_rows(table: ReportTable) -> Iterator[list]:
    """Header (KPI codes, BI-friendly), one line per row, then the totals."""
    codes = [code for code, _label, _unit in table.columns]
    with_interval = any("interval" in row for row in table.rows)
    head = ["group", "label", *(["interval"] if with_interval else []), *codes]
    yield head
    for row in [*table.rows, table.totals]:
        extra = [row.get("interval")] if with_interval else []
        yield [row.get("group"), str(row.get("label")), *extra, *(row[c] for c in codes)]


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    """CSV text, line by line (for a streamed response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def csv_bytes(rows: Iterable[list]) -> bytes:
    return "".join(csv_lines(rows)).encode()


def xlsx_bytes(rows: Iterable[list], *, title: str, table: ReportTable | None = None) -> bytes:
    """A workbook of the rows; a report also gets a sheet of its KPI definitions."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    for row in rows:
        sheet.append([xlsx_cell(v) for v in row])
    if table is not None:
        definitions = workbook.create_sheet("KPIs")
        definitions.append(["code", "label", "unit", "formula"])
        for code, label, unit in table.columns:
            definitions.append([code, label, unit, str(KPIS[code].formula)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
