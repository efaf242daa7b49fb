"""Forged and malformed tokens: every one is refused with 401, never accepted, never a 5xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from authdemo.tokens import get_service
from tests.jwt_support import Api


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _parts(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def _unsigned(header: dict, payload: dict, signature: str = "") -> str:
    return f"{_segment(header)}.{_segment(payload)}.{signature}"


def _edit_payload(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    _, claims, _ = _parts(token)
    claims.update(changes)
    return f"{header}.{_segment(claims)}.{signature}"


@pytest.fixture
def hs_app(make_app):
    """HS256, the default."""
    return make_app("jwt:memory")


@pytest.fixture
def genuine(hs_app):
    """A real pair for carol, to tamper with."""
    return Api(hs_app).token("carol")


def _sign_with_real_key(app, claims: dict, **header) -> str:
    """What only a bug or an insider could make: a token signed with the app's own key."""
    keys = get_service(app).keys
    headers = {"typ": "at+jwt", "kid": keys.kid, **header}
    return jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers=headers)


def _hmac_sign(app, header: dict, claims: dict) -> str:
    """HS256 by hand with the app's key, for headers PyJWT itself would refuse to write."""
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode()
    signature = hmac.new(get_service(app).keys.signing_key, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{_b64(signature)}"


def _valid_claims(genuine: dict, **changes) -> dict:
    _, claims, _ = _parts(genuine["access_token"])
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _attacker_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _forgeries(app, genuine: dict) -> dict[str, str]:
    access, refresh = genuine["access_token"], genuine["refresh_token"]
    header, claims, signature = _parts(access)
    now = int(time.time())
    attacker_key = _attacker_rsa()
    attacker_pem = attacker_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    attacker_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker_key.public_key()))
    admin_claims = {**claims, "permissions": ["admin.access", "tasks.read"], "roles": ["admin"]}
    forged = {
        # alg none in its spellings
        **{f"alg-{alg}": _unsigned({**header, "alg": alg}, admin_claims) for alg in ("none", "None", "NONE", "nOnE")},
        "alg-none-with-old-signature": _unsigned({**header, "alg": "none"}, admin_claims, signature),
        # signature stripped, corrupted, or for other contents
        "signature-stripped": access.rsplit(".", 1)[0] + ".",
        "two-segments": access.rsplit(".", 1)[0],
        "signature-corrupted": access[:-6] + ("AAAAAA" if not access.endswith("AAAAAA") else "BBBBBB"),
        "claims-tampered-permissions": _edit_payload(access, permissions=["admin.access"]),
        "claims-tampered-sub": _edit_payload(access, sub="1", username="alice"),
        "claims-tampered-exp": _edit_payload(access, exp=now + 10**6),
        "wrong-secret": jwt.encode(
            admin_claims,
            "a-guessed-secret-that-is-long-enough!",
            algorithm="HS256",
            headers={"typ": "at+jwt", "kid": header["kid"]},
        ),
        "hs512-same-secret": jwt.encode(
            claims,
            get_service(app).keys.signing_key,
            algorithm="HS512",
            headers={"typ": "at+jwt", "kid": header["kid"]},
        ),
        # registered claims missing or out of range (signed with the real key)
        "missing-exp": _sign_with_real_key(app, _valid_claims(genuine, exp=None)),
        "expired": _sign_with_real_key(app, _valid_claims(genuine, iat=now - 7200, nbf=now - 7200, exp=now - 3600)),
        "future-nbf": _sign_with_real_key(app, _valid_claims(genuine, nbf=now + 3600)),
        "future-iat": _sign_with_real_key(app, _valid_claims(genuine, iat=now + 3600)),
        "missing-jti": _sign_with_real_key(app, _valid_claims(genuine, jti=None)),
        "integer-sub": _sign_with_real_key(app, _valid_claims(genuine, sub=3)),
        "wrong-audience": _sign_with_real_key(app, _valid_claims(genuine, aud="another-service")),
        "wrong-issuer": _sign_with_real_key(app, _valid_claims(genuine, iss="https://evil.example")),
        # token type confusion, both ways and header against claim
        "refresh-as-access": refresh,
        "typ-header-jwt": _sign_with_real_key(app, _valid_claims(genuine), typ="JWT"),
        "typ-claim-refresh": _sign_with_real_key(app, _valid_claims(genuine, typ="refresh")),
        # kid games
        "kid-path-traversal": _sign_with_real_key(app, _valid_claims(genuine), kid="../../../../dev/null"),
        "kid-sql-injection": _sign_with_real_key(app, _valid_claims(genuine), kid="x' UNION SELECT 'secret"),
        "kid-not-a-string": _hmac_sign(app, {**header, "kid": ["a"]}, _valid_claims(genuine)),
        # keys offered by the token itself
        "jku-attacker-keys": jwt.encode(
            admin_claims,
            attacker_pem,
            algorithm="RS256",
            headers={"typ": "at+jwt", "kid": "attacker", "jku": "http://127.0.0.1:9/jwks"},
        ),
        "x5u-attacker-cert": jwt.encode(
            admin_claims,
            attacker_pem,
            algorithm="RS256",
            headers={"typ": "at+jwt", "x5u": "http://127.0.0.1:9/cert.pem"},
        ),
        "embedded-jwk": jwt.encode(
            admin_claims, attacker_pem, algorithm="RS256", headers={"typ": "at+jwt", "jwk": attacker_jwk}
        ),
        "unknown-crit": _sign_with_real_key(
            app, _valid_claims(genuine), crit=["http://example.com/ext"], **{"http://example.com/ext": True}
        ),
        # garbage and size
        "oversized": _sign_with_real_key(app, _valid_claims(genuine, padding="x" * 20_000)),
        "garbage": "not-a-token",
        "three-dots": "...",
        "non-json-segments": "abc.def.ghi",
        "unicode": "ключ.ключ.ключ",
    }
    return forged


def test_at_least_25_forgeries_are_refused_with_401(hs_app, genuine):
    api = Api(hs_app)
    assert api.me(genuine["access_token"]).status_code == 200  # the genuine one works
    forgeries = _forgeries(hs_app, genuine)
    assert len(forgeries) >= 25
    for name, token in forgeries.items():
        response = api.me(token)
        assert response.status_code == 401, (name, response.status_code, response.get_json())
        assert response.get_json()["error"] == "invalid_token", name
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"], name


def test_access_token_refused_as_refresh_token(hs_app, genuine):
    response = Api(hs_app).refresh(genuine["access_token"])
    assert response.status_code == 401 and "refresh" in response.get_json()["message"]


def test_revoked_token_reencoded_is_still_revoked(hs_app, genuine):
    """The deny list holds token ids, so re-encoding the same signed token does not slip past it."""
    api = Api(hs_app)
    access = genuine["access_token"]
    api.revoke(access)
    header, payload, signature = access.split(".")
    variants = [
        f"{header}.{payload}.{signature}==",  # base64 padding on the signature
        f"{header}.{payload}.{signature}".replace(".", ".", 1),
        access,
        f"{_segment(_parts(access)[0])}.{payload}.{signature}",  # header re-serialised
    ]
    for token in variants:
        assert api.me(token).status_code == 401, token


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_key_confusion_hs256_signed_with_the_public_key(make_app, algorithm):
    """An attacker signs HS256 with the server's public key, hoping it is used as an HMAC secret."""
    app = make_app("jwt:memory", AUTHDEMO_JWT_ALGORITHM=algorithm)
    api = Api(app)
    genuine = api.token("carol")
    keys = get_service(app).keys
    public_pem = next(iter(keys.verification_keys.values())).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, claims, _ = _parts(genuine["access_token"])
    claims["permissions"] = ["admin.access"]
    header = {"alg": "HS256", "typ": "at+jwt", "kid": keys.kid}
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode()
    forged = f"{signing_input.decode()}.{_b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())}"
    assert api.me(forged).status_code == 401
    other_key = ed25519.Ed25519PrivateKey.generate() if algorithm == "EdDSA" else _attacker_rsa()
    self_signed = jwt.encode(claims, other_key, algorithm=algorithm, headers={"typ": "at+jwt", "kid": keys.kid})
    assert api.me(self_signed).status_code == 401
    assert api.me(genuine["access_token"]).status_code == 200


def test_every_error_is_json_and_never_a_5xx(hs_app):
    api = Api(hs_app)
    for header_value in ["Bearer", "Bearer ", "Bearer a b", "Bearer \x00", "Token x", "Bearer " + "A" * 100_000]:
        response = api.client.get("/api/me", headers={"Authorization": header_value})
        assert response.status_code in (400, 401, 431), (header_value[:20], response.status_code)
        if response.status_code == 401:
            assert response.get_json()["error"] in ("invalid_token", "invalid_request")
