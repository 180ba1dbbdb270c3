"""What an attachment's bytes are, and whether they are kept: size, type, agreement."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.blobs.folder import FolderBlobStore
from router.attachments.inspection import (
    DEFAULT_ALLOWED_TYPES,
    AttachmentRules,
    inspect,
    safe_filename,
    sniff,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
DOCX = b"PK\x03\x04\x14\x00\x06\x00" + bytes(20)
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + bytes(20)
OGG = b"OggS\x00\x02" + bytes(20)
EXE = b"MZ\x90\x00\x03\x00" + bytes(20)
RULES = AttachmentRules.parse(1000, DEFAULT_ALLOWED_TYPES)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (PDF, "application/pdf"),
        (DOCX, "application/zip"),
        (MP4, "video/mp4"),
        (OGG, "audio/ogg"),
        (EXE, "application/x-executable"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"ID3\x03\x00", "audio/mpeg"),
        (b"Hello, caf\xc3\xa9\n", "text/plain"),
        (b"\x00\x01\x02\x03binary", None),
        (b"", None),
    ],
)
def test_the_first_bytes_say_what_the_content_is(content: bytes, expected: str | None) -> None:
    assert sniff(content) == expected


@pytest.mark.parametrize(
    ("content", "declared"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpg"),  # an alias of image/jpeg
        (PDF, "application/pdf; name=invoice.pdf"),
        (DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (MP4, "audio/mp4"),  # one container, many brands
        (OGG, "audio/ogg"),
        (b"name,total\nada,3\n", "text/csv"),
    ],
)
def test_bytes_that_agree_with_an_allowed_type_are_kept(content: bytes, declared: str) -> None:
    verdict = inspect(content, declared, RULES)
    assert verdict.refused is None
    assert verdict.content_type == declared.split(";")[0]


def test_a_generic_claim_takes_the_type_the_bytes_show() -> None:
    verdict = inspect(PDF, "application/octet-stream", RULES)
    assert (verdict.refused, verdict.content_type) == (None, "application/pdf")


@pytest.mark.parametrize(
    ("content", "declared", "shown"),
    [(PNG, "image/*", "image/png"), (JPEG, "image/*", "image/jpeg"), (OGG, "audio/*", "audio/ogg")],
)
def test_a_family_claim_takes_the_type_the_bytes_show(
    content: bytes, declared: str, shown: str
) -> None:
    # Messenger and Instagram name a photo `image`, nothing more.
    verdict = inspect(content, declared, RULES)
    assert (verdict.refused, verdict.content_type) == (None, shown)


@pytest.mark.parametrize(
    ("content", "declared", "reason"),
    [
        (PDF, "image/png", "declared image/png, but the content is application/pdf"),
        (PDF, "image/*", "declared image/*, but the content is application/pdf"),
        (bytes(40), "image/*", "declared image/*, but the content is of no type we know"),
        (EXE, "video/*", "declared video/*, but the content is application/x-executable"),
        (b"just words", "image/jpeg", "declared image/jpeg, but the content is text/plain"),
        (bytes(40), "application/pdf", "declared application/pdf, but the content is not"),
        (bytes(40), "text/plain", "declared text/plain, but the content is not text/plain"),
        (EXE, "image/png", "type not allowed: application/x-executable"),
        (EXE, "application/octet-stream", "type not allowed: application/x-executable"),
        (b"<html><script>", "text/html", "type not allowed: text/html"),
        (b"<svg/>", "image/svg+xml", "type not allowed: image/svg+xml"),
        (bytes(1001), "video/mp4", "too large: 1001 bytes; the limit is 1000"),
    ],
)
def test_what_is_not_kept_says_why(content: bytes, declared: str, reason: str) -> None:
    refused = inspect(content, declared, RULES).refused
    assert refused is not None
    assert refused.startswith(reason)


def test_type_patterns_come_from_the_setting() -> None:
    rules = AttachmentRules.parse(10, " image/* , application/pdf ")
    assert rules.allowed_types == ("image/*", "application/pdf")
    assert rules.allows("image/heic")
    assert not rules.allows("video/mp4")


@given(st.binary(max_size=64), st.sampled_from(["image/png", "text/plain", "", "x/y"]))
def test_any_bytes_get_a_verdict_never_an_error(content: bytes, declared: str) -> None:
    verdict = inspect(content, declared, RULES)
    assert verdict.content_type


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ('C:\\Users\\a\\"quote".pdf', "quote.pdf"),
        ("line\r\nbreak.txt", "linebreak.txt"),
        (None, "attachment"),
        ("   ", "attachment"),
    ],
)
def test_file_names_lose_paths_and_control_characters(
    given_name: str | None, expected: str
) -> None:
    assert safe_filename(given_name, "attachment") == expected


async def test_the_folder_store_keeps_content_under_its_digest(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path)
    key = await store.put(PNG, "image/png")
    assert key == hashlib.sha256(PNG).hexdigest()
    assert await store.put(PNG, "image/png") == key  # idempotent
    assert await store.get(key) == PNG
    assert b"".join([chunk async for chunk in store.open(key, chunk_size=7)]) == PNG
    assert await store.exists(key)
    # Only the whole file is left: no temporary file beside it.
    files = await asyncio.to_thread(lambda: [p.name for p in tmp_path.rglob("*") if p.is_file()])
    assert files == [key]


async def test_the_folder_store_knows_nothing_but_digests(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path)
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not await store.exists(missing)
    assert not await store.exists("../../etc/passwd")
    with pytest.raises(KeyError):
        await store.get(missing)
    with pytest.raises(KeyError):
        await store.get("../secrets")
    with pytest.raises(KeyError):
        [chunk async for chunk in store.open(missing)]
