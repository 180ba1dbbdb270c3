"""Phone numbers in E.164 where the numbering plan allows, else as the provider gave them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers

from router.channels import IdentityKind
from router.inbound.envelope import CustomerIdentity

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


@dataclass(frozen=True, slots=True)
class ContactNumber:
    """A sender or recipient as a provider signed it, and the E.164 form when there is one.

    `value` is what identities and thread keys use: the E.164 number when `normalised`,
    else the provider's text as given (trimmed). `raw` is the provider's text untouched.
    """

    value: str
    raw: str
    normalised: bool

    def identity(self, kind: IdentityKind, display_name: str | None = None) -> CustomerIdentity:
        """The customer known by this number, saying which form `value` is."""
        return CustomerIdentity(
            kind=kind,
            value=self.value,
            display_name=display_name,
            normalised=self.normalised,
            provider_value=self.raw,
        )


def contact_number(raw: str, default_region: str | None = None) -> ContactNumber:
    """`raw` in E.164 when the numbering plan says it is a number, else kept as given.

    Never refuses: a short code (`12345`), an alphanumeric sender id (`MyBank`), a number
    our metadata thinks impossible for its country (Mexico's old mobile form `+521...`)
    all reach an agent. No two forms are merged here that the numbering plan does not
    make one: `+521...` and `+52...` stay two values, as do Argentina's `+549...` and
    `+54...`, and Brazil's mobiles with and without the ninth digit.
    """
    given = raw.strip()
    try:
        return ContactNumber(to_e164(given, default_region), raw, True)
    except ValueError:
        return ContactNumber(given, raw, False)
