"""The `ROUTER_JWT_*` settings: all or nothing, asymmetric algorithms only, keys over https."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from router.settings import Settings

ISSUER = "https://login.example.com/"
AUDIENCE = "conversation-router"
JWKS_URL = "https://login.example.com/.well-known/jwks.json"


def pem(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


EC_PEM = pem(ec.generate_private_key(ec.SECP256R1()))


def refused(**values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(**values)
    return str(caught.value)


def test_jwt_login_is_off_by_default() -> None:
    settings = Settings()
    assert not settings.jwt_enabled()
    assert settings.jwt_algorithm_names() == ("RS256", "ES256")
    assert (settings.jwt_role_claim, settings.jwt_agent_claim) == ("router_role", "router_agent")


def test_an_issuer_an_audience_and_keys_turn_it_on() -> None:
    by_url = Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_jwks_url=JWKS_URL)
    by_pem = Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_public_key=EC_PEM)
    assert by_url.jwt_enabled()
    assert by_pem.jwt_enabled()


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"jwt_issuer": ISSUER}, "ROUTER_JWT_AUDIENCE and ROUTER_JWT_JWKS_URL or"),
        ({"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}, "ROUTER_JWT_JWKS_URL or"),
        ({"jwt_issuer": ISSUER, "jwt_jwks_url": JWKS_URL}, "ROUTER_JWT_AUDIENCE missing"),
        ({"jwt_jwks_url": JWKS_URL}, "ROUTER_JWT_ISSUER and ROUTER_JWT_AUDIENCE missing"),
        ({"jwt_audience": AUDIENCE, "jwt_public_key": EC_PEM}, "ROUTER_JWT_ISSUER missing"),
    ],
)
def test_half_a_configuration_is_refused_naming_what_is_missing(
    values: dict[str, str], missing: str
) -> None:
    message = refused(**values)
    assert "JWT login is half configured" in message
    assert missing in message


def test_a_jwks_url_and_a_public_key_together_are_refused() -> None:
    message = refused(
        jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_jwks_url=JWKS_URL, jwt_public_key=EC_PEM
    )
    assert "set ROUTER_JWT_JWKS_URL or ROUTER_JWT_PUBLIC_KEY, not both" in message


@pytest.mark.parametrize("algorithms", ["none", "HS256", "RS256,HS512", ""])
def test_only_asymmetric_algorithms_are_accepted(algorithms: str) -> None:
    message = refused(jwt_algorithms=algorithms)
    assert "jwt_algorithms" in message
    assert "not accepted" in message or "at least one" in message


def test_algorithms_come_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTER_JWT_ALGORITHMS", "PS256, ES384,PS256")
    settings = Settings()
    assert settings.jwt_algorithm_names() == ("PS256", "ES384")
    # Written back as it is read: a child process given `str(value)` gets the same settings.
    assert settings.jwt_algorithms == "PS256,ES384"
    monkeypatch.setenv("ROUTER_JWT_ALGORITHMS", settings.jwt_algorithms)
    assert Settings() == settings


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://login.example.com/keys", True),
        ("http://127.0.0.1:8080/keys", True),
        ("http://localhost/keys", True),
        ("http://login.example.com/keys", False),
        ("ftp://login.example.com/keys", False),
        ("login.example.com/keys", False),
    ],
)
def test_keys_are_fetched_over_https_except_on_loopback(url: str, ok: bool) -> None:
    values = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_jwks_url": url}
    if ok:
        assert Settings(**values).jwt_jwks_url == url
    else:
        assert "jwt_jwks_url" in refused(**values)


def test_a_public_key_must_be_a_usable_pem_public_key() -> None:
    base = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    assert "not a PEM public key" in refused(**base, jwt_public_key="-----BEGIN nonsense")
    short = pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    assert "cannot verify any accepted algorithm" in refused(**base, jwt_public_key=short)
    message = refused(**base, jwt_public_key=EC_PEM, jwt_algorithms="RS256")
    assert "ROUTER_JWT_PUBLIC_KEY verifies none of ROUTER_JWT_ALGORITHMS (RS256)" in message


def test_router_config_hides_credentials_in_the_jwks_url() -> None:
    settings = Settings(
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_jwks_url="https://router:hunter2@login.example.com/keys",
    )
    shown = settings.effective()
    assert shown["ROUTER_JWT_JWKS_URL"] == "https://router:***@login.example.com/keys"
    assert "hunter2" not in str(shown)
    assert shown["ROUTER_JWT_ISSUER"] == ISSUER
