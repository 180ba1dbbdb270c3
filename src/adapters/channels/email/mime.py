"""The two kinds of MIME the email providers post: form bodies and whole messages.

A form body is parsed from the bytes the handler already read (within the email size limit)
with python-multipart's streaming parser, so nothing re-reads or buffers the request again;
file parts are kept as slices of those bytes. A whole RFC 5322 message (SendGrid "raw" mode,
Mailgun `body-mime`) is parsed with the standard library's `email` package.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from typing import cast
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from adapters.channels.email.automated import (
    REPORT_PART_TYPES,
    described_sender,
    mark_automated,
    media_type,
    sender_of,
)
from adapters.channels.email.parsing import (
    EMAIL_PARSE_ERRORS,
    ParsedEmail,
    Threading,
    attachment,
    decode_header_text,
    parse_date,
    recipient_address,
)
from router.errors import InvalidPayload
from router.inbound.envelope import Attachment


@dataclass(frozen=True)
class FormFile:
    """A file part of a form: its metadata, its size and its bytes."""

    field: str
    filename: str | None
    content_type: str | None
    size: int
    # Kept only for the small parts of a bounce that say what it returns and why.
    content: bytes | None = None
    data: bytes = b""


@dataclass
class FormData:
    """The fields (raw bytes, first occurrence wins) and the files of a posted form."""

    fields: dict[str, bytes] = field(default_factory=dict)
    files: list[FormFile] = field(default_factory=list)

    def text(self, name: str, charset: str = "utf-8") -> str | None:
        """A field decoded with the charset the provider declared for it (UTF-8 if unknown)."""
        raw = self.fields.get(name)
        if raw is None:
            return None
        try:
            return raw.decode(charset, errors="replace")
        except LookupError:
            return raw.decode("utf-8", errors="replace")

    def json(self, name: str) -> object:
        """A field holding JSON (SendGrid `envelope`, Mailgun `message-headers`), or None."""
        raw = self.fields.get(name)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidPayload(f"{name}: not valid JSON", field=name) from None


def parse_form(body: bytes, content_type: str) -> FormData:
    """A multipart/form-data or application/x-www-form-urlencoded body, already read."""
    media = media_type(content_type)
    if media == "multipart/form-data":
        return _multipart(body, content_type)
    form = FormData()
    # Latin-1 maps bytes to code points one to one, so the percent-decoded values come back
    # as their exact bytes and each field is decoded later with its own charset.
    for name, value in parse_qsl(
        body.decode("latin-1"), keep_blank_values=True, encoding="latin-1"
    ):
        form.fields.setdefault(name, value.encode("latin-1"))
    return form


class _Part:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.name: str | None = None
        self.filename: str | None = None
        self.is_file = False
        self.keep = False
        self.chunks: list[bytes] = []
        self.size = 0


# RFC 7578 forbids `filename*=`, but mail systems send it; it still marks a file.
_EXTENDED_FILENAME = re.compile(r";\s*filename\*")
# A provider posts the same few fields every time (`form-data; name="text"`): their
# Content-Disposition is parsed once. Long ones (odd file names) are parsed each time.
_MOST_CACHED_DISPOSITION = 256


def _disposition(raw: bytes) -> tuple[str | None, str | None, bool]:
    """(field name, file name, whether it is a file) of a part's Content-Disposition."""
    disposition = raw.decode("latin-1")
    _, options = parse_options_header(disposition)
    name, filename = options.get(b"name"), options.get(b"filename")
    return (
        name.decode("utf-8", errors="replace") if name is not None else None,
        filename.decode("utf-8", errors="replace") if filename else None,
        filename is not None or bool(_EXTENDED_FILENAME.search(disposition)),
    )


_known_disposition = functools.lru_cache(maxsize=1024)(_disposition)

# A delivery status or the returned headers are a few kilobytes; a returned whole message
# may be big, and only its headers (at its start) are read.
_MAX_REPORT_PART = 64 * 1024


def _multipart(body: bytes, content_type: str) -> FormData:
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidPayload(
            "content-type: the multipart boundary is missing", field="content-type"
        )
    form = FormData()
    part = _Part()
    ended = False

    def on_part_begin() -> None:
        nonlocal part
        part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value += data[start:end]

    def on_header_end() -> None:
        part.headers[part.header_field.strip().lower()] = part.header_value.strip()
        part.header_field = part.header_value = b""

    def on_headers_finished() -> None:
        disposition = part.headers.get(b"content-disposition", b"")
        if len(disposition) <= _MOST_CACHED_DISPOSITION:
            part.name, part.filename, part.is_file = _known_disposition(disposition)
        else:
            part.name, part.filename, part.is_file = _disposition(disposition)
        kind = part.headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        part.keep = not part.is_file or kind.decode("latin-1") in REPORT_PART_TYPES

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part.is_file or part.keep:
            part.chunks.append(data[start:end])
        part.size += end - start

    def on_part_end() -> None:
        if part.name is None:
            return
        if part.is_file:
            kind = part.headers.get(b"content-type")
            data = b"".join(part.chunks)
            form.files.append(
                FormFile(
                    part.name,
                    part.filename,
                    kind.decode("latin-1") if kind else None,
                    part.size,
                    data[:_MAX_REPORT_PART] if part.keep else None,
                    data,
                )
            )
        else:
            form.fields.setdefault(part.name, b"".join(part.chunks))

    def on_end() -> None:
        nonlocal ended
        ended = True

    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
                "on_end": on_end,
            },
        )
        parser.write(body)
        parser.finalize()
    except FormParserError as error:
        raise InvalidPayload(f"body: not a valid multipart body ({error})", field="body") from None
    if not ended:
        # python-multipart's finalize() does not check completeness; a missing closing
        # boundary is how a truncated upload shows.
        raise InvalidPayload("body: the multipart body is truncated", field="body")
    return form


# --- whole messages ----------------------------------------------------------------------


def parse_message(raw: bytes) -> EmailMessage:
    """A whole RFC 5322 message, parsed leniently (defects are recorded, not raised)."""
    try:
        return BytesParser(policy=policy.default).parsebytes(raw)
    except (*EMAIL_PARSE_ERRORS, RecursionError):
        raise InvalidPayload("body: the MIME message cannot be parsed", field="body") from None


def parse_header_block(text: str) -> Message:
    """A block of raw header lines (SendGrid's `headers` field) as a message without body."""
    try:
        return HeaderParser(policy=policy.default).parsestr(text, headersonly=True)
    except EMAIL_PARSE_ERRORS:
        raise InvalidPayload("headers: cannot be parsed", field="headers") from None


def header(message: Message, name: str) -> str | None:
    """A header's first raw value (case-insensitive) without the header registry's parsing.

    The raw value is what the threading and address helpers expect, and it cannot raise on
    malformed input the way the registry's structured parsing can.
    """
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return str(value)
    return None


def email_from_message(
    message: EmailMessage,
    source: str,
    recipients: Sequence[str | None],
    envelope_sender: str | None = None,
) -> ParsedEmail:
    """The facts of a whole MIME message; `recipients` are the envelope's, tried first."""
    plain = _body(message, "plain")
    html = _body(message, "html")

    def lookup(name: str) -> str | None:
        return header(message, name)

    leaves = list(_leaves(message))
    files = _attachments(leaves, skip={id(part) for part in (plain, html) if part})
    email = ParsedEmail(
        sender=sender_of(lookup, envelope_sender=envelope_sender),
        sender_text=described_sender(lookup("From")),
        recipient=recipient_address([*recipients, lookup("To")], f"{source}.To"),
        subject=decode_header_text(lookup("Subject")),
        text=_text(plain),
        html=_text(html),
        date=parse_date(lookup("Date")),
        attachments=[found for found, _ in files],
        contents=[content for _, content in files],
        thread=Threading.from_headers(lookup),
    )
    parts = [(part.get_content_type(), part) for part in leaves]
    return mark_automated(email, lookup, envelope_sender, parts, _part_text, email.text)


def form_automation(
    email: ParsedEmail,
    form: FormData,
    lookup: Callable[[str], str | None],
    envelope_sender: str | None,
) -> ParsedEmail:
    """Mark a parsed-mode post (fields, files) that no person wrote; read a bounce's parts."""
    parts = [(media_type(file.content_type), file.content or b"") for file in form.files]
    return mark_automated(email, lookup, envelope_sender, parts, _decoded, email.text or email.html)


def _decoded(content: bytes) -> str:
    return content.decode("utf-8", errors="replace")


def _part_text(part: EmailMessage) -> str:
    """A report part as text: a returned message's (or a status's) header lines, or its body."""
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        blocks = inner if isinstance(inner, list) else [inner]
        return "\n\n".join(
            "".join(f"{key}: {value}\n" for key, value in block.raw_items())
            for block in blocks
            if isinstance(block, Message)
        )
    return _text(part)


def _body(message: EmailMessage, subtype: str) -> EmailMessage | None:
    try:
        return cast(EmailMessage | None, message.get_body(preferencelist=(subtype,)))
    except EMAIL_PARSE_ERRORS:
        return None


def _text(part: EmailMessage | None) -> str:
    if part is None:
        return ""
    try:
        content = part.get_content()
    except EMAIL_PARSE_ERRORS:
        # An unknown charset: the bytes are most likely UTF-8 or ASCII anyway.
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _leaves(message: EmailMessage) -> Iterator[EmailMessage]:
    # Iterative on purpose: a hostile message may nest parts far deeper than the stack.
    stack = [message]
    while stack:
        part = stack.pop()
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            stack.extend(reversed(list(part.iter_parts())))  # type: ignore[arg-type]
        else:
            yield part


def _attachments(
    leaves: list[EmailMessage], skip: set[int]
) -> list[tuple[Attachment, bytes | None]]:
    """The file parts, each with its decoded bytes (None for an attached message)."""
    found: list[tuple[Attachment, bytes | None]] = []
    for part in leaves:
        if id(part) in skip:
            continue
        try:
            filename = part.get_filename()
            disposition = part.get_content_disposition()
        except EMAIL_PARSE_ERRORS:
            filename, disposition = None, None
        content_type = part.get_content_type()
        if (
            content_type in ("text/plain", "text/html")
            and not filename
            and (disposition != "attachment")
        ):
            continue  # an alternative or extra body part, not a file
        content: bytes | None = None
        if part.get_content_maintype() != "message":
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else None
        size = len(content) if content is not None else None
        found.append((attachment(filename, content_type, size), content))
    return found
