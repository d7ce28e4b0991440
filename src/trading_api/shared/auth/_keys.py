"""The issuer's public keys (a JWKS), cached and refreshed when they change.

Keys are read once and kept. A token signed with a key the cache does not know
(an unknown ``kid``: the issuer rotated its keys) makes the source read the JWKS
again, at most once per ``min_refresh`` seconds, so a stream of made-up ``kid``s
costs the issuer one fetch per interval. Keys older than ``max_age`` are read
again at the next token; a key the issuer removed stops verifying then.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from trading_api.shared.auth._principal import AuthError

if TYPE_CHECKING:
    import jwt

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 5.0

JwksLoader = Callable[[], Awaitable[dict[str, Any]]]
"""Reads the issuer's current JWKS document (``{"keys": [...]}``)."""


def loader_for(url: str) -> JwksLoader:
    """Read the JWKS at ``url``: ``https://``/``http://`` with httpx, or a file."""
    if url.startswith("file://"):
        return file_loader(Path(unquote(urlsplit(url).path)))

    async def fetch() -> dict[str, Any]:
        import httpx

        from trading_api.shared.http_tls import tls_context

        async with httpx.AsyncClient(
            timeout=FETCH_TIMEOUT_SECONDS, verify=tls_context()
        ) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document: dict[str, Any] = response.json()
            return document

    return fetch


def file_loader(path: Path) -> JwksLoader:
    """Read the JWKS kept in the file ``path`` (a missing file holds no key)."""

    async def read() -> dict[str, Any]:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"keys": []}
        document: dict[str, Any] = json.loads(text)
        return document

    return read


class KeySet:
    """Public keys by ``kid``, read through a :data:`JwksLoader`.

    Attributes:
        generation: Grows each time the set of keys changes; what was verified
            with an older generation must be verified again.
    """

    def __init__(
        self,
        load: JwksLoader,
        *,
        min_refresh: float = 10.0,
        max_age: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._min_refresh = min_refresh
        self._max_age = max_age
        self._clock = clock
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fingerprint: str | None = None
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()
        self.generation = 0

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        """The key that signed a token whose header names ``kid``.

        Raises:
            AuthError: no such key, even after reading the keys again.
        """
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self._max_age:
            await self._refresh(force=True)
        key = self._lookup(kid)
        if key is None and await self._refresh(force=False):
            key = self._lookup(kid)
        if key is None:
            raise AuthError("token signed with a key the issuer does not publish")
        return key

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _refresh(self, *, force: bool) -> bool:
        """Read the keys again; False when the rate limit says not yet."""
        started = self._clock()
        async with self._lock:
            loaded_at = self._loaded_at
            if loaded_at is not None and loaded_at >= started:
                return True  # another request read them while this one waited
            if (
                not force
                and loaded_at is not None
                and started - loaded_at < self._min_refresh
            ):
                return False
            try:
                document = await self._load()
            except Exception as exc:
                logger.warning("reading the issuer's keys failed: %r", exc)
                self._loaded_at = self._clock()
                if not self._keys:
                    raise AuthError("the issuer's keys cannot be read") from None
                return False
            self._loaded_at = self._clock()
            self._install(document)
            return True

    def _install(self, document: dict[str, Any]) -> None:
        fingerprint = json.dumps(document, sort_keys=True)
        if fingerprint == self._fingerprint:
            return
        import jwt

        keys: dict[str | None, jwt.PyJWK] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            # Only public signing keys: a shared secret ("oct") or an encryption
            # key never verifies a token.
            if not isinstance(entry, dict) or entry.get("kty") == "oct":
                continue
            if entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWKError as exc:
                logger.warning("skipping an unusable JWKS key: %s", exc)
                continue
            keys[entry.get("kid")] = key
        self._keys = keys
        self._fingerprint = fingerprint
        self.generation += 1
