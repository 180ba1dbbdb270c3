"""Reports as CSV: one header line, one line per row, nested measures flattened."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def as_csv(model: type[BaseModel], rows: Sequence[BaseModel]) -> str:
    """The rows as CSV (RFC 4180): columns in field order, `a.b` flattened to `a_b`."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_columns(model), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(_flatten(row.model_dump(mode="json")) for row in rows)
    return out.getvalue()


def _columns(model: type[BaseModel], prefix: str = "") -> list[str]:
    columns: list[str] = []
    for name, field in model.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            columns.extend(_columns(nested, f"{prefix}{name}_"))
        else:
            columns.append(f"{prefix}{name}")
    return columns


def _flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = "" if value is None else value
    return flat
