"""Schemathesis against the app in-process: no 5xx, and every answer matches the spec.

Half the generated requests name real objects (a conversation Ada owns, a waiting one, a
queue, an agent) instead of random ids, so the fuzzed bodies reach the actions themselves,
not only the 404 in front of them.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.app import create_app
from router.db import transaction
from router.inbound.envelope import utcnow
from router.routing.engine import RoutingEngine
from router.routing.offers import drain_waiting
from router.settings import Settings
from tests import factories
from tests.console.conftest import Team

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
async def real_ids(
    console_settings: Settings, sessions: async_sessionmaker[AsyncSession], team: Team
) -> dict[str, list[str]]:
    engine = RoutingEngine(sessions, console_settings)
    await engine.process([factories.sms("first", sender="+14155550111")])
    await engine.process([factories.email("second", sender="eve@example.com")])
    async with transaction(sessions) as session:
        await drain_waiting(session, console_settings, utcnow())
    from sqlalchemy import select

    from router.models import Conversation

    async with sessions() as session:
        conversations = [str(cid) for cid in (await session.scalars(select(Conversation.id))).all()]
    return {
        "conversation_id": conversations,
        "queue_id": [str(team.default_queue)],
        "agent_id": [str(team.bob), str(team.ada)],
    }


def _fuzz(settings: Settings, key: str, real_ids: dict[str, list[str]]) -> int:
    # Schemathesis runs the app (and its lifespan) on its own event loop thread, so this test
    # is synchronous; the app gets a database of its own from the fixtures.
    app = create_app(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="^/v1/")
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy(), data=st.data())
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case, data: st.DataObject) -> None:
            for name in list(case.path_parameters or {}):
                if name in real_ids and data.draw(st.booleans()):
                    case.path_parameters[name] = data.draw(st.sampled_from(real_ids[name]))
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
            response = case.call()
            case.validate_response(response, checks=CHECKS)

        conforms()
    return operations


def test_admin_key_finds_no_server_error_and_no_spec_violation(
    console_settings: Settings, team: Team, real_ids: dict[str, list[str]]
) -> None:
    assert _fuzz(console_settings, team.admin_key, real_ids) >= 25


def test_agent_key_finds_no_server_error_and_no_spec_violation(
    console_settings: Settings, team: Team, real_ids: dict[str, list[str]]
) -> None:
    assert _fuzz(console_settings, team.ada_key, real_ids) >= 25
