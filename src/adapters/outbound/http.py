"""What every outbound sender shares: one HTTP call, classified into sent or why not."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from router.outbound.ports import DeliveryError, OutboundFile


async def post(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    json: dict[str, Any] | None = None,
    data: dict[str, str | list[str]] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """POST to a provider and return its JSON answer; `DeliveryError` when it is refused.

    Timeouts, connection errors, 429 and 5xx may pass on a later attempt; any other 4xx
    will not, so it is final.
    """
    response = await post_request(
        client, provider, url, json=json, data=data, headers=headers, auth=auth
    )
    try:
        body = response.json()
    except ValueError:
        raise DeliveryError(f"{provider} answered with no JSON", retryable=False) from None
    if not isinstance(body, dict):
        raise DeliveryError(f"{provider} answered with unexpected JSON", retryable=False)
    return body


async def post_request(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    auth: tuple[str, str] | None = None,
    **request: Any,
) -> httpx.Response:
    """POST (`json`, `data`, `files`, `headers` as httpx takes them) and return the 2xx answer.

    For providers whose answer is not a JSON document (SendGrid's empty `202`); refusals
    are classified as `post` classifies them.
    """
    try:
        response = await client.post(
            url, auth=httpx.BasicAuth(*auth) if auth else httpx.USE_CLIENT_DEFAULT, **request
        )
    except httpx.HTTPError as error:
        raise DeliveryError(f"{provider}: {type(error).__name__}", retryable=True) from None
    if response.status_code >= 300:
        raise refusal(provider, response)
    return response


def refusal(provider: str, response: httpx.Response) -> DeliveryError:
    """What a provider's non-2xx answer means: 429 and 5xx may pass later, other 4xx never."""
    retryable = response.status_code == 429 or response.status_code >= 500
    retry_after = None
    if response.status_code in (429, 503):
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
    return DeliveryError(
        f"{provider} answered {response.status_code}: {_reason(response)}",
        retryable=retryable,
        retry_after=retry_after,
        status_code=response.status_code,
    )


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (RFC 9110: delay-seconds or an HTTP date).

    None when it is missing or unreadable; a date in the past is zero.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 850 and asctime dates carry no zone: they are GMT
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # Meta: {"error": {"message", "code"}}
            return str(error.get("message") or error.get("code"))[:300]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):  # SendGrid
            return str(errors[0].get("message"))[:300]
        for field in ("Message", "message"):  # Postmark, Twilio, Mailgun
            if body.get(field):
                return str(body[field])[:300]
    return response.text[:300]


def media_link(file: OutboundFile, provider: str) -> str:
    """The link a provider fetches the file from; final `DeliveryError` when there is none."""
    if file.url is None:
        raise DeliveryError(
            f"{provider} takes files only by link: set ROUTER_PUBLIC_BASE_URL so the router"
            " can serve them",
            retryable=False,
        )
    return file.url


def required_id(body: dict[str, Any], provider: str, *path: str | int) -> str:
    """The provider's message id at `path` in its answer, or a final `DeliveryError`."""
    value: Any = body
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            value = None
            break
    if not isinstance(value, str) or not value:
        where = ".".join(str(step) for step in path)
        raise DeliveryError(f"{provider} answered without {where}", retryable=False)
    return value
