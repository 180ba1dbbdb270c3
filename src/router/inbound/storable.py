"""Text PostgreSQL can store: no NUL, and nothing UTF-8 cannot encode.

Providers sign what they send, so a message is never refused for carrying a NUL (a form's
`%00`, a JSON `\\u0000`) or a lone surrogate (a JSON `\\ud800` escape, a `surrogateescape`
decoding). PostgreSQL refuses both in `text` and `jsonb`, so each such character becomes
U+FFFD, one character for one: every length limit the envelope checked still holds.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

M = TypeVar("M", bound=BaseModel)


def storable_text(value: str) -> str:
    """`value` with NUL and surrogates replaced by U+FFFD; `value` itself when it has none."""
    return value if unstorable(value) is None else _UNSTORABLE.sub(REPLACEMENT, value)


def storable_model(model: M) -> tuple[M, list[str]]:
    """`model` with every string in it made storable, and the paths of those that changed.

    Walks fields, nested models, tuples, lists and string-keyed dicts (keys too). An
    unchanged model is returned as itself, with no paths.
    """
    changed: list[str] = []
    cleaned = _model(model, "", changed)
    return cleaned, changed


def _model(model: M, path: str, changed: list[str]) -> M:
    updates: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        cleaned = _value(value, f"{path}.{name}" if path else name, changed)
        if cleaned is not value:
            updates[name] = cleaned
    # Lengths are kept one for one, so the copy needs no second validation.
    return model.model_copy(update=updates) if updates else model


def _value(value: Any, path: str, changed: list[str]) -> Any:
    if isinstance(value, str):
        cleaned = storable_text(value)
        if cleaned is not value:
            changed.append(path)
        return cleaned
    if isinstance(value, BaseModel):
        return _model(value, path, changed)
    if isinstance(value, tuple | list):
        items = [_value(item, f"{path}[{index}]", changed) for index, item in enumerate(value)]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if isinstance(value, dict):
        return _mapping(value, path, changed)
    return value


def _mapping(value: dict[Any, Any], path: str, changed: list[str]) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    same = True
    for key, item in value.items():
        new_key = storable_text(key) if isinstance(key, str) else key
        if new_key is not key:
            changed.append(f"{path}.{new_key}")
        new_item = _value(item, f"{path}.{new_key}", changed)
        same = same and new_key is key and new_item is item
        result[new_key] = new_item
    return value if same else result


NUL_REFUSED = "must not contain NUL characters"
SURROGATE_REFUSED = "must not contain lone surrogates (a \\ud800-\\udfff escape without its pair)"


def unstorable(value: str) -> str | None:
    """Why PostgreSQL cannot store `value` (NUL, lone surrogate), or None when it can."""
    if "\x00" in value:
        return NUL_REFUSED
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return SURROGATE_REFUSED
    return None
