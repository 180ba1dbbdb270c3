"""Telling the emails no person wrote from the ones a person did, header by header."""

from __future__ import annotations

import pytest

from adapters.channels.email.automated import (
    automated_kind,
    described_sender,
    report_type,
    returned_message,
)
from router.inbound.envelope import Automated


def _kind(
    headers: dict[str, str],
    envelope_sender: str | None = "maria@example.net",
    parts: tuple[str, ...] = (),
) -> Automated | None:
    lowered = {name.lower(): value for name, value in headers.items()}
    return automated_kind(
        lambda name: lowered.get(name.lower()), envelope_sender=envelope_sender, part_types=parts
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Auto-Submitted": "no"}, None),
        ({"Auto-Submitted": "No ; comment"}, None),
        ({"Auto-Submitted": "auto-replied"}, Automated.AUTO_REPLY),
        ({"Auto-Submitted": "auto-generated"}, Automated.AUTO_REPLY),
        ({"Auto-Submitted": "auto-notified; owner-email=x@y.example"}, Automated.AUTO_REPLY),
        ({"X-Autoreply": "yes"}, Automated.AUTO_REPLY),
        ({"X-Autoreply": "no"}, None),
        ({"X-Autorespond": "Out of office"}, Automated.AUTO_REPLY),
        ({"Precedence": "bulk"}, Automated.AUTO_REPLY),
        ({"Precedence": "List"}, Automated.AUTO_REPLY),
        ({"Precedence": "first-class"}, None),
        ({"X-Auto-Response-Suppress": "DR, OOF"}, Automated.AUTO_REPLY),
        ({"X-Auto-Response-Suppress": "DR, RN, NRN"}, None),
        (
            {"X-MS-Exchange-Generated-Message-Source": "Out of Office Assistant"},
            Automated.AUTO_REPLY,
        ),
        ({"X-MS-Exchange-Generated-Message-Source": "Mailbox Rules Agent"}, None),
        (
            {"Content-Type": "multipart/report; report-type=disposition-notification"},
            Automated.AUTO_REPLY,
        ),
        (
            {"Content-Type": 'multipart/report; report-type="delivery-status"; boundary=b'},
            Automated.BOUNCE,
        ),
    ],
)
def test_headers_mark_automatic_messages(
    headers: dict[str, str], expected: Automated | None
) -> None:
    assert _kind(headers) is expected


def test_a_daemon_is_a_bounce_only_with_a_report_part() -> None:
    daemon = {"From": "MAILER-DAEMON@mx.example.net"}
    assert _kind(daemon) is None
    assert _kind(daemon, parts=("text/plain", "message/delivery-status")) is Automated.BOUNCE
    assert _kind({"From": "postmaster@x.example"}, parts=("message/rfc822",)) is Automated.BOUNCE


def test_a_null_envelope_sender_is_never_answered() -> None:
    assert _kind({}, envelope_sender="<>") is Automated.AUTO_REPLY
    assert _kind({}, envelope_sender="<>", parts=("text/rfc822-headers",)) is Automated.BOUNCE
    assert _kind({}, envelope_sender=None) is None  # unknown is not null


def test_the_report_type_is_read_from_the_content_type() -> None:
    assert report_type("multipart/mixed") is None
    assert report_type("Multipart/Report; Report-Type=Delivery-Status") == "delivery-status"
    assert report_type("multipart/report") == ""


def test_the_returned_message_is_found_in_its_headers_or_quoted_in_the_text() -> None:
    headers = "Message-ID: <A1@shop.example>\nReferences: <q1@x.example> <q2@x.example>\n"
    returned = returned_message([headers], ["Status: 5.1.1\nDiagnostic-Code: smtp; 550 no"], "")
    assert returned.thread.message_id == "a1@shop.example"
    assert returned.thread.references == ("q1@x.example", "q2@x.example")
    assert returned.error == "5.1.1 smtp; 550 no"

    quoted = returned_message([], [], "Sorry.\n\n  Message-ID: <B2@shop.example>\n")
    assert quoted.thread.message_id == "b2@shop.example"
    assert quoted.error == "Sorry."


def test_a_from_without_address_still_names_its_sender() -> None:
    assert described_sender('"" (Mail Delivery System)') == "Mail Delivery System"
    assert described_sender("<>") is None
