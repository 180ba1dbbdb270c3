"""Surveys on SMS: sent after a resolve, answered by a number, once per resolution."""

from __future__ import annotations

import asyncio
import json
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import transaction
from router.feedback import surveys
from router.models import Conversation, OutboxEvent
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories
from tests.adapters.twilio_requests import CUSTOMER, LINE
from tests.console.conftest import Team, bearer
from tests.console.feedback_steps import (
    accept_and_resolve,
    customer_sms,
    feedback_of,
    inline_settings,
    provider_requests,
    status_of,
    survey_settings,
    surveys_of,
)
from tests.console.providers import FakeProviders
from tests.support import app_client

TWILIO_SENDS = "/Messages.json"


def _texts(fake: FakeProviders) -> list[dict[str, str]]:
    return [request.form() for request in fake.requests if request.path.endswith(TWILIO_SENDS)]


async def test_a_survey_goes_out_on_sms_and_a_number_answers_it_without_reopening(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    async with app_client(inline_settings(console_settings)) as (_, client):
        await survey_settings(client, team, {"enabled": True, "thanks": "Thanks a lot!"})
        await customer_sms(client, "Is my parcel on its way?")
        cid = await accept_and_resolve(client, team)

        [survey] = await provider_requests(fake_providers, 1)
        sent = survey.form()
        assert (sent["To"], sent["From"]) == (CUSTOMER, LINE)
        assert sent["Body"].startswith("How satisfied are you with the help you received?")
        assert "Reply with a number from 1 (very unsatisfied) to 5 (very satisfied)" in sent["Body"]

        await customer_sms(client, "4 - slow but good")
        assert await status_of(sessions, cid) == "resolved"
        [answer] = await feedback_of(sessions, cid)
        assert (answer.agent_id, answer.queue_id, answer.channel, answer.kind) == (
            team.ada,
            team.default_queue,
            "sms",
            "csat",
        )
        assert (answer.score, answer.comment, answer.resolution) == (4, "slow but good", 1)

        # The thank-you follows, marked as a message nobody wrote.
        await provider_requests(fake_providers, 2)
        assert [text["Body"] for text in _texts(fake_providers)][1] == "Thanks a lot!"

        detail = await client.get(f"/v1/conversations/{cid}", headers=bearer(team.ada_key))
        assert [(f["score"], f["comment"]) for f in detail.json()["feedback"]] == [
            (4, "slow but good")
        ]
        messages = detail.json()["messages"]["items"]
        assert [m["text"] for m in messages if m["direction"] == "inbound"] == [
            "Is my parcel on its way?",
            "4 - slow but good",
        ]
        listed = await client.get(
            "/v1/feedback",
            headers=bearer(team.supervisor_key),
            params={"agent_id": str(team.ada), "queue_id": str(team.default_queue)},
        )
        assert [item["id"] for item in listed.json()["items"]] == [str(answer.id)]

        # Answered: a second number is a message like any, and reopens the conversation.
        await customer_sms(client, "5")
        assert await status_of(sessions, cid) == "open"
        assert len(await feedback_of(sessions, cid)) == 1


async def test_a_number_out_of_range_is_a_message_that_reopens(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    async with app_client(inline_settings(console_settings)) as (_, client):
        await survey_settings(client, team, {"enabled": True})
        await customer_sms(client, "Is my parcel on its way?")
        cid = await accept_and_resolve(client, team)
        await provider_requests(fake_providers, 1)

        await customer_sms(client, "9")
        assert await status_of(sessions, cid) == "open"
        assert await feedback_of(sessions, cid) == []
        [survey] = await surveys_of(sessions, cid)
        assert survey.answered_at is None


async def test_one_survey_per_resolution_and_another_after_a_reopen(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    settings = inline_settings(console_settings)
    async with app_client(settings) as (app, client):
        await survey_settings(client, team, {"enabled": True, "kind": "nps"})
        await customer_sms(client, "Is my parcel on its way?")
        cid = await accept_and_resolve(client, team)
        ada = bearer(team.ada_key)
        again = await client.post(f"/v1/conversations/{cid}/resolve", headers=ada, json={})
        assert again.status_code == 409

        # The same resolution planned again (a retry, another process) makes no second one.
        async with transaction(sessions) as session:
            conversation = await session.get_one(Conversation, uuid.UUID(cid))
            repeat = await surveys.survey_after_resolve(
                session,
                settings,
                app.state.console.senders,
                conversation,
                team.ada,
                conversation.resolved_at,
            )
        assert repeat is None
        assert len(await surveys_of(sessions, cid)) == 1

        reopened = await client.post(f"/v1/conversations/{cid}/reopen", headers=ada, json={})
        assert reopened.status_code == 200, reopened.text
        resolved = await client.post(f"/v1/conversations/{cid}/resolve", headers=ada, json={})
        assert resolved.status_code == 200, resolved.text

        assert [s.resolution for s in await surveys_of(sessions, cid)] == [1, 2]
        await provider_requests(fake_providers, 2)
        bodies = [text["Body"] for text in _texts(fake_providers)]
        assert len(bodies) == 2
        assert all("from 0 (not at all likely) to 10 (extremely likely)" in b for b in bodies)

        await customer_sms(client, "10 would recommend")
        [answer] = await feedback_of(sessions, cid)
        assert (answer.kind, answer.score, answer.resolution) == ("nps", 10, 2)


async def test_no_survey_where_switched_off_or_when_the_agent_says_so(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    async with app_client(inline_settings(console_settings)) as (_, client):
        queue_off = {"enabled": True, "queues": {str(team.default_queue): {"enabled": False}}}
        await survey_settings(client, team, queue_off)
        await customer_sms(client, "Is my parcel on its way?")
        cid = await accept_and_resolve(client, team)

        # The customer writes again on the thread: reopened, offered to Ada, resolved again.
        await survey_settings(
            client, team, {"enabled": True, "channels": {"sms": {"enabled": False}}}
        )
        await customer_sms(client, "And my other parcel?")
        assert await accept_and_resolve(client, team) == cid

        await survey_settings(client, team, {"enabled": True})
        await customer_sms(client, "And the third one?")
        assert await accept_and_resolve(client, team, {"survey": False}) == cid

        await asyncio.sleep(0.5)  # several sweeps: nothing delayed is waiting either
        assert _texts(fake_providers) == []
        assert await surveys_of(sessions, cid) == []
        await customer_sms(client, "5")
        assert await status_of(sessions, cid) == "open"
        assert await feedback_of(sessions, cid) == []


async def test_a_delayed_survey_is_sent_by_the_sweep(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    async with app_client(inline_settings(console_settings)) as (_, client):
        await survey_settings(client, team, {"enabled": True, "delay_seconds": 1})
        await customer_sms(client, "Is my parcel on its way?")
        cid = await accept_and_resolve(client, team)
        [survey] = await surveys_of(sessions, cid)
        assert survey.sent_at is None
        assert _texts(fake_providers) == []
        [sent] = await provider_requests(fake_providers, 1)
        assert "Reply with a number" in sent.form()["Body"]
        [survey] = await surveys_of(sessions, cid)
        assert survey.sent_at is not None
        assert survey.message_id is not None


async def test_the_engine_on_kafka_keeps_the_first_answer_and_publishes_it(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    settings = console_settings.model_copy(update={"feedback_sweep_seconds": 0.1})
    engine = RoutingEngine(sessions, settings)
    async with app_client(settings) as (_, client):
        await survey_settings(client, team, {"enabled": True})
        await engine.process([factories.sms("Where is my order?")])
        cid = await accept_and_resolve(client, team)
        await provider_requests(fake_providers, 1)

        # Two answers in one batch: the first is the answer, the second a message like any.
        await engine.process([factories.sms("2 late again"), factories.sms("3")])
        [answer] = await feedback_of(sessions, cid)
        assert (answer.score, answer.comment) == (2, "late again")
        assert await status_of(sessions, cid) == "open"

        async with sessions() as session:
            values = (await session.scalars(select(OutboxEvent.value))).all()
        [event] = [
            json.loads(value)
            for value in values
            if json.loads(value)["type"] == "router.feedback.received"
        ]
        assert event["subject"] == cid
        assert (event["data"]["score"], event["data"]["channel"]) == (2, "sms")
        # The engine queued the thank-you; the API process's sweep sends it.
        await provider_requests(fake_providers, 2)
        assert [text["Body"] for text in _texts(fake_providers)][1] == (
            "Thank you for your feedback!"
        )
