"""Phone numbers to E.164, and senders kept as the provider gave them when not a number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.channels.phone import contact_number, to_e164
from router.channels import IdentityKind


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+14155550199", None, "+14155550199"),
        ("+1 (415) 555-0199", None, "+14155550199"),
        ("  +1-415-555-0199 ", None, "+14155550199"),
        ("tel:+1-415-555-0199", None, "+14155550199"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("00 44 20 7946 0958", "DE", "+442079460958"),
        ("(415) 555-0199", "US", "+14155550199"),
        ("+44 7911 123456", "US", "+447911123456"),
        # Meta's test numbers sit in a range the metadata calls unassigned; still a number.
        ("+15550783881", None, "+15550783881"),
    ],
)
def test_numbers_become_e164(raw: str, region: str | None, expected: str) -> None:
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("", None),
        ("   ", None),
        ("anonymous", None),
        ("Restricted", None),
        ("4155550199", None),  # national without a region to read it in
        ("+1415555019", None),  # one digit short
        ("+1415555019999999", None),  # far too long
        ("+266696687", None),  # Twilio's stand-in for a withheld caller ID
        ("12", "US"),
        ("+" + "1" * 100, None),
        ("whatsapp:+14155550199", None),
        ("client:alice", None),
        ("sip:+14155550199@sip.example.com", None),
        ("+14155550199 ext. 5", None),
        ("1-800-FLOWERS", "US"),
    ],
)
def test_what_is_not_a_number_is_refused(raw: str, region: str | None) -> None:
    with pytest.raises(ValueError, match="phone number"):
        to_e164(raw, region)


@given(st.text(max_size=80), st.sampled_from([None, "US", "GB", "DE", "XX"]))
def test_any_text_gives_e164_or_value_error(raw: str, region: str | None) -> None:
    try:
        number = to_e164(raw, region)
    except ValueError:
        return
    assert number.startswith("+")
    assert number[1:].isdigit()
    assert to_e164(number) == number


def test_a_refused_number_is_refused_every_time_and_an_answer_stays_the_same() -> None:
    for _ in range(3):
        with pytest.raises(ValueError, match="phone number"):
            to_e164("+1415555019")
        assert to_e164("+1 (415) 555-0199") == "+14155550199"
        assert to_e164("(415) 555-0199", "US") == "+14155550199"
        with pytest.raises(ValueError, match="phone number"):
            to_e164("(415) 555-0199")  # the same text without a region is not a number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155550199", "+14155550199"),  # US
        ("+1 (604) 555-0123", "+16045550123"),  # Canada
        ("+44 7911 123456", "+447911123456"),  # UK mobile
        ("+91 98765 43210", "+919876543210"),  # India
        ("+49 151 23456789", "+4915123456789"),  # Germany
        ("+234 803 123 4567", "+2348031234567"),  # Nigeria
        ("+62 812 3456 7890", "+6281234567890"),  # Indonesia
        ("+52 55 1234 5678", "+525512345678"),  # Mexico, today's form
        ("+54 9 11 2345 6789", "+5491123456789"),  # Argentina mobile, international form
        ("+54 11 2345 6789", "+541123456789"),  # Argentina, the form without the 9
        ("+55 11 98765 4321", "+5511987654321"),  # Brazil mobile with the ninth digit
        ("+55 11 8765 4321", "+551187654321"),  # Brazil, the old form without it
    ],
)
def test_a_number_the_plan_places_is_normalised_to_e164(raw: str, expected: str) -> None:
    number = contact_number(raw)
    assert (number.value, number.raw, number.normalised) == (expected, raw, True)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("+5215512345678", "+5215512345678"),  # Mexico's old mobile form, as WhatsApp sends it
        ("12345", "12345"),  # a short code
        ("+12345", "+12345"),
        ("MyBank", "MyBank"),  # alphanumeric sender ids
        (" VERIFY ", "VERIFY"),
        ("+44123", "+44123"),  # impossible for its country
        ("client:alice", "client:alice"),
    ],
)
def test_what_the_plan_cannot_place_is_kept_as_given(raw: str, kept: str) -> None:
    number = contact_number(raw)
    assert (number.value, number.raw, number.normalised) == (kept, raw, False)


def test_two_forms_are_one_value_only_when_the_plan_makes_them_one() -> None:
    same = {contact_number(raw).value for raw in ("+447911123456", "+44 (0)7911 123456")}
    assert same == {"+447911123456"}
    for one, other in [
        ("+5215512345678", "+525512345678"),
        ("+5491123456789", "+541123456789"),
        ("+5511987654321", "+551187654321"),
    ]:
        assert contact_number(one).value != contact_number(other).value


def test_the_identity_says_which_form_its_value_is() -> None:
    identity = contact_number("+52 1 55 1234 5678").identity(IdentityKind.WHATSAPP, "Ana")
    assert identity.model_dump() == {
        "kind": IdentityKind.WHATSAPP,
        "value": "+52 1 55 1234 5678",
        "display_name": "Ana",
        "normalised": False,
        "provider_value": "+52 1 55 1234 5678",
    }
    assert contact_number("+1 415 555 0199").identity(IdentityKind.PHONE).normalised is True


@given(st.text(max_size=80), st.sampled_from([None, "US", "GB", "DE", "XX"]))
def test_any_text_is_kept_or_normalised_never_refused(raw: str, region: str | None) -> None:
    number = contact_number(raw, region)
    assert number.raw == raw
    if number.normalised:
        assert number.value == to_e164(raw, region)
    else:
        assert number.value == raw.strip()
