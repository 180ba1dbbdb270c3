"""Prometheus metrics of a router process (`GET /metrics`).

Counters and histograms are updated where the work happens; the queue and agent gauges are
read from the database when scraped, so every process reports the same picture of them.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

WEBHOOKS = Counter(
    "router_webhook_requests", "Webhook requests answered", ["channel", "provider", "status"]
)
PUBLISH_SECONDS = Histogram(
    "router_publish_seconds",
    "Time for the transport to take a webhook's events durably",
    ["transport"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
API_SECONDS = Histogram(
    "router_api_request_seconds",
    "Time to answer a /v1 API request (its _count counts them), by route template, method"
    " and status class; `unmatched` when no route took the request",
    ["route", "method", "status"],
    # Long polls hold their answer for up to the poll's wait.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CONSUMER_LAG = Gauge(
    "router_consumer_lag", "Records on the partition not yet applied", ["topic", "partition"]
)
BATCH_RECORDS = Histogram(
    "router_batch_records",
    "Records applied in one batch (one poll)",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000),
)
BATCH_SECONDS = Histogram(
    "router_batch_apply_seconds",
    "Time to apply one batch (one poll), commit included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IGNORED_EVENTS = Counter(
    "router_webhook_events_ignored",
    "Provider events acknowledged but deliberately not turned into router events",
    ["provider", "reason"],
)
DEAD_LETTERS = Counter("router_dead_letters", "Records sent to the dead-letter topic")
CONSUMER_WAITING = Gauge(
    "router_consumer_waiting",
    "1 while the consumer waits out a failure of the database or broker (not ready), else 0",
)
CONSUMER_WAITS = Counter(
    "router_consumer_waits",
    "Back-offs of the consumer waiting out a failure, by kind (the world's, or unexpected)",
    ["kind"],
)
CHANGES = Counter(
    "router_conversation_changes",
    "Changes of conversations (offered = assignments, reassigned/transferred = moves)",
    ["change"],
)
WAITING = Gauge("router_queue_waiting_conversations", "Conversations owned by the queue", ["queue"])
OLDEST_WAIT = Gauge(
    "router_queue_oldest_wait_seconds", "How long the oldest waiting conversation waits", ["queue"]
)
AGENT_ACTIVE = Gauge(
    "router_agent_active_conversations", "Conversations an agent holds", ["agent", "channel"]
)
AGENT_CAPACITY = Gauge(
    "router_agent_capacity", "Conversations an agent may hold", ["agent", "channel"]
)
# Customers' waits, observed once each (by whichever process drains the measures the database
# recorded; see router.reports.feed). Labels: queue names and channels, both bounded.
_WAIT_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
FIRST_RESPONSE_SECONDS = Histogram(
    "router_first_response_seconds",
    "From a customer's first message to an agent's first reply, by queue and channel",
    ["queue", "channel"],
    buckets=_WAIT_BUCKETS,
)
WAIT_SECONDS = Histogram(
    "router_wait_seconds",
    "From a conversation's creation until its first offer or first acceptance (`until`)",
    ["queue", "channel", "until"],
    buckets=_WAIT_BUCKETS,
)

_WEBHOOK_LABELS = {
    "/webhooks/chat": ("chat", "webchat"),
    "/webhooks/meta": ("social", "meta"),
    "/webhooks/twilio/sms": ("sms", "twilio"),
    "/webhooks/twilio/voice": ("voice", "twilio"),
}


def webhook_labels(path: str) -> tuple[str, str]:
    """(channel, provider) of a webhook path, without unbounded label values."""
    if path.startswith("/webhooks/email/"):
        provider = path.removeprefix("/webhooks/email/").split("/", 1)[0]
        return "email", provider if provider in {"sendgrid", "mailgun", "postmark"} else "other"
    for prefix, labels in _WEBHOOK_LABELS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return labels
    return "other", "other"


_QUEUES = text(
    "SELECT q.name, count(c.id), min(c.waiting_since) FROM queues q"
    " LEFT JOIN conversations c ON c.queue_id = q.id AND c.status = 'open'"
    " AND c.agent_id IS NULL GROUP BY q.name"
)
_AGENTS = text(
    "SELECT a.handle, ac.channel, ac.active, ac.capacity FROM agent_capacities ac"
    " JOIN agents a ON a.id = ac.agent_id"
)


async def refresh_gauges(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Read waiting queues and agent load from the database into their gauges."""
    async with sessions() as session:
        queues = (await session.execute(_QUEUES)).all()
        agents = (await session.execute(_AGENTS)).all()
        now = (await session.execute(text("SELECT now()"))).scalar_one()
    WAITING.clear()
    OLDEST_WAIT.clear()
    for name, waiting, oldest in queues:
        WAITING.labels(name).set(waiting)
        OLDEST_WAIT.labels(name).set((now - oldest).total_seconds() if oldest else 0)
    AGENT_ACTIVE.clear()
    AGENT_CAPACITY.clear()
    for handle, channel, active, capacity in agents:
        AGENT_ACTIVE.labels(handle, channel).set(active)
        AGENT_CAPACITY.labels(handle, channel).set(capacity)


async def exposition(sessions: async_sessionmaker[AsyncSession] | None) -> tuple[bytes, str]:
    """The metrics in Prometheus text format; database gauges are best effort."""
    if sessions is not None:
        try:
            async with asyncio.timeout(2):
                await refresh_gauges(sessions)
        except Exception:  # a scrape must answer even with the database down
            pass
    return generate_latest(), CONTENT_TYPE_LATEST


# The labelled children of the per-webhook metrics, looked up once: `labels()` costs more than
# the count itself. Their label values are bounded (channels, providers, statuses, transports).
_webhook_counts: dict[tuple[str, str, int], Counter] = {}
_publish_seconds: dict[str, Histogram] = {}


def count_webhook(channel: str, provider: str, status: int) -> None:
    """Count one answered webhook."""
    counter = _webhook_counts.get((channel, provider, status))
    if counter is None:
        counter = WEBHOOKS.labels(channel, provider, str(status))
        _webhook_counts[(channel, provider, status)] = counter
    counter.inc()


_api_seconds: dict[tuple[str, str, int], Histogram] = {}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_api(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered /v1 request and its time, by route template (never the raw path)."""
    key = (route, method, status // 100)
    histogram = _api_seconds.get(key)
    if histogram is None:
        # Every label value is bounded: templates, the standard methods, five classes.
        verb = method if method in _METHODS else "other"
        histogram = API_SECONDS.labels(route, verb, f"{status // 100}xx")
        _api_seconds[key] = histogram
    histogram.observe(seconds)


def observe_publish(transport: str, started: float) -> None:
    histogram = _publish_seconds.get(transport)
    if histogram is None:
        histogram = _publish_seconds[transport] = PUBLISH_SECONDS.labels(transport)
    histogram.observe(time.perf_counter() - started)


def count_ignored(provider: str, reason: str) -> None:
    """Count one provider event left out on purpose (`reason` is one of a fixed few)."""
    IGNORED_EVENTS.labels(provider, reason).inc()
