"""REST authentication: `Authorization: Bearer <JWT>`, checked against an algorithm allow-list.

Every refusal is a 401 with a stable code (or 403 for a disabled user) and
the error body; a refused request never reaches the handler.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.auth.tokens import mint
from app.storage.users import set_active
from app.web import SERVICES


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(sub: str, ttl: int = 3600, **extra) -> dict:
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + ttl, **extra}


def _hs256(settings, claims: dict, secret: str | None = None) -> str:
    return jwt.encode(claims, secret or settings.auth.jwt_secret, algorithm="HS256")


def _unsigned(claims: dict, header: dict) -> str:
    """A token assembled by hand (PyJWT refuses to produce the attacks below)."""
    return f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}."


def _hmac_signed(claims: dict, key: bytes, alg: str = "HS256") -> str:
    """An HMAC-signed token assembled by hand (PyJWT refuses a PEM as an HMAC key, and warns on short keys)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{_b64(orjson.dumps({'alg': alg, 'typ': 'JWT'}))}.{_b64(orjson.dumps(claims))}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64(signature)}"


def _pem_private(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_public(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


async def _me(api, token: str):
    return await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


# --- Missing, malformed and forged tokens -------------------------------------------------------


async def test_a_request_without_a_token_is_refused_with_auth_required(api):
    reply = await api.get("/api/v1/rooms")
    assert (reply.status, reply.code) == (401, "auth_required")
    assert reply.headers["WWW-Authenticate"].lower().startswith("bearer")


async def test_a_bearer_header_without_a_token_is_auth_required(api):
    reply = await api.get("/api/v1/rooms", headers={"Authorization": "Bearer "})
    assert (reply.status, reply.code) == (401, "auth_required")


async def test_credentials_of_another_scheme_are_not_a_bearer_token(api, user_id, token):
    basic = base64.b64encode(b"alice:secret").decode()
    reply = await api.get("/api/v1/rooms", headers={"Authorization": f"Basic {basic}"})
    assert (reply.status, reply.code) == (401, "auth_required")
    # Even a valid JWT is not taken from a header that does not name the Bearer scheme.
    reply = await api.get("/api/v1/rooms", headers={"Authorization": token(user_id("alice"))})
    assert (reply.status, reply.code) == (401, "auth_required")


async def test_the_bearer_scheme_name_is_case_insensitive(api, user_id, token):
    alice = user_id("alice")
    for scheme in ("Bearer", "bearer", "BEARER"):
        reply = await api.get("/api/v1/me", headers={"Authorization": f"{scheme} {token(alice)}"})
        assert (reply.status, reply.body["id"]) == (200, alice), scheme


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30", "....", "Bearer x"])
async def test_a_malformed_token_is_invalid(api, garbage):
    reply = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {garbage}"})
    assert (reply.status, reply.code) == (401, "invalid_token")
    assert reply.headers["WWW-Authenticate"].lower().startswith("bearer")


async def test_a_token_signed_with_another_secret_is_invalid(api, settings, user_id):
    forged = _hs256(settings, _claims(user_id("mallory")), secret="another-secret-" + "y" * 40)
    reply = await _me(api, forged)
    assert (reply.status, reply.code) == (401, "invalid_token")


async def test_a_token_whose_claims_were_changed_after_signing_is_invalid(api, settings, user_id):
    genuine = _hs256(settings, _claims(user_id("mallory")))
    header, _payload, signature = genuine.split(".")
    tampered = f"{header}.{_b64(orjson.dumps(_claims(user_id('victim'))))}.{signature}"
    reply = await _me(api, tampered)
    assert (reply.status, reply.code) == (401, "invalid_token")


async def test_an_expired_token_is_refused_with_token_expired(api, settings, user_id):
    expired = _hs256(settings, _claims(user_id("late"), ttl=-3600))
    reply = await _me(api, expired)
    assert (reply.status, reply.code) == (401, "token_expired")


async def test_a_token_expired_within_the_leeway_is_still_accepted(api, settings, user_id):
    assert settings.auth.jwt_leeway >= 10
    user = user_id("skewed")
    reply = await _me(api, _hs256(settings, _claims(user, ttl=-5)))
    assert (reply.status, reply.body["id"]) == (200, user)


async def test_a_token_not_yet_valid_is_invalid(api, settings, user_id):
    early = _hs256(settings, _claims(user_id("early"), nbf=int(time.time()) + 3600))
    reply = await _me(api, early)
    assert (reply.status, reply.code) == (401, "invalid_token")


async def test_a_token_with_alg_none_is_invalid(api, user_id):
    for alg in ("none", "None", "NONE"):
        unsigned = _unsigned(_claims(user_id("mallory")), {"alg": alg, "typ": "JWT"})
        reply = await _me(api, unsigned)
        assert (reply.status, reply.code) == (401, "invalid_token"), alg


async def test_a_token_signed_with_an_algorithm_off_the_allow_list_is_invalid(api, settings, user_id):
    assert settings.auth.algorithm_list == ["HS256"]
    secret = settings.auth.jwt_secret.encode()
    control = user_id("control")  # the same hand-made token with the allowed algorithm is accepted
    assert (await _me(api, _hmac_signed(_claims(control), secret, "HS256"))).body["id"] == control
    for algorithm in ("HS384", "HS512"):
        # Signed with the right secret: only the algorithm is wrong.
        token = _hmac_signed(_claims(user_id("mallory")), secret, algorithm)
        reply = await _me(api, token)
        assert (reply.status, reply.code) == (401, "invalid_token"), algorithm


@pytest.mark.parametrize("missing", ["exp", "sub"])
async def test_a_token_without_a_required_claim_is_invalid(api, settings, user_id, missing):
    claims = _claims(user_id("partial"))
    del claims[missing]
    reply = await _me(api, _hs256(settings, claims))
    assert (reply.status, reply.code) == (401, "invalid_token")


@pytest.mark.parametrize("sub", ["", "   ", 12345, None])
async def test_a_token_whose_subject_is_not_a_usable_id_is_invalid(api, settings, sub):
    reply = await _me(api, _hs256(settings, {**_claims("x"), "sub": sub}))
    assert (reply.status, reply.code) == (401, "invalid_token")


# --- Asymmetric keys ------------------------------------------------------------------------------


async def test_rs256_tokens_are_accepted_with_the_configured_public_key(api_with, rsa_key, user_id):
    api = await api_with(JWT_PUBLIC_KEY=_pem_public(rsa_key), JWT_ALGORITHMS="RS256")
    user = user_id("rsa")
    token = jwt.encode(_claims(user, name="Rosa"), _pem_private(rsa_key), algorithm="RS256")
    reply = await _me(api, token)
    assert (reply.status, reply.body) == (200, {"id": user, "name": "Rosa", "username": None})


async def test_es256_tokens_are_accepted_with_the_configured_public_key(api_with, ec_key, user_id):
    api = await api_with(JWT_PUBLIC_KEY=_pem_public(ec_key), JWT_ALGORITHMS="ES256")
    user = user_id("ec")
    token = jwt.encode(_claims(user), _pem_private(ec_key), algorithm="ES256")
    reply = await _me(api, token)
    assert (reply.status, reply.body["id"]) == (200, user)


async def test_the_public_key_may_be_given_as_a_path(api_with, rsa_key, user_id, tmp_path):
    path = tmp_path / "public.pem"
    path.write_text(_pem_public(rsa_key))
    api = await api_with(JWT_PUBLIC_KEY=str(path), JWT_ALGORITHMS="RS256")
    user = user_id("rsa")
    reply = await _me(api, jwt.encode(_claims(user), _pem_private(rsa_key), algorithm="RS256"))
    assert (reply.status, reply.body["id"]) == (200, user)


async def test_an_rs256_token_signed_by_another_key_is_invalid(api_with, rsa_key, user_id):
    api = await api_with(JWT_PUBLIC_KEY=_pem_public(rsa_key), JWT_ALGORITHMS="RS256")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(user_id("mallory")), _pem_private(stranger), algorithm="RS256")
    reply = await _me(api, token)
    assert (reply.status, reply.code) == (401, "invalid_token")


async def test_hs256_tokens_are_refused_when_only_asymmetric_algorithms_are_allowed(
    api_with, rsa_key, settings, user_id
):
    # An RSA key serves RS*, not ES*: a list naming ES256 beside it fails at start (tests/api/test_token_keys.py).
    api = await api_with(JWT_PUBLIC_KEY=_pem_public(rsa_key), JWT_ALGORITHMS="RS256,RS512")
    # Signed with the real shared secret, which is still configured: the algorithm alone is refused.
    reply = await _me(api, _hs256(settings, _claims(user_id("mallory"))))
    assert (reply.status, reply.code) == (401, "invalid_token")


@pytest.mark.parametrize("algorithms", ["RS256", "HS256,RS256"])
async def test_the_public_key_used_as_an_hmac_secret_is_refused(api_with, rsa_key, settings, user_id, algorithms):
    """Algorithm confusion: an attacker who knows the public key signs HS256 with it as the secret."""
    public_pem = _pem_public(rsa_key)
    api = await api_with(JWT_PUBLIC_KEY=public_pem, JWT_ALGORITHMS=algorithms)
    for key in (public_pem.encode(), public_pem.strip().encode()):
        reply = await _me(api, _hmac_signed(_claims(user_id("mallory")), key))
        assert (reply.status, reply.code) == (401, "invalid_token")
    if "HS256" in algorithms:  # control: the same construction with the real secret is accepted
        control = user_id("control")
        reply = await _me(api, _hmac_signed(_claims(control), settings.auth.jwt_secret.encode()))
        assert (reply.status, reply.body["id"]) == (200, control)


async def test_the_shared_secret_still_works_beside_a_public_key(api_with, rsa_key, settings, user_id):
    api = await api_with(JWT_PUBLIC_KEY=_pem_public(rsa_key), JWT_ALGORITHMS="HS256,RS256")
    first, second = user_id("hs"), user_id("rs")
    assert (await _me(api, _hs256(settings, _claims(first)))).body["id"] == first
    rs_token = jwt.encode(_claims(second), _pem_private(rsa_key), algorithm="RS256")
    assert (await _me(api, rs_token)).body["id"] == second


# --- Issuer and audience --------------------------------------------------------------------------


ISSUER = "https://id.example.test/"
AUDIENCE = "chat-api"


@pytest.fixture
async def strict_api(api_with):
    return await api_with(JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE)


async def test_issuer_and_audience_are_accepted_when_they_match(strict_api, make_settings, user_id):
    user = user_id("strict")
    token = mint(make_settings(JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE).auth, user)
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == ISSUER
    reply = await _me(strict_api, token)
    assert (reply.status, reply.body["id"]) == (200, user)


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": None},
        {"iss": "https://evil.example.test/"},
        {"aud": None},
        {"aud": "another-api"},
        {"aud": ["another-api", "third-api"]},
    ],
    ids=["no-iss", "wrong-iss", "no-aud", "wrong-aud", "wrong-aud-list"],
)
async def test_a_token_for_another_issuer_or_audience_is_invalid(strict_api, settings, user_id, changes):
    claims = _claims(user_id("stranger"), iss=ISSUER, aud=AUDIENCE)
    for name, value in changes.items():
        if value is None:
            del claims[name]
        else:
            claims[name] = value
    reply = await _me(strict_api, _hs256(settings, claims))
    assert (reply.status, reply.code) == (401, "invalid_token")


async def test_an_audience_list_containing_ours_is_accepted(strict_api, settings, user_id):
    user = user_id("listed")
    claims = _claims(user, iss=ISSUER, aud=["other-api", AUDIENCE])
    reply = await _me(strict_api, _hs256(settings, claims))
    assert (reply.status, reply.body["id"]) == (200, user)


async def test_issuer_and_audience_are_not_required_when_not_configured(api, settings, user_id):
    user = user_id("free")
    reply = await _me(api, _hs256(settings, _claims(user, iss="https://anyone.test/", aud="anything")))
    assert (reply.status, reply.body["id"]) == (200, user)


# --- The user behind the token ---------------------------------------------------------------------


async def test_the_user_row_is_created_from_the_claims_and_shown_by_me(api, settings, user_id):
    user = user_id("claims")
    token = _hs256(settings, _claims(user, name="Ada Lovelace", preferred_username="ada"))
    reply = await _me(api, token)
    assert (reply.status, reply.body) == (200, {"id": user, "name": "Ada Lovelace", "username": "ada"})


async def test_the_user_row_is_refreshed_when_the_claims_change(api, settings, user_id):
    user = user_id("rename")
    await _me(api, _hs256(settings, _claims(user, name="Old Name", username="old")))
    reply = await _me(api, _hs256(settings, _claims(user, name="New Name", username="new")))
    assert reply.body == {"id": user, "name": "New Name", "username": "new"}
    # A token without the claims keeps what is stored.
    reply = await _me(api, _hs256(settings, _claims(user)))
    assert reply.body == {"id": user, "name": "New Name", "username": "new"}


async def test_a_claimed_name_shows_in_rooms_the_user_belongs_to(api, user_id):
    owner, bob = user_id("owner"), user_id("bob")
    room = await api.create_group(owner, participants=[bob])
    assert next(m for m in room["members"] if m["user_id"] == bob)["name"] is None
    assert (await api.get("/api/v1/me", bob, name="Bob Builder")).status == 200
    room = await api.room(owner, room["id"])
    assert next(m for m in room["members"] if m["user_id"] == bob)["name"] == "Bob Builder"


async def test_a_disabled_user_is_refused_with_user_disabled(api_with, token, user_id):
    api = await api_with(USER_CACHE_TTL=0)
    user = user_id("soon-disabled")
    assert (await api.get("/api/v1/me", user)).status == 200
    assert await api.app[SERVICES].db.run(set_active, user, False)
    for reply in (
        await api.get("/api/v1/me", user),
        await api.get("/api/v1/rooms", user),
        await api.post("/api/v1/rooms", user, json={"name": "Not created"}),
    ):
        assert (reply.status, reply.code) == (403, "user_disabled"), reply
    # Signing in again with fresh claims does not enable the user.
    reply = await api.get("/api/v1/me", user, name="Still Me")
    assert (reply.status, reply.code) == (403, "user_disabled")
    assert await api.app[SERVICES].db.run(set_active, user, True)
    assert (await api.get("/api/v1/me", user)).status == 200


async def test_a_user_disabled_before_ever_signing_in_is_refused(api, user_id):
    owner, bob = user_id("owner"), user_id("bob")
    await api.create_group(owner, participants=[bob])  # bob's row exists, bob never signed in
    assert await api.app[SERVICES].db.run(set_active, bob, False)
    reply = await api.get("/api/v1/me", bob)
    assert (reply.status, reply.code) == (403, "user_disabled")
    assert (await api.get("/api/v1/me", owner)).status == 200
