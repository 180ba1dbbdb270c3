"""Logging in with the identity provider's JWTs, beside API keys, on the real app.

The provider is a local JWKS server (`tests.console.identity`); the router fetches its keys
over HTTP like it would from the real one.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devstack.net import free_port
from router.models import ConversationEvent
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories
from tests.console.conftest import Team, bearer
from tests.console.identity import (
    AUDIENCE,
    ISSUER,
    JWKS_PATH,
    IdentityProvider,
    IdentityProviderServer,
)
from tests.support import app_client

IMPOSTOR = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def identity_server() -> Iterator[IdentityProvider]:
    server = IdentityProviderServer()
    provider = server.start()
    yield provider
    server.stop()


@pytest.fixture
def idp(identity_server: IdentityProvider) -> IdentityProvider:
    identity_server.reset()
    return identity_server


def with_jwt(settings: Settings, jwks_url: str, **changes: Any) -> Settings:
    """The settings with JWT login on; every unknown key id may fetch the JWKS again."""
    return settings.model_copy(
        update={
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            "jwt_jwks_url": jwks_url,
            "jwt_jwks_refetch_seconds": 0.0,
            **changes,
        }
    )


@pytest.fixture
async def jwt_api(
    console_settings: Settings, idp: IdentityProvider
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with app_client(with_jwt(console_settings, idp.url)) as running:
        yield running


def agent_token(idp: IdentityProvider, handle: str = "ada", **claims: Any) -> str:
    return idp.token(
        **{"sub": f"{handle}@example.com", "router_role": "agent", "router_agent": handle, **claims}
    )


def supervisor_token(idp: IdentityProvider, **claims: Any) -> str:
    return idp.token(**{"sub": "sue@example.com", "router_role": "supervisor", **claims})


async def test_an_agent_logs_in_with_a_token_and_lists_their_own_conversations(
    jwt_api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
    idp: IdentityProvider,
) -> None:
    _, client = jwt_api
    await routing_engine.process([factories.sms("where is my parcel", sender="+14155550101")])

    ada = bearer(agent_token(idp, "ada"))
    mine = await client.get("/v1/conversations", headers=ada)
    assert mine.status_code == 200, mine.text
    by_key = await client.get("/v1/conversations", headers=bearer(team.ada_key))
    assert [item["id"] for item in mine.json()["items"]] == [
        item["id"] for item in by_key.json()["items"]
    ]
    assert len(mine.json()["items"]) == 1
    bobs = await client.get("/v1/conversations", headers=bearer(agent_token(idp, "bob")))
    assert bobs.status_code == 200
    assert bobs.json()["items"] == []

    me = (await client.get("/v1/me", headers=ada)).json()
    assert (me["role"], me["key_name"], me["agent"]["handle"]) == (
        "agent",
        "ada@example.com",
        "ada",
    )
    [offered] = mine.json()["items"]
    accepted = await client.post(f"/v1/conversations/{offered['id']}/accept", headers=ada)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["agent_id"] == str(team.ada)


async def test_supervisor_tokens_reach_supervisor_endpoints_and_agent_tokens_do_not(
    jwt_api: tuple[FastAPI, httpx.AsyncClient], team: Team, idp: IdentityProvider
) -> None:
    _, client = jwt_api
    queues = await client.get("/v1/queues", headers=bearer(supervisor_token(idp)))
    assert queues.status_code == 200, queues.text
    assert any(queue["id"] == str(team.default_queue) for queue in queues.json())

    refused = await client.get("/v1/queues", headers=bearer(agent_token(idp)))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "this needs the role admin, supervisor"

    # A supervisor is not an admin; the strongest role a token lists is the one that counts.
    policy = {"default_queue": "default", "rules": [], "comment": "from the IdP"}
    not_admin = await client.put(
        "/v1/routing-policy", headers=bearer(supervisor_token(idp)), json=policy
    )
    assert not_admin.status_code == 403
    admin = bearer(idp.token(sub="root@example.com", router_role=["supervisor", "admin"]))
    published = await client.put("/v1/routing-policy", headers=admin, json=policy)
    assert published.status_code == 200, published.text
    assert published.json()["created_by"] == "admin:root@example.com (jwt)"


async def test_a_supervisor_token_acts_under_its_subject_in_the_history(
    jwt_api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    idp: IdentityProvider,
) -> None:
    _, client = jwt_api
    await routing_engine.process([factories.sms("cancel my order", sender="+14155550102")])
    supervisor = bearer(supervisor_token(idp))
    [conversation] = (await client.get("/v1/conversations", headers=supervisor)).json()["items"]
    resolved = await client.post(
        f"/v1/conversations/{conversation['id']}/resolve",
        headers=supervisor,
        json={"reason": "duplicate"},
    )
    assert resolved.status_code == 200, resolved.text
    async with sessions() as session:
        actors = (
            await session.execute(
                select(ConversationEvent.actor_kind, ConversationEvent.actor_id).where(
                    ConversationEvent.conversation_id == uuid.UUID(conversation["id"]),
                    ConversationEvent.kind == "resolved",
                )
            )
        ).all()
    assert [tuple(row) for row in actors] == [("supervisor", "jwt:sue@example.com")]


def _impostor(idp: IdentityProvider) -> str:
    return idp.token("ec-1", signed_by=IMPOSTOR, router_role="supervisor")


def _unsigned(idp: IdentityProvider) -> str:
    payload = supervisor_token(idp).split(".")[1]
    none = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return f"{none}.{payload}."


REFUSALS: list[tuple[str, Callable[[IdentityProvider], str], str]] = [
    (
        "expired",
        lambda idp: agent_token(idp, exp=int(time.time()) - 3600),
        "the token has expired",
    ),
    (
        "wrong audience",
        lambda idp: agent_token(idp, aud="another-app"),
        f"the token is not meant for the audience {AUDIENCE!r}",
    ),
    (
        "wrong issuer",
        lambda idp: agent_token(idp, iss="https://evil.example.com/"),
        f"the token was not issued by {ISSUER!r}",
    ),
    (
        "unknown key id",
        lambda idp: idp.token("rsa-2", router_role="supervisor"),
        "the token's key id 'rsa-2' is not one of the identity provider's",
    ),
    ("bad signature", _impostor, "the token's signature does not match the key"),
    (
        "unsigned",
        _unsigned,
        "the token is signed with 'none', which is not accepted (accepted: RS256, ES256)",
    ),
    (
        "unknown role",
        lambda idp: idp.token(router_role="viewer"),
        "the token's 'router_role' claim ('viewer') names no router role "
        "(agent, supervisor, admin)",
    ),
    (
        "agent without agent",
        lambda idp: idp.token(router_role="agent"),
        "an agent's token must name its agent in the 'router_agent' claim",
    ),
    (
        "no such agent",
        lambda idp: agent_token(idp, "ghost"),
        "the token names the agent 'ghost', and no agent has that handle",
    ),
]


@pytest.mark.parametrize(
    ("token_of", "detail"),
    [(token_of, detail) for _, token_of, detail in REFUSALS],
    ids=[name for name, _, _ in REFUSALS],
)
async def test_bad_tokens_get_401_problems_saying_why(
    jwt_api: tuple[FastAPI, httpx.AsyncClient],
    team: Team,
    idp: IdentityProvider,
    token_of: Callable[[IdentityProvider], str],
    detail: str,
) -> None:
    _, client = jwt_api
    response = await client.get("/v1/conversations", headers=bearer(token_of(idp)))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="router", error="invalid_token"'
    assert response.json()["type"].endswith("/unauthorized")
    assert response.json()["detail"] == detail


async def test_a_rotated_key_is_accepted_after_one_fetch(
    jwt_api: tuple[FastAPI, httpx.AsyncClient], idp: IdentityProvider
) -> None:
    _, client = jwt_api
    before = await client.get("/v1/me", headers=bearer(supervisor_token(idp)))
    assert before.status_code == 200, before.text
    fetched = idp.fetches
    assert fetched >= 1

    idp.publish("rsa-1", "ec-1", "rsa-2")
    rotated = bearer(idp.token("rsa-2", sub="sue@example.com", router_role="supervisor"))
    after = await client.get("/v1/me", headers=rotated)
    assert after.status_code == 200, after.text
    assert after.json()["key_name"] == "sue@example.com"
    assert idp.fetches == fetched + 1
    # Known now: further tokens signed with it are checked from the cache.
    for _ in range(3):
        assert (await client.get("/v1/me", headers=rotated)).status_code == 200
    assert idp.fetches == fetched + 1


async def test_cached_keys_keep_working_while_the_provider_is_down(
    console_settings: Settings, team: Team, idp: IdentityProvider
) -> None:
    settings = with_jwt(console_settings, idp.url, jwt_jwks_cache_seconds=0.2)
    async with app_client(settings) as (_, client):
        token = bearer(agent_token(idp, "ada"))
        assert (await client.get("/v1/conversations", headers=token)).status_code == 200
        fetched = idp.fetches
        idp.failing = True
        await asyncio.sleep(0.3)  # the cached keys are now past their lifetime
        for _ in range(3):
            response = await client.get("/v1/conversations", headers=token)
            assert response.status_code == 200, response.text
        for _ in range(100):
            if idp.fetches > fetched:
                break
            await asyncio.sleep(0.02)
        assert idp.fetches > fetched, "the router never tried to renew its keys"
        assert (await client.get("/v1/me", headers=token)).status_code == 200


@pytest.mark.parametrize("outage", ["nothing listens", "the provider answers 503"])
async def test_with_no_keys_fetched_tokens_get_503_and_api_keys_still_work(
    console_settings: Settings, team: Team, idp: IdentityProvider, outage: str
) -> None:
    if outage == "nothing listens":
        url = f"http://127.0.0.1:{free_port()}{JWKS_PATH}"
    else:
        url = idp.url
        idp.failing = True
    async with app_client(with_jwt(console_settings, url)) as (_, client):
        response = await client.get("/v1/conversations", headers=bearer(supervisor_token(idp)))
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"
        assert response.json()["type"].endswith("/identity-provider-unavailable")
        by_key = await client.get("/v1/conversations", headers=bearer(team.supervisor_key))
        assert by_key.status_code == 200, by_key.text


async def test_api_keys_work_beside_tokens_and_shapes_pick_the_check(
    jwt_api: tuple[FastAPI, httpx.AsyncClient], team: Team, idp: IdentityProvider
) -> None:
    _, client = jwt_api
    by_key = await client.get("/v1/me", headers=bearer(team.ada_key))
    by_token = await client.get("/v1/me", headers=bearer(agent_token(idp, "ada")))
    assert by_key.status_code == by_token.status_code == 200
    assert by_key.json()["agent"] == by_token.json()["agent"]
    assert by_key.json()["key_name"] == "test"
    assert by_token.json()["key_name"] == "ada@example.com"

    forged_key = await client.get("/v1/me", headers=bearer("rk_000000000000_wrongsecret"))
    assert forged_key.json()["detail"] == "the API key is not valid"
    garbage = await client.get("/v1/me", headers=bearer("abc.def.ghi"))
    assert garbage.status_code == 401
    assert garbage.json()["detail"] == "the bearer token is not a well-formed JWT"


async def test_without_an_identity_provider_a_jwt_is_just_not_an_api_key(
    api: tuple[FastAPI, httpx.AsyncClient], team: Team, idp: IdentityProvider
) -> None:
    _, client = api
    response = await client.get("/v1/me", headers=bearer(supervisor_token(idp)))
    assert response.status_code == 401
    assert response.json()["detail"] == "the bearer token is not a router API key"
    assert idp.fetches == 0
