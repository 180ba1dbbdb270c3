"""Only a record's own fault is dead-lettered, alone; `router dlq` lists, shows and replays it.

The routing engine runs as in `router consume` (its real batch consumer) on the real broker
and database. The database is made to refuse one message's content with a check
constraint, as a rule no retry changes would.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable, Sequence

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.kafka.consumer import BatchConsumer
from adapters.kafka.dead_letters import DeadLetter, read_dead_letters
from adapters.kafka.producer import create_producer
from adapters.kafka.topics import ensure_topics
from router.bootstrap import build_consumer
from router.inbound.envelope import InboundMessage, decode, encode, partition_key
from router.inbound.ports import Event
from router.models import Message
from router.settings import Settings
from tests import factories
from tests.integration.routers import ROUTER, router_env
from tests.support import committed_offsets

FORBIDDEN = "CHECK (text NOT LIKE '%forbidden%')"
SENDER = "+14155550177"  # one conversation key: every record on one partition, in order


async def _refuse_forbidden_words(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            text(f"ALTER TABLE messages ADD CONSTRAINT messages_no_forbidden_words {FORBIDDEN}")
        )


async def _allow_forbidden_words(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            text("ALTER TABLE messages DROP CONSTRAINT messages_no_forbidden_words")
        )


async def _send(settings: Settings, values: Sequence[bytes | InboundMessage]) -> None:
    """Put values on the inbound topic in order, all with the conversation's key."""
    producer = create_producer(settings)
    await producer.start()
    key = partition_key(factories.sms(sender=SENDER))
    try:
        for value in values:
            raw = encode(value) if isinstance(value, InboundMessage) else value
            await producer.send_and_wait(settings.topic_inbound, raw, key=key)
    finally:
        await producer.stop()


async def _texts(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(Message.text).order_by(Message.text)))


async def _consume_until(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    done: Callable[[BatchConsumer[Event]], bool],
) -> BatchConsumer[Event]:
    """Run the routing engine's consumer until `done` says so (within 60 s)."""
    consumer = build_consumer(settings, sessions)
    await consumer.start()
    stop = asyncio.Event()
    runner = asyncio.create_task(consumer.run(stop))
    try:
        deadline = time.monotonic() + 60
        while not done(consumer):
            assert time.monotonic() < deadline, consumer.stats
            assert not runner.done(), runner
            await asyncio.sleep(0.1)
        stop.set()
        await runner
    finally:
        stop.set()
        await consumer.stop()
    return consumer


async def _committed(settings: Settings) -> int:
    return sum((await committed_offsets(settings)).values())


async def test_poison_records_are_dead_lettered_alone_and_their_neighbours_stored(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await ensure_topics(settings)
    await _refuse_forbidden_words(sessions)
    good = [factories.sms(f"good {i}", sender=SENDER) for i in range(4)]
    refused = factories.sms("a forbidden word", sender=SENDER)
    await _send(settings, [good[0], good[1], refused, b"{not json", good[2], good[3]])

    consumer = await _consume_until(
        settings, sessions, lambda c: c.stats.records == 6 and c.stats.waiting is None
    )

    assert await _texts(sessions) == ["good 0", "good 1", "good 2", "good 3"]
    assert consumer.stats.dead_lettered == 2
    assert consumer.stats.retries == 0  # nothing was waited out: no error was the world's
    letters = await read_dead_letters(settings)
    by_kind = {letter.header("router-error-kind"): letter for letter in letters}
    assert sorted(k or "" for k in by_kind) == ["refused-by-database", "undecodable"]
    assert by_kind["undecodable"].value == b"{not json"
    assert by_kind["undecodable"].header("router-error-type") == "ValidationError"
    refused_letter = by_kind["refused-by-database"]
    assert refused_letter.value is not None
    assert decode(refused_letter.value) == refused
    assert refused_letter.header("router-error-type") == "CheckViolationError"
    assert "messages_no_forbidden_words" in (refused_letter.header("router-error") or "")
    assert refused_letter.key == partition_key(refused)
    assert await _committed(settings) == 6


def _router_dlq(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROUTER, "dlq", *args],
        env=router_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _dlq(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_router_dlq, settings, *args)


def _position(letter: DeadLetter) -> str:
    return f"{letter.partition}:{letter.offset}"


async def test_router_dlq_lists_shows_and_replays_without_doubling_anything(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await ensure_topics(settings)
    await _refuse_forbidden_words(sessions)
    refused = factories.sms("a forbidden word", sender=SENDER)
    await _send(settings, [factories.sms("fine", sender=SENDER), refused, b"\xff garbage"])
    await _consume_until(settings, sessions, lambda c: c.stats.dead_lettered == 2)
    garbage, refused_letter = sorted(
        await read_dead_letters(settings),
        key=lambda letter: letter.header("router-error-kind") != "undecodable",
    )

    listed = await _dlq(settings, "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split("\t") == [
        "position",
        "time",
        "error_type",
        "key",
        "event_type",
        "event_id",
        "error",
    ]
    by_position = {row.split("\t")[0]: row.split("\t") for row in rows}
    assert set(by_position) == {_position(garbage), _position(refused_letter)}
    row = by_position[_position(refused_letter)]
    assert row[2:6] == [
        "CheckViolationError",
        partition_key(refused).decode(),
        refused.type,
        refused.event_id,
    ]
    assert "messages_no_forbidden_words" in row[6]
    assert by_position[_position(garbage)][2:6] == [
        "ValidationError",
        partition_key(refused).decode(),
        "-",
        "-",
    ]

    shown = await _dlq(settings, "show", _position(refused_letter))
    assert shown.returncode == 0, shown.stderr
    letter = json.loads(shown.stdout)
    assert decode(letter["value"].encode()) == refused
    headers = dict(letter["headers"])
    assert headers["router-error-type"] == "CheckViolationError"
    assert headers["router-source-topic"] == settings.topic_inbound
    binary = json.loads((await _dlq(settings, "show", _position(garbage))).stdout)
    assert binary["value_base64"] == "/yBnYXJiYWdl"  # b"\xff garbage"

    for bad in (["show", "three"], ["show", "0:999999"], ["replay"], ["replay", "--all", "0:1"]):
        answer = await _dlq(settings, *bad)
        assert answer.returncode == 2, (bad, answer)
        assert len(answer.stderr.strip().splitlines()) == 1, (bad, answer.stderr)
        assert answer.stdout == ""

    # The cause is fixed: the refused message goes back and is stored, once.
    await _allow_forbidden_words(sessions)
    replayed = await _dlq(settings, "replay", _position(refused_letter))
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.strip() == (
        f"replayed {_position(refused_letter)} to {settings.topic_inbound}"
    )
    await _consume_until(settings, sessions, lambda c: c.stats.records == 1)
    assert await _texts(sessions) == ["a forbidden word", "fine"]

    # Replaying everything again changes nothing stored; the garbage is set aside again.
    again = await _dlq(settings, "replay", "--all")
    assert again.returncode == 0, again.stderr
    assert len(again.stdout.splitlines()) == 2
    await _consume_until(settings, sessions, lambda c: c.stats.records == 2)
    assert await _texts(sessions) == ["a forbidden word", "fine"]
    async with sessions() as session:
        copies = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.provider_message_id == refused.provider_message_id)
        )
    assert copies == 1
    letters = await read_dead_letters(settings)
    assert len(letters) == 3
    assert letters[-1].value == garbage.value
    assert letters[-1].header("router-replay-of") == f"{settings.topic_dlq}:{_position(garbage)}"
