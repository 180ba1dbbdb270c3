"""The identity provider's JWKS (RFC 7517): fetched with httpx, cached, renewed on rotation.

Requests never wait on the network while keys are at hand: keys older than the cache lifetime
stay in use while a background fetch renews them. A token naming a key id the set does not
hold fetches the set again at once (the provider may have rotated its keys), but fetches are
at least `refetch_seconds` apart, so made-up key ids cannot make the router hammer the
provider. When the provider does not answer, the keys fetched last stay in use; only with no
keys at all does a request answer 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import httpx
import jwt

from router.auth.algorithms import usable
from router.auth.errors import IdentityProviderUnavailable
from router.auth.tokens import SigningKey
from router.masking import mask_url

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 5.0


def parse_key_set(document: object) -> tuple[SigningKey, ...]:
    """The public signing keys of a JWK Set that an accepted algorithm can verify with.

    Other entries are skipped, not fatal: providers publish encryption keys and keys of
    kinds the router does not accept beside the ones that sign its tokens. Symmetric and
    private keys are never taken as verifiers.
    """
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWK Set (no `keys` list)")
    keys: list[SigningKey] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") == "oct" or "d" in entry:
            continue
        try:
            parsed = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
        key = usable(parsed.key)
        if key is None:
            continue
        key_id = entry.get("kid")
        algorithm = entry.get("alg")
        keys.append(
            SigningKey(
                key_id=key_id if isinstance(key_id, str) else None,
                key=key,
                algorithm=algorithm if isinstance(algorithm, str) else None,
            )
        )
    return tuple(keys)


class JwksSigningKeys:
    """The signing keys published at a JWKS URL, kept at hand for every request."""

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float,
        refetch_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._cache_seconds = cache_seconds
        self._refetch_seconds = refetch_seconds
        self._clock = clock
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=FETCH_TIMEOUT_SECONDS,
            headers={"User-Agent": "conversation-router", "Accept": "application/json"},
        )
        self._keys: tuple[SigningKey, ...] = ()
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._attempts = 0
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """The keys in use now."""
        return self._keys

    async def start(self) -> None:
        """Fetch the keys in the background, so the first token need not wait for them."""
        self._background = asyncio.create_task(self._fetch(self._attempts))

    async def lookup(self, key_id: str | None) -> SigningKey | None:
        """The key with this id, fetching the set again when it names one not seen yet."""
        if not self._keys:
            await self._fetch(self._attempts)
            if not self._keys:
                raise IdentityProviderUnavailable(
                    "the identity provider's signing keys cannot be fetched; retry shortly"
                )
        elif self._due():
            self._renew_in_background()
        seen = self._attempts
        key = self._find(key_id)
        if key is None and key_id is not None:
            await self._fetch(seen)
            key = self._find(key_id)
        return key

    async def close(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
        await self._client.aclose()

    def _find(self, key_id: str | None) -> SigningKey | None:
        if key_id is None:
            return self._keys[0] if len(self._keys) == 1 else None
        return next((key for key in self._keys if key.key_id == key_id), None)

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._refetch_seconds

    def _due(self) -> bool:
        now = self._clock()
        expired = self._fetched_at is None or now - self._fetched_at >= self._cache_seconds
        return expired and self._may_fetch(now)

    def _renew_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.create_task(self._fetch(self._attempts))

    async def _fetch(self, seen: int) -> None:
        """Fetch the set once, unless another fetch ran since `seen` or one ran too recently.

        Callers that find a fetch under way wait for it and use its result, so a burst of
        tokens with a new key id costs one request to the provider.
        """
        async with self._lock:
            now = self._clock()
            if self._attempts != seen or not self._may_fetch(now):
                return
            self._attempts += 1
            self._attempted_at = now
            try:
                keys = await self._download()
            except (httpx.HTTPError, ValueError) as error:
                kept = f"keeping {len(self._keys)} cached keys" if self._keys else "no keys yet"
                log.warning(
                    "identity provider keys not fetched from %s (%s: %s); %s",
                    mask_url(self.url),
                    type(error).__name__,
                    error,
                    kept,
                )
                return
            self._keys = keys
            self._fetched_at = self._clock()

    async def _download(self) -> tuple[SigningKey, ...]:
        response = await self._client.get(self.url)
        if response.status_code != 200:
            raise ValueError(f"the JWKS URL answered {response.status_code}")
        keys = parse_key_set(response.json())
        if not keys:
            raise ValueError("the key set holds no usable signing keys")
        return keys
