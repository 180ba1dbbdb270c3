"""One customer across channels on a real PostgreSQL: what links by itself, and what never does."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.auth.service import KeyCredential, Principal
from router.channels import Channel, IdentityKind
from router.customers import merges
from router.db import transaction
from router.inbound.envelope import CustomerIdentity, InboundMessage
from router.models import Conversation, Customer, CustomerEvent, CustomerNumber
from router.models import CustomerIdentity as IdentityRow
from router.routing.engine import RoutingEngine, apply_events
from router.settings import Settings

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
NUMBER = "+14155550199"
LINE = "+14155550100"


def _message(
    channel: Channel,
    kind: IdentityKind,
    value: str,
    *,
    normalised: bool | None = None,
    name: str | None = None,
    verified: tuple[CustomerIdentity, ...] | None = None,
    thread: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        provider="twilio" if channel in (Channel.SMS, Channel.VOICE) else channel.value,
        provider_message_id=uuid.uuid4().hex,
        conversation_key=thread or f"{channel.value}:{value}|{LINE}",
        customer=CustomerIdentity(kind=kind, value=value, display_name=name, normalised=normalised),
        recipient=LINE,
        text="hello",
        stripped_text="hello",
        verified_identities=verified,
    )


def _whatsapp(value: str = NUMBER, normalised: bool = True, **extra: object) -> InboundMessage:
    return _message(Channel.WHATSAPP, IdentityKind.WHATSAPP, value, normalised=normalised, **extra)  # type: ignore[arg-type]


def _sms(value: str = NUMBER, normalised: bool = True, **extra: object) -> InboundMessage:
    return _message(Channel.SMS, IdentityKind.PHONE, value, normalised=normalised, **extra)  # type: ignore[arg-type]


def _engine(sessions: async_sessionmaker[AsyncSession], database_url: str) -> RoutingEngine:
    settings = Settings(database_url=database_url)
    return RoutingEngine(sessions, settings, clock=lambda: NOW)


async def _owners(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str], uuid.UUID]:
    async with sessions() as session:
        rows = await session.execute(
            select(IdentityRow.kind, IdentityRow.value, IdentityRow.customer_id)
        )
        return {(kind, value): customer for kind, value, customer in rows}


async def _count(sessions: async_sessionmaker[AsyncSession], model: type[object]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_whatsapp_then_sms_from_the_same_number_is_one_customer(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    engine = _engine(sessions, database_url)
    await engine.process([_whatsapp(name="Ada")])
    await engine.process([_sms()])
    owners = await _owners(sessions)
    assert owners[("whatsapp", NUMBER)] == owners[("phone", NUMBER)]
    assert await _count(sessions, Customer) == 1
    customer = owners[("phone", NUMBER)]
    async with sessions() as session:
        sources = dict((await session.execute(select(IdentityRow.kind, IdentityRow.source))).all())
        assert sources == {"whatsapp": "first_contact", "phone": "same_number"}
        assert await session.scalar(select(CustomerNumber.customer_id)) == customer
        [event] = (await session.scalars(select(CustomerEvent))).all()
        conversations = (await session.scalars(select(Conversation.customer_id))).all()
    assert (event.customer_id, event.kind, event.actor) == (customer, "identity_linked", "router")
    assert event.details == {"kind": "phone", "value": NUMBER, "source": "same_number"}
    assert set(conversations) == {customer}


async def test_sms_and_whatsapp_of_one_number_in_one_batch_make_one_customer(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _engine(sessions, database_url).process([_sms(), _whatsapp()])
    owners = await _owners(sessions)
    assert owners[("whatsapp", NUMBER)] == owners[("phone", NUMBER)]
    assert await _count(sessions, Customer) == 1


async def test_nothing_but_a_proven_number_links_by_itself(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    engine = _engine(sessions, database_url)
    senders = [
        # One display name on two numbers.
        _sms("+14155550101", name="Ada Lovelace"),
        _whatsapp("+14155550102", name="Ada Lovelace"),
        # Similar addresses, and a shared domain.
        _message(Channel.EMAIL, IdentityKind.EMAIL, "ada@example.com", name="Ada Lovelace"),
        _message(Channel.EMAIL, IdentityKind.EMAIL, "ada@example.org", name="Ada Lovelace"),
        _message(Channel.EMAIL, IdentityKind.EMAIL, "bob@example.com"),
        # A short code on SMS and the same text from a WhatsApp sender nobody normalised.
        _sms("12345", normalised=False),
        _whatsapp("12345", normalised=False),
        # A number kept as given on SMS, the same text normalised on WhatsApp.
        _sms("+5215512345678", normalised=False),
        _whatsapp("+5215512345678", normalised=True),
        # A web-chat visitor whose id is a number.
        _message(Channel.CHAT, IdentityKind.WEBCHAT, "+14155550101"),
    ]
    for message in senders:  # one by one, so each could have found the others
        await engine.process([message])
    owners = await _owners(sessions)
    assert len(owners) == len(senders)
    assert len(set(owners.values())) == len(senders)
    assert await _count(sessions, Customer) == len(senders)
    assert await _count(sessions, CustomerEvent) == 0


async def test_two_routers_meeting_one_number_at_once_agree_on_one_customer(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(database_url=database_url)
    first_applied = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with transaction(sessions) as session:
            await apply_events(session, [_whatsapp()], settings, NOW)
            first_applied.set()
            await release_first.wait()  # holds its uncommitted rows while the second runs

    async def second() -> None:
        await first_applied.wait()
        async with transaction(sessions) as session:
            await apply_events(session, [_sms()], settings, NOW)

    running_first = asyncio.create_task(first())
    running_second = asyncio.create_task(second())
    await first_applied.wait()
    await asyncio.sleep(0.5)  # the second now waits on the first's number
    assert not running_second.done()
    release_first.set()
    await asyncio.gather(running_first, running_second)

    owners = await _owners(sessions)
    assert owners[("whatsapp", NUMBER)] == owners[("phone", NUMBER)]
    # The customer the second made for nothing is gone; both conversations are the one's.
    assert await _count(sessions, Customer) == 1
    async with sessions() as session:
        conversations = (await session.scalars(select(Conversation.customer_id))).all()
    assert set(conversations) == {owners[("phone", NUMBER)]}


async def test_identities_verified_by_login_join_the_visitors_customer(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    engine = _engine(sessions, database_url)
    await engine.process([_sms()])
    verified = (
        CustomerIdentity(kind=IdentityKind.EMAIL, value="ada@example.com"),
        CustomerIdentity(kind=IdentityKind.PHONE, value=NUMBER, normalised=True),
    )
    chat = _message(Channel.CHAT, IdentityKind.WEBCHAT, "v_81d0", verified=verified)
    await engine.process([chat])
    owners = await _owners(sessions)
    # The verified phone was known: the visitor joins its customer, and the email with it.
    phone_customer = owners[("phone", NUMBER)]
    assert owners[("webchat", "v_81d0")] == phone_customer
    assert owners[("email", "ada@example.com")] == phone_customer
    assert await _count(sessions, Customer) == 1
    async with sessions() as session:
        events = (await session.scalars(select(CustomerEvent).order_by(CustomerEvent.id))).all()
    assert [(e.kind, e.details["kind"], e.details["source"]) for e in events] == [
        ("identity_linked", "webchat", "verified_login"),
        ("identity_linked", "email", "verified_login"),
    ]


async def test_a_verified_identity_of_another_customer_is_not_moved(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    engine = _engine(sessions, database_url)
    await engine.process([_message(Channel.EMAIL, IdentityKind.EMAIL, "ada@example.com")])
    await engine.process([_message(Channel.CHAT, IdentityKind.WEBCHAT, "v_1")])
    before = await _owners(sessions)
    verified = (CustomerIdentity(kind=IdentityKind.EMAIL, value="ada@example.com"),)
    chat = _message(Channel.CHAT, IdentityKind.WEBCHAT, "v_1", verified=verified, thread="chat:s|1")
    await engine.process([chat])
    assert await _owners(sessions) == before
    assert before[("webchat", "v_1")] != before[("email", "ada@example.com")]


async def test_a_message_during_a_merge_lands_on_the_customer_that_absorbed_its_sender(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(database_url=database_url, continuity_window_minutes=0)
    engine = RoutingEngine(sessions, settings, clock=lambda: NOW)
    await engine.process([_sms("+14155550155")])
    await engine.process([_message(Channel.EMAIL, IdentityKind.EMAIL, "eve@example.com")])
    absorbed = (await _owners(sessions))[("phone", "+14155550155")]
    keeper = (await _owners(sessions))[("email", "eve@example.com")]
    supervisor = Principal(
        KeyCredential(uuid.uuid4(), "sue", "a1b2c3d4e5f6"), Role.SUPERVISOR, None
    )
    merged = asyncio.Event()
    release = asyncio.Event()

    async def merge() -> None:
        async with transaction(sessions) as session:
            await merges.merge(session, settings, supervisor, keeper, absorbed, "same person", NOW)
            merged.set()
            await release.wait()  # the merge is not committed yet

    async def call() -> None:
        await merged.wait()
        call = _message(Channel.VOICE, IdentityKind.PHONE, "+14155550155", normalised=True)
        later = RoutingEngine(sessions, settings, clock=lambda: NOW + timedelta(minutes=1))
        await later.process([call])

    merging = asyncio.create_task(merge())
    calling = asyncio.create_task(call())
    await merged.wait()
    await asyncio.sleep(0.5)
    assert not calling.done()  # the call's batch waits for the merge
    release.set()
    await asyncio.gather(merging, calling)
    async with sessions() as session:
        customers = (
            await session.execute(select(Conversation.channel, Conversation.customer_id))
        ).all()
    assert sorted(customers) == sorted([("sms", keeper), ("email", keeper), ("voice", keeper)])
