"""The shared email logic on its own: threading, reply stripping, addresses, the envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.channels.email.parsing import (
    Mailbox,
    ParsedEmail,
    Threading,
    _parsed_mailboxes,
    _simple_mailboxes,
    attachment,
    decode_header_text,
    html_to_text,
    inbound_message,
    message_ids,
    normalise_message_id,
    parse_date,
    parse_mailbox,
    parse_mailboxes,
    strip_quoted_reply,
    unfold,
)
from router.errors import InvalidPayload
from router.inbound.envelope import MessageKind

# --- threading ---------------------------------------------------------------------------


def _thread(message_id: str | None, in_reply_to: str | None, references: str | None) -> Threading:
    headers = {"Message-ID": message_id, "In-Reply-To": in_reply_to, "References": references}
    return Threading.from_headers(headers.get)


def test_the_root_is_the_first_reference() -> None:
    thread = _thread("<c@x>", "<b@x>", "<ROOT@Example.COM>\r\n <b@x>")
    assert thread.root == "root@example.com"
    assert thread.references == ("root@example.com", "b@x")


def test_without_references_the_root_is_in_reply_to() -> None:
    assert _thread("<c@x>", "<Parent@X>", None).root == "parent@x"


def test_a_new_email_is_its_own_root() -> None:
    assert _thread(" <New.Thread@Mail.Example> ", None, None).root == "new.thread@mail.example"


def test_no_ids_at_all_give_no_root() -> None:
    assert _thread(None, None, None).root is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<A@B>", ["a@b"]),
        ("<a@b> <c@d>", ["a@b", "c@d"]),
        ("<a@b>,<c@d>", ["a@b", "c@d"]),
        ("a@b c@d", ["a@b", "c@d"]),  # brackets forgotten
        ('Your message of "Mon, 1 Jan 2024" <a@b>', ["a@b"]),  # RFC 822 phrase
        ("Your message of Monday", []),
        ("", []),
        (None, []),
    ],
)
def test_message_ids_are_normalised(raw: str | None, expected: list[str]) -> None:
    assert message_ids(raw) == expected


def test_an_absurdly_long_id_is_replaced_by_its_digest() -> None:
    long_id = "<" + "x" * 400 + "@example.com>"
    normalised = normalise_message_id(long_id)
    assert normalised is not None
    assert normalised.startswith("sha256:")
    assert normalised == normalise_message_id(long_id.upper())


# --- quoted-reply stripping --------------------------------------------------------------

REPLY = "Thanks, that fixed it."


@pytest.mark.parametrize(
    "header",
    [
        "On Wed, Jul 27, 2016 at 1:00 PM, Example Store <orders@example.com> wrote:",
        "Am 27.07.2016 um 13:00 schrieb Example Store <orders@example.com>:",
        "Le mer. 27 juil. 2016 à 13:00, Example Store <orders@example.com> a écrit :",
        "El mié., 27 jul. 2016 a las 13:00, Example Store (<orders@example.com>) escribió:",
        "Il giorno mer 27 lug 2016 alle ore 13:00 Example Store <orders@example.com> ha scritto:",
        "Op wo 27 jul. 2016 om 13:00 schreef Example Store <orders@example.com>:",
        "Em qua., 27 de jul. de 2016 às 13:00, Example Store <orders@example.com> escreveu:",
        "Den ons 27 juli 2016 kl 13:00 skrev Example Store <orders@example.com>:",
        "W dniu 27.07.2016 o 13:00 Example Store <orders@example.com> napisał(a):",
        '27.07.2016, 13:00, "Example Store" <orders@example.com> пишет:',
    ],
)
def test_reply_headers_in_several_languages_cut_the_quote(header: str) -> None:
    text = f"{REPLY}\n\n{header}\n> Your order has shipped.\n> Regards\n"
    assert strip_quoted_reply(text) == REPLY


def test_a_reply_header_wrapped_over_two_lines_is_recognised() -> None:
    text = (
        f"{REPLY}\n\nOn Wed, Jul 27, 2016 at 1:00 PM, A Very Long Store Name <\n"
        "orders@example.com> wrote:\n\n> quoted\n"
    )
    assert strip_quoted_reply(text) == REPLY


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "----- Original Message -----",
        "-----Ursprüngliche Nachricht-----",
        "-------- Message d'origine --------",
    ],
)
def test_outlook_original_message_separators_cut_the_quote(separator: str) -> None:
    text = f"{REPLY}\r\n\r\n{separator}\r\nFrom: Store\r\nSent: Monday\r\n\r\nOld text\r\n"
    assert strip_quoted_reply(text) == REPLY


@pytest.mark.parametrize(
    "block",
    [
        "From: Example Store <orders@example.com>\nSent: Wednesday, July 27, 2016 1:00 PM\n"
        "To: Maria\nSubject: Your order",
        "*From:* Example Store\n*Sent:* Wednesday\n*To:* Maria",
        "Von: Example Store <orders@example.com>\nGesendet: Mittwoch, 27. Juli 2016\nAn: Maria",
        "De : Example Store\nEnvoyé : mercredi 27 juillet 2016\nÀ : Maria",
    ],
)
def test_outlook_header_blocks_cut_the_quote(block: str) -> None:
    text = f"{REPLY}\n\n________________________________\n{block}\n\nOld text"
    assert strip_quoted_reply(text) == REPLY


def test_a_lone_from_line_in_the_customers_words_is_kept() -> None:
    text = "From: the warehouse, I guess.\nIt never came."
    assert strip_quoted_reply(text) == text


def test_the_signature_delimiter_cuts_the_signature() -> None:
    assert strip_quoted_reply(f"{REPLY}\n\n-- \nMaria Lopez\nACME Corp\n") == REPLY


def test_inline_answers_between_quotes_are_kept() -> None:
    text = "> Did it arrive?\nNo.\n> Which address?\nThe new one.\n"
    assert strip_quoted_reply(text) == "No.\nThe new one."


def test_a_forwarded_message_is_kept_whole() -> None:
    text = (
        "Please see below.\n\n---------- Forwarded message ---------\n"
        "From: Store <orders@example.com>\nDate: Wed, Jul 27, 2016\nSubject: Order\n\nBody"
    )
    assert strip_quoted_reply(text) == text


def test_a_message_that_is_all_quote_is_kept_rather_than_emptied() -> None:
    text = "> only a quote\n> nothing else"
    assert strip_quoted_reply(text) == text


@given(st.text())
def test_stripping_never_fails_and_never_invents_lines(text: str) -> None:
    stripped = strip_quoted_reply(text)
    source = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    source_lines = {line.rstrip() for line in source} | {line.strip() for line in source}
    assert all(line in source_lines for line in stripped.split("\n") if line)


def test_a_self_closing_break_is_one_line_break() -> None:
    assert html_to_text("Order #4521<br/>Maria") == "Order #4521\nMaria"


def test_html_only_bodies_become_readable_text() -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body><p>It still&nbsp;hasn't"
        " arrived.</p><div>Order #4521<br>Maria</div><script>x()</script></body></html>"
    )
    assert html_to_text(html) == "It still hasn't arrived.\n\nOrder #4521\nMaria"


# --- addresses and dates -----------------------------------------------------------------


def test_addresses_are_lower_cased_with_their_display_names() -> None:
    assert parse_mailboxes('"Lopez, Maria" <Maria@Example.NET>, ops@example.com') == [
        Mailbox("maria@example.net", "Lopez, Maria"),
        Mailbox("ops@example.com", None),
    ]


def test_encoded_display_names_are_decoded() -> None:
    assert parse_mailbox("=?UTF-8?B?TWFyw61h?= <m@example.net>", "from") == Mailbox(
        "m@example.net", "María"
    )


def test_a_folded_header_value_is_unfolded() -> None:
    assert parse_mailbox("Maria Lopez\r\n <maria@example.net>", "from").address == (
        "maria@example.net"
    )


@pytest.mark.parametrize("raw", ["not an address", "x@", '"', "<>", "@@@", "Undisclosed:;"])
def test_unusable_addresses_are_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidPayload, match=r"^from: not an email address$"):
        parse_mailbox(raw, "from")


def test_a_missing_address_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidPayload, match=r"^FromFull\.Email: missing$"):
        parse_mailbox("  ", "FromFull.Email")


@given(st.text())
def test_address_parsing_never_raises(raw: str) -> None:
    for mailbox in parse_mailboxes(raw):
        assert "@" in mailbox.address
        assert mailbox.address == mailbox.address.lower()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Wed, 27 Jul 2016 13:53:02 -0700", datetime(2016, 7, 27, 20, 53, 2, tzinfo=UTC)),
        ("Fri, 1 Aug 2014 16:45:32 -04:00", datetime(2014, 8, 1, 20, 45, 32, tzinfo=UTC)),
        ("Wed, 27 Jul 2016 13:53:02 -0000", datetime(2016, 7, 27, 13, 53, 2, tzinfo=UTC)),
        ("yesterday", None),
        ("Fri, 31 Dec 9999 23:59:59 -1200", None),  # beyond datetime's range in UTC
        (None, None),
    ],
)
def test_dates_become_aware_utc(raw: str | None, expected: datetime | None) -> None:
    assert parse_date(raw) == expected


# --- the envelope ------------------------------------------------------------------------


def _email(**changes: object) -> ParsedEmail:
    email = ParsedEmail(
        sender=Mailbox("maria@example.net", "Maria"),
        recipient="support@example.com",
        subject="Order",
        text="Where is it?",
        thread=_thread("<m1@x>", None, None),
    )
    for name, value in changes.items():
        setattr(email, name, value)
    return email


def test_the_envelope_carries_the_threading_and_the_stripped_text() -> None:
    email = _email(
        text="No.\n\nOn Monday, Store <s@x> wrote:\n> Did it arrive?",
        thread=_thread("<M2@X>", "<m1@x>", "<m0@x> <m1@x>"),
    )
    message = inbound_message("sendgrid", email)
    assert message.provider_message_id == "m2@x"
    assert message.conversation_key == "email:m0@x"
    assert message.references == ("m0@x", "m1@x")
    assert message.stripped_text == "No."
    assert message.metadata["message_id"] == "m2@x"
    assert message.kind is MessageKind.TEXT


def test_the_providers_own_stripped_text_wins() -> None:
    message = inbound_message("mailgun", _email(provider_stripped_text="Their version"))
    assert message.stripped_text == "Their version"


def test_html_stands_in_for_a_missing_text_body() -> None:
    message = inbound_message("sendgrid", _email(text="", html="<p>Hello <b>there</b></p>"))
    assert message.text == message.stripped_text == "Hello there"


def test_an_email_of_only_attachments_is_media() -> None:
    files = [attachment("scan.pdf", "application/pdf", 1234)]
    message = inbound_message("sendgrid", _email(text="", attachments=files))
    assert message.kind is MessageKind.MEDIA
    described = {"filename", "content_type", "size", "url"}
    assert message.attachments[0].model_dump(include=described) == {
        "filename": "scan.pdf",
        "content_type": "application/pdf",
        "size": 1234,
        "url": None,
    }


def test_without_a_message_id_the_dedupe_key_is_a_stable_digest() -> None:
    first = inbound_message("sendgrid", _email(thread=Threading()))
    again = inbound_message("sendgrid", _email(thread=Threading()))
    other = inbound_message("sendgrid", _email(thread=Threading(), text="Something else"))
    assert first.provider_message_id.startswith("sha256:")
    assert first.provider_message_id == again.provider_message_id
    assert first.provider_message_id != other.provider_message_id
    assert first.conversation_key == f"email:{first.provider_message_id}"


def test_an_overlong_subject_is_cut_not_refused() -> None:
    assert len(inbound_message("postmark", _email(subject="x" * 5000)).subject or "") == 998


_ATEXT = "abcxyzABCXYZ0189!#$%&'*+/=?^_`{|}~-"
_atoms = st.text(_ATEXT, min_size=1, max_size=8)
_labels = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?", fullmatch=True)
_addr_specs = st.builds(
    lambda local, labels: ".".join(local) + "@" + ".".join(labels),
    st.lists(_atoms, min_size=1, max_size=3),
    st.lists(_labels, min_size=2, max_size=3),
)
_names = st.lists(st.text("AdaLovc019'-", min_size=1, max_size=8), min_size=1, max_size=3)
_mailboxes = st.one_of(
    _addr_specs,
    _addr_specs.map(lambda a: f"<{a}>"),
    st.builds(lambda n, a: f"{' '.join(n)} <{a}>", _names, _addr_specs),
    st.builds(lambda n, a: f"{' '.join(n)}<{a}>", _names, _addr_specs),
    st.builds(lambda n, a: f'"{" ".join(n)}." <{a}>', _names, _addr_specs),
)


@given(st.lists(_mailboxes, min_size=1, max_size=3).map(", ".join))
def test_simple_address_headers_read_exactly_as_the_standard_parser_reads_them(
    header: str,
) -> None:
    assert _simple_mailboxes(header) == _parsed_mailboxes(header)


@pytest.mark.parametrize(
    "header",
    [
        '"Lovelace, Ada" <ada@example.com>',
        "=?utf-8?q?Ad=C3=A1?= <ada@example.com>",
        "Ada (the first) <ada@example.com>",
        "Ada  Lovelace <ada@example.com>",
        "ada@example.com,",
    ],
)
def test_other_address_headers_go_to_the_standard_parser(header: str) -> None:
    assert _simple_mailboxes(header) is None


@given(st.text(max_size=60).filter(lambda text: "=?" not in text))
def test_a_subject_without_encoded_words_reads_as_the_standard_parser_reads_it(
    text: str,
) -> None:
    unfolded = unfold(text)
    assert decode_header_text(text) == str(policy.default.header_factory("subject", unfolded))
