"""Every problem type the router answers with, and what a caller should make of it.

The `type` of a problem document is a URI under `/problems/`; `GET /problems/<type>` serves
the entry of this catalogue as a short page. A test checks that every error class, and every
type the exception handlers produce, has its entry here, with the same status and title.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One kind of error: its status, its title, what it means and what to do about it."""

    status: int
    title: str
    meaning: str
    remedy: str


_RETRY = "Retry after the number of seconds in the Retry-After header; nothing was changed."

PROBLEM_TYPES: dict[str, ProblemType] = {
    "bad-request": ProblemType(
        400,
        "Bad request",
        "The request could not be read at all (for instance a form body that is not one).",
        "Fix the request as the detail says and send it again.",
    ),
    "invalid-request": ProblemType(
        422,
        "The request is invalid",
        "A parameter or the body does not match the operation's schema: `errors` lists every "
        "field (`body` when the body is not JSON at all) and what is wrong with it. Numbers "
        'must be JSON numbers: `true` or `"3"` is not an integer.',
        "Correct the listed fields as the OpenAPI document describes them; nothing was changed.",
    ),
    "invalid-payload": ProblemType(
        422,
        "The payload is malformed or incomplete",
        "A webhook's body is signed correctly but lacks what the router needs to make an event.",
        "Check the provider's payload format and the webhook's configuration; the detail names "
        "what is missing.",
    ),
    "bad-signature": ProblemType(
        401,
        "The request's signature is missing or wrong",
        "The webhook's signature does not match the secret configured for this endpoint.",
        "Check that the provider and the router share the same secret and that the URL the "
        "provider signs is the router's public URL (ROUTER_PUBLIC_BASE_URL behind a proxy).",
    ),
    "replayed-request": ProblemType(
        401,
        "The request is outside the replay window",
        "The signed timestamp is too far from now, so the request may be a replay.",
        "Check the clocks of the provider and the router; a fresh delivery is accepted.",
    ),
    "not-configured": ProblemType(
        503,
        "This endpoint's secret is not configured",
        "The router has no secret for this webhook, so it cannot verify anything sent to it.",
        "Configure the endpoint's secret (see the configuration reference) and restart.",
    ),
    "payload-too-large": ProblemType(
        413,
        "The request body is over the limit",
        "The body is larger than the router accepts on this path; it was not read to the end.",
        "Send a smaller body, or raise the limit in the configuration if it is legitimate.",
    ),
    "unsupported-media-type": ProblemType(
        415,
        "The request's content type is not accepted here",
        "The Content-Type header names a format this endpoint does not take.",
        "Send the body in the format the endpoint documents, with that Content-Type.",
    ),
    "transport-unavailable": ProblemType(
        503,
        "The event log cannot take the event right now",
        "The broker did not acknowledge the event in time, so it is not stored.",
        _RETRY,
    ),
    "database-unavailable": ProblemType(
        503,
        "The database cannot be reached right now",
        "The database is restarting, failing over or out of connections.",
        _RETRY,
    ),
    "identity-provider-unavailable": ProblemType(
        503,
        "The identity provider cannot be reached",
        "The router cannot fetch the signing keys it needs to check the identity token.",
        _RETRY,
    ),
    "chat-site-without-reply-url": ProblemType(
        409,
        "The chat site has no reply URL",
        "The conversation came through a web-chat site whose widget backend URL is not "
        "configured, so a reply could not reach the visitor.",
        "An admin sets it with PUT /v1/chat-sites/{site}; then send the reply again (nothing "
        "was stored).",
    ),
    "reply-channel-not-configured": ProblemType(
        503,
        "Replies on this channel are not configured",
        "The router has no provider credentials to send on the conversation's channel.",
        "Configure the channel's outbound provider; the reply was not sent.",
    ),
    "whatsapp-window-closed": ProblemType(
        409,
        "WhatsApp's 24-hour customer-service window is closed",
        "More than 24 hours have passed since the customer's last WhatsApp message (or they "
        "have not written yet), so WhatsApp accepts no free-form message; "
        "`window_closed_at` says when it closed.",
        "Send an approved template (`template` instead of `text`); nothing was stored.",
    ),
    "unauthorized": ProblemType(
        401,
        "A valid API key or identity token is required",
        "No credentials came with the request, or they are unknown, expired or revoked.",
        "Send `Authorization: Bearer <API key or identity token>` with a valid credential.",
    ),
    "forbidden": ProblemType(
        403,
        "The caller may not do this",
        "The caller's role, or their relation to the resource, does not allow this operation.",
        "Use a credential with the role the operation needs, or act on your own conversations.",
    ),
    "verification-refused": ProblemType(
        403,
        "The subscription verification was refused",
        "The verify token of a webhook subscription check does not match the configured one.",
        "Use the same verify token in the provider's settings as in the router's configuration.",
    ),
    "not-found": ProblemType(
        404,
        "Not found",
        "No such resource or path, or not one the caller may see.",
        "Check the identifier and the path against the OpenAPI document.",
    ),
    "method-not-allowed": ProblemType(
        405,
        "Method not allowed",
        "The path exists but does not take this HTTP method.",
        "Use one of the methods in the Allow header.",
    ),
    "conflict": ProblemType(
        409,
        "Conflict",
        "The resource's current state does not allow this (for instance an offer that has "
        "lapsed, a conversation already resolved, a name already taken).",
        "Read the resource again and decide with its current state.",
    ),
    "invalid-policy": ProblemType(
        422,
        "The routing policy is not valid",
        "The policy breaks a rule of policies (for instance a rule naming a queue that does "
        "not exist); `errors` lists every problem.",
        "Correct every listed problem and send the policy again; the active one is unchanged.",
    ),
    "invalid-survey-settings": ProblemType(
        422,
        "The survey settings are not valid",
        "The survey settings name a queue that does not exist.",
        "Correct the settings as the detail says and send them again; the ones in force are "
        "unchanged.",
    ),
    "invalid-sla-policy": ProblemType(
        422,
        "The SLA policy is not valid",
        "The SLA policy breaks a rule of policies (a name used twice, a match naming a queue "
        "that does not exist); `errors` lists every problem, each naming its field.",
        "Correct every listed problem and send the policy again; the active one is unchanged.",
    ),
    "invalid-cursor": ProblemType(
        422,
        "The cursor is not valid",
        "The paging cursor was not made by this listing, or was altered.",
        "Start again from the first page and follow the cursors the answers give.",
    ),
    "file-refused": ProblemType(
        422,
        "The file is not accepted",
        "The uploaded file's type is not allowed (ROUTER_ATTACHMENT_ALLOWED_TYPES), or its bytes "
        "are not what its declared type says (a PDF sent as image/png).",
        "Send a file of an allowed type, declared as what it is; nothing was stored.",
    ),
    "channel-takes-no-files": ProblemType(
        422,
        "This channel cannot carry files",
        "The reply lists files, but its conversation's channel (voice) has no way to send them.",
        "Send the reply without `attachment_ids`; nothing was sent.",
    ),
    "rate-limited": ProblemType(
        429,
        "Too many requests from this caller",
        "The caller made more requests of this kind than its rate allows.",
        "Wait the number of seconds in the Retry-After header, then slow down.",
    ),
    "internal": ProblemType(
        500,
        "Internal error",
        "The router failed in a way it did not expect; the error is logged with the request id.",
        "Report the X-Request-ID of the answer to the operators of the router.",
    ),
}

# Problem types of the HTTP errors the web framework raises itself (any other status is
# answered as `about:blank`, a problem meaning no more than its status).
HTTP_PROBLEMS: dict[int, str] = {400: "bad-request", 404: "not-found", 405: "method-not-allowed"}
