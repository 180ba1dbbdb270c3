"""Arbitrary Unicode in every `/v1` text field, and forged cursors: never a 5xx.

A lone surrogate (a JSON `"\\ud800"` escape) or a NUL cannot be stored by PostgreSQL; the
API refuses them with a 422 naming the field, and a refused request changes nothing.
Cursors are opaque, but a client can forge one: dates at the ends of the calendar and ids
beyond a bigint are refused as "not valid", never a 500.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories
from tests.console.conftest import Team, bearer

# Every code point, NUL and lone surrogates included, and often one of those for certain.
ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHARACTER, max_size=30)
TEXT = st.one_of(
    ANY_TEXT,
    st.tuples(ANY_TEXT, st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d"]), ANY_TEXT).map(
        "".join
    ),
)
TABLES = (
    "conversations",
    "messages",
    "conversation_events",
    "agents",
    "agent_capacities",
    "queues",
    "queue_agents",
    "routing_policies",
)
EXAMPLES = hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Ids:
    conversation: uuid.UUID
    queue: uuid.UUID
    agent: uuid.UUID


@dataclass(frozen=True)
class Field:
    """A request carrying `value` in one text field, sent with one role's key."""

    role: str
    method: str
    path: Callable[[Ids], str]
    body: Callable[[str], Any]


def _rule(**change: Any) -> dict[str, Any]:
    return {"name": "vip", "keywords": ["refund"], "queue": "default", **change}


FIELDS: dict[str, Field] = {
    "note.text": Field("agent", "POST", lambda i: f"/v1/conversations/{i.conversation}/notes",
                       lambda v: {"text": v}),
    "reply.text": Field("agent", "POST", lambda i: f"/v1/conversations/{i.conversation}/replies",
                        lambda v: {"text": v}),
    "reply.subject": Field("agent", "POST",
                           lambda i: f"/v1/conversations/{i.conversation}/replies",
                           lambda v: {"text": "hello", "subject": v}),
    "resolve.reason": Field("agent", "POST",
                            lambda i: f"/v1/conversations/{i.conversation}/resolve",
                            lambda v: {"reason": v}),
    "reopen.reason": Field("supervisor", "POST",
                           lambda i: f"/v1/conversations/{i.conversation}/reopen",
                           lambda v: {"reason": v}),
    "transfer.reason": Field("agent", "POST",
                             lambda i: f"/v1/conversations/{i.conversation}/transfer",
                             lambda v: {"queue_id": "QUEUE", "reason": v}),
    "assign.reason": Field("supervisor", "POST",
                           lambda i: f"/v1/conversations/{i.conversation}/assign",
                           lambda v: {"queue_id": "QUEUE", "reason": v}),
    "agent.display_name": Field("admin", "POST", lambda i: "/v1/agents",
                                lambda v: {"handle": "carol", "display_name": v}),
    "agent.skills": Field("admin", "PATCH", lambda i: f"/v1/agents/{i.agent}",
                          lambda v: {"skills": {v: 3}}),
    "agent.handle": Field("admin", "POST", lambda i: "/v1/agents",
                          lambda v: {"handle": v, "display_name": "Carol"}),
    "queue.name": Field("admin", "POST", lambda i: "/v1/queues", lambda v: {"name": v}),
    "queue.required_skills": Field("admin", "PATCH", lambda i: f"/v1/queues/{i.queue}",
                                   lambda v: {"required_skills": {v: 1}}),
    "queue.time_zone": Field("admin", "PATCH", lambda i: f"/v1/queues/{i.queue}",
                             lambda v: {"business_hours": {"time_zone": v}}),
    "policy.comment": Field("admin", "PUT", lambda i: "/v1/routing-policy",
                            lambda v: {"default_queue": "default", "comment": v}),
    "policy.rule.name": Field("admin", "PUT", lambda i: "/v1/routing-policy",
                              lambda v: {"default_queue": "default", "rules": [_rule(name=v)]}),
    "policy.rule.keywords": Field("admin", "PUT", lambda i: "/v1/routing-policy",
                                  lambda v: {"default_queue": "default",
                                             "rules": [_rule(keywords=[v])]}),
    "policy.rule.recipients": Field("admin", "PUT", lambda i: "/v1/routing-policy",
                                    lambda v: {"default_queue": "default",
                                               "rules": [_rule(recipients=[v])]}),
    "policy.rule.attributes": Field("admin", "PUT", lambda i: "/v1/routing-policy",
                                    lambda v: {"default_queue": "default",
                                               "rules": [_rule(customer_attributes={v: v})]}),
}  # fmt: skip


# Columns a reply's background sending changes after its request was answered.
_COLUMNS = {"messages": "t.id, t.conversation_id, t.direction, t.subject, t.text"}


@pytest.fixture
def console_settings(console_settings: Settings) -> Settings:
    """Polls without a practical rate limit: every example here is a poll."""
    return console_settings.model_copy(update={"poll_rate_per_minute": 1_000_000})


async def _fingerprint(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Every row of the tables an action may change, digested per table."""
    found: dict[str, str] = {}
    async with sessions() as session:
        for table in TABLES:
            row = f"({_COLUMNS[table]})" if table in _COLUMNS else "t"
            rows = f"string_agg({row}::text, '|' ORDER BY {row}::text)"
            digest = await session.scalar(text(f"SELECT md5(coalesce({rows}, '')) FROM {table} t"))
            found[table] = str(digest)
    return found


@pytest.fixture
async def ids(console_settings: Settings, sessions: async_sessionmaker[AsyncSession],
              api: tuple[FastAPI, httpx.AsyncClient], team: Team) -> Ids:  # fmt: skip
    """An SMS conversation Ada has accepted."""
    await RoutingEngine(sessions, console_settings).process([factories.sms("where is it?")])
    _, client = api
    listed = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()
    [item] = listed["items"]
    accepted = await client.post(
        f"/v1/conversations/{item['id']}/accept", headers=bearer(team.ada_key)
    )
    assert accepted.status_code == 200, accepted.text
    return Ids(uuid.UUID(item["id"]), team.default_queue, team.bob)


def _key(team: Team, role: str) -> str:
    return {"agent": team.ada_key, "supervisor": team.supervisor_key, "admin": team.admin_key}[role]


@pytest.mark.parametrize("name", list(FIELDS))
@EXAMPLES
@given(value=TEXT)
async def test_any_text_in_a_field_is_never_a_server_error_and_a_refusal_changes_nothing(
    name: str,
    api: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    ids: Ids,
    value: str,
) -> None:
    _, client = api
    field = FIELDS[name]
    body = json.dumps(field.body(value)).replace("QUEUE", str(ids.queue))
    before = await _fingerprint(sessions)
    response = await client.request(
        field.method,
        field.path(ids),
        content=body.encode(),  # `\u` escapes: how a client sends a lone surrogate
        headers={**bearer(_key(team, field.role)), "Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert await _fingerprint(sessions) == before
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("note.text", "hello\ud800x", "body.text"),
        ("note.text", "hello\x00x", "body.text"),
        ("agent.skills", "sk\udc00ill", "body.skills"),
        ("policy.rule.keywords", "re\ud800fund", "body.rules.0.keywords.0"),
        ("policy.rule.keywords", "re\x00fund", "rules[0].keywords[0]"),
        ("policy.comment", "ok\x00", "body.comment"),
    ],
)
async def test_the_problem_names_the_field_and_what_is_wrong(
    name: str, value: str, field: str, api: tuple[FastAPI, httpx.AsyncClient], team: Team, ids: Ids
) -> None:
    _, client = api
    spec = FIELDS[name]
    response = await client.request(
        spec.method,
        spec.path(ids),
        content=json.dumps(spec.body(value)).encode(),
        headers={**bearer(_key(team, spec.role)), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert field in problem["detail"]
    assert ("NUL" if "\x00" in value else "lone surrogates") in problem["detail"]


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


_OFFSETS = st.integers(-23 * 60 + 1, 23 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
_MOMENTS = st.one_of(
    st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                     "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59.999999+00:00"]),
    st.datetimes(timezones=st.just(UTC) | _OFFSETS).map(datetime.isoformat),
    st.text(max_size=30),
)  # fmt: skip
_EVENT_IDS = st.one_of(
    st.sampled_from([10**23, -(2**63) - 1, 2**63, 2**63 - 1, -(2**63)]),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.booleans(),
)
_CURSORS = st.one_of(
    st.tuples(_MOMENTS, st.uuids().map(str)).map(lambda p: _cursor(*p)),
    _EVENT_IDS.map(_cursor),
    # Any text a URL can carry: UTF-8 has no lone surrogates, so no client can send one.
    st.text(st.characters(codec="utf-8"), max_size=40),
)


@pytest.mark.parametrize("parameter", ["cursor", "messages_cursor", "events_cursor"])
@EXAMPLES
@given(value=_CURSORS)
async def test_a_forged_cursor_is_never_a_server_error(
    parameter: str, api: tuple[FastAPI, httpx.AsyncClient], team: Team, ids: Ids, value: str
) -> None:
    _, client = api
    path = "/v1/conversations" if parameter == "cursor" else f"/v1/conversations/{ids.conversation}"
    response = await client.get(
        path, params={parameter: value}, headers=bearer(team.supervisor_key)
    )
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("cursor", _cursor("0001-01-01T00:00:00+05:00", str(uuid.uuid4()))),
        ("cursor", _cursor("9999-12-31T23:00:00-05:00", str(uuid.uuid4()))),
        ("messages_cursor", _cursor("0001-01-01T00:00:00+00:00", str(uuid.uuid4()))),
        ("events_cursor", _cursor(10**23)),
        ("events_cursor", _cursor(-(2**63) - 1)),
    ],
)
async def test_a_cursor_out_of_range_is_not_valid(
    parameter: str, value: str, api: tuple[FastAPI, httpx.AsyncClient], team: Team, ids: Ids
) -> None:
    _, client = api
    path = "/v1/conversations" if parameter == "cursor" else f"/v1/conversations/{ids.conversation}"
    response = await client.get(
        path, params={parameter: value}, headers=bearer(team.supervisor_key)
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/invalid-cursor")
    assert problem["detail"].startswith(f"{parameter}: the cursor is not valid")
    assert problem["field"] == parameter


@pytest.mark.parametrize(
    ("path", "parameter", "value"),
    [
        ("/v1/audit", "subject_id", "ab\x00c"),
        ("/v1/customers", "identity", "phone:+1415\x00"),
    ],
)
async def test_a_nul_in_a_query_is_refused_by_name(
    path: str, parameter: str, value: str, api: tuple[FastAPI, httpx.AsyncClient], team: Team
) -> None:
    _, client = api
    response = await client.get(
        path, params={parameter: value}, headers=bearer(_key(team, "admin"))
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert parameter in response.json()["detail"]
