"""The blob store in a local folder: one file per content, named by its SHA-256.

A put writes a temporary file beside its final place, flushes it to disk, renames it over
the key and flushes the folder, so a crash leaves either the whole file under its key or
none (a stray temporary file at worst, never read). Files live two levels down
(`ab/cd/abcd…`) so no folder grows past a few thousand entries.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

_KEY = re.compile(r"[0-9a-f]{64}")


class FolderBlobStore:
    """Content-addressed files under `root` (the `BlobStore` port)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """Where the content of `key` lives; `KeyError` for anything but a SHA-256 digest."""
        if not _KEY.fullmatch(key):
            raise KeyError(key)
        return self.root / key[:2] / key[2:4] / key

    async def put(self, content: bytes, content_type: str) -> str:
        """Store `content` (its type is kept by the caller) and return its key."""
        return await asyncio.to_thread(self._put, content)

    def _put(self, content: bytes) -> str:
        key = hashlib.sha256(content).hexdigest()
        target = self.path(key)
        if target.exists():
            return key  # the same bytes are already there, whole (they arrived by rename)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _sync_folder(target.parent)
        return key

    async def get(self, key: str) -> bytes:
        """The whole content under `key`; `KeyError` when there is none."""
        path = self.path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise KeyError(key) from None

    async def open(self, key: str, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        """The content under `key` in chunks; `KeyError` before the first when absent."""
        path = self.path(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise KeyError(key) from None
        try:
            while chunk := await asyncio.to_thread(file.read, chunk_size):
                yield chunk
        finally:
            file.close()

    async def exists(self, key: str) -> bool:
        """Whether content is stored under `key`."""
        try:
            path = self.path(key)
        except KeyError:
            return False
        return await asyncio.to_thread(path.is_file)


def _sync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk too.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
