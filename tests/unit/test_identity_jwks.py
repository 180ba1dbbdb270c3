"""The identity provider's JWKS: fetched once, served from the cache, renewed on rotation, and
kept when the provider is down; never fetched more often than the refetch interval allows.

The provider answers over httpx's in-memory transport; the clock is the test's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from adapters.identity.jwks import JwksSigningKeys, parse_key_set
from router.auth.errors import IdentityProviderUnavailable

URL = "https://login.example.com/.well-known/jwks.json"
CACHE_SECONDS = 300.0
REFETCH_SECONDS = 30.0


def jwk(private: Any, **extra: Any) -> dict[str, Any]:
    if isinstance(private, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        key = private.public_key() if isinstance(private, rsa.RSAPrivateKey) else private
        document = json.loads(RSAAlgorithm.to_jwk(key))
    else:
        document = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    return {**document, **extra}


FIRST = jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048), kid="k1")
SECOND = jwk(ec.generate_private_key(ec.SECP256R1()), kid="k2")


class Provider:
    """The provider's JWKS endpoint: its published keys, and whether it answers."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.requests = 0
        self.down = False
        self.status = 200

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.status != 200:
            return httpx.Response(self.status, text="unavailable")
        return httpx.Response(200, json={"keys": self.keys})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> Provider:
    return Provider(FIRST)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def source(provider: Provider, clock: Clock) -> AsyncIterator[JwksSigningKeys]:
    keys = JwksSigningKeys(
        URL,
        cache_seconds=CACHE_SECONDS,
        refetch_seconds=REFETCH_SECONDS,
        transport=httpx.MockTransport(provider.answer),
        clock=clock,
    )
    yield keys
    await keys.close()


async def settled(provider: Provider, requests: int) -> None:
    """Wait for background fetches until the provider has seen `requests` of them."""
    for _ in range(200):
        if provider.requests >= requests:
            break
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)
    assert provider.requests == requests


async def test_the_warm_up_and_the_first_token_share_one_fetch(
    source: JwksSigningKeys, provider: Provider
) -> None:
    await source.start()
    found = await source.lookup("k1")
    assert found is not None
    assert found.key_id == "k1"
    await settled(provider, 1)
    for _ in range(5):
        assert await source.lookup("k1") is found
    assert provider.requests == 1


async def test_expired_keys_serve_while_a_background_fetch_renews_them(
    source: JwksSigningKeys, provider: Provider, clock: Clock
) -> None:
    first = await source.lookup("k1")
    provider.keys = [FIRST, SECOND]
    clock.now += CACHE_SECONDS
    assert await source.lookup("k1") is first  # answered from the cache
    await settled(provider, 2)
    assert [key.key_id for key in source.keys] == ["k1", "k2"]


async def test_an_unknown_key_id_fetches_again_but_not_more_often_than_allowed(
    source: JwksSigningKeys, provider: Provider, clock: Clock
) -> None:
    assert await source.lookup("k1") is not None
    provider.keys = [FIRST, SECOND]
    clock.now += 1
    # Fetched a second ago: a new key id must wait for the refetch interval.
    assert await source.lookup("k2") is None
    assert provider.requests == 1
    clock.now += REFETCH_SECONDS
    rotated = await source.lookup("k2")
    assert rotated is not None
    assert rotated.key_id == "k2"
    assert provider.requests == 2
    # Made-up key ids right after cost the provider nothing.
    for made_up in ("x1", "x2", "x3"):
        assert await source.lookup(made_up) is None
    assert provider.requests == 2


async def test_a_burst_of_tokens_with_a_new_key_id_costs_one_fetch(
    source: JwksSigningKeys, provider: Provider, clock: Clock
) -> None:
    assert await source.lookup("k1") is not None
    provider.keys = [FIRST, SECOND]
    clock.now += REFETCH_SECONDS
    found = await asyncio.gather(*(source.lookup("k2") for _ in range(20)))
    assert all(key is not None and key.key_id == "k2" for key in found)
    assert provider.requests == 2


@pytest.mark.parametrize("failure", ["down", "500", "no usable keys"])
async def test_cached_keys_stay_in_use_while_the_provider_fails(
    source: JwksSigningKeys, provider: Provider, clock: Clock, failure: str
) -> None:
    cached = await source.lookup("k1")
    if failure == "down":
        provider.down = True
    elif failure == "500":
        provider.status = 500
    else:
        provider.keys = [{"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}]
    clock.now += CACHE_SECONDS
    assert await source.lookup("k1") is cached
    await settled(provider, 2)
    assert await source.lookup("k1") is cached
    assert [key.key_id for key in source.keys] == ["k1"]


async def test_with_no_keys_at_all_the_provider_being_down_answers_503(
    source: JwksSigningKeys, provider: Provider, clock: Clock
) -> None:
    provider.down = True
    with pytest.raises(IdentityProviderUnavailable) as caught:
        await source.lookup("k1")
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "5"
    # The next token within the refetch interval does not wait on the provider again.
    with pytest.raises(IdentityProviderUnavailable):
        await source.lookup("k1")
    assert provider.requests == 1
    provider.down = False
    clock.now += REFETCH_SECONDS
    assert await source.lookup("k1") is not None
    assert provider.requests == 2


def test_only_public_signing_keys_of_accepted_kinds_are_taken() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = parse_key_set(
        {
            "keys": [
                FIRST,
                {**SECOND, "use": "sig", "alg": "ES256"},
                {**jwk(private), "kid": "encryption", "use": "enc"},
                {"kty": "oct", "k": "c2VjcmV0", "kid": "symmetric"},
                {**json.loads(RSAAlgorithm.to_jwk(private)), "kid": "private"},
                {**jwk(small), "kid": "too-short"},
                {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
                {"kty": "XYZ", "kid": "unknown"},
                "not a key",
            ]
        }
    )
    assert [(key.key_id, key.algorithm) for key in keys] == [("k1", None), ("k2", "ES256")]
    with pytest.raises(ValueError, match="not a JWK Set"):
        parse_key_set({"keys": "none"})
    with pytest.raises(ValueError, match="not a JWK Set"):
        parse_key_set(["k1"])
