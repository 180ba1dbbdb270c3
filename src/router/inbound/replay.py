"""The memory of signed webhook tokens, in PostgreSQL so that every router process shares it.

A provider that signs a one-time token with each post (Mailgun) lets a replay be told from a
redelivery: the same token with the same body is the provider trying again after an answer
it did not get, and is taken again (the provider message id de-duplicates what it carries);
the same token with another body is a replay and is refused. One statement per webhook
claims the token and says which it is; the sweep prunes tokens whose window has passed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from router.db import is_unreachable

# A row past its expiry is an old memory: a fresh claim of its token replaces it. Within the
# window the row is left as it was (the update only makes the conflict return it).
_CLAIM = """
INSERT INTO signed_tokens AS t (provider, token, body_sha256, first_seen_at, expires_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (provider, token) DO UPDATE
SET body_sha256 = CASE WHEN t.expires_at < $4 THEN excluded.body_sha256 ELSE t.body_sha256 END,
    first_seen_at = CASE WHEN t.expires_at < $4 THEN $4 ELSE t.first_seen_at END,
    expires_at = CASE WHEN t.expires_at < $4 THEN excluded.expires_at ELSE t.expires_at END
RETURNING t.body_sha256 = $3, t.first_seen_at = $4
"""

_PRUNE = text("DELETE FROM signed_tokens WHERE expires_at < :now")


class TokenClaim(StrEnum):
    """What remembering a signed token found."""

    FIRST = "first"  # never seen within its window: take the post
    REDELIVERY = "redelivery"  # seen with this very body: take it again
    REPLAY = "replay"  # seen with another body: refuse it


async def claim_token(
    engine: AsyncEngine,
    provider: str,
    token: str,
    body_sha256: bytes,
    *,
    now: datetime,
    expires_at: datetime,
) -> TokenClaim:
    """Remember a signed token with the digest of its post, in one round trip (autocommit)."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        try:
            row = await raw.driver_connection.fetchrow(  # type: ignore[union-attr]
                _CLAIM, provider, token, body_sha256, now, expires_at
            )
        except Exception as error:
            if is_unreachable(error):
                # The pool must not hand this connection out again.
                await connection.invalidate()
            raise
    same_body, first = row[0], row[1]
    if not same_body:
        return TokenClaim.REPLAY
    return TokenClaim.FIRST if first else TokenClaim.REDELIVERY


async def prune_tokens(session: AsyncSession, now: datetime) -> None:
    """Forget the tokens whose replay window has passed (their posts are refused as stale)."""
    await session.execute(_PRUNE, {"now": now})
