"""Form bodies and whole MIME messages as the email providers post them."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.channels.email.mime import email_from_message, parse_form, parse_message
from adapters.channels.email.parsing import Mailbox
from router.errors import InvalidPayload
from tests.adapters.email_requests import FilePart, multipart


def test_a_multipart_form_keeps_fields_and_only_measures_files() -> None:
    body, content_type = multipart(
        [("text", "héllo"), ("text", "second value ignored")],
        [FilePart("attachment1", "a.pdf", "application/pdf", b"%PDF" + b"\x00" * 996)],
    )
    form = parse_form(body, content_type)
    assert form.text("text") == "héllo"
    [file] = form.files
    assert (file.field, file.filename, file.content_type, file.size) == (
        "attachment1",
        "a.pdf",
        "application/pdf",
        1000,
    )


def test_a_field_is_decoded_with_its_declared_charset() -> None:
    body, content_type = multipart([("text", "café".encode("iso-8859-1"))])
    form = parse_form(body, content_type)
    assert form.text("text", "iso-8859-1") == "café"
    assert form.text("text", "no-such-charset") == "caf\ufffd"


def test_a_filename_star_parameter_still_marks_a_file() -> None:
    body = (
        b"--b\r\nContent-Disposition: form-data; name=\"attachment1\"; filename*=UTF-8''caf%C3%A9"
        b"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--b--\r\n"
    )
    form = parse_form(body, "multipart/form-data; boundary=b")
    assert form.fields == {}
    assert [(f.field, f.size) for f in form.files] == [("attachment1", 3)]


def test_parts_read_the_same_every_time_whatever_their_file_names() -> None:
    long_name = "x" * 400 + ".pdf"
    body, content_type = multipart(
        [("text", "hi")],
        [
            FilePart("attachment1", "a.pdf", "application/pdf", b"1234"),
            FilePart("attachment2", long_name, "application/pdf", b"12"),
        ],
    )
    for _ in range(3):
        form = parse_form(body, content_type)
        assert form.fields == {"text": b"hi"}
        assert [(f.field, f.filename, f.size) for f in form.files] == [
            ("attachment1", "a.pdf", 4),
            ("attachment2", long_name, 2),
        ]


def test_a_truncated_multipart_body_is_refused() -> None:
    body, content_type = multipart([("from", "a@b.c"), ("text", "hello")])
    with pytest.raises(InvalidPayload, match="truncated"):
        parse_form(body[:-12], content_type)


def test_a_multipart_body_without_boundary_is_refused() -> None:
    with pytest.raises(InvalidPayload, match="boundary"):
        parse_form(b"--x--\r\n", "multipart/form-data")


def test_an_urlencoded_form_keeps_exact_bytes_per_field() -> None:
    form = parse_form(
        b"subject=Caf%C3%A9&empty=&subject=twice", "application/x-www-form-urlencoded"
    )
    assert form.text("subject") == "Café"
    assert form.text("empty") == ""


@given(st.binary(max_size=600), st.sampled_from(["b", "xYzZY", ""]))
def test_form_parsing_refuses_garbage_only_with_invalid_payload(body: bytes, boundary: str) -> None:
    for content_type in (
        f"multipart/form-data; boundary={boundary}",
        "application/x-www-form-urlencoded",
    ):
        refusal: InvalidPayload | None = None
        try:
            form = parse_form(body, content_type)
        except InvalidPayload as error:
            refusal = error
        if refusal is not None:
            assert str(refusal).startswith(("body:", "content-type:"))
        else:
            assert all(isinstance(value, bytes) for value in form.fields.values())
            assert all(file.size >= 0 for file in form.files)


def _mime_with_attachments() -> bytes:
    message = EmailMessage()
    message["From"] = "Maria Lopez <Maria@Example.net>"
    message["To"] = "support@parse.example.com"
    message["Subject"] = "=?utf-8?q?Caf=C3=A9?="
    message["Message-ID"] = "<Raw-1@mail.example.net>"
    message.set_content("See attached.\n\n-- \nMaria")
    message.add_alternative("<p>See attached.</p>", subtype="html")
    message.add_attachment(
        b"\x89PNG" + bytes(96), maintype="image", subtype="png", filename="photo.png"
    )
    forwarded = EmailMessage()
    forwarded["Subject"] = "old"
    forwarded.set_content("old text")
    message.add_attachment(forwarded)
    return message.as_bytes()


def test_a_whole_mime_message_gives_bodies_and_attachment_metadata() -> None:
    email = email_from_message(parse_message(_mime_with_attachments()), "email", [None])
    assert email.sender == Mailbox("maria@example.net", "Maria Lopez")
    assert email.recipient == "support@parse.example.com"
    assert email.subject == "Café"
    assert email.text.startswith("See attached.")
    assert email.html.startswith("<p>See attached.</p>")
    assert [(a.filename, a.content_type, a.size) for a in email.attachments] == [
        ("photo.png", "image/png", 100),
        (None, "message/rfc822", None),
    ]
    assert email.thread.message_id == "raw-1@mail.example.net"


def test_an_unknown_charset_in_a_mime_body_falls_back_to_utf8() -> None:
    raw = (
        b"From: a@b.example\r\nTo: s@x.example\r\nContent-Type: text/plain; charset=bogus\r\n"
        b"\r\nhello \xc3\xa9\r\n"
    )
    assert email_from_message(parse_message(raw), "email", []).text == "hello é\r\n"
