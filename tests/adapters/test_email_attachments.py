"""Email parts posted inside the webhook are durable in the blob store before the 2xx."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx

from adapters.blobs.folder import FolderBlobStore
from router.inbound.envelope import AttachmentStatus
from router.settings import Settings
from tests.adapters.conftest import SECRETS, Inbound
from tests.adapters.email_requests import (
    FilePart,
    basic_auth,
    email_events,
    mailgun_forward,
    mailgun_signed,
    multipart,
)
from tests.adapters.payloads import payload
from tests.support import app_client

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"1 0 obj\n" * 8


def _store(settings: Settings) -> FolderBlobStore:
    return FolderBlobStore(settings.blobs_folder(settings.data_dir))


def _postmark(attachments: list[dict[str, Any]]) -> bytes:
    document: dict[str, Any] = payload("postmark_inbound.json").document()
    document["Attachments"] = attachments
    return json.dumps(document).encode()


async def test_a_postmark_file_is_in_the_store_when_the_webhook_answers(
    client: httpx.AsyncClient, inbound: Inbound, webhook_settings: Settings
) -> None:
    body = _postmark(
        [
            {
                "Name": "receipt.png",
                "ContentType": "image/png",
                "ContentLength": len(PNG),
                "Content": base64.b64encode(PNG).decode(),
            }
        ]
    )
    headers = {
        "Content-Type": "application/json",
        **basic_auth(SECRETS["postmark_inbound_token"]),
    }
    response = await client.post("/webhooks/email/postmark", content=body, headers=headers)
    assert response.status_code == 200
    # Durable before the answer: read straight from the store, not after a wait.
    digest = hashlib.sha256(PNG).hexdigest()
    assert await _store(webhook_settings).get(digest) == PNG

    [(record, event)] = await email_events(inbound, 1)
    [attached] = event.attachments
    assert attached.status is AttachmentStatus.STORED
    assert (attached.blob_key, attached.sha256, attached.size) == (digest, digest, len(PNG))
    assert (attached.content_type, attached.sniffed_type) == ("image/png", "image/png")
    assert PNG not in record.value


async def test_a_file_unlike_its_type_is_refused_but_the_email_is_taken(
    client: httpx.AsyncClient, inbound: Inbound, webhook_settings: Settings
) -> None:
    body = _postmark(
        [
            {
                "Name": "photo.png",
                "ContentType": "image/png",
                "Content": base64.b64encode(PDF).decode(),
            },
            {"Name": "run.exe", "ContentType": "application/x-msdownload", "Content": "TVqQAAMA"},
        ]
    )
    headers = {
        "Content-Type": "application/json",
        **basic_auth(SECRETS["postmark_inbound_token"]),
    }
    response = await client.post("/webhooks/email/postmark", content=body, headers=headers)
    assert response.status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    photo, program = event.attachments
    assert photo.status is program.status is AttachmentStatus.REFUSED
    assert photo.reason == "declared image/png, but the content is application/pdf"
    assert program.reason == "type not allowed: application/x-msdownload"
    assert photo.blob_key is None
    assert photo.size == len(PDF)
    assert not await _store(webhook_settings).exists(hashlib.sha256(PDF).hexdigest())


async def test_sendgrid_files_are_stored_with_their_digest(
    client: httpx.AsyncClient, inbound: Inbound, webhook_settings: Settings
) -> None:
    fields = [
        ("from", "Ingrid <ingrid@example.org>"),
        ("to", "help@inbound.example.com"),
        ("subject", "Cracked lid"),
        ("text", "See the photo and the invoice."),
        ("headers", "Message-ID: <lid-1@mail.example.org>\r\n"),
        ("envelope", json.dumps({"to": ["help@inbound.example.com"], "from": "i@example.org"})),
        ("attachments", "2"),
    ]
    body, content_type = multipart(
        fields,
        [
            FilePart("attachment1", "lid.png", "image/png", PNG),
            FilePart("attachment2", "invoice.pdf", "application/octet-stream", PDF),
        ],
    )
    headers = {"Content-Type": content_type, **basic_auth(SECRETS["sendgrid_inbound_token"])}
    response = await client.post("/webhooks/email/sendgrid", content=body, headers=headers)
    assert response.status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    photo, invoice = event.attachments
    assert (photo.status, photo.sha256) == (
        AttachmentStatus.STORED,
        hashlib.sha256(PNG).hexdigest(),
    )
    # A generic part type takes the type the bytes show.
    assert (invoice.status, invoice.content_type) == (AttachmentStatus.STORED, "application/pdf")
    assert await _store(webhook_settings).get(invoice.blob_key or "") == PDF


async def test_mailgun_attachments_are_stored_too(
    client: httpx.AsyncClient, inbound: Inbound, webhook_settings: Settings
) -> None:
    fields = mailgun_signed(mailgun_forward(**{"attachment-count": "1"}))
    body, content_type = multipart(
        list(fields.items()), [FilePart("attachment-1", "label.png", "image/png", PNG)]
    )
    response = await client.post(
        "/webhooks/email/mailgun", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    [label] = event.attachments
    assert (label.filename, label.status, label.size) == (
        "label.png",
        AttachmentStatus.STORED,
        len(PNG),
    )
    assert await _store(webhook_settings).exists(label.blob_key or "")


async def test_an_oversized_part_stays_metadata(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    settings = webhook_settings.model_copy(update={"attachment_max_bytes": len(PNG)})
    big = PNG + b"!"
    body = _postmark(
        [{"Name": "big.png", "ContentType": "image/png", "Content": base64.b64encode(big).decode()}]
    )
    headers = {
        "Content-Type": "application/json",
        **basic_auth(SECRETS["postmark_inbound_token"]),
    }
    async with app_client(settings) as (_, client):
        response = await client.post("/webhooks/email/postmark", content=body, headers=headers)
    assert response.status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    [attached] = event.attachments
    assert attached.status is AttachmentStatus.REFUSED
    assert attached.reason == f"too large: {len(big)} bytes; the limit is {len(PNG)}"
    assert not await _store(settings).exists(hashlib.sha256(big).hexdigest())
