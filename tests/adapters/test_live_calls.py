"""Live calls end to end: signed Twilio requests, the real app, broker, engine and database.

The app runs with its routing engine consuming the inbound topic (`serve_with_consumer`), so
the offer a caller waits for is made by the engine, asynchronously, as in production.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.kafka.topics import ensure_topics
from router.auth.roles import Role
from router.console.schemas import MessageOut
from router.models import Agent, Conversation, Message
from router.settings import Settings
from tests.adapters.call_steps import (
    CALL_SID,
    VOICE,
    admin_headers,
    agent,
    call_comes_in,
    call_conversation,
    call_message,
    dialled,
    events_of,
    params,
    ring_or_voicemail,
    twiml_of,
    until,
    voice_active,
)
from tests.adapters.channel_requests import problem, webchat_headers
from tests.adapters.twilio_requests import (
    EMPTY_TWIML,
    call_status_params,
    post_signed,
    recording_params,
)
from tests.console.conftest import bearer, make_key
from tests.seed import queue_id
from tests.support import app_client


@pytest.fixture
async def live(webhook_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    settings = webhook_settings.model_copy(update={"serve_with_consumer": True})
    await ensure_topics(settings)
    async with app_client(settings) as (_, http):
        yield http


async def test_a_call_rings_agents_in_turn_until_one_answers(
    live: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await admin_headers(sessions)
    default = await queue_id(sessions, "default")
    ada = await agent(
        live, admin, "ada", default, {"endpoint_kind": "number", "endpoint": "+14155550101"}
    )
    bob = await agent(
        live,
        admin,
        "bob",
        default,
        {"endpoint_kind": "sip", "endpoint": "sip:bob@pbx.example.test", "ring_seconds": 15},
    )
    cyd = await agent(live, admin, "cyd", default, {"endpoint_kind": "client"})

    wait = await call_comes_in(live)
    wait, verbs = await ring_or_voicemail(live, wait)
    dial, noun = dialled(verbs)
    assert (noun.tag, noun.text, dial.attributes["timeout"]) == ("Number", "+14155550101", "20")
    # Twilio retries the same signed request: the same answer, no second ring recorded.
    assert twiml_of(await post_signed(live, wait, params())) == verbs
    assert dial.query("action")["agent"] == str(ada)
    conversation = await call_conversation(sessions)
    assert dial.query("action")["conversation"] == str(conversation.id)

    # Ada does not answer: the offer lapses and Bob's phone rings.
    no_answer = params(DialCallStatus="no-answer")
    again = twiml_of(await post_signed(live, dial.attributes["action"], no_answer))
    assert [verb.tag for verb in again] == ["Redirect"]
    changes = len(await events_of(sessions, conversation.id))
    assert twiml_of(await post_signed(live, dial.attributes["action"], no_answer)) == again
    assert len(await events_of(sessions, conversation.id)) == changes
    _, verbs = await ring_or_voicemail(live, again[0].text)
    dial, noun = dialled(verbs)
    assert (noun.tag, noun.text, dial.attributes["timeout"]) == (
        "Sip",
        "sip:bob@pbx.example.test",
        "15",
    )
    assert dial.query("action")["agent"] == str(bob)

    # Bob is busy: Cyd's browser (Twilio Client, named after her handle) rings.
    again = twiml_of(
        await post_signed(live, dial.attributes["action"], params(DialCallStatus="busy"))
    )
    _, verbs = await ring_or_voicemail(live, again[0].text)
    dial, noun = dialled(verbs)
    assert (noun.tag, noun.text) == ("Client", "cyd")
    assert await voice_active(sessions) == {ada: 0, bob: 0, cyd: 1}

    # Cyd answers: the dialled leg's status callback accepts the offer; she is on a call.
    leg = params(CallSid="CA22222222222222222222222222222222", ParentCallSid=CALL_SID)
    answered = await post_signed(live, noun.attributes["statusCallback"], leg)
    assert answered.content == EMPTY_TWIML
    assert (await post_signed(live, noun.attributes["statusCallback"], leg)).content == EMPTY_TWIML
    async with sessions() as session:
        on_call = await session.scalar(select(Agent.on_call_since).where(Agent.id == cyd))
    assert on_call is not None
    assert (await call_conversation(sessions)).offer_state == "accepted"

    # The talk ends: the ring's action says so, then the call's status callback.
    done = params(DialCallStatus="completed", DialCallDuration="95")
    assert [v.tag for v in twiml_of(await post_signed(live, dial.attributes["action"], done))] == [
        "Hangup"
    ]
    status = await post_signed(
        live,
        f"{VOICE}/status",
        call_status_params("completed", CallSid=CALL_SID, CallDuration="140"),
    )
    assert status.status_code == 200

    async def resolved() -> bool:
        return (await call_conversation(sessions)).status == "resolved"

    await until(resolved, "the call's end to resolve the conversation")
    assert await voice_active(sessions) == {ada: 0, bob: 0, cyd: 0}
    async with sessions() as session:
        assert await session.scalar(select(Agent.on_call_since).where(Agent.id == cyd)) is None

    story = [(row.kind, row.agent_id) for row in await events_of(sessions, conversation.id)]
    assert story == [
        ("created", None),
        ("queued", None),
        ("offered", ada),
        ("offer_timed_out", ada),
        ("offered", bob),
        ("declined", bob),
        ("offered", cyd),
        ("accepted", cyd),
        ("call_ended", None),
        ("resolved", cyd),
    ]
    events = await events_of(sessions, conversation.id)
    assert events[3].reason.startswith("did not answer after ")
    assert events[5].reason.startswith("busy after ")
    assert str(ada) in events[3].details["excluded"]
    assert events[8].reason == "call completed after 140 s"
    assert events[9].reason == "call ended after 140 s"
    shown = MessageOut.model_validate(await call_message(sessions))
    progress = shown.call_progress
    assert progress is not None
    assert progress["call_stage"] == "ended"
    assert progress["answered_by"] == str(cyd)
    assert progress["talk_seconds"] == 95
    assert [
        (a["agent_id"], a["endpoint_kind"], a["outcome"]) for a in progress["call_attempts"]
    ] == [
        (str(ada), "number", "no-answer"),
        (str(bob), "sip", "busy"),
        (str(cyd), "client", "answered"),
    ]
    assert all(a["ring_seconds"] >= 0 for a in progress["call_attempts"])
    assert (shown.call_status, shown.call_duration_seconds) == ("completed", 140)

    # A supervisor's view of the conversation tells the same story.
    supervisor = bearer(await make_key(sessions, Role.SUPERVISOR, name="sue"))
    detail = await live.get(f"/v1/conversations/{conversation.id}", headers=supervisor)
    assert detail.status_code == 200, detail.text
    [call] = [m for m in detail.json()["messages"]["items"] if m["kind"] == "call"]
    assert call["call_progress"]["answered_by"] == str(cyd)
    assert [a["outcome"] for a in call["call_progress"]["call_attempts"]] == [
        "no-answer",
        "busy",
        "answered",
    ]
    assert [e["kind"] for e in detail.json()["events"]["items"]] == [kind for kind, _ in story]


async def test_a_caller_who_hangs_up_while_it_rings_abandons_the_call(
    live: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await admin_headers(sessions)
    default = await queue_id(sessions, "default")
    ada = await agent(live, admin, "ada", default, {"endpoint_kind": "client"})
    _, verbs = await ring_or_voicemail(live, await call_comes_in(live))
    dialled(verbs)
    assert await voice_active(sessions) == {ada: 1}

    hung_up = call_status_params("completed", CallSid=CALL_SID, CallDuration="9")
    assert (await post_signed(live, f"{VOICE}/status", hung_up)).status_code == 200

    async def resolved() -> bool:
        return (await call_conversation(sessions)).status == "resolved"

    await until(resolved, "the hang-up to abandon the conversation")
    conversation = await call_conversation(sessions)
    assert conversation.agent_id is None
    assert await voice_active(sessions) == {ada: 0}
    events = await events_of(sessions, conversation.id)
    assert [row.kind for row in events][-4:] == [
        "offered",
        "call_ended",
        "offer_revoked",
        "resolved",
    ]
    assert events[-1].reason == "abandoned: the caller hung up while waiting after 9 s"
    progress = MessageOut.model_validate(await call_message(sessions)).call_progress
    assert progress is not None
    assert progress["call_stage"] == "abandoned"
    # The late outcome of the ring changes nothing.
    late = params(DialCallStatus="canceled")
    action = dialled(verbs)[0].attributes["action"]
    assert [v.tag for v in twiml_of(await post_signed(live, action, late))] == ["Redirect"]
    assert len(await events_of(sessions, conversation.id)) == len(events)


async def test_nobody_free_the_caller_hears_the_queue_and_leaves_a_voicemail(
    live: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await admin_headers(sessions)
    default = await queue_id(sessions, "default")
    settings = await live.patch(
        f"/v1/queues/{default}",
        headers=admin,
        json={
            "voice": {
                "wait_message": "Our team is helping other callers.",
                "music_url": "https://cdn.example.test/hold.mp3",
                "while_on_call": "block_chat",
            }
        },
    )
    assert settings.status_code == 200, settings.text
    assert settings.json()["voice"]["while_on_call"] == "block_chat"

    _, verbs = await ring_or_voicemail(live, await call_comes_in(live))
    assert [verb.tag for verb in verbs] == ["Say", "Play", "Say", "Record"]
    assert verbs[0].text == "Our team is helping other callers."
    assert verbs[1].text == "https://cdn.example.test/hold.mp3"
    record = verbs[3]
    goodbye = twiml_of(await post_signed(live, record.attributes["action"], params()))
    assert [verb.tag for verb in goodbye] == ["Say", "Hangup"]
    stored = await post_signed(
        live,
        record.attributes["recordingStatusCallback"],
        recording_params(CallSid=CALL_SID),
    )
    assert stored.content == EMPTY_TWIML
    ended = call_status_params("completed", CallSid=CALL_SID, CallDuration="40")
    assert (await post_signed(live, f"{VOICE}/status", ended)).status_code == 200

    async def voicemail_stored() -> bool:
        async with sessions() as session:
            kinds = await session.scalars(select(Message.kind))
            return "voicemail" in kinds.all() and (
                (await call_message(sessions)).call_status == "completed"
            )

    await until(voicemail_stored, "the voicemail and the call's end")
    conversation = await call_conversation(sessions)
    # It waits in its queue for someone to call back.
    assert (conversation.status, conversation.agent_id, conversation.queue_id) == (
        "open",
        None,
        default,
    )
    events = await events_of(sessions, conversation.id)
    assert [row.kind for row in events] == ["created", "queued", "queued", "call_ended"]
    assert events[2].reason == "waiting in default: no eligible agent"
    progress = MessageOut.model_validate(await call_message(sessions)).call_progress
    assert progress is not None
    assert progress["call_stage"] == "voicemail"


async def test_malformed_callbacks_and_voice_settings_are_refused_and_change_nothing(
    live: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await admin_headers(sessions)
    default = await queue_id(sessions, "default")
    ada = await agent(live, admin, "ada", default, {"endpoint_kind": "client"})
    _, verbs = await ring_or_voicemail(live, await call_comes_in(live))
    dial, _ = dialled(verbs)
    conversation = await call_conversation(sessions)
    before = len(await events_of(sessions, conversation.id))
    action = urlsplit(dial.attributes["action"])
    query = dict(parse_qsl(action.query))
    no_answer = params(DialCallStatus="no-answer")
    for name, value in [("conversation", "not-a-uuid"), ("agent", ""), ("offer", "12x")]:
        bad = urlencode({**query, name: value})
        body = problem(
            await post_signed(live, f"{action.path}?{bad}", no_answer), 422, "invalid-payload"
        )
        assert name in body["detail"]
    unsaid = [(k, v) for k, v in no_answer if k != "DialCallStatus"]
    body = problem(
        await post_signed(live, dial.attributes["action"], unsaid), 422, "invalid-payload"
    )
    assert "DialCallStatus" in body["detail"]
    body = problem(
        await post_signed(live, f"{VOICE}/wait?From=%2B1&To=%2B2&poll=many", params()),
        422,
        "invalid-payload",
    )
    assert "poll" in body["detail"]
    assert len(await events_of(sessions, conversation.id)) == before
    assert await voice_active(sessions) == {ada: 1}

    refused = await live.patch(
        f"/v1/agents/{ada}",
        headers=admin,
        json={"voice": {"endpoint_kind": "number", "endpoint": "call me"}},
    )
    assert refused.status_code == 422, refused.text
    assert "endpoint" in refused.text
    refused = await live.patch(
        f"/v1/queues/{default}", headers=admin, json={"voice": {"music_url": "file:///etc/x"}}
    )
    assert refused.status_code == 422, refused.text
    assert "music_url" in refused.text
    shown = await live.get(f"/v1/agents/{ada}", headers=admin)
    assert shown.json()["voice"] == {
        "endpoint_kind": "client",
        "endpoint": None,
        "ring_seconds": 20,
    }


async def test_an_agent_on_a_call_gets_no_chat_while_the_queue_says_so(
    live: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await admin_headers(sessions)
    default = await queue_id(sessions, "default")
    blocked = await live.patch(
        f"/v1/queues/{default}", headers=admin, json={"voice": {"while_on_call": "block_chat"}}
    )
    assert blocked.status_code == 200, blocked.text
    cyd = await agent(live, admin, "cyd", default, {"endpoint_kind": "client"})
    _, verbs = await ring_or_voicemail(live, await call_comes_in(live))
    _, noun = dialled(verbs)
    leg = params(CallSid="CA22222222222222222222222222222222", ParentCallSid=CALL_SID)
    await post_signed(live, noun.attributes["statusCallback"], leg)

    body = json.dumps(
        {
            "event_id": "evt_during_the_call",
            "visitor": {"id": "v_1"},
            "session_id": "s_1",
            "site": "shop-main",
            "text": "Anyone there?",
            "sent_at": "2026-12-02T10:00:00Z",
        }
    ).encode()
    chat = await live.post("/webhooks/chat", content=body, headers=webchat_headers(body))
    assert chat.status_code == 200, chat.text

    async def chat_conversation() -> Conversation | None:
        async with sessions() as session:
            return await session.scalar(select(Conversation).where(Conversation.channel == "chat"))

    async def chat_routed() -> bool:
        return await chat_conversation() is not None

    await until(chat_routed, "the chat to be routed")
    waiting = await chat_conversation()
    assert waiting is not None
    assert waiting.agent_id is None
    last = (await events_of(sessions, waiting.id))[-1]
    assert last.kind == "queued"
    assert last.details["candidates"] == {"on a call": [str(cyd)]}

    # The call ends: Cyd is off the call, and the sweep offers her the chat.
    ended = call_status_params("completed", CallSid=CALL_SID, CallDuration="60")
    assert (await post_signed(live, f"{VOICE}/status", ended)).status_code == 200

    async def offered_to_cyd() -> bool:
        found = await chat_conversation()
        return found is not None and found.agent_id == cyd

    await until(offered_to_cyd, "the chat to reach Cyd once her call ended")
