"""Surveys on email: a signed link to the router's own page, answered once."""

from __future__ import annotations

import json
import re
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import OutboxEvent
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories
from tests.adapters.channel_requests import PUBLIC
from tests.console.conftest import Team, bearer
from tests.console.feedback_steps import (
    LINK_SECRET,
    accept_and_resolve,
    feedback_of,
    provider_requests,
    status_of,
    survey_settings,
)
from tests.console.providers import FakeProviders
from tests.support import app_client

_LINK = re.compile(re.escape(PUBLIC) + r"(/feedback/[A-Za-z0-9_-]+)")


def _link_settings(console_settings: Settings) -> Settings:
    from pydantic import SecretStr

    return console_settings.model_copy(
        update={"public_base_url": PUBLIC, "feedback_link_secret": SecretStr(LINK_SECRET)}
    )


async def _emailed_link(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    team: Team,
    fake: FakeProviders,
    document: dict[str, object],
) -> tuple[str, str, dict[str, object]]:
    """A customer's email resolved by Ada; the conversation, the page's path, the mail."""
    await survey_settings(client, team, document)
    await RoutingEngine(sessions, settings).process([factories.email()])
    cid = await accept_and_resolve(client, team)
    [mail] = await provider_requests(fake, 1)
    sent: dict[str, object] = mail.json()
    found = _LINK.search(str(sent["TextBody"]))
    assert found is not None, sent["TextBody"]
    return cid, found.group(1), sent


async def test_the_email_survey_links_to_a_page_that_takes_one_answer(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    settings = _link_settings(console_settings)
    async with app_client(settings) as (_, client):
        cid, path, mail = await _emailed_link(
            client, sessions, settings, team, fake_providers, {"enabled": True, "kind": "ces"}
        )
        assert mail["To"] == "ada@example.com"
        assert mail["Subject"] == "How did we do?"
        headers = {item["Name"]: item["Value"] for item in mail["Headers"]}  # type: ignore[attr-defined]
        assert headers["Auto-Submitted"] == "auto-generated"
        assert headers["Message-ID"].endswith("@shop.example>")

        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "How easy was it to get your issue resolved?" in page.text
        assert re.findall(r'name="score" value="(\d+)"', page.text) == [str(n) for n in range(1, 8)]
        assert "<script" not in page.text
        assert 'src="http' not in page.text
        assert 'href="http' not in page.text

        refused = await client.post(path, data={"score": "8", "comment": "x"})
        assert refused.status_code == 422
        assert "Choose a score from 1 to 7" in refused.text
        assert await feedback_of(sessions, cid) == []

        answered = await client.post(path, data={"score": "6", "comment": "Quick, thanks"})
        assert answered.status_code == 200, answered.text
        assert "Thank you for your feedback!" in answered.text
        [answer] = await feedback_of(sessions, cid)
        assert (answer.kind, answer.score, answer.comment, answer.channel) == (
            "ces",
            6,
            "Quick, thanks",
            "email",
        )
        assert (answer.agent_id, answer.queue_id) == (team.ada, team.default_queue)
        assert await status_of(sessions, cid) == "resolved"

        for used in (await client.get(path), await client.post(path, data={"score": "1"})):
            assert used.status_code == 409
            assert "You have already answered" in used.text
        assert len(await feedback_of(sessions, cid)) == 1

        async with sessions() as session:
            values = (await session.scalars(select(OutboxEvent.value))).all()
        [event] = [
            json.loads(value)
            for value in values
            if json.loads(value)["type"] == "router.feedback.received"
        ]
        assert event["subject"] == cid
        assert (event["data"]["score"], event["data"]["kind"]) == (6, "ces")
        assert event["data"]["agent_id"] == str(team.ada)

        listed = await client.get("/v1/feedback", headers=bearer(team.supervisor_key))
        assert [item["score"] for item in listed.json()["items"]] == [6]
        agents_may_not = await client.get("/v1/feedback", headers=bearer(team.ada_key))
        assert agents_may_not.status_code == 403


async def test_a_forged_or_foreign_link_gets_a_clear_page_and_changes_nothing(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    settings = _link_settings(console_settings)
    async with app_client(settings) as (_, client):
        cid, path, _ = await _emailed_link(
            client, sessions, settings, team, fake_providers, {"enabled": True}
        )
        token = path.rsplit("/", 1)[1]
        tampered = ("A" if token[0] != "A" else "B") + token[1:]
        for forged in (tampered, "not-a-token", uuid.uuid4().hex):
            for answer in (
                await client.get(f"/feedback/{forged}"),
                await client.post(f"/feedback/{forged}", data={"score": "5"}),
            ):
                assert answer.status_code == 404
                assert "This link is not valid" in answer.text
        assert await feedback_of(sessions, cid) == []


async def test_survey_settings_are_versioned_and_checked(
    console_settings: Settings, team: Team
) -> None:
    async with app_client(console_settings) as (_, client):
        admin, supervisor = bearer(team.admin_key), bearer(team.supervisor_key)
        built_in = await client.get("/v1/feedback/settings", headers=supervisor)
        assert built_in.json()["version"] == 0
        assert built_in.json()["settings"]["enabled"] is False

        saved = await survey_settings(client, team, {"enabled": True, "delay_seconds": 60})
        assert saved["version"] == 1
        current = await client.get("/v1/feedback/settings", headers=supervisor)
        assert current.json()["settings"]["delay_seconds"] == 60

        for odd, field in [
            ({"queues": {str(uuid.uuid4()): {"enabled": False}}}, "queues"),
            ({"kind": "stars"}, "body.kind"),
            ({"delay_seconds": "60"}, "body.delay_seconds"),
            ({"enabled": "yes"}, "body.enabled"),
            ({"question": "Did we\u0000 help?"}, "body.question"),
            ({"channels": {"fax": {}}}, "body.channels.fax.[key]"),
        ]:
            refused = await client.put("/v1/feedback/settings", headers=admin, json=odd)
            assert refused.status_code == 422, (odd, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
            assert field in refused.text, refused.text
        not_admin = await client.put("/v1/feedback/settings", headers=supervisor, json={})
        assert not_admin.status_code == 403
        after = await client.get("/v1/feedback/settings", headers=supervisor)
        assert after.json()["version"] == 1


async def test_the_web_chat_survey_reaches_the_visitors_session_with_a_link_to_the_page(
    signed_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    from adapters.kafka.topics import ensure_topics
    from tests.console import providers
    from tests.console.receipts import Receipts
    from tests.console.test_chat_replies import put_site, signed, visitor_message

    settings = _link_settings(signed_settings)
    await ensure_topics(settings)
    async with app_client(settings) as (_, client):
        receipts = Receipts(client, settings, RoutingEngine(sessions, settings))
        site = await put_site(client, team, fake_providers.base_url + providers.CHAT_PATH)
        assert site.is_success, site.text
        await survey_settings(client, team, {"enabled": True})
        body = visitor_message("s_77", "That solved it, thanks")
        await receipts.post("/webhooks/chat", body, signed(body))
        cid = await accept_and_resolve(client, team)

        # The survey is an automatic message: it answers the visitor's latest session.
        [request] = await provider_requests(fake_providers, 1)
        assert request.path == providers.CHAT_PATH
        document = request.json()
        assert document["session_id"] == "s_77"
        found = _LINK.search(str(document["text"]))
        assert found is not None, document["text"]
        page = await client.get(found.group(1))
        assert page.status_code == 200, page.text
        answered = await client.post(found.group(1), data={"score": "5"})
        assert answered.status_code == 200, answered.text
    [answer] = await feedback_of(sessions, cid)
    assert (answer.channel, answer.kind, answer.score) == ("chat", "csat", 5)
    assert await status_of(sessions, cid) == "resolved"
