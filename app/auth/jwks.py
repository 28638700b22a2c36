"""The signing keys an identity provider publishes as a JSON Web Key Set (RFC 7517).

Firebase, Auth0, Keycloak, Cognito and most OIDC providers sign their tokens
with keys they rotate and publish at a URL (`JWT_JWKS_URL`); an offline setup
gives the set as a file (`JWT_JWKS_FILE`). A token names its key by `kid`.

- The set is loaded on first use (a node starts while the provider is
  unreachable) and kept. It is loaded again when a token names a `kid` it does
  not hold (the provider rotated), at most once per `JWT_JWKS_REFRESH`
  seconds, so that tokens with made-up `kid`s cannot make the node hammer the
  provider; and when it is older than `JWT_JWKS_MAX_AGE`, so a withdrawn key
  stops being trusted.
- One load runs at a time; every token waiting for it shares its result.
- A failed load keeps the set already held (the provider's outage does not sign
  anybody out). With no set held at all, tokens are refused as UNAVAILABLE (the
  client retries), not as invalid.
- Keys marked for encryption (`"use": "enc"`) and keys no supported algorithm
  can verify are ignored. A key that declares its `alg` verifies only that
  algorithm; one that does not, any allowed algorithm of its type and curve.

Nothing here blocks the event loop: the URL is fetched, and the file read, in a
thread (a load is rare: once per interval at most).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import jwt

from app.chat.errors import ChatError, Code

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 1024 * 1024  # a provider's set is a few KB


class JwksError(Exception):
    """The key set could not be loaded (unreachable, not JSON, no usable key)."""


# kid -> (the algorithm the key declares, or None; the key)
KeySet = dict[str, tuple[str | None, jwt.PyJWK]]


def prepared_key(algorithm: str, key: object) -> object | None:
    """`key` (a PEM or a key object) as `algorithm` verifies with it, or None when it cannot (another key type
    or curve, or no key at all). A private key is taken for its public half."""
    try:
        prepared = jwt.get_algorithm_by_name(algorithm).prepare_key(key)  # checks the key's type and curve
    except Exception:  # PyJWT and cryptography refuse a key in several ways; all mean "not for this algorithm"
        return None
    public = getattr(prepared, "public_key", None)
    return public() if callable(public) else prepared


def parse_jwks(document: object) -> KeySet:
    """The usable signing keys of a JWKS document. Raises JwksError when there are none."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError('not a JWK Set (an object with a "keys" list)')
    keys: KeySet = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") not in ("RSA", "EC"):
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # an algorithm or curve PyJWT does not support: not one of ours
        keys[str(entry.get("kid") or "")] = (entry.get("alg"), key)
    if not keys:
        raise JwksError("the JWK Set holds no RSA or EC signing key")
    return keys


def key_for(keys: KeySet, kid: object, algorithm: str) -> object | None:
    """The key `kid` names, prepared for `algorithm`; None when there is no such key or it cannot verify that
    algorithm. A token without a `kid` may use the set's only key."""
    if isinstance(kid, str):
        found = keys.get(kid)
    elif kid is None and len(keys) == 1:
        found = next(iter(keys.values()))
    else:
        found = None
    if found is None or found[0] not in (None, algorithm):
        return None
    return prepared_key(algorithm, found[1].key)


class JwksKeys:
    """The provider's key set, loaded lazily and refreshed as the module's docstring says."""

    def __init__(
        self,
        *,
        url: str = "",
        file: str = "",
        refresh_interval: float = 60.0,
        max_age: float = 3600.0,
        timeout: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if bool(url) == bool(file):
            raise ValueError("a JWKS comes from a URL or a file, not both")
        self.source = url or file
        self._url = url
        self._file = file
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._timeout = timeout
        self._monotonic = monotonic
        self._keys: KeySet | None = None
        self._loaded_at = float("-inf")  # when the set held was loaded
        self._tried_at = float("-inf")  # when a load was last begun, whatever came of it
        self._loading: asyncio.Task | None = None
        self.loads = 0  # loads begun (a metric and for tests)

    async def key(self, kid: object, algorithm: str) -> object:
        """The key that verifies a token of `algorithm` naming `kid`. Raises INVALID_TOKEN for a key the set
        does not hold (after a refresh where one is due), UNAVAILABLE when no set could be loaded yet."""
        now = self._monotonic()
        found = None if self._keys is None else key_for(self._keys, kid, algorithm)
        stale = now - self._loaded_at >= self._max_age
        due = self._keys is None or now - self._tried_at >= self._refresh_interval
        if (found is None or stale) and due:  # a failed load keeps the set held: look again in whichever is held
            await self._load()
            found = None if self._keys is None else key_for(self._keys, kid, algorithm)
        if found is not None:
            return found
        if self._keys is None:
            raise ChatError(Code.UNAVAILABLE, "the identity provider's signing keys could not be loaded; retry later")
        shown = kid[:40] if isinstance(kid, str) else kid
        raise ChatError(Code.INVALID_TOKEN, f"the token's key {shown!r} is not one of the identity provider's")

    async def _load(self) -> None:
        """Load the set once for everyone waiting (a waiter cancelled does not cancel the load)."""
        if self._loading is None or self._loading.done():
            self._tried_at = self._monotonic()
            self.loads += 1
            self._loading = asyncio.ensure_future(self._refresh())
        await asyncio.shield(self._loading)

    async def _refresh(self) -> None:
        """Replace the set held by the one loaded now; keep it when the load fails."""
        try:
            keys = await self._fetch()
        except JwksError as exc:
            log.warning("could not load the JWKS from %s (%s); keeping the keys held", self.source, exc)
            return
        if self._keys is not None and set(keys) != set(self._keys):
            log.info("the JWKS from %s now holds the keys %s", self.source, sorted(keys))
        self._keys = keys
        self._loaded_at = self._monotonic()

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            if self._file:
                raw = await asyncio.to_thread(Path(self._file).read_bytes)
            else:
                raw = await asyncio.to_thread(self._get)
            return parse_jwks(json.loads(raw))
        except JwksError:
            raise
        except urllib.error.HTTPError as exc:
            raise JwksError(f"HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
            raise JwksError(str(exc) or type(exc).__name__) from None

    def _get(self) -> bytes:
        request = urllib.request.Request(self._url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            raw = response.read(MAX_JWKS_BYTES + 1)
        if len(raw) > MAX_JWKS_BYTES:
            raise JwksError(f"larger than {MAX_JWKS_BYTES} bytes")
        return raw
