"""The envelope's text is always storable: no NUL, and it encodes to UTF-8."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.channels import Channel, IdentityKind
from router.inbound.envelope import (
    REPLACED_METADATA_KEY,
    Attachment,
    CustomerIdentity,
    DeliveryStatus,
    DeliveryUpdate,
    InboundMessage,
    decode,
    encode,
    storable,
)
from router.inbound.storable import (
    NUL_REFUSED,
    SURROGATE_REFUSED,
    storable_text,
    unstorable,
)

# Every code point, lone surrogates and NUL included: what a JSON `\ud800` escape can give
# the fields without a length limit (text, references, metadata).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()))
# Fields with a length limit: pydantic's limits already refuse lone surrogates, not NUL.
SHORT = st.text(st.characters(codec=None, exclude_categories=("Cs",)), min_size=1, max_size=40)


def _is_storable(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(ANY_TEXT)
def test_storable_text_is_always_storable_and_keeps_its_length(value: str) -> None:
    cleaned = storable_text(value)
    assert _is_storable(cleaned)
    assert len(cleaned) == len(value)
    assert all(new == old or new == "\ufffd" for new, old in zip(cleaned, value, strict=True))
    assert (unstorable(value) is None) == (cleaned is value)


@given(st.text())
def test_storable_text_returns_clean_text_as_itself(value: str) -> None:
    clean = value.replace("\x00", "")
    if _is_storable(clean):
        assert storable_text(clean) is clean


def test_the_reasons_name_nul_and_lone_surrogates() -> None:
    assert unstorable("a\x00b") == NUL_REFUSED
    assert unstorable("\ud800x") == SURROGATE_REFUSED
    assert unstorable("paired \U0001f600 é") is None
    assert storable_text("a\x00b\udfffc") == "a\ufffdb\ufffdc"


def _message(text: str, name: str, filename: str, key: str, value: str) -> InboundMessage:
    return InboundMessage(
        channel=Channel.CHAT,
        provider="webchat",
        provider_message_id="evt-1",
        conversation_key="chat:shop|s1",
        customer=CustomerIdentity(kind=IdentityKind.WEBCHAT, value="visitor", display_name=name),
        recipient="shop",
        subject=name,
        text=text,
        stripped_text=text,
        attachments=(Attachment(filename=filename),),
        references=(name, text),
        metadata={f"x-{key}": value, "session_id": "s1"},
    )


@given(ANY_TEXT, SHORT, SHORT, SHORT, ANY_TEXT)
def test_every_text_field_of_a_message_is_made_storable_and_noted(
    text: str, name: str, filename: str, key: str, value: str
) -> None:
    message = _message(text, name, filename, key, value)
    cleaned = storable(message)
    wire = encode(message)
    assert b"\\u0000" not in wire
    wire.decode("utf-8")  # strict: no surrogate escaped its way through
    assert decode(wire) == cleaned
    assert isinstance(cleaned, InboundMessage)
    fields = [text, text, name, name, filename, key, value, name]
    if all(_is_storable(field) for field in fields):
        assert cleaned is message
        assert REPLACED_METADATA_KEY not in cleaned.metadata
        return
    noted = cleaned.metadata[REPLACED_METADATA_KEY].split(",")
    if not _is_storable(text):
        assert {"text", "stripped_text"} <= set(noted)
        assert cleaned.text == storable_text(text)
    if not _is_storable(name):
        assert {"customer.display_name", "subject", "references[0]"} <= set(noted)
    if not _is_storable(filename):
        assert "attachments[0].filename" in noted
        assert cleaned.attachments[0].filename == storable_text(filename)
    assert cleaned.metadata[storable_text(f"x-{key}")] == storable_text(value)


def test_a_delivery_update_is_made_storable_too() -> None:
    update = DeliveryUpdate(
        channel=Channel.SMS,
        provider="twilio",
        provider_message_id="SM\x001",
        conversation_key="sms:+1|+2",
        status=DeliveryStatus.FAILED,
        error="30003: \x00 unreachable",
    )
    cleaned = decode(encode(update))
    assert isinstance(cleaned, DeliveryUpdate)
    assert cleaned.provider_message_id == "SM\ufffd1"
    assert cleaned.error == "30003: \ufffd unreachable"
    # However a surrogate got past validation, it cannot stop the event being written.
    forged = update.model_copy(update={"error": "\ud800"})
    read = decode(encode(forged))
    assert isinstance(read, DeliveryUpdate)
    assert read.error == "\ufffd"


def test_a_record_with_a_nul_from_an_older_producer_is_made_storable_when_read() -> None:
    message = _message("plain", "Ada", "a.txt", "k", "v")
    wire = encode(message).replace(b'"text":"plain"', b'"text":"pl\\u0000in"')
    read = decode(wire)
    assert isinstance(read, InboundMessage)
    assert read.text == "pl\ufffdin"
    assert read.metadata[REPLACED_METADATA_KEY] == "text"


def test_a_clean_message_is_encoded_as_it_always_was() -> None:
    message = _message("hello \\u0000 is only text", "Ada", "a.txt", "k", "v")
    assert storable(message) is message
    assert decode(encode(message)) == message
