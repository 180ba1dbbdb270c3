"""Which sender answers an email: the provider it came in on, else SMTP, else Postmark."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from adapters.outbound.directory import ProviderDirectory
from router.channels import Channel
from router.settings import Settings

KEYS: dict[str, dict[str, object]] = {
    "postmark": {"outbound_email_token": SecretStr("p")},
    "sendgrid": {"outbound_sendgrid_api_key": SecretStr("s")},
    "mailgun": {"outbound_mailgun_api_key": SecretStr("m")},
    "smtp": {"outbound_smtp_host": "mail.shop.example"},
}


def _chosen(configured: list[str], came_in_on: str) -> str | None:
    update: dict[str, object] = {}
    for name in configured:
        update.update(KEYS[name])
    directory = ProviderDirectory(Settings().model_copy(update=update))
    sender = directory.sender_for(Channel.EMAIL, came_in_on)
    return None if sender is None else sender.provider


@pytest.mark.parametrize(
    ("configured", "came_in_on", "expected"),
    [
        (["postmark", "sendgrid", "mailgun", "smtp"], "sendgrid", "sendgrid"),
        (["postmark", "sendgrid", "mailgun", "smtp"], "mailgun", "mailgun"),
        (["postmark", "sendgrid", "mailgun", "smtp"], "postmark", "postmark"),
        (["postmark", "mailgun", "smtp"], "sendgrid", "smtp"),
        (["postmark", "mailgun"], "sendgrid", "postmark"),
        (["smtp"], "postmark", "smtp"),
        (["sendgrid"], "mailgun", None),
        ([], "sendgrid", None),
    ],
)
def test_the_sender_of_an_email_reply(
    configured: list[str], came_in_on: str, expected: str | None
) -> None:
    assert _chosen(configured, came_in_on) == expected
