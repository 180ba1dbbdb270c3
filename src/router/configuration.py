"""Reading the configuration as a command starts: every mistake named by its variable.

A misspelt `ROUTER_` variable would otherwise be ignored, and the router would quietly run
on a default (a misspelt database URL: the embedded database). A value that does not parse
is reported as the variable an operator sets, in one line, not as a traceback naming the
field inside the code.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr, ValidationError

from router.masking import MASK, mask_url
from router.settings import Settings

PREFIX = "ROUTER_"

# `ROUTER_` variables that are not settings of the router but belong to its tooling: the
# test suite and devstack (`ROUTER_TEST_*`, `ROUTER_DEVSTACK_CACHE`), the container smoke
# test (`ROUTER_SMOKE_*`) and compose's own substitutions (`ROUTER_IMAGE_TAG`,
# `ROUTER_HTTP_PUBLISH`). They may be set in the same shell as the router.
TOOLING_PREFIXES = ("ROUTER_TEST_", "ROUTER_SMOKE_", "ROUTER_DEVSTACK_")
TOOLING_VARIABLES = frozenset({"ROUTER_IMAGE_TAG", "ROUTER_HTTP_PUBLISH"})


class ConfigurationError(Exception):
    """The router cannot start with this configuration; the message names the variables."""


def variable(field: str) -> str:
    """The environment variable of a settings field (`http_port`: `ROUTER_HTTP_PORT`)."""
    return f"{PREFIX}{field.upper()}"


def known_variables() -> list[str]:
    """Every `ROUTER_` variable that is a setting."""
    return [variable(name) for name in Settings.model_fields]


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One sentence per `ROUTER_` variable that is neither a setting nor the tooling's."""
    known = known_variables()
    problems = []
    for name in sorted(environ):
        upper = name.upper()  # pydantic-settings reads the names case-insensitively
        if not upper.startswith(PREFIX) or upper in known:
            continue
        if upper in TOOLING_VARIABLES or upper.startswith(TOOLING_PREFIXES):
            continue
        closest = difflib.get_close_matches(upper, known, n=1, cutoff=0.6)
        hint = f"; did you mean {closest[0]}?" if closest else " (see `router config`)"
        problems.append(f"{name} is not a setting{hint}")
    return problems


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from the environment, or a `ConfigurationError` saying what is wrong."""
    problems = unknown_variables(os.environ if environ is None else environ)
    if problems:
        raise ConfigurationError("; ".join(problems))
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(describe(error)) from None


def describe(error: ValidationError) -> str:
    """A settings validation error in one line, by variable, with secrets masked."""
    sentences = []
    for item in error.errors(include_url=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        if not item["loc"]:  # a rule over several settings names them itself
            sentences.append(message)
            continue
        field = str(item["loc"][0])
        sentences.append(f"{variable(field)}={_shown(field, item.get('input'))}: {message}")
    return "; ".join(sentences)


def _shown(field: str, value: Any) -> str:
    known = Settings.model_fields.get(field)
    annotation = str(known.annotation) if known is not None else ""
    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    if "://" in text:
        return repr(mask_url(text))
    if "SecretStr" in annotation or field.endswith("_key"):
        return MASK
    return repr(text)
