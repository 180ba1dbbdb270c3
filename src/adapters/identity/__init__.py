"""The identity provider's signing keys: a configured PEM key, or its JWKS URL."""

from __future__ import annotations

from adapters.identity.jwks import JwksSigningKeys
from router.auth.algorithms import load_public_key
from router.auth.tokens import SigningKeys, StaticSigningKey
from router.settings import Settings


def signing_keys(settings: Settings) -> SigningKeys | None:
    """Where the configured provider's keys come from; None while JWT login is off."""
    if not settings.jwt_enabled():
        return None
    if settings.jwt_public_key:
        return StaticSigningKey(load_public_key(settings.jwt_public_key))
    assert settings.jwt_jwks_url
    return JwksSigningKeys(
        settings.jwt_jwks_url,
        cache_seconds=settings.jwt_jwks_cache_seconds,
        refetch_seconds=settings.jwt_jwks_refetch_seconds,
    )
