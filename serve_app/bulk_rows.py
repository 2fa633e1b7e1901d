"""Rows of a bulk registration, from a JSON array or CSV, each validated; every bad row reported.

A batch is applied only when every row is valid (and no id comes twice), so the errors must
name each row: its 1-based position among the data rows (CSV: not counting the header), its
id where one could be read, and what is wrong. Messages never hold a row's values, which may
be passwords.
"""

from __future__ import annotations

import csv
import io
from typing import TypeVar

import msgspec

Row = TypeVar("Row", bound=msgspec.Struct)

CSV_TYPES = ("text/csv", "application/csv")
# CSV columns `metadata.<key>` fill a station row's metadata.
METADATA_PREFIX = "metadata."


class RowError(msgspec.Struct):
    row: int
    id: str | None
    message: str


class _Unreadable(str):
    """A CSV record that is not a row at all; the text says why."""


class BadBatch(ValueError):
    """The body as a whole is not a batch (not a JSON array, no CSV header, too many rows)."""


def decode(body: bytes, content_type: str, row_type: type[Row], id_field: str, max_rows: int,
           normalise=lambda key: key) -> tuple[list[Row], list[RowError]]:
    """The valid rows and an error per bad row; the batch may be applied only if there are none.
    `normalise` gives the key two rows may not share (id tags are case-insensitive)."""
    is_csv = content_type.split(";")[0].strip().lower() in CSV_TYPES
    items = _csv_items(body) if is_csv else _json_items(body)
    if len(items) > max_rows:
        raise BadBatch(f"{len(items)} rows; at most {max_rows} per request")
    rows: list[Row] = []
    errors: list[RowError] = []
    first_at: dict[str, int] = {}
    for number, item in enumerate(items, start=1):
        if isinstance(item, _Unreadable):
            errors.append(RowError(number, None, item))
            continue
        try:
            row = (msgspec.convert(item, row_type, strict=False) if is_csv
                   else msgspec.json.decode(item, type=row_type))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            errors.append(RowError(number, _id_of(item, id_field), str(exc)))
            continue
        key = normalise(getattr(row, id_field))
        if key in first_at:
            errors.append(RowError(number, getattr(row, id_field), f"{id_field} already in row {first_at[key]}"))
            continue
        first_at[key] = number
        rows.append(row)
    return rows, errors


def _json_items(body: bytes) -> list:
    try:
        return msgspec.json.decode(body, type=list[msgspec.Raw])
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadBatch(f"the body must be a JSON array of rows (or CSV with Content-Type text/csv): {exc}") from None


def _csv_items(body: bytes) -> list:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadBatch("CSV must be UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise BadBatch("CSV needs a header line naming the columns")
    items = []
    for record in reader:
        if None in record:
            items.append(_Unreadable(f"{len(reader.fieldnames) + len(record[None])} fields; the header names "
                                     f"{len(reader.fieldnames)}"))
            continue
        values: dict = {}
        metadata: dict[str, str] = {}
        for column, value in record.items():
            if column.startswith(METADATA_PREFIX):
                if value:
                    metadata[column[len(METADATA_PREFIX):]] = value
            elif value not in ("", None):  # an empty cell: the field's default
                values[column] = value
        if metadata:
            values["metadata"] = metadata
        items.append(values)
    return items


def _id_of(item, id_field: str) -> str | None:
    if isinstance(item, msgspec.Raw):
        try:
            item = msgspec.json.decode(item)
        except msgspec.DecodeError:
            return None
    value = item.get(id_field) if isinstance(item, dict) else None
    return value if isinstance(value, str) else None
