"""Identity provider tokens (JWT): check one, and read the role and agent it names.

A token is accepted when it is signed, with an accepted algorithm, by one of the provider's
public keys, and its `iss`, `aud`, `exp` and `sub` claims are present and right, as are its
`nbf` and `iat` where it has them (many providers' access tokens carry no `nbf`); times are
checked within a small leeway for clock skew. The role comes from one claim,
the agent's handle from another. Checking never touches the network: the keys come from a
`SigningKeys` source that keeps them at hand (a configured PEM key, or the provider's JWKS,
fetched and cached by `adapters.identity`). Header parameters that point at other keys
(`jku`, `x5u`, `jwk`) are ignored: a token never chooses where its key comes from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from router.auth.algorithms import PublicKey, describe, verifies
from router.auth.errors import Unauthorized
from router.auth.roles import Role
from router.settings import Settings

# Three base64url parts: header, payload, signature (RFC 7515, compact serialization). The
# signature may be empty, so an unsecured token (`alg: none`) is refused for what it is.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
_ROLES = {role.value: role for role in Role}
# When a role claim lists several router roles, the strongest one counts.
_STRENGTH = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


def looks_like_jwt(token: str) -> bool:
    """True when the bearer token has a JWT's shape (three dotted base64url parts)."""
    return _COMPACT_JWS.fullmatch(token) is not None


@dataclass(frozen=True)
class SigningKey:
    """One public key of the provider, with its key id and the algorithm it is pinned to."""

    key_id: str | None
    key: PublicKey
    algorithm: str | None = None


class SigningKeys(Protocol):
    """Where the provider's public keys come from."""

    async def start(self) -> None:
        """Get ready (e.g. fetch the keys once), without failing when the provider is down."""
        ...

    async def lookup(self, key_id: str | None) -> SigningKey | None:
        """The key with this id (with no id: the only key there is); None when unknown.

        Raises `IdentityProviderUnavailable` when no keys could be had at all.
        """
        ...

    async def close(self) -> None:
        """Release connections and background work."""
        ...


class StaticSigningKey:
    """One configured public key: every token is checked against it, whatever its key id."""

    def __init__(self, key: PublicKey) -> None:
        self._key = SigningKey(key_id=None, key=key)

    async def start(self) -> None:
        return None

    async def lookup(self, key_id: str | None) -> SigningKey:
        return self._key

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class TokenPolicy:
    """What a token must say to be accepted, from the `ROUTER_JWT_*` settings."""

    issuer: str
    audience: str
    algorithms: tuple[str, ...]
    role_claim: str = "router_role"
    agent_claim: str = "router_agent"
    leeway_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenPolicy:
        if not (settings.jwt_issuer and settings.jwt_audience):
            raise ValueError("JWT login is not configured (ROUTER_JWT_ISSUER, _AUDIENCE)")
        return cls(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.jwt_algorithm_names(),
            role_claim=settings.jwt_role_claim,
            agent_claim=settings.jwt_agent_claim,
            leeway_seconds=settings.jwt_leeway_seconds,
        )


@dataclass(frozen=True)
class VerifiedToken:
    """What a checked token says: who issued it, to whom, the role, and the agent (if any)."""

    issuer: str
    subject: str
    role: Role
    agent_handle: str | None


def _refused(detail: str) -> Unauthorized:
    return Unauthorized(detail, presented=True)


class TokenVerifier:
    """Checks identity provider tokens against a policy and the provider's keys."""

    def __init__(self, policy: TokenPolicy, keys: SigningKeys) -> None:
        self.policy = policy
        self.keys = keys

    async def verify(self, token: str) -> VerifiedToken:
        """The token's issuer, subject, role and agent; 401 saying why when it is not valid."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _refused("the bearer token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.policy.algorithms:
            accepted = ", ".join(self.policy.algorithms)
            raise _refused(
                f"the token is signed with {algorithm!r}, which is not accepted "
                f"(accepted: {accepted})"
            )
        key_id = header.get("kid")
        if key_id is not None and not isinstance(key_id, str):
            raise _refused("the token's key id (kid) is not a string")
        signing_key = await self.keys.lookup(key_id)
        if signing_key is None:
            if key_id is None:
                raise _refused(
                    "the token names no key id (kid), and the identity provider has several keys"
                )
            raise _refused(f"the token's key id {key_id!r} is not one of the identity provider's")
        self._check_key(signing_key, algorithm)
        claims = self._decode(token, signing_key.key, algorithm)
        role = self._role(claims)
        return VerifiedToken(
            issuer=claims["iss"],
            subject=claims["sub"],
            role=role,
            agent_handle=self._agent(claims, role),
        )

    async def close(self) -> None:
        await self.keys.close()

    @staticmethod
    def _check_key(signing_key: SigningKey, algorithm: str) -> None:
        key_id = signing_key.key_id
        name = f"the key {key_id!r}" if key_id else "the identity provider's key"
        if signing_key.algorithm is not None and signing_key.algorithm != algorithm:
            raise _refused(
                f"the token is signed with {algorithm}, but {name} is for {signing_key.algorithm}"
            )
        if not verifies(algorithm, signing_key.key):
            raise _refused(
                f"the token is signed with {algorithm}, which {name} "
                f"({describe(signing_key.key)}) cannot verify"
            )

    def _decode(self, token: str, key: PublicKey, algorithm: str) -> dict[str, Any]:
        policy = self.policy
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=policy.audience,
                issuer=policy.issuer,
                leeway=policy.leeway_seconds,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise _refused("the token has expired") from None
        except jwt.ImmatureSignatureError as error:
            when = "issued in the future (iat)" if "iat" in str(error) else "before its nbf"
            raise _refused(f"the token is not yet valid: {when}") from None
        except jwt.InvalidIssuerError:
            raise _refused(f"the token was not issued by {policy.issuer!r}") from None
        except jwt.InvalidAudienceError:
            raise _refused(f"the token is not meant for the audience {policy.audience!r}") from None
        except jwt.MissingRequiredClaimError as error:
            raise _refused(f"the token has no {error.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise _refused("the token's signature does not match the key") from None
        except jwt.InvalidIssuedAtError:
            raise _refused("the token's 'iat' claim is not a time") from None
        except jwt.DecodeError:
            raise _refused("the bearer token is not a well-formed JWT") from None
        except jwt.InvalidTokenError as error:
            raise _refused(f"the token is not valid: {error}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise _refused("the token's 'sub' claim is not a non-empty string")
        return claims

    def _role(self, claims: dict[str, Any]) -> Role:
        claim = self.policy.role_claim
        value = claims.get(claim)
        if value is None:
            raise _refused(f"the token has no {claim!r} claim naming a router role")
        named: Sequence[object] = [value] if isinstance(value, str) else value
        if not isinstance(named, list):
            raise _refused(f"the token's {claim!r} claim is not a role or a list of roles")
        roles = [_ROLES[item] for item in named if isinstance(item, str) and item in _ROLES]
        if not roles:
            known = ", ".join(_ROLES)
            raise _refused(
                f"the token's {claim!r} claim ({value!r}) names no router role ({known})"
            )
        return max(roles, key=_STRENGTH.__getitem__)

    def _agent(self, claims: dict[str, Any], role: Role) -> str | None:
        claim = self.policy.agent_claim
        value = claims.get(claim)
        if value is not None and (not isinstance(value, str) or not value):
            raise _refused(f"the token's {claim!r} claim is not an agent handle")
        if value is None and role is Role.AGENT:
            raise _refused(f"an agent's token must name its agent in the {claim!r} claim")
        return value
