"""Spreadsheets (.xlsx) and CSV files, one part per row: each value after its column's header
("Region: EMEA · Quarter: Q3 · Revenue: 1.2 M."), placed by sheet and row ("Sheet Sales, row
14"), so a question about one row finds it and its citation names it. Rows are read as a
stream within ``ingest.max_rows``, ``max_cells`` and ``max_text_mb``: past one, the rest of the
file is left out and the ingestion report says so (``read_in_part``)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils import get_column_letter

from qa_bot.config import IngestSettings
from qa_bot.ingest.loaders import (
    LoadError,
    Part,
    Place,
    detect_encoding,
    read_in_part,
    reading_limits,
)

MB = 1024 * 1024
MAX_COLUMNS = 500
"""Columns read of one sheet or CSV file; a wider one is read up to there (the report says so)."""
DETECT_BYTES = MB
"""Bytes of a CSV file its encoding is detected from."""
SNIFF_CHARS = 64 * 1024
"""Characters of a CSV file its dialect (delimiter, quoting) is guessed from."""
SEPARATOR = " · "


@dataclass
class Tally:
    """What one file's rows have taken of its limits; ``spent`` once a row did not fit (the
    reason then told through ``read_in_part``)."""

    limits: IngestSettings
    rows: int = 0
    cells: int = 0
    chars: int = 0
    spent: bool = False

    def take(self, cells: int, chars: int) -> bool:
        """Count a row of ``cells`` values and ``chars`` characters; False when it does not
        fit (and every later one: the file is cut there)."""
        if self.spent:
            return False
        why = self._over(cells, chars)
        if why is not None:
            self.spent = True
            read_in_part(why)
            return False
        self.rows, self.cells, self.chars = self.rows + 1, self.cells + cells, self.chars + chars
        return True

    def _over(self, cells: int, chars: int) -> str | None:
        """Why one more such row is past a limit, naming the setting; None when it fits."""
        limits = self.limits
        if self.rows >= limits.max_rows:
            return (
                f"only its first {limits.max_rows:,} rows were read "
                "(raise QA_BOT_INGEST__MAX_ROWS to read them all)"
            )
        if self.cells + cells > limits.max_cells:
            return (
                f"only the rows within its first {limits.max_cells:,} cells were read "
                "(raise QA_BOT_INGEST__MAX_CELLS to read them all)"
            )
        if self.chars + chars > limits.max_text_mb * MB:
            return (
                f"only the rows within its first {limits.max_text_mb:g} MB of text were read "
                "(raise QA_BOT_INGEST__MAX_TEXT_MB to read them all)"
            )
        return None


def cell_text(value: object) -> str:
    """A cell's value as a person reads it: whole numbers without ".0", dates without a
    midnight time, whitespace collapsed; "" for an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, ".15g")
    if isinstance(value, dt.datetime):
        midnight = value.time() == dt.time()
        return value.date().isoformat() if midnight else value.isoformat(" ", "minutes")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())


def row_text(header: Sequence[str], cells: Sequence[str]) -> str:
    """The row's values, each after its column's header (its letter where the header is
    empty), empty ones left out, as one statement: "Region: EMEA · Revenue: 1.2 M."."""
    named = (
        f"{header[i] if i < len(header) and header[i] else get_column_letter(i + 1)}: {value}"
        for i, value in enumerate(cells)
        if value
    )
    text = SEPARATOR.join(named)
    return text if text.endswith((".", "!", "?")) else f"{text}."


def row_texts(rows: Iterable[Sequence[object]], tally: Tally) -> Iterator[tuple[int, str]]:
    """(row number, text) of each non-empty row after the header (the first non-empty row),
    numbered from 1 as a spreadsheet numbers them; ends when the tally is spent."""
    header: list[str] | None = None
    for number, values in enumerate(rows, 1):
        cells = [cell_text(value) for value in values]
        if not any(cells):
            continue
        if header is None:
            header = cells
            continue
        text = row_text(header, cells)
        if not tally.take(sum(map(bool, cells)), len(text)):
            return
        yield number, text


def table_parts(rows: Iterable[Sequence[object]], label: str, tally: Tally) -> list[Part]:
    """One part per row (``row_texts``), placed as ``label`` and the row's number."""
    return [(text, "", Place(label, number)) for number, text in row_texts(rows, tally)]


def load_xlsx(path: Path) -> list[Part]:
    """The rows of every visible sheet of a workbook (hidden and empty sheets skipped), read
    in openpyxl's read-only mode (a stream), formulas as their cached values."""
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # zipfile, the XML parser and openpyxl raise many types
        raise LoadError(f"it is not a readable Excel file ({type(err).__name__})") from err
    tally = Tally(reading_limits())
    try:
        title = book.properties.title or ""
        parts = [
            part
            for sheet in book.worksheets
            if sheet.sheet_state == "visible"
            for part in _sheet_parts(sheet, tally)
        ]
    except Exception as err:
        raise LoadError(f"it is not a readable Excel file ({type(err).__name__})") from err
    finally:
        book.close()
    return [(text, title, place) for text, _, place in parts]


def _sheet_parts(sheet: Any, tally: Tally) -> list[Part]:
    """A sheet's rows as parts ("Sheet Sales, row 14"), at most ``MAX_COLUMNS`` wide."""
    if tally.spent:
        return []
    width = sheet.max_column or MAX_COLUMNS
    if width > MAX_COLUMNS:
        read_in_part(f"only the first {MAX_COLUMNS} columns of its sheet {sheet.title} were read")
    rows = sheet.iter_rows(max_col=min(width, MAX_COLUMNS), values_only=True)
    return table_parts(rows, f"Sheet {sheet.title}, row", tally)


def load_csv(path: Path) -> list[Part]:
    """The rows of a CSV file in any common encoding, its dialect (delimiter, quoting)
    guessed from its beginning; read as a stream, so only the rows within the limits are."""
    with path.open("rb") as raw:
        encoding = detect_encoding(raw.read(DETECT_BYTES))
    tally = Tally(reading_limits())
    try:
        with path.open(encoding=encoding, errors="replace", newline="") as text:
            dialect = _dialect(text.read(SNIFF_CHARS))
            text.seek(0)
            return table_parts(_narrowed(csv.reader(text, dialect)), "row", tally)
    except csv.Error as err:
        raise LoadError(f"it is not a readable CSV file ({err})") from err


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    """The dialect guessed from ``sample``'s whole lines; Excel's (commas) when in doubt."""
    whole = sample[: sample.rfind("\n") + 1] or sample
    try:
        return csv.Sniffer().sniff(whole, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _narrowed(rows: Iterator[list[str]]) -> Iterator[list[str]]:
    """Each row cut to ``MAX_COLUMNS`` values (the first time one is, the report says so)."""
    told = False
    for row in rows:
        if len(row) > MAX_COLUMNS and not told:
            read_in_part(f"only its first {MAX_COLUMNS} columns were read")
            told = True
        yield row[:MAX_COLUMNS]
