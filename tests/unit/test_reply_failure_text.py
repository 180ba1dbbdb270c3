"""What a failed reply's history says: the provider's words, with secrets hidden."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError

from router.channels import Channel
from router.inbound.envelope import DeliveryStatus, DeliveryUpdate
from router.masking import MASK
from router.outbound.failures import configured_secrets, masked
from router.settings import Settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "meta answered 401: Invalid OAuth access token",
            "meta answered 401: Invalid OAuth access token",
        ),
        ("token tok_live_4f8a2b9c rejected", f"token {MASK} rejected"),
        ("sent Authorization: Bearer abc.def-ghi", f"sent Authorization: Bearer {MASK}"),
        (
            "see (https://u:pw@api.example/x?api_key=k1&lang=en).",
            f"see (https://u:{MASK}@api.example/x?api_key={MASK}&lang=en).",
        ),
        ("meta: ConnectError", "meta: ConnectError"),
    ],
)
def test_provider_error_texts_keep_their_words_and_lose_their_secrets(
    text: str, expected: str
) -> None:
    assert masked(text, ("tok_live_4f8a2b9c",)) == expected


def test_every_configured_secret_is_masked_and_short_ones_are_left_alone() -> None:
    settings = Settings(
        webchat_secret=SecretStr("widget-secret-1"),
        twilio_auth_token=SecretStr("tw"),
    )
    secrets = configured_secrets(settings)
    assert "widget-secret-1" in secrets
    assert "tw" not in secrets
    assert (
        masked("bad widget-secret-1 twice widget-secret-1", secrets) == f"bad {MASK} twice {MASK}"
    )


def test_a_delivery_update_names_one_message_or_a_watermark() -> None:
    common = {
        "channel": Channel.MESSENGER,
        "provider": "meta",
        "conversation_key": "messenger:1|2",
        "status": DeliveryStatus.READ,
    }
    DeliveryUpdate(**common, provider_message_id="m_1")
    DeliveryUpdate(**common, watermark=datetime(2026, 12, 2, tzinfo=UTC))
    with pytest.raises(ValidationError, match="exactly one"):
        DeliveryUpdate(**common)
    with pytest.raises(ValidationError, match="exactly one"):
        DeliveryUpdate(
            **common, provider_message_id="m_1", watermark=datetime(2026, 12, 2, tzinfo=UTC)
        )
