"""The Entra ID tenant's token signing keys, fetched and cached.

The OpenID configuration names the JWKS (``jwks_uri``); both are fetched
together and trusted for ``ttl_seconds``. Entra rotates its keys and
publishes the new one before signing with it, so a token whose ``kid`` is not
in the cache triggers one refetch; refetches for unknown keys happen at most
once per ``refetch_seconds``, so a stream of forged ``kid``s costs the
identity provider one request per interval, not one per token. When a refresh
fails and keys are cached, the cached keys stay in use (logged); with no keys
at all the caller gets ``KeysUnavailable`` (503).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from jwt import PyJWK, PyJWTError

from shared.admin.errors import KeysUnavailable
from shared.errors import Unauthorized

log = logging.getLogger("sre_copilot.admin.keys")

Fetch = Callable[[str], Any]
"""GET a URL and return its JSON value; raises ``KeysUnavailable`` when it cannot."""

REFETCH_SECONDS = 30.0
MAX_DOCUMENT_BYTES = 1024 * 1024


def fetch_json(url: str, *, timeout: float = 5.0) -> Any:
    """The JSON at ``url`` (http or https), or ``KeysUnavailable`` saying why not."""
    if not url.startswith(("https://", "http://")):
        raise KeysUnavailable(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise KeysUnavailable(f"cannot fetch {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KeysUnavailable(f"cannot fetch {url}: {reason}") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise KeysUnavailable(f"{url}: document over {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise KeysUnavailable(f"{url}: not JSON") from None


class SigningKeys:
    """RS256 verification keys by ``kid``, from an OpenID configuration URL."""

    def __init__(
        self,
        openid_config_url: str,
        *,
        ttl_seconds: float = 3600.0,
        refetch_seconds: float = REFETCH_SECONDS,
        fetch: Fetch = fetch_json,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config_url = openid_config_url
        self._ttl = ttl_seconds
        self._refetch = refetch_seconds
        self._fetch = fetch
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, PyJWK] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._kid_refetched_at: float | None = None
        self.fetches = 0
        """How many times the keys were fetched (tests and logs)."""

    def key_for(self, kid: str) -> PyJWK:
        """The key named ``kid``; ``Unauthorized`` when the issuer publishes none by that name."""
        with self._lock:
            now = self._monotonic()
            stale = self._keys is None or now - self._fetched_at >= self._ttl
            refreshed = stale and (self._keys is None or self._may_refetch(now))
            if refreshed:
                self._refresh(now)  # past the TTL; a failed refresh is retried after REFETCH
            assert self._keys is not None
            key = self._keys.get(kid)
            if (
                key is None
                and not refreshed
                and (
                    self._kid_refetched_at is None or now - self._kid_refetched_at >= self._refetch
                )
            ):
                self._kid_refetched_at = now
                self._refresh(now)  # the issuer may have rotated its keys
                key = self._keys.get(kid)
        if key is None:
            raise Unauthorized(f"token is signed with an unknown key (kid {kid[:80]!r})")
        return key

    def _may_refetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._refetch

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        try:
            config = self._fetch(self._config_url)
            if not isinstance(config, dict) or not isinstance(config.get("jwks_uri"), str):
                raise KeysUnavailable(
                    f"{self._config_url}: no jwks_uri in the OpenID configuration"
                )
            keys = _usable_keys(self._fetch(config["jwks_uri"]), config["jwks_uri"])
        except KeysUnavailable as exc:
            if self._keys is None:
                raise
            log.warning("signing keys not refreshed, the cached ones stay: %s", exc.reason)
            return
        self.fetches += 1
        self._keys = keys
        self._fetched_at = now


def _usable_keys(jwks: Any, where: str) -> dict[str, PyJWK]:
    """The RSA signing keys of a JWKS by ``kid`` (others skipped); none is an error."""
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(entries, list):
        raise KeysUnavailable(f"{where}: not a JWKS (no 'keys' list)")
    keys: dict[str, PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or not isinstance(entry.get("kid"), str):
            continue
        try:
            keys[entry["kid"]] = PyJWK(entry, algorithm="RS256")
        except PyJWTError as exc:
            log.warning("JWKS key %r skipped: %s", entry["kid"][:80], exc)
    if not keys:
        raise KeysUnavailable(f"{where}: no usable RS256 signing key")
    return keys
