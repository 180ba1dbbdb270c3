"""What the domain needs to keep attachment bytes and to fetch provider-hosted media.

The adapters (`adapters.blobs`, `adapters.media`) implement these; the domain never imports
them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


class BlobStore(Protocol):
    """Content-addressed bytes: the key is the hex SHA-256 of the content, so a put of the
    same bytes again is idempotent."""

    async def put(self, content: bytes, content_type: str) -> str:
        """Store the content durably and return its key; returns only once it is on disk."""
        ...

    async def get(self, key: str) -> bytes:
        """The whole content under `key`; `KeyError` when there is none."""
        ...

    def open(self, key: str, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        """The content under `key` in chunks, for streaming it out; `KeyError` when absent."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether content is stored under `key`."""
        ...


@dataclass(frozen=True)
class MediaRequest:
    """A provider-hosted attachment waiting to be fetched: where it is and whose it is."""

    provider: str
    channel: str
    url: str | None
    media_id: str | None


@dataclass(frozen=True)
class FetchedMedia:
    content: bytes
    content_type: str | None


class FetchError(Exception):
    """The media could not be fetched; `retryable` says whether trying again may help."""

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


class MediaSource(Protocol):
    """Fetches media the providers serve only with credentials (Meta, Twilio)."""

    async def fetch(self, request: MediaRequest, max_bytes: int) -> FetchedMedia:
        """The media's bytes; `FetchError` when it cannot (or may not) be fetched."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
