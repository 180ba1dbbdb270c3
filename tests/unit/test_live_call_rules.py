"""Live calls, the pure parts: who an agent on a call may still get, voice settings, TwiML."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.channels.twiml import (
    connecting_twiml,
    hold_twiml,
    ring_twiml,
    voicemail_twiml,
    wait_again_twiml,
)
from router.channels import Channel, Presence
from router.routing.decision import (
    AgentSnapshot,
    ConversationToRoute,
    Judgements,
    Outcome,
    QueueSnapshot,
    WaitingConversation,
    decide_owner,
    plan_assignments,
)
from router.voice.progress import offer_mark
from router.voice.schemas import AgentVoice, EndpointKind, QueueVoice, WhileOnCall
from router.voice.service import Ring, Voicemail
from tests.adapters.twiml_checker import check_twiml

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
BASE = "https://router.example.test"
CALLER, LINE = "+12025550173", "+13125550148"


def _agent(agent_id: str, *, on_call: bool, idle: int = 0) -> AgentSnapshot:
    return AgentSnapshot(
        agent_id=agent_id,
        presence=Presence.ONLINE,
        idle_since=NOW - timedelta(minutes=idle),
        capacity={channel: 2 for channel in Channel},
        active={Channel.VOICE: 1} if on_call else {},
        on_call=on_call,
    )


def _queue(rule: WhileOnCall) -> QueueSnapshot:
    return QueueSnapshot(name="support", agent_ids=frozenset({"ada", "bob"}), while_on_call=rule)


@pytest.mark.parametrize(
    ("rule", "channel", "blocked"),
    [
        (WhileOnCall.ALLOW, Channel.CHAT, False),
        (WhileOnCall.BLOCK_CHAT, Channel.CHAT, True),
        (WhileOnCall.BLOCK_CHAT, Channel.WHATSAPP, True),
        (WhileOnCall.BLOCK_CHAT, Channel.SMS, True),
        (WhileOnCall.BLOCK_CHAT, Channel.EMAIL, False),
        (WhileOnCall.BLOCK_ALL, Channel.EMAIL, True),
        (WhileOnCall.BLOCK_ALL, Channel.VOICE, False),
        (WhileOnCall.BLOCK_CHAT, Channel.VOICE, False),
    ],
)
def test_a_queue_says_what_an_agent_on_a_call_may_still_get(
    rule: WhileOnCall, channel: Channel, blocked: bool
) -> None:
    assert rule.blocks(channel) is blocked
    conversation = ConversationToRoute(conversation_id="c1", channel=channel)
    decision = decide_owner(conversation, _queue(rule), [_agent("ada", on_call=True)], NOW)
    assert (decision.outcome is Outcome.WAIT) is blocked
    if blocked:
        assert decision.audit()["candidates"] == {"on a call": ["ada"]}


def test_a_blocked_agent_on_a_call_leaves_the_chat_to_a_colleague_and_the_plan_agrees() -> None:
    # Ada has been idle longest, so only her call keeps the chat from her.
    agents = [_agent("ada", on_call=True, idle=60), _agent("bob", on_call=False)]
    chat = ConversationToRoute(conversation_id="c1", channel=Channel.CHAT)
    queue = _queue(WhileOnCall.BLOCK_CHAT)
    assert decide_owner(chat, queue, agents, NOW).agent_id == "bob"
    assert decide_owner(chat, queue, agents, NOW, judgements=Judgements()).agent_id == "bob"
    assert decide_owner(chat, _queue(WhileOnCall.ALLOW), agents, NOW).agent_id == "ada"
    waiting = [
        WaitingConversation(
            conversation_id=f"c{n}",
            channel=Channel.CHAT,
            queue="support",
            priority=0,
            waiting_since=NOW - timedelta(minutes=n),
        )
        for n in range(3)
    ]
    plan = plan_assignments(waiting, agents, {"support": queue}, NOW)
    assert {agent for _, agent in plan} == {"bob"}
    assert len(plan) == 2  # Bob's two chat slots; Ada gets none while on the call


@pytest.mark.parametrize(
    ("voice", "problem"),
    [
        ({"endpoint_kind": "number", "endpoint": "0041 79 123"}, "not a valid number endpoint"),
        ({"endpoint_kind": "number"}, "a number endpoint needs a value"),
        ({"endpoint_kind": "sip", "endpoint": "bob@pbx"}, "not a valid sip endpoint"),
        ({"endpoint_kind": "client", "endpoint": "has space"}, "not a valid client endpoint"),
        ({"endpoint_kind": "pager", "endpoint": "1"}, "endpoint_kind"),
        ({"ring_seconds": 2}, "ring_seconds"),
        ({"ring_seconds": "20"}, "ring_seconds"),
    ],
)
def test_an_agents_voice_endpoint_must_fit_its_kind(voice: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        AgentVoice.model_validate(voice)


def test_queue_voice_settings_refuse_unknown_fields_and_bad_music() -> None:
    with pytest.raises(ValidationError, match="music_url"):
        QueueVoice.model_validate({"music_url": "ftp://example.test/a.mp3"})
    with pytest.raises(ValidationError, match="hold_music"):
        QueueVoice.model_validate({"hold_music": "https://example.test/a.mp3"})
    with pytest.raises(ValidationError, match="while_on_call"):
        QueueVoice.model_validate({"while_on_call": "sometimes"})


@given(st.datetimes(timezones=st.just(UTC)), st.integers(min_value=1, max_value=10**6))
def test_each_offer_has_its_own_number(moment: datetime, step: int) -> None:
    later = moment + timedelta(microseconds=step)
    first, second = offer_mark(moment), offer_mark(later)
    assert first is not None
    assert second is not None
    assert second - first == step


@pytest.mark.parametrize(
    ("kind", "endpoint", "noun"),
    [
        (EndpointKind.NUMBER, "+14155550101", "Number"),
        (EndpointKind.SIP, "sip:bob@pbx.example.test;transport=tls", "Sip"),
        (EndpointKind.CLIENT, "cyd", "Client"),
    ],
)
def test_a_ring_dials_the_agents_endpoint_with_callbacks_naming_the_offer(
    kind: EndpointKind, endpoint: str, noun: str
) -> None:
    ring = Ring(uuid.uuid4(), uuid.uuid4(), 1_790_000_000_000_001, kind, endpoint, 25)
    [dial] = check_twiml(ring_twiml(BASE, CALLER, LINE, ring), BASE)
    assert dial.tag == "Dial"
    assert dial.attributes["timeout"] == "25"
    [called] = dial.children
    assert (called.tag, called.text) == (noun, endpoint)
    offer = {
        "conversation": str(ring.conversation_id),
        "agent": str(ring.agent_id),
        "offer": str(ring.offer),
    }
    assert dial.query("action") == {**offer, "From": CALLER, "To": LINE}
    assert called.query("statusCallback") == offer


def test_every_other_answer_is_twiml_twilio_accepts() -> None:
    odd = Voicemail('Closed <today> & "tomorrow"', "https://cdn.example.test/hold.mp3?a=1&b=2")
    verbs = check_twiml(voicemail_twiml(BASE, CALLER, LINE, odd), BASE)
    assert [verb.tag for verb in verbs] == ["Say", "Play", "Say", "Record"]
    assert verbs[0].text == 'Closed <today> & "tomorrow"'
    assert verbs[1].text == "https://cdn.example.test/hold.mp3?a=1&b=2"
    for document in (
        connecting_twiml(BASE, CALLER, LINE),
        hold_twiml(BASE, CALLER, LINE, 3),
        wait_again_twiml(BASE, CALLER, LINE),
    ):
        redirect = check_twiml(document, BASE)[-1]
        assert redirect.tag == "Redirect"
        assert redirect.query("")["From"] == CALLER
