"""Callers: API keys (issue one, authenticate a presented one, revoke one), and the principal
an identity provider's verified token stands for.

A key reads `rk_<prefix>_<secret>`: the prefix finds the row by a unique index, the secret
is checked against its stored SHA-256 in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.audit.service import Subject, record
from router.auth.errors import Unauthorized
from router.auth.roles import Role
from router.auth.tokens import VerifiedToken
from router.errors import Conflict, NotFound
from router.models import Agent, ApiKey

KEY_SCHEME = "rk"
# A key's last use is written at most this often per process: a write on every request
# would turn every poll into a database write.
TOUCH_EVERY = timedelta(minutes=1)


# The history's `actor_id` column is this wide.
ACTOR_ID_MAX = 100


@dataclass(frozen=True)
class KeyCredential:
    """An API key the caller presented: its row, its name and its public prefix."""

    key_id: uuid.UUID
    name: str
    prefix: str


@dataclass(frozen=True)
class TokenCredential:
    """An identity provider's token the caller presented: who it names, and who issued it."""

    issuer: str
    subject: str


@dataclass(frozen=True)
class Principal:
    """The caller behind a request: their credential, role, and the agent they act as (if any)."""

    credential: KeyCredential | TokenCredential
    role: Role
    agent_id: uuid.UUID | None

    @property
    def is_supervisor(self) -> bool:
        """Supervisors and admins may act on any conversation."""
        return self.role in (Role.SUPERVISOR, Role.ADMIN)

    @property
    def caller_id(self) -> uuid.UUID:
        """One id per caller, stable across requests (rate limits count per caller).

        The key's id; for a token, derived from its issuer and subject, so every token the
        provider issues to one person shares it.
        """
        credential = self.credential
        if isinstance(credential, KeyCredential):
            return credential.key_id
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{credential.issuer}#{credential.subject}")

    @property
    def name(self) -> str:
        """The key's name, or the token's subject."""
        credential = self.credential
        return credential.name if isinstance(credential, KeyCredential) else credential.subject

    @property
    def label(self) -> str:
        """How the caller is named in audit fields (`created_by`): `admin:ops (a1b2c3d4e5f6)`
        for a key, `supervisor:sue@example.com (jwt)` for a token."""
        credential = self.credential
        origin = credential.prefix if isinstance(credential, KeyCredential) else "jwt"
        return f"{self.role.value}:{self.name} ({origin})"

    @property
    def actor_id(self) -> str:
        """How the caller is named as the actor of conversation events.

        The agent they act as; otherwise the key's id, or `jwt:<subject>` for a token (its
        derived caller id when the subject is too long for the history's column).
        """
        if self.agent_id is not None:
            return str(self.agent_id)
        credential = self.credential
        if isinstance(credential, KeyCredential):
            return str(credential.key_id)
        readable = f"jwt:{credential.subject}"
        return readable if len(readable) <= ACTOR_ID_MAX else f"jwt:{self.caller_id}"


@dataclass(frozen=True)
class IssuedKey:
    key_id: uuid.UUID
    token: str
    prefix: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue_key(
    session: AsyncSession, *, role: Role, name: str, actor: str, agent_handle: str | None = None
) -> IssuedKey:
    """Create a key; the returned token is the only time the secret exists outside the caller.

    Audited as issued by `actor` (never with its secret).
    """
    agent_id: uuid.UUID | None = None
    if agent_handle is not None:
        agent_id = await session.scalar(select(Agent.id).where(Agent.handle == agent_handle))
        if agent_id is None:
            raise NotFound(f"no agent has the handle {agent_handle!r}")
    if role is Role.AGENT and agent_id is None:
        raise Conflict("an agent key must name its agent (--agent HANDLE)")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=uuid.uuid4(),
        prefix=prefix,
        secret_sha256=_digest(secret),
        role=role.value,
        agent_id=agent_id,
        name=name,
    )
    session.add(key)
    await session.flush()
    await record(
        session,
        actor=actor,
        action="api_key.created",
        subject=Subject.API_KEY,
        subject_id=prefix,
        before=None,
        after={
            "role": role.value,
            "name": name,
            "agent_id": str(agent_id) if agent_id else None,
            "revoked": False,
        },
    )
    return IssuedKey(key_id=key.id, token=f"{KEY_SCHEME}_{prefix}_{secret}", prefix=prefix)


async def revoke_key(session: AsyncSession, prefix: str, now: datetime, *, actor: str) -> None:
    """Revoke a key by its prefix; a revoked key is refused from the next request on.

    Audited as revoked by `actor`.
    """
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ApiKey.role, ApiKey.name, ApiKey.agent_id)
    )
    revoked = result.first()
    if revoked is None:
        raise NotFound(f"no active key has the prefix {prefix!r}")
    role, name, agent_id = revoked
    summary = {"role": role, "name": name, "agent_id": str(agent_id) if agent_id else None}
    await record(
        session,
        actor=actor,
        action="api_key.revoked",
        subject=Subject.API_KEY,
        subject_id=prefix,
        before={**summary, "revoked": False},
        after={**summary, "revoked": True},
    )


def split_token(token: str) -> tuple[str, str] | None:
    """The (prefix, secret) of a well-formed key, else None."""
    scheme, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != KEY_SCHEME or len(prefix) != 12 or not secret:
        return None
    return prefix, secret


class KeyTouches:
    """Remembers when this process last wrote each key's `last_used_at`."""

    def __init__(self) -> None:
        self._written: dict[uuid.UUID, datetime] = {}

    def due(self, key_id: uuid.UUID, now: datetime) -> bool:
        """True when the key's last use should be written now (and remembers that it was)."""
        last = self._written.get(key_id)
        if last is not None and now - last < TOUCH_EVERY:
            return False
        self._written[key_id] = now
        return True


async def authenticate(
    session: AsyncSession, token: str, now: datetime, touches: KeyTouches
) -> Principal:
    """The principal a presented token stands for; 401 when it is unknown, wrong or revoked."""
    parts = split_token(token)
    if parts is None:
        raise Unauthorized("the bearer token is not a router API key", presented=True)
    prefix, secret = parts
    key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    # Compare even when no key has this prefix, so timing does not tell which prefixes exist.
    expected = key.secret_sha256 if key is not None else "0" * 64
    matches = hmac.compare_digest(expected, _digest(secret))
    if key is None or not matches:
        raise Unauthorized("the API key is not valid", presented=True)
    if key.revoked_at is not None:
        raise Unauthorized("the API key has been revoked", presented=True)
    if touches.due(key.id, now):
        await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    return Principal(
        credential=KeyCredential(key_id=key.id, name=key.name, prefix=key.prefix),
        role=Role(key.role),
        agent_id=key.agent_id,
    )


async def token_principal(
    sessions: async_sessionmaker[AsyncSession], token: VerifiedToken
) -> Principal:
    """The principal a verified identity token stands for; 401 when its agent is unknown.

    One lookup of the agent by handle; a token naming no agent needs no database at all.
    """
    agent_id: uuid.UUID | None = None
    if token.agent_handle is not None:
        async with sessions() as session:
            agent_id = await session.scalar(
                select(Agent.id).where(Agent.handle == token.agent_handle)
            )
        if agent_id is None:
            raise Unauthorized(
                f"the token names the agent {token.agent_handle!r}, and no agent has that handle",
                presented=True,
            )
    return Principal(
        credential=TokenCredential(issuer=token.issuer, subject=token.subject),
        role=token.role,
        agent_id=agent_id,
    )
