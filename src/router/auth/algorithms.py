"""The JWT signing algorithms the router accepts, and which public keys verify each.

Only asymmetric algorithms: the identity provider signs with a private key the router never
holds, so a leaked router configuration cannot mint tokens. `none` and the HMAC family are
never accepted.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)
_PUBLIC_KEYS = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)

# Shorter RSA keys are within reach of a determined attacker (NIST SP 800-131A).
MIN_RSA_BITS = 2048


def _rsa(key: PublicKey) -> bool:
    return isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS


def _curve(name: str) -> Callable[[PublicKey], bool]:
    def check(key: PublicKey) -> bool:
        return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == name

    return check


def _edwards(key: PublicKey) -> bool:
    return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)


# Each accepted algorithm, and the keys that may verify it: a token's `alg` never picks a key
# of another kind (RFC 8725, section 3.1).
VERIFIERS: dict[str, Callable[[PublicKey], bool]] = {
    "RS256": _rsa,
    "RS384": _rsa,
    "RS512": _rsa,
    "PS256": _rsa,
    "PS384": _rsa,
    "PS512": _rsa,
    "ES256": _curve("secp256r1"),
    "ES384": _curve("secp384r1"),
    "ES512": _curve("secp521r1"),
    "EdDSA": _edwards,
}

DEFAULT_ALGORITHMS = ("RS256", "ES256")


def verifies(algorithm: str, key: PublicKey) -> bool:
    """True when `key` may check signatures made with `algorithm`."""
    check = VERIFIERS.get(algorithm)
    return check is not None and check(key)


def usable(key: object) -> PublicKey | None:
    """`key` as a public key some accepted algorithm verifies with, else None."""
    if isinstance(key, _PUBLIC_KEYS) and any(check(key) for check in VERIFIERS.values()):
        return key
    return None


def describe(key: PublicKey) -> str:
    """A key's kind in words, for error messages: `RSA 2048`, `EC secp256r1`, `Ed25519`."""
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return "Ed448"


def load_public_key(pem: str) -> PublicKey:
    """The public key in PEM text; `ValueError` saying why when it is not a usable one."""
    try:
        key = load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a PEM public key ({error})") from None
    public = usable(key)
    if public is None:
        raise ValueError(
            f"a {type(key).__name__} cannot verify any accepted algorithm "
            f"(RSA of at least {MIN_RSA_BITS} bits, EC P-256/384/521, Ed25519 or Ed448)"
        )
    return public
