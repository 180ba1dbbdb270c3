"""What a provider's webhook request is, and the synthetic customers who send them.

The builders of each provider's requests (`bench.email_payloads`, `bench.messaging_payloads`)
use these; `bench.payloads.Traffic` mixes the builders into one stream.
"""

from __future__ import annotations

import base64
import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

PUBLIC_BASE_URL = "https://router.example.test"

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


Builder = Callable[["Customers", Thread | None], Webhook]


def basic_auth(password: str) -> tuple[str, str]:
    """The header a provider sends for `https://inbound:password@host/...`."""
    return ("Authorization", "Basic " + base64.b64encode(f"inbound:{password}".encode()).decode())


def compact(document: object) -> bytes:
    """JSON without spaces, as providers send it."""
    return json.dumps(document, separators=(",", ":")).encode()


class Customers:
    """Reproducible synthetic customers: ids, numbers, lines, and the threads they opened."""

    def __init__(self, secrets: Secrets, *, seed: int, tag: str) -> None:
        self.secrets = secrets
        self.rng = random.Random(seed)
        self._tag = tag
        self._seq = 0
        self._threads: dict[str, deque[Thread]] = {}

    def threads(self, source: str) -> deque[Thread]:
        """The recent threads of a source, which its next webhooks may continue."""
        recent = self._threads.get(source)
        if recent is None:
            recent = self._threads[source] = deque(maxlen=500)
        return recent

    def uid(self) -> str:
        """A short id unique within the run (tag + sequence)."""
        return f"{self._tag}{self._seq:08d}"

    def sid(self, prefix: str) -> str:
        """A Twilio-style 34-character SID, unique within the run."""
        return f"{prefix}{self._tag}{self._seq:0{32 - len(self._tag)}x}"

    def new_thread(self, source: str, customer: str, root: str = "") -> Thread:
        """Remember a new thread so later webhooks of the source may continue it."""
        thread = Thread(customer, self.rng.choice(_NAMES), root)
        self.threads(source).append(thread)
        return thread

    def phone(self) -> str:
        """A fresh, possible (synthetic) North American number in E.164."""
        n = self._seq * 7919 + self.rng.randrange(7919)
        return f"+1{_AREAS[n % len(_AREAS)]}{200 + (n // 80_000) % 800}{(n // 8) % 10_000:04d}"

    def text(self) -> str:
        """A customer's line."""
        return self.rng.choice(_TEXTS)
