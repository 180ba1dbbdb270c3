"""Phone numbers to E.164."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.channels.phone import to_e164


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
