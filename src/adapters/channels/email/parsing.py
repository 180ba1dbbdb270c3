"""What every inbound email shares, whichever provider parsed it.

Threading (the conversation key from Message-ID / In-Reply-To / References), quoted-reply
stripping, address and date parsing, and the one function that turns the facts of an email
into the canonical `InboundMessage`. Addresses and dates are parsed with the standard
library's `email` package; nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import MessageError
from email.utils import parsedate_to_datetime

from pydantic import ValidationError

from adapters.channels.email.quoting import html_to_text, strip_quoted_reply
from adapters.channels.webhook import invalid_payload, sha256
from router.channels import Channel, IdentityKind
from router.errors import InvalidPayload
from router.inbound.envelope import (
    Attachment,
    Automated,
    CustomerIdentity,
    InboundMessage,
    MessageKind,
)

# The standard library's email parsers raise more than their documented errors on hostile
# input (IndexError on `x@`, ValueError on bare line feeds); all of them mean "not parseable".
EMAIL_PARSE_ERRORS = (MessageError, ValueError, LookupError, TypeError, AttributeError)

# Message ids are used as dedupe keys (255 chars) and inside conversation keys (512 chars);
# a longer one (legal, if absurd) is replaced by its digest rather than refusing the email.
_MAX_ID = 200
_MAX_SUBJECT = 998
_MAX_DISPLAY_NAME = 200


@dataclass(frozen=True)
class Mailbox:
    """One address of an address header: the lower-cased addr-spec and its display name."""

    address: str
    display_name: str | None = None

    def named(self, display_name: str | None) -> Mailbox:
        """The same address under the display name a provider reports separately."""
        return Mailbox(self.address, _display_name(display_name) or self.display_name)


def _display_name(raw: str | None) -> str | None:
    return (raw or "").strip()[:_MAX_DISPLAY_NAME] or None


def unfold(raw: str) -> str:
    """A header value on one line: folding removed, stray control characters dropped."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", raw).strip()


def parse_mailboxes(raw: str | None) -> list[Mailbox]:
    """Every usable address in an address header (From, To, Cc), in order; [] if none."""
    if not raw:
        return []
    unfolded = unfold(raw)
    simple = _simple_mailboxes(unfolded)
    return simple if simple is not None else _parsed_mailboxes(unfolded)


def _parsed_mailboxes(unfolded: str) -> list[Mailbox]:
    """The standard library's RFC 5322 parser: every form, and slow (0.1 ms and more)."""
    try:
        header = policy.default.header_factory("to", unfolded)
        addresses = list(getattr(header, "addresses", ()))
    except EMAIL_PARSE_ERRORS:
        return []
    found: list[Mailbox] = []
    for address in addresses:
        if not address.username or not address.domain or " " in address.domain:
            continue
        found.append(Mailbox(address.addr_spec.lower(), _display_name(address.display_name)))
    return found


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+"
# What nearly every provider sends: `addr`, `<addr>`, `Name <addr>` or `"Name" <addr>`, with
# a plain ASCII name (words split by single spaces) and a dot-atom address.
_SIMPLE_MAILBOX = re.compile(
    rf"(?:(?P<name>[A-Za-z0-9'-]+(?: [A-Za-z0-9'-]+)*) ?|\"(?P<quoted>[A-Za-z0-9 .'-]*)\" ?)?"
    rf"<(?P<angle>{_ADDR_SPEC})>|(?P<bare>{_ADDR_SPEC})"
)


def _simple_mailboxes(unfolded: str) -> list[Mailbox] | None:
    """The header's mailboxes when every one has a simple form, else None (use the parser).

    Gives exactly what the standard parser gives for these forms (a property test holds the
    two together), at a hundredth of the cost.
    """
    found: list[Mailbox] = []
    for part in unfolded.split(","):
        match = _SIMPLE_MAILBOX.fullmatch(part.strip())
        if match is None:
            return None
        name = match["name"] if match["name"] is not None else match["quoted"]
        address = match["angle"] or match["bare"]
        found.append(Mailbox(address.lower(), _display_name(name)))
    return found


def parse_mailbox(raw: str | None, field_name: str) -> Mailbox:
    """The first address of a required header; InvalidPayload naming the field otherwise."""
    if raw is None or not raw.strip():
        raise InvalidPayload(f"{field_name}: missing", field=field_name)
    found = parse_mailboxes(raw)
    if not found:
        raise InvalidPayload(f"{field_name}: not an email address", field=field_name)
    return found[0]


def decode_header_text(raw: str | None) -> str | None:
    """An unstructured header (Subject) with RFC 2047 encoded words decoded."""
    if raw is None:
        return None
    text = unfold(raw)
    if "=?" not in text:  # no encoded word: the parser would give the text back as it is
        return text
    try:
        return str(policy.default.header_factory("subject", text))
    except EMAIL_PARSE_ERRORS:
        return text


def parse_date(raw: str | None) -> datetime | None:
    """A Date header as an aware UTC datetime; None when absent or unparseable."""
    if not raw:
        return None
    # Postmark writes the offset as "-04:00", which RFC 5322 parsers read as no offset.
    value = re.sub(r"([+-]\d\d):(\d\d)\s*$", r"\1\2", unfold(raw))
    try:
        parsed = parsedate_to_datetime(value)
        # A naive result means "-0000": the time is UTC with no claim about the sender's zone.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# --- threading -------------------------------------------------------------------------

# An id in brackets, or a bare token with an "@": mail programs copy the References of the
# message they answer, and some wrote them half bracketed and half bare.
_ID_TOKEN = re.compile(r"<([^<>\s]+)>|([^\s<>,;\"()]+@[^\s<>,;\"()]+)")
# Quoted phrases and comments (RFC 822's `Your message of "date" <id>`) hold no ids.
_PHRASE = re.compile(r'"[^"]*"|\([^()]*\)')


def _bounded(identifier: str) -> str:
    return identifier if len(identifier) <= _MAX_ID else "sha256:" + sha256(identifier.encode())


def normalise_message_id(raw: str | None) -> str | None:
    """`<ABC@host>` -> `abc@host`: no angle brackets, no whitespace, lower case.

    The canonical form of `router.outbound.email_thread`, which every stored id has.
    """
    ids = message_ids(raw)
    return ids[0] if ids else None


def message_ids(raw: str | None) -> list[str]:
    """The normalised ids of a Message-ID, In-Reply-To or References header, in order.

    Bracketed and bare ids (every Message-ID has an "@", which tells an id from the words of
    an old-style "Your message of" phrase) are read alike, in the order written.
    """
    if not raw:
        return []
    found = [angled or bare for angled, bare in _ID_TOKEN.findall(_PHRASE.sub(" ", raw))]
    return list(dict.fromkeys(_bounded(token.lower()) for token in found))


@dataclass(frozen=True)
class Threading:
    """Where an email sits in its thread: its own id and the ids it answers (normalised)."""

    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()

    @classmethod
    def from_headers(cls, lookup: Callable[[str], str | None]) -> Threading:
        """Read Message-ID, In-Reply-To and References through `lookup(header name)`."""
        return cls(
            message_id=normalise_message_id(lookup("Message-ID")),
            in_reply_to=tuple(message_ids(lookup("In-Reply-To"))),
            references=tuple(message_ids(lookup("References"))),
        )

    @property
    def root(self) -> str | None:
        """The thread's first message: References[0], else In-Reply-To, else this one."""
        for candidates in (self.references, self.in_reply_to):
            if candidates:
                return candidates[0]
        return self.message_id


# --- the envelope ------------------------------------------------------------------------


@dataclass
class ParsedEmail:
    """The facts of one inbound email, whichever provider parsed it.

    `sender` is None when no sender header holds a usable address (a mail system's bounce
    from `"" (Mail Delivery System)`); `sender_text` then keeps what From said.
    """

    sender: Mailbox | None
    recipient: str
    subject: str | None = None
    text: str = ""
    html: str = ""
    provider_stripped_text: str = ""
    thread: Threading = field(default_factory=Threading)
    date: datetime | None = None
    attachments: list[Attachment] = field(default_factory=list)
    # The bytes of attachment i, where the provider posted them (else None or absent).
    contents: list[bytes | None] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    sender_text: str | None = None
    automated: Automated | None = None
    delivery_error: str | None = None  # a bounce's reason


def recipient_address(candidates: Iterable[str | None], field_name: str) -> str:
    """Our receiving address: the first candidate (envelope first, then To) that parses."""
    for candidate in candidates:
        found = parse_mailboxes(candidate)
        if found:
            return found[0].address
    raise InvalidPayload(f"{field_name}: missing or not an email address", field=field_name)


def attachment(
    filename: str | None, content_type: str | None, size: int | None, url: str | None = None
) -> Attachment:
    """Attachment metadata as the provider describes it (its bytes are kept apart)."""
    return Attachment(
        filename=(filename or "").strip()[:255] or None,
        content_type=(content_type or "").strip()[:255] or "application/octet-stream",
        size=size if size is not None and size >= 0 else None,
        url=url if url and len(url) <= 2048 else None,
    )


def inbound_message(
    provider: str, email: ParsedEmail, *, provider_message_id: str | None = None
) -> InboundMessage:
    """The canonical envelope of an inbound email.

    The dedupe key is the provider's id when it has a stable one of its own, else the
    normalised Message-ID, else (no Message-ID at all) a digest of the email's facts, so a
    redelivery of the same email still maps to the same key. A sender without any usable
    address is known by that key, kept as given and marked `sender_identity: message-id`
    (not an address: nothing is ever sent to it).
    """
    text = email.text or (html_to_text(email.html) if email.html else "")
    stripped = email.provider_stripped_text.strip() or strip_quoted_reply(text)
    thread = email.thread
    dedupe_key = provider_message_id or thread.message_id or _digest_id(email, text)
    metadata = dict(email.metadata)
    if thread.message_id:
        metadata["message_id"] = thread.message_id
    if email.sender is not None:
        sender = email.sender
    else:
        sender = Mailbox(dedupe_key[:320], email.sender_text)
        metadata["sender_identity"] = "message-id"
    if email.delivery_error:
        metadata["delivery_error"] = email.delivery_error
    try:
        return InboundMessage(
            channel=Channel.EMAIL,
            provider=provider,
            provider_message_id=dedupe_key,
            conversation_key=f"email:{thread.root or dedupe_key}",
            customer=CustomerIdentity(
                kind=IdentityKind.EMAIL, value=sender.address, display_name=sender.display_name
            ),
            recipient=email.recipient,
            kind=MessageKind.MEDIA if email.attachments and not stripped else MessageKind.TEXT,
            subject=email.subject[:_MAX_SUBJECT] if email.subject else None,
            text=text,
            stripped_text=stripped,
            attachments=tuple(email.attachments),
            references=tuple(dict.fromkeys([*thread.references, *thread.in_reply_to])),
            provider_timestamp=email.date,
            metadata=metadata,
            automated=email.automated,
        )
    except ValidationError as error:
        raise invalid_payload(error) from None


def _digest_id(email: ParsedEmail, text: str) -> str:
    sender = email.sender.address if email.sender else (email.sender_text or "")
    facts = [sender, email.recipient, email.subject or "", text]
    facts.append(email.date.isoformat() if email.date else "")
    return "sha256:" + sha256("\x00".join(facts).encode())
