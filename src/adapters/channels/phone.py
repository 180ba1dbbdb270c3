"""Phone numbers in E.164, the one form the router stores and keys conversations by."""

from __future__ import annotations

import functools
import re

import phonenumbers

# Beyond this nothing is a phone number; parsing a huge string would only burn time.
_LONGEST_INPUT = 64
# Digits and the punctuation people write numbers with. `phonenumbers` itself would also
# read a number out of `client:alice+1415...` or a vanity `1-800-FLOWERS`; an address that
# is not plainly a number (a SIP URI, a client name, an extension) must not become one.
_NUMBER_TEXT = re.compile(r"(?:tel:)?[+(]?[0-9][0-9 ()./\-]*", re.IGNORECASE)


# Parsing takes tens of microseconds, and the same numbers come back: our own lines in every
# message, a customer's number in each message of the conversation. Only answers are
# cached; a string that is not a number is refused (parsed again) every time it comes.
@functools.lru_cache(maxsize=8192)
def to_e164(raw: str, default_region: str | None = None) -> str:
    """`raw` as E.164 (`+14155550199`); `ValueError` when it is not a phone number.

    A number without a leading `+` needs `default_region` (ISO 3166 alpha-2, e.g. "GB").
    The check is "possible" (a plausible length for the country), not "valid" (inside a
    range the bundled metadata knows as assigned): providers hand us numbers a carrier has
    already connected, and refusing one because our metadata is older than the carrier's
    numbering plan would lose a customer's message.
    """
    text = raw.strip()
    if len(text) > _LONGEST_INPUT or not _NUMBER_TEXT.fullmatch(text):
        raise ValueError("not a phone number")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("not a possible phone number for its country")
    formatted: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return formatted
