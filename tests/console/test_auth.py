"""Bearer API keys: issued once by `router create-key`, stored hashed, refused when bad."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.auth.service import issue_key, revoke_key, split_token
from router.db import transaction
from router.errors import Conflict
from router.inbound.envelope import utcnow
from router.models import ApiKey
from tests import seed
from tests.console.conftest import Team, bearer, make_key

ROUTER = str(Path(sys.executable).with_name("router"))


def _router(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    env["ROUTER_DATABASE_URL"] = database_url
    return subprocess.run([ROUTER, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_create_key_prints_the_key_once_and_stores_only_its_hash(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    default = await seed.queue_id(sessions, "default")
    await seed.add_agent(sessions, "ada", capacity={"sms": 1}, queues=[default])
    result = _router(
        database_url, "create-key", "--role", "agent", "--agent", "ada", "--name", "Ada"
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    parts = split_token(token)
    assert parts is not None
    prefix, secret = parts
    assert len(secret) >= 43  # 32 random bytes, base64url
    async with sessions() as session:
        stored = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    assert stored is not None
    assert stored.role == "agent"
    assert stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored.secret_sha256

    _, client = api
    me = await client.get("/v1/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["agent"]["handle"] == "ada"
    async with sessions() as session:
        used = await session.scalar(select(ApiKey.last_used_at).where(ApiKey.prefix == prefix))
    assert used is not None

    revoked = _router(database_url, "revoke-key", prefix)
    assert revoked.returncode == 0, revoked.stderr
    refused = await client.get("/v1/me", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the API key has been revoked"


def test_create_key_refuses_an_agent_key_without_an_agent(database_url: str) -> None:
    result = _router(database_url, "create-key", "--role", "agent", "--name", "nobody")
    assert result.returncode == 1
    assert "must name its agent" in result.stderr
    unknown = _router(
        database_url, "create-key", "--role", "agent", "--agent", "ghost", "--name", "x"
    )
    assert unknown.returncode == 1
    assert "ghost" in unknown.stderr


@pytest.mark.parametrize(
    ("header", "challenge"),
    [
        (None, 'Bearer realm="router"'),
        ("Basic YWRhOnNlY3JldA==", 'Bearer realm="router"'),
        ("Bearer not-a-key", 'Bearer realm="router", error="invalid_token"'),
        ("Bearer rk_000000000000_wrongsecret", 'Bearer realm="router", error="invalid_token"'),
    ],
)
async def test_missing_or_invalid_keys_get_401_problem_with_a_challenge(
    api: tuple[FastAPI, httpx.AsyncClient], header: str | None, challenge: str
) -> None:
    _, client = api
    headers = {"Authorization": header} if header else {}
    response = await client.get("/v1/conversations", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == challenge
    assert response.json()["type"].endswith("/unauthorized")


async def test_a_right_prefix_with_a_wrong_secret_is_refused(
    api: tuple[FastAPI, httpx.AsyncClient], team: Team
) -> None:
    _, client = api
    prefix, _ = split_token(team.ada_key) or ("", "")
    forged = f"rk_{prefix}_{'A' * 43}"
    response = await client.get("/v1/me", headers=bearer(forged))
    assert response.status_code == 401
    assert response.json()["detail"] == "the API key is not valid"


async def test_revoking_takes_effect_on_the_next_request(
    api: tuple[FastAPI, httpx.AsyncClient], sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, client = api
    token = await make_key(sessions, Role.SUPERVISOR)
    assert (await client.get("/v1/queues", headers=bearer(token))).status_code == 200
    prefix, _ = split_token(token) or ("", "")
    async with transaction(sessions) as session:
        await revoke_key(session, prefix, utcnow(), actor="test")
    assert (await client.get("/v1/queues", headers=bearer(token))).status_code == 401


async def test_an_agent_key_needs_an_agent(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessions) as session:
        with pytest.raises(Conflict):
            await issue_key(session, role=Role.AGENT, name="no agent", actor="test")
