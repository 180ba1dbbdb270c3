"""Signed, realistic webhook requests from every provider, as the load generator sends them.

Each request is built the way the provider builds it (multipart and form posts for SendGrid
and Mailgun, JSON for Postmark, our widget and Meta, form posts for Twilio) and signed with
the provider's own recipe, so the service does all of its real work: signature check,
parsing, normalising, publishing. Every message carries a fresh provider id; a share of
them continue a recent thread (an email reply, the next chat line, a voicemail after a call)
so conversations get more than one message. Names, addresses and numbers are synthetic.
"""

from __future__ import annotations

import base64
import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

PUBLIC_BASE_URL = "https://router.example.test"

# Share of webhooks per source (percent). Delivery statuses carry no message.
MIX: dict[str, int] = {
    "sendgrid": 8,
    "mailgun": 8,
    "postmark": 8,
    "webchat": 20,
    "whatsapp": 16,
    "messenger": 8,
    "instagram": 7,
    "twilio_sms": 10,
    "twilio_voice": 7,
    "whatsapp_status": 4,
    "twilio_sms_status": 4,
}
SOURCES = tuple(MIX)
# Share of message webhooks that continue a recent thread of the same source, unless
# `--follow-ups` says otherwise: 0.25 makes 1.33 messages per conversation, 0.75 makes 4.
FOLLOW_UP_SHARE = 0.25

_TEXTS = (
    "Hi, my order hasn't arrived yet. Can you check where it is?",
    "Is the blue one in stock in size M?",
    "I was charged twice for the same invoice, please help.",
    "Can I change the delivery address of my last order?",
    "The app keeps logging me out since the update.",
    "Thanks, that worked!",
    "How long does a refund usually take?",
    "Do you ship to Norway?",
)
_NAMES = ("Alex Doe", "Sam Roe", "Kim Poe", "Jo Moe", "Lee Loe", "Max Coe")
_AREAS = ("415", "650", "212", "312", "617", "206", "303", "512")


@dataclass(frozen=True, slots=True)
class Secrets:
    """The webhook secrets the service is configured with for the run."""

    sendgrid: str
    mailgun: str
    postmark: str
    webchat: str
    meta: str
    twilio: str

    @classmethod
    def generate(cls, rng: random.Random) -> Secrets:
        """Fresh random secrets (none of them is written to the results)."""
        return cls(*(f"{rng.getrandbits(128):032x}" for _ in range(6)))

    def environment(self) -> dict[str, str]:
        """The `ROUTER_*` variables that configure the service with these secrets."""
        return {
            "ROUTER_SENDGRID_INBOUND_TOKEN": self.sendgrid,
            "ROUTER_MAILGUN_SIGNING_KEY": self.mailgun,
            "ROUTER_POSTMARK_INBOUND_TOKEN": self.postmark,
            "ROUTER_WEBCHAT_SECRET": self.webchat,
            "ROUTER_META_APP_SECRET": self.meta,
            "ROUTER_META_VERIFY_TOKEN": self.meta,
            "ROUTER_TWILIO_AUTH_TOKEN": self.twilio,
            "ROUTER_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        }


@dataclass(frozen=True, slots=True)
class Webhook:
    """One provider request: where it goes, its headers and body, and what it carries."""

    source: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # (provider, provider_message_id) of the message it carries, as the database stores it.
    message: tuple[str, str] | None
    # The first message of a new thread (so a new conversation, to be offered to an agent).
    opens: bool

    def raw(self, host: str = "router.example.test") -> bytes:
        """The whole HTTP/1.1 request."""
        head = f"POST {self.path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(self.body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in self.headers)
        return head.encode("latin-1") + b"\r\n" + self.body


@dataclass(slots=True)
class Thread:
    """What a follow-up needs to land in the same conversation."""

    customer: str
    name: str
    root: str


Builder = Callable[["Traffic", Thread | None], Webhook]


def basic_auth(password: str) -> tuple[str, str]:
    """The header a provider sends for `https://inbound:password@host/...`."""
    return ("Authorization", "Basic " + base64.b64encode(f"inbound:{password}".encode()).decode())


def compact(document: object) -> bytes:
    """JSON without spaces, as providers send it."""
    return json.dumps(document, separators=(",", ":")).encode()


class Traffic:
    """An endless, reproducible stream of signed webhooks in the configured mix."""

    def __init__(
        self, secrets: Secrets, *, seed: int, tag: str, follow_ups: float = FOLLOW_UP_SHARE
    ) -> None:
        from bench.email_payloads import EMAIL_BUILDERS
        from bench.messaging_payloads import MESSAGING_BUILDERS

        self.secrets = secrets
        self.rng = random.Random(seed)
        self._tag = tag
        self._follow_ups = follow_ups
        self._seq = 0
        self._threads: dict[str, deque[Thread]] = {source: deque(maxlen=500) for source in MIX}
        self._weights = list(MIX.values())
        self._builders: dict[str, Builder] = {**EMAIL_BUILDERS, **MESSAGING_BUILDERS}
        assert set(self._builders) == set(MIX), "every source of the mix needs a builder"

    def next(self) -> Webhook:
        """The next webhook of the mix."""
        source = self.rng.choices(SOURCES, self._weights)[0]
        return self.build(source)

    def build(self, source: str) -> Webhook:
        """A webhook of one source: a new thread, or (sometimes) the next message of one."""
        self._seq += 1
        recent = self._threads[source]
        follow = recent[self.rng.randrange(len(recent))] if recent else None
        if follow is not None and self.rng.random() >= self._follow_ups:
            follow = None
        return self._builders[source](self, follow)

    def uid(self) -> str:
        """A short id unique within the run (tag + sequence)."""
        return f"{self._tag}{self._seq:08d}"

    def sid(self, prefix: str) -> str:
        """A Twilio-style 34-character SID, unique within the run."""
        return f"{prefix}{self._tag}{self._seq:0{32 - len(self._tag)}x}"

    def new_thread(self, source: str, customer: str, root: str = "") -> Thread:
        """Remember a new thread so later webhooks of the source may continue it."""
        thread = Thread(customer, self.rng.choice(_NAMES), root)
        self._threads[source].append(thread)
        return thread

    def phone(self) -> str:
        """A fresh, possible (synthetic) North American number in E.164."""
        n = self._seq * 7919 + self.rng.randrange(7919)
        return f"+1{_AREAS[n % len(_AREAS)]}{200 + (n // 80_000) % 800}{(n // 8) % 10_000:04d}"

    def text(self) -> str:
        """A customer's line."""
        return self.rng.choice(_TEXTS)
