"""Secrets in URLs hidden for display: `router config`, start-up lines and error messages."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# Query parameters that carry credentials: `?password=`, `?token=`, `?api_key=`,
# `?X-Amz-Signature=`, `?sig=`, `?auth=`, `?client_secret=` and their kin.
_SECRET_PARAMETER = re.compile(
    r"pass(word|wd)?|token|secret|key|signature|sig|auth|credential", re.IGNORECASE
)


def mask_url(url: str) -> str:
    """The URL with its userinfo password and every credential-like query parameter hidden.

    `postgresql://user:***@host/db?sslmode=require&password=***`. Text that is not a URL
    (no scheme) may be a secret itself and is hidden whole.
    """
    if "://" not in url:
        return MASK
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return MASK
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}{':' + MASK if colon else ''}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(name, MASK if _SECRET_PARAMETER.search(name) else value) for name, value in pairs],
            safe="*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
