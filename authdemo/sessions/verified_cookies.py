"""Flask's signed-cookie sessions, with each cookie's signature checked once per process, not once per request.

A browser sends the same cookie on request after request until the server
changes it. Checking the signature (two HMACs) and decoding the tagged JSON
again each time was ~20 % of a JWT-mode page in the profile
(docs/performance.md). The cache maps the exact cookie string, already
verified, to its signing time and its contents; a hit still honours the
signature's age limit, and a string never seen is verified as before, so
nothing unsigned is ever accepted. Bounded (least recently used first out)
and per process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import msgspec
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(dict)


class VerifiedCookies:
    """Cookie string → (signed at, msgpack copy of its contents), for strings whose signature was valid."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, value: str, max_age: float) -> dict | None:
        """The contents (a fresh copy), if this exact string was verified and is not older than ``max_age``."""
        with self._lock:
            entry = self._entries.get(value)
            if entry is None:
                return None
            self._entries.move_to_end(value)
        signed_at, packed = entry
        if time.time() - signed_at > max_age:
            return None  # let the serializer refuse it, as it would have
        return _decoder.decode(packed)

    def put(self, value: str, signed_at: float, data: dict) -> None:
        """Remember a verified string (contents msgspec cannot copy are simply not cached)."""
        try:
            packed = _encoder.encode(data)
        except (TypeError, msgspec.EncodeError):
            return
        with self._lock:
            self._entries[value] = (signed_at, packed)
            self._entries.move_to_end(value)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class _CachingSerializer:
    """What Flask's open and save call on a signing serializer, with ``loads`` going through the cache."""

    def __init__(self, serializer: URLSafeTimedSerializer, cache: VerifiedCookies):
        self._serializer = serializer
        self._cache = cache

    def loads(self, value: str, max_age: int | None = None) -> dict:
        """The cookie's contents; BadSignature as Flask's own serializer raises it."""
        limit = float("inf") if max_age is None else max_age
        found = self._cache.get(value, limit)
        if found is not None:
            return found
        data, signed_at = self._serializer.loads(value, max_age=max_age, return_timestamp=True)
        if isinstance(data, dict):
            self._cache.put(value, signed_at.timestamp(), data)
        return data

    def dumps(self, data: dict) -> str:
        """Sign as Flask does."""
        return self._serializer.dumps(data)


class CachedSecureCookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session interface with verified cookies remembered (see the module docstring)."""

    def __init__(self, cache_size: int = 10_000):
        self.verified = VerifiedCookies(cache_size)
        self._serializers: dict[tuple, _CachingSerializer] = {}

    def get_signing_serializer(self, app: Flask) -> _CachingSerializer | None:
        """Flask's serializer for the current keys, built once per set of keys."""
        if not app.secret_key:
            return None
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = _CachingSerializer(super().get_signing_serializer(app), self.verified)
            self._serializers = {key: serializer}  # a new secret key: the old entries are never asked again
            self.verified = VerifiedCookies(self.verified.size)
            serializer._cache = self.verified
        return serializer


__all__ = ["CachedSecureCookieSessionInterface", "VerifiedCookies", "BadSignature"]
