"""Signing and verification keys: one algorithm, a fixed set of key ids, a public JWKS.

HS256 uses one shared secret: whoever can verify can also mint tokens.
EdDSA and RS256 sign with a private key kept in a file (generated once into
instance/ with mode 0600 in development) and publish only public keys, so a
service that verifies tokens holds nothing that can forge them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ..settings import ConfigError, Settings


@dataclass(frozen=True)
class KeySet:
    """What the issuer signs with and what verifiers accept: ``kid`` → key, for one algorithm."""

    algorithm: str
    kid: str
    signing_key: object = field(repr=False)
    verification_keys: dict[str, object] = field(repr=False)
    public_jwks: dict = field(default_factory=lambda: {"keys": []})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the public key itself."""
    required = {"OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _public_jwk(algorithm: str, public_key) -> dict:
    if algorithm == "EdDSA":
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw)}
    else:
        numbers = public_key.public_numbers()
        jwk = {
            "kty": "RSA",
            "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }
    return {**jwk, "kid": _thumbprint(jwk), "alg": algorithm, "use": "sig"}


def _load_or_create_private_key(algorithm: str, path: Path, create: bool):
    """Read the PEM private key; in development (``create``) make it once (mode 0600) when missing."""
    if create and not path.exists():
        if algorithm == "EdDSA":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise ConfigError(f"AUTHDEMO_JWT_PRIVATE_KEY_FILE={str(path)!r} cannot be used: {error}") from None
    expected = ed25519.Ed25519PrivateKey if algorithm == "EdDSA" else rsa.RSAPrivateKey
    if not isinstance(key, expected):
        raise ConfigError(f"AUTHDEMO_JWT_PRIVATE_KEY_FILE={str(path)!r} does not hold a key for {algorithm}")
    return key


def hs256_keys(secret: str) -> KeySet:
    """The shared-secret key set; its kid is a short hash, so rotating the secret changes it."""
    key = secret.encode()
    kid = "hs256-" + _b64(hashlib.sha256(b"kid:" + key).digest())[:12]
    return KeySet("HS256", kid, key, {kid: key})


def issuer_keys(settings: Settings) -> KeySet:
    """The app's keys: it signs tokens, so it holds the secret or the private key."""
    if settings.jwt_algorithm == "HS256":
        return hs256_keys(settings.jwt_secret)
    if settings.production and not settings.jwt_private_key_file:
        raise ConfigError(
            f"AUTHDEMO_JWT_PRIVATE_KEY_FILE must be set when AUTHDEMO_ENV=production and "
            f"AUTHDEMO_JWT_ALGORITHM={settings.jwt_algorithm} (a PEM private key, mounted as a secret)"
        )
    private_key = _load_or_create_private_key(
        settings.jwt_algorithm, Path(settings.jwt_private_key_file), create=not settings.production
    )
    jwk = _public_jwk(settings.jwt_algorithm, private_key.public_key())
    return KeySet(
        settings.jwt_algorithm,
        jwk["kid"],
        private_key,
        {jwk["kid"]: private_key.public_key()},
        {"keys": [jwk]},
    )


def keys_from_jwks(algorithm: str, jwks: dict) -> dict[str, object]:
    """Public keys by kid from a JWKS document, keeping only keys for the one allowed algorithm."""
    from jwt import PyJWK

    keys = {}
    for entry in jwks.get("keys", []):
        if entry.get("alg") != algorithm or entry.get("use", "sig") != "sig" or "kid" not in entry:
            continue
        if "d" in entry:  # a private key has no business in a JWKS
            continue
        keys[entry["kid"]] = PyJWK(entry, algorithm=algorithm).key
    return keys
