"""An uploaded participant file (CSV in any common encoding, or XLSX) as CSV text."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, time
from typing import Final

from app.domain.errors import InvalidInput

# Bigger than any registration export we have seen (50,000 rows of RunSignUp's export are
# about 12 MB); the web layer refuses larger bodies before they are read.
MAX_UPLOAD_BYTES: Final = 25 * 1024 * 1024
# An XLSX is zipped XML: its text is capped too, so a small zip bomb cannot fill memory.
MAX_TEXT_CHARS: Final = 60 * 1024 * 1024

_XLSX_MAGIC = b"PK\x03\x04"


def upload_text(filename: str, data: bytes) -> str:
    """The file as CSV text; InvalidInput says plainly why a file cannot be used."""
    if not data.strip():
        raise InvalidInput("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB."
        )
    if data.startswith(_XLSX_MAGIC):
        return _xlsx_text(data)
    if filename.lower().endswith((".xls", ".numbers", ".ods")):
        raise InvalidInput("Save the spreadsheet as CSV or XLSX and upload that.")
    if b"\x00" in data[:65536]:
        raise InvalidInput("This is not a CSV file (it holds binary data). Export as CSV or XLSX.")
    return _decode(data)


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) when it is; else Windows-1252, as Excel saves CSV there."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _xlsx_text(data: bytes) -> str:
    from openpyxl import load_workbook  # only XLSX uploads pay for the import

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInput(f"This XLSX file cannot be read ({exc}).") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise InvalidInput("The workbook has no sheets.")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for values in sheet.iter_rows(values_only=True):
            writer.writerow([_cell(v) for v in values])
            if out.tell() > MAX_TEXT_CHARS:
                raise InvalidInput("The spreadsheet is too large; split it or export as CSV.")
        return out.getvalue()
    finally:
        book.close()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # bib 42, not 42.0
    return str(value)


def count_lines(text: str) -> int:
    """Lines in the file (a final line without newline counts), for progress."""
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)
