"""A window of time asked for in a query (`since`, `until`), checked alike by every listing."""

from __future__ import annotations

from datetime import datetime

from router.errors import InvalidPayload


def check_window(since: datetime | None, until: datetime | None) -> None:
    """422 naming the parameter: a moment without a time zone, or `since` after `until`."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.utcoffset() is None:
            raise InvalidPayload(f"{name}: give a time zone (such as Z)", field=name)
    if since is not None and until is not None and since > until:
        raise InvalidPayload("since: must not be after until", field="since")
