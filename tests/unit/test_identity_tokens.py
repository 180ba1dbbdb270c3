"""Identity provider tokens: every reason a token is refused, and the ones that pass.

Keys are made here (RSA and EC); the verifier reads them from a real JWKS source over an
in-memory HTTP transport, or from a configured PEM key.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from adapters.identity.jwks import JwksSigningKeys
from router.auth.errors import Unauthorized
from router.auth.roles import Role
from router.auth.service import ACTOR_ID_MAX, KeyCredential, Principal, TokenCredential
from router.auth.tokens import (
    StaticSigningKey,
    TokenPolicy,
    TokenVerifier,
    VerifiedToken,
    looks_like_jwt,
)

ISSUER = "https://login.example.com/"
AUDIENCE = "conversation-router"
JWKS_URL = "https://login.example.com/.well-known/jwks.json"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)

POLICY = TokenPolicy(
    issuer=ISSUER, audience=AUDIENCE, algorithms=("RS256", "ES256"), leeway_seconds=30
)


def public_jwk(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, **extra: str) -> Any:
    if isinstance(private, rsa.RSAPrivateKey):
        document = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    else:
        document = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    document.pop("alg", None)
    return {**document, **extra}


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    document: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ada@example.com",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "router_role": "agent",
        "router_agent": "ada",
    }
    document.update(changes)
    return {name: value for name, value in document.items() if value is not None}


def mint(
    private: Any = RSA_KEY,
    *,
    algorithm: str = "RS256",
    kid: str | None = "rsa-1",
    **changes: Any,
) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims(**changes), private, algorithm=algorithm, headers=headers)


def key_set(*keys: Any) -> httpx.MockTransport:
    document = {"keys": list(keys)}
    return httpx.MockTransport(lambda request: httpx.Response(200, json=document))


@pytest.fixture
async def verifier() -> AsyncIterator[TokenVerifier]:
    keys = JwksSigningKeys(
        JWKS_URL,
        cache_seconds=300,
        refetch_seconds=30,
        transport=key_set(
            public_jwk(RSA_KEY, kid="rsa-1", use="sig", alg="RS256"),
            public_jwk(EC_KEY, kid="ec-1", use="sig"),
        ),
    )
    tokens = TokenVerifier(POLICY, keys)
    yield tokens
    await tokens.close()


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify(token)
    assert caught.value.status == 401
    assert (
        caught.value.headers["WWW-Authenticate"] == 'Bearer realm="router", error="invalid_token"'
    )
    return caught.value.detail


async def test_an_agent_token_signed_with_rsa_passes(verifier: TokenVerifier) -> None:
    verified = await verifier.verify(mint())
    assert verified == VerifiedToken(
        issuer=ISSUER, subject="ada@example.com", role=Role.AGENT, agent_handle="ada"
    )


async def test_a_supervisor_token_signed_with_ec_needs_no_agent(verifier: TokenVerifier) -> None:
    token = mint(EC_KEY, algorithm="ES256", kid="ec-1", router_role="supervisor", router_agent=None)
    verified = await verifier.verify(token)
    assert (verified.role, verified.agent_handle, verified.subject) == (
        Role.SUPERVISOR,
        None,
        "ada@example.com",
    )


async def test_expired_and_not_yet_valid_tokens_are_refused(verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert await refused(verifier, mint(exp=now - 60)) == "the token has expired"
    assert (
        await refused(verifier, mint(nbf=now + 600)) == "the token is not yet valid: before its nbf"
    )
    assert (
        await refused(verifier, mint(iat=now + 600))
        == "the token is not yet valid: issued in the future (iat)"
    )


async def test_the_leeway_forgives_a_little_clock_skew(verifier: TokenVerifier) -> None:
    now = int(time.time())
    verified = await verifier.verify(mint(exp=now - 10, nbf=now + 10, iat=now + 10))
    assert verified.subject == "ada@example.com"


async def test_another_issuer_or_audience_is_refused(verifier: TokenVerifier) -> None:
    assert (
        await refused(verifier, mint(iss="https://evil.example.com/"))
        == f"the token was not issued by {ISSUER!r}"
    )
    assert (
        await refused(verifier, mint(aud="another-app"))
        == f"the token is not meant for the audience {AUDIENCE!r}"
    )


async def test_a_signature_by_another_key_is_refused(verifier: TokenVerifier) -> None:
    forged = mint(OTHER_RSA_KEY, kid="rsa-1")
    assert await refused(verifier, forged) == "the token's signature does not match the key"
    header, payload, _ = mint().split(".")
    _, _, foreign = forged.split(".")
    spliced = f"{header}.{payload}.{foreign}"
    assert await refused(verifier, spliced) == "the token's signature does not match the key"


async def test_an_unknown_key_id_is_refused(verifier: TokenVerifier) -> None:
    token = mint(OTHER_RSA_KEY, kid="rsa-9")
    detail = await refused(verifier, token)
    assert detail == "the token's key id 'rsa-9' is not one of the identity provider's"


@pytest.mark.parametrize("algorithm", ["HS256", "RS512", "PS256"])
async def test_algorithms_that_are_not_accepted_are_refused(
    verifier: TokenVerifier, algorithm: str
) -> None:
    key: Any = "a-shared-secret-of-enough-length-for-hmac!" if algorithm == "HS256" else RSA_KEY
    detail = await refused(verifier, mint(key, algorithm=algorithm))
    assert detail == (
        f"the token is signed with {algorithm!r}, which is not accepted (accepted: RS256, ES256)"
    )


async def test_an_unsigned_token_is_refused(verifier: TokenVerifier) -> None:
    unsigned = jwt.encode(claims(), None, algorithm="none", headers={"kid": "rsa-1"})
    assert unsigned.endswith(".")
    detail = await refused(verifier, unsigned)
    assert (
        detail == "the token is signed with 'none', which is not accepted (accepted: RS256, ES256)"
    )


async def test_a_token_cannot_pick_a_key_of_another_kind(verifier: TokenVerifier) -> None:
    # ES256 in the header, the RSA key's id: the EC verifier never gets the RSA key.
    detail = await refused(verifier, mint(EC_KEY, algorithm="ES256", kid="rsa-1"))
    assert detail == "the token is signed with ES256, but the key 'rsa-1' is for RS256"
    detail = await refused(verifier, mint(RSA_KEY, algorithm="RS256", kid="ec-1"))
    assert (
        detail
        == "the token is signed with RS256, which the key 'ec-1' (EC secp256r1) cannot verify"
    )


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub"])
async def test_every_required_claim_must_be_there(verifier: TokenVerifier, claim: str) -> None:
    assert await refused(verifier, mint(**{claim: None})) == f"the token has no {claim!r} claim"


async def test_nbf_and_iat_are_checked_only_where_present(verifier: TokenVerifier) -> None:
    verified = await verifier.verify(mint(nbf=None, iat=None))
    assert (verified.subject, verified.role, verified.agent_handle) == (
        "ada@example.com",
        Role.AGENT,
        "ada",
    )


async def test_the_role_claim_must_name_a_router_role(verifier: TokenVerifier) -> None:
    assert (
        await refused(verifier, mint(router_role=None))
        == "the token has no 'router_role' claim naming a router role"
    )
    assert await refused(verifier, mint(router_role="superuser")) == (
        "the token's 'router_role' claim ('superuser') names no router role "
        "(agent, supervisor, admin)"
    )
    assert (
        await refused(verifier, mint(router_role=7))
        == "the token's 'router_role' claim is not a role or a list of roles"
    )


async def test_a_list_of_roles_gives_the_strongest_router_role(verifier: TokenVerifier) -> None:
    token = mint(router_role=["viewer", "agent", "supervisor"], router_agent=None)
    assert (await verifier.verify(token)).role is Role.SUPERVISOR


async def test_an_agent_token_must_name_its_agent(verifier: TokenVerifier) -> None:
    assert (
        await refused(verifier, mint(router_agent=None))
        == "an agent's token must name its agent in the 'router_agent' claim"
    )
    assert (
        await refused(verifier, mint(router_agent=["ada"]))
        == "the token's 'router_agent' claim is not an agent handle"
    )


async def test_a_subject_must_be_a_string(verifier: TokenVerifier) -> None:
    detail = await refused(verifier, mint(sub=""))
    assert detail == "the token's 'sub' claim is not a non-empty string"


async def test_garbage_with_the_shape_of_a_jwt_is_refused(verifier: TokenVerifier) -> None:
    assert await refused(verifier, "abc.def.ghi") == "the bearer token is not a well-formed JWT"


def test_tokens_are_told_apart_by_shape() -> None:
    assert looks_like_jwt(mint())
    assert not looks_like_jwt("rk_0123456789ab_secret")
    assert not looks_like_jwt("a.b")
    assert not looks_like_jwt("a.b.c.d.e")  # a JWE: encrypted, not signed
    assert looks_like_jwt("a.b.")  # unsecured (alg none): the verifier refuses it
    assert not looks_like_jwt("a..c")


async def test_a_token_without_a_key_id_uses_the_only_key_there_is() -> None:
    single = JwksSigningKeys(
        JWKS_URL,
        cache_seconds=300,
        refetch_seconds=30,
        transport=key_set(public_jwk(RSA_KEY)),
    )
    tokens = TokenVerifier(POLICY, single)
    try:
        assert (await tokens.verify(mint(kid=None))).subject == "ada@example.com"
    finally:
        await tokens.close()


async def test_a_token_without_a_key_id_is_refused_among_several_keys(
    verifier: TokenVerifier,
) -> None:
    assert await refused(verifier, mint(kid=None)) == (
        "the token names no key id (kid), and the identity provider has several keys"
    )


async def test_a_configured_pem_key_checks_every_token() -> None:
    tokens = TokenVerifier(
        POLICY,
        StaticSigningKey(EC_KEY.public_key()),
    )
    token = mint(EC_KEY, algorithm="ES256", kid="whatever", router_role="admin", router_agent=None)
    assert (await tokens.verify(token)).role is Role.ADMIN
    assert await refused(tokens, mint(OTHER_RSA_KEY, kid=None)) == (
        "the token is signed with RS256, which the identity provider's key (EC secp256r1) "
        "cannot verify"
    )
    forged = mint(ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", kid=None)
    assert await refused(tokens, forged) == "the token's signature does not match the key"


def test_principals_name_keys_and_tokens_apart_in_audit_fields() -> None:
    key_id = uuid.uuid4()
    agent_id = uuid.uuid4()
    by_key = Principal(KeyCredential(key_id, "ops", "a1b2c3d4e5f6"), Role.ADMIN, None)
    assert (by_key.label, by_key.actor_id, by_key.caller_id) == (
        "admin:ops (a1b2c3d4e5f6)",
        str(key_id),
        key_id,
    )
    by_token = Principal(TokenCredential(ISSUER, "sue@example.com"), Role.SUPERVISOR, None)
    assert by_token.label == "supervisor:sue@example.com (jwt)"
    assert by_token.actor_id == "jwt:sue@example.com"
    assert by_token.name == "sue@example.com"
    # Every token of one person shares a caller id (rate limits); another issuer's does not.
    again = Principal(TokenCredential(ISSUER, "sue@example.com"), Role.AGENT, agent_id)
    elsewhere = Principal(TokenCredential("https://other/", "sue@example.com"), Role.AGENT, None)
    assert again.caller_id == by_token.caller_id != elsewhere.caller_id
    assert again.actor_id == str(agent_id)
    long = Principal(TokenCredential(ISSUER, "x" * 200), Role.ADMIN, None)
    assert long.actor_id == f"jwt:{long.caller_id}"
    assert len(long.actor_id) <= ACTOR_ID_MAX
