"""Configuration mistakes are named by their variable; secrets in URLs never shown."""

from __future__ import annotations

import pytest

from router.configuration import ConfigurationError, load_settings, unknown_variables
from router.masking import mask_url
from router.settings import Settings


def test_a_misspelt_variable_is_named_with_the_setting_it_resembles() -> None:
    problems = unknown_variables({"ROUTER_DATABSE_URL": "postgresql://db/router", "HOME": "/"})
    assert problems == ["ROUTER_DATABSE_URL is not a setting; did you mean ROUTER_DATABASE_URL?"]


def test_a_variable_like_no_setting_is_refused_without_a_guess() -> None:
    assert unknown_variables({"ROUTER_ZZZ": "1"}) == [
        "ROUTER_ZZZ is not a setting (see `router config`)"
    ]


def test_settings_and_the_tooling_variables_are_accepted() -> None:
    environ = {
        "ROUTER_DATABASE_URL": "postgresql://db/router",
        "router_http_port": "8080",  # read case-insensitively, like pydantic-settings does
        "ROUTER_TEST_DATABASE_URL": "postgresql://db/tests",
        "ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "ROUTER_DEVSTACK_CACHE": "/tmp/cache",
        "ROUTER_SMOKE_KEEP": "1",
        "ROUTER_IMAGE_TAG": "local",
        "ROUTER_HTTP_PUBLISH": "127.0.0.1:8000",
    }
    assert unknown_variables(environ) == []


def test_load_settings_refuses_an_unknown_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_HTTP_PROT", "8080")
    with pytest.raises(ConfigurationError, match="did you mean ROUTER_HTTP_PORT"):
        load_settings()


def test_a_value_that_does_not_parse_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTER_HTTP_PORT", "eighty")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("ROUTER_HTTP_PORT='eighty': Input should be a valid integer")
    assert "http_port" not in message
    assert "\n" not in message


def test_a_refused_secret_is_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_DATABASE_URL", "mysql://router:hunter2@db/router?password=pw2")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("ROUTER_DATABASE_URL='mysql://router:***@db/router?password=***'")
    assert "hunter2" not in message
    assert "pw2" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://router:hunter2@db/router", "postgresql://router:***@db/router"),
        (
            "postgresql://db/router?sslmode=require&password=hunter2",
            "postgresql://db/router?sslmode=require&password=***",
        ),
        (
            "https://idp.example/jwks?token=abc&tenant=7",
            "https://idp.example/jwks?token=***&tenant=7",
        ),
        ("https://api:s3cret@mail.example/v1", "https://api:***@mail.example/v1"),
        (
            "https://cdn.example/k?X-Amz-Signature=ff&api_key=1&sig=2&auth=3&client_secret=4",
            "https://cdn.example/k?X-Amz-Signature=***&api_key=***&sig=***&auth=***&client_secret=***",
        ),
        ("https://user@host.example/", "https://user@host.example/"),
        ("not a url but maybe a secret", "***"),
    ],
)
def test_mask_url_hides_every_credential(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_router_config_masks_secrets_in_every_url_setting() -> None:
    settings = Settings(
        database_url="postgresql://router:pw1@db/router?password=pw2",  # type: ignore[arg-type]
        jwt_issuer="https://idp.example/",
        jwt_audience="router",
        jwt_jwks_url="https://idp.example/jwks?token=pw3",
        outbound_email_base_url="https://api:pw4@mail.example",
        public_base_url="https://router.example/?sig=pw5",
        metrics_token="pw6",  # type: ignore[arg-type]
    )
    shown = settings.effective()
    text = repr(shown)
    for secret in ("pw1", "pw2", "pw3", "pw4", "pw5", "pw6"):
        assert secret not in text
    assert shown["ROUTER_DATABASE_URL"] == "postgresql://router:***@db/router?password=***"
    assert shown["ROUTER_OUTBOUND_EMAIL_BASE_URL"] == "https://api:***@mail.example"
    assert shown["ROUTER_METRICS_TOKEN"] == "***"
    assert shown["ROUTER_OUTBOUND_META_BASE_URL"] == "https://graph.facebook.com/v21.0"
