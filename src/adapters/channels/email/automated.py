"""Emails no person wrote: auto-replies (RFC 3834) and bounces (RFC 3464), and odd senders.

Which headers mark an auto-reply, and how a bounce is told, is listed in docs/email.md.
A bounce also says which message it returns (the Message-ID and References of the returned
headers) and why it failed, so the router can record the failed delivery of a message it
sent. Nothing here refuses an email: whatever cannot be read is simply not found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email import policy
from email.parser import HeaderParser

from adapters.channels.email.parsing import (
    EMAIL_PARSE_ERRORS,
    Mailbox,
    Threading,
    normalise_message_id,
    parse_mailboxes,
    unfold,
)
from router.inbound.envelope import Automated

HeaderLookup = Callable[[str], str | None]

# The parts a delivery status notification carries besides its human-readable text.
STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
RETURNED_TYPES = frozenset(
    {"text/rfc822-headers", "message/rfc822", "message/global", "message/global-headers"}
)
REPORT_PART_TYPES = STATUS_TYPES | RETURNED_TYPES
# The mail system's own mailboxes (RFC 5321 section 4.5.1, and the traditional daemon name).
_DAEMONS = frozenset({"mailer-daemon", "postmaster"})
_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk", "list"})
# X-Auto-Response-Suppress values Exchange puts on what it generates itself.
_SUPPRESS = frozenset({"all", "oof", "autoreply"})
_REPORT = re.compile(r"^\s*multipart/report\b(?P<params>.*)$", re.IGNORECASE | re.DOTALL)
_REPORT_TYPE = re.compile(r";\s*report-type\s*=\s*\"?(?P<kind>[A-Za-z0-9-]+)", re.IGNORECASE)
_MAX_ERROR = 1000


def report_type(content_type: str | None) -> str | None:
    """`delivery-status` of `multipart/report; report-type=delivery-status`, lower-cased."""
    match = _REPORT.match(content_type or "")
    if match is None:
        return None
    kind = _REPORT_TYPE.search(match["params"])
    return kind["kind"].lower() if kind else ""


def is_null_sender(raw: str | None) -> bool:
    """An envelope sender of `<>` (or empty): mail that must never be answered (RFC 5321)."""
    return raw is not None and raw.strip() in ("", "<>")


def _is_daemon(raw: str | None) -> bool:
    return any(box.address.split("@", 1)[0] in _DAEMONS for box in parse_mailboxes(raw))


def automated_kind(
    lookup: HeaderLookup, *, envelope_sender: str | None, part_types: Iterable[str] = ()
) -> Automated | None:
    """Whether a person wrote this email: None, or what kind of automatic message it is."""
    content_type = lookup("Content-Type")
    report = report_type(content_type)
    if report == "delivery-status":
        return Automated.BOUNCE
    from_daemon = _is_daemon(lookup("From")) or is_null_sender(envelope_sender)
    if from_daemon and (report is not None or REPORT_PART_TYPES.intersection(part_types)):
        return Automated.BOUNCE
    if report == "disposition-notification" or is_null_sender(envelope_sender):
        return Automated.AUTO_REPLY  # a read receipt; or mail sent so as never to be answered
    return Automated.AUTO_REPLY if _auto_reply_headers(lookup) else None


def _auto_reply_headers(lookup: HeaderLookup) -> bool:
    submitted = lookup("Auto-Submitted")
    if submitted is not None and submitted.split(";", 1)[0].strip().lower() not in ("", "no"):
        return True
    for name in ("X-Autoreply", "X-Autorespond"):
        value = lookup(name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return True
    precedence = (lookup("Precedence") or "").strip().lower()
    if precedence in _PRECEDENCE:
        return True
    suppress = {
        value.strip().lower() for value in (lookup("X-Auto-Response-Suppress") or "").split(",")
    }
    if suppress & _SUPPRESS:
        return True
    # Exchange names the agent that generated a message; a forwarding inbox rule passes on a
    # person's message and is not an auto-reply.
    source = lookup("X-MS-Exchange-Generated-Message-Source")
    return source is not None and "mailbox rules agent" not in source.lower()


@dataclass(frozen=True)
class Returned:
    """What a bounce says of the message it returns: its threading, and why it failed."""

    thread: Threading
    error: str


_ID_LINE = re.compile(r"^\s*(?:original-)?message-id:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


def returned_message(
    header_blocks: Iterable[str], status_blocks: Iterable[str], text: str
) -> Returned:
    """The returned message's ids (from its headers, else quoted in the text) and the reason."""
    found: Threading | None = None
    for block in header_blocks:
        headers = _header_block(block)
        if headers is None:
            continue
        thread = Threading.from_headers(_lookup_in(headers))
        if thread.message_id or thread.references:
            found = thread
            break
    if found is None:
        quoted = _ID_LINE.findall(text)
        found = Threading(message_id=normalise_message_id(quoted[0]) if quoted else None)
    return Returned(found, _failure(list(status_blocks), text))


def bounce_threading(own: Threading, returned: Threading) -> Threading:
    """A bounce threads under the message it returns (and under whatever it names itself)."""
    answered = (returned.message_id,) if returned.message_id else ()
    return Threading(
        message_id=own.message_id,
        in_reply_to=tuple(dict.fromkeys([*answered, *own.in_reply_to])),
        references=tuple(dict.fromkeys([*returned.references, *own.references])),
    )


def _header_block(block: str) -> dict[str, str] | None:
    try:
        parsed = HeaderParser(policy=policy.default).parsestr(block, headersonly=True)
        return {key.lower(): str(value) for key, value in reversed(list(parsed.raw_items()))}
    except EMAIL_PARSE_ERRORS:
        return None


def _lookup_in(headers: dict[str, str]) -> HeaderLookup:
    return lambda name: headers.get(name.lower())


_STATUS_FIELD = re.compile(
    r"^\s*(diagnostic-code|status|action)\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE
)


def _failure(status_blocks: list[str], text: str) -> str:
    """Diagnostic-Code and Status of the first failed recipient, else the text's first line."""
    for block in [*status_blocks, text]:
        fields: dict[str, str] = {}
        for name, value in _STATUS_FIELD.findall(block):
            fields.setdefault(name.lower(), unfold(value))
        if "diagnostic-code" in fields or "status" in fields:
            parts = [fields.get("status"), fields.get("diagnostic-code")]
            return " ".join(part for part in parts if part)[:_MAX_ERROR]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return (first or "the message bounced")[:_MAX_ERROR]


def sender_of(
    lookup: HeaderLookup, *, first: Iterable[str | None] = (), envelope_sender: str | None = None
) -> Mailbox | None:
    """The first usable address of the sender's headers; None when none has one.

    In order: `first` (what the provider parsed from From), the From header, the envelope
    sender, then Return-Path, Sender and Reply-To.
    """
    candidates = [*first, lookup("From"), envelope_sender]
    candidates += [lookup(name) for name in ("Return-Path", "Sender", "Reply-To")]
    for candidate in candidates:
        found = parse_mailboxes(candidate)
        if found:
            return found[0]
    return None


def described_sender(raw: str | None) -> str | None:
    """What a From without an address still says (`"" (Mail Delivery System)`), as a name."""
    words = re.sub(r"[\"<>()]", " ", unfold(raw or "")).split()
    return " ".join(words)[:200] or None
