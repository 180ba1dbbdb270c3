"""What every outbound sender shares: one HTTP call, classified into sent or why not."""

from __future__ import annotations

from typing import Any

import httpx

from router.outbound.ports import DeliveryError


async def post(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    json: dict[str, Any] | None = None,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """POST to a provider and return its JSON answer; `DeliveryError` when it is refused.

    Timeouts, connection errors, 429 and 5xx may pass on a later attempt; any other 4xx
    will not, so it is final.
    """
    try:
        response = await client.post(
            url,
            json=json,
            data=data,
            headers=headers,
            auth=httpx.BasicAuth(*auth) if auth else httpx.USE_CLIENT_DEFAULT,
        )
    except httpx.HTTPError as error:
        raise DeliveryError(f"{provider}: {type(error).__name__}", retryable=True) from None
    if response.status_code >= 300:
        retryable = response.status_code == 429 or response.status_code >= 500
        raise DeliveryError(
            f"{provider} answered {response.status_code}: {_reason(response)}",
            retryable=retryable,
        )
    try:
        body = response.json()
    except ValueError:
        raise DeliveryError(f"{provider} answered with no JSON", retryable=False) from None
    if not isinstance(body, dict):
        raise DeliveryError(f"{provider} answered with unexpected JSON", retryable=False)
    return body


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # Meta: {"error": {"message", "code"}}
            return str(error.get("message") or error.get("code"))[:300]
        for field in ("Message", "message"):  # Postmark, Twilio
            if body.get(field):
                return str(body[field])[:300]
    return response.text[:300]


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
