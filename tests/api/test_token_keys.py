"""The algorithms a public key is trusted for: derived from the key's type when JWT_ALGORITHMS is unset, and a
configured list the key cannot serve refused at start-up. A token naming an algorithm the key cannot verify
is an `invalid_token` refusal (401 on REST, a refused connect on Socket.IO), never an internal error; and the
NumericDate claims must be numbers, not numeric strings."""

from __future__ import annotations

import asyncio
import base64
import logging
import time

import jwt
import orjson
import pytest
import socketio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.auth import tokens
from app.auth.tokens import TokenVerifier, mint
from app.chat.errors import ChatError, Code
from app.web import create_app
from config import ConfigError

# The token of the report: header {"alg": "ES256"}, claims {"sub": "x", "exp": 9999999999}, a 3-byte signature.
ES256_NO_SIGNATURE = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.AAAA"
LINK_SECRET = "link-secret-" + "z" * 40  # ATTACHMENT_SECRET: needed when JWT_SECRET is unset


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(sub: str, ttl: int = 3600, **extra) -> dict:
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + ttl, **extra}


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


def _header_only(alg: str, claims: dict) -> str:
    """A token naming `alg` with a signature of three zero bytes (no key needed to make it)."""
    return f"{_b64(orjson.dumps({'alg': alg}))}.{_b64(orjson.dumps(claims))}.AAAA"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def p256_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def p384_key():
    return ec.generate_private_key(ec.SECP384R1())


def _key_only(key, **env) -> dict:
    """Settings for a deployment verifying with a public key only (no shared secret)."""
    return {"JWT_PUBLIC_KEY": _pem_public(key), "JWT_SECRET": "", "ATTACHMENT_SECRET": LINK_SECRET, **env}


async def _me(api, token: str):
    return await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


# --- The allow-list follows the key -----------------------------------------------------------------------


def test_the_allow_list_is_derived_from_the_key_type(make_settings, rsa_key, p256_key, p384_key):
    for key, expected in ((rsa_key, ["RS256"]), (p256_key, ["ES256"]), (p384_key, ["ES384"])):
        assert tokens.allowed_algorithms(make_settings(**_key_only(key)).auth) == expected
    # A shared secret keeps HS256, and a configured list is taken as given when the key serves it.
    assert tokens.allowed_algorithms(make_settings().auth) == ["HS256"]
    configured = make_settings(**_key_only(rsa_key, JWT_ALGORITHMS="RS256,RS512")).auth
    assert tokens.allowed_algorithms(configured) == ["RS256", "RS512"]


async def test_an_es256_token_against_an_rsa_key_is_invalid_not_an_internal_error(api_with, rsa_key, user_id, caplog):
    api = await api_with(**_key_only(rsa_key))
    with caplog.at_level(logging.WARNING):
        for token in (
            ES256_NO_SIGNATURE,
            _header_only("ES256", _claims(user_id("mallory"))),
            _header_only("ES512", _claims(user_id("mallory"))),
            _header_only("RS384", _claims(user_id("mallory"))),
        ):
            reply = await _me(api, token)
            assert (reply.status, reply.code) == (401, "invalid_token"), reply
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    # The key's own algorithm still works.
    user = user_id("rsa")
    reply = await _me(api, jwt.encode(_claims(user), _pem_private(rsa_key), algorithm="RS256"))
    assert (reply.status, reply.body["id"]) == (200, user)


async def test_an_rs256_token_against_an_ec_key_is_invalid(api_with, p256_key, rsa_key, user_id):
    api = await api_with(**_key_only(p256_key))
    for token in (
        _header_only("RS256", _claims(user_id("mallory"))),
        jwt.encode(_claims(user_id("mallory")), _pem_private(rsa_key), algorithm="RS256"),
        _header_only("ES384", _claims(user_id("mallory"))),
    ):
        reply = await _me(api, token)
        assert (reply.status, reply.code) == (401, "invalid_token"), reply
    user = user_id("ec")
    reply = await _me(api, jwt.encode(_claims(user), _pem_private(p256_key), algorithm="ES256"))
    assert (reply.status, reply.body["id"]) == (200, user)


async def test_a_p384_key_verifies_es384_tokens_by_default(api_with, p384_key, user_id):
    api = await api_with(**_key_only(p384_key))
    user = user_id("p384")
    reply = await _me(api, jwt.encode(_claims(user), _pem_private(p384_key), algorithm="ES384"))
    assert (reply.status, reply.body["id"]) == (200, user)


async def test_every_token_failure_of_the_verifier_is_a_chat_error(make_settings, rsa_key, p256_key):
    """Whatever the token names, the verifier answers with a refusal code, never another exception."""
    algs = ["none", "HS256", "HS512", "RS256", "RS512", "PS256", "ES256", "ES256K", "ES384", "ES512", "EdDSA", "", 7]
    for key in (rsa_key, p256_key):
        verifier = TokenVerifier(make_settings(**_key_only(key)).auth)
        for alg in algs:
            for signature in ("AAAA", "", "A" * 86, "!!"):
                token = f"{_b64(orjson.dumps({'alg': alg}))}.{_b64(orjson.dumps(_claims('x')))}.{signature}"
                with pytest.raises(ChatError) as refused:
                    await verifier.verify(token)
                assert refused.value.code is Code.INVALID_TOKEN, (alg, signature)


# --- A configuration the key cannot serve is refused at start-up -------------------------------------------


@pytest.mark.parametrize(
    ("key_name", "algorithms"),
    [("rsa", "ES256"), ("rsa", "RS256,ES256"), ("p256", "RS256"), ("p256", "ES384"), ("p384", "ES256")],
)
def test_a_configured_algorithm_the_key_cannot_verify_is_a_config_error(
    make_settings, rsa_key, p256_key, p384_key, key_name, algorithms
):
    key = {"rsa": rsa_key, "p256": p256_key, "p384": p384_key}[key_name]
    settings = make_settings(**_key_only(key, JWT_ALGORITHMS=algorithms))
    with pytest.raises(ConfigError, match="JWT_ALGORITHMS") as refused:
        create_app(settings)
    assert "JWT_PUBLIC_KEY" in str(refused.value)


def test_a_public_key_that_is_not_a_key_is_a_config_error(make_settings, tmp_path):
    for value in ("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", str(tmp_path / "missing.pem")):
        with pytest.raises(ConfigError, match="JWT_PUBLIC_KEY"):
            create_app(make_settings(JWT_PUBLIC_KEY=value, JWT_SECRET="", ATTACHMENT_SECRET=LINK_SECRET))


def test_a_key_of_a_type_no_supported_algorithm_verifies_is_a_config_error(make_settings):
    key = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(ConfigError, match="JWT_PUBLIC_KEY"):
        create_app(make_settings(**_key_only(key)))


async def test_mint_signs_with_the_keys_algorithm(make_settings, p384_key):
    settings = make_settings(**_key_only(p384_key, JWT_PRIVATE_KEY=_pem_private(p384_key)))
    token = mint(settings.auth, "someone")
    assert jwt.get_unverified_header(token)["alg"] == "ES384"
    assert (await TokenVerifier(settings.auth).verify(token)).id == "someone"


# --- Socket.IO: the canonical connect is refused with the code, promptly -------------------------------------


async def test_a_socketio_connect_with_an_es256_token_against_an_rsa_key_is_refused(
    aiohttp_server, make_settings, rsa_key
):
    server = await aiohttp_server(create_app(make_settings(**_key_only(rsa_key))))
    client = socketio.AsyncClient(reconnection=False)
    errors: list = []
    client.on("connect_error", errors.append)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await asyncio.wait_for(
                client.connect(
                    str(server.make_url("/")),
                    auth={"token": ES256_NO_SIGNATURE},
                    transports=["websocket"],
                    wait_timeout=5,
                ),
                10,
            )
        assert len(errors) == 1, errors
        assert errors[0]["data"]["code"] == "invalid_token", errors
    finally:
        await client.disconnect()


# --- NumericDate claims are numbers -----------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
async def test_a_date_claim_given_as_a_numeric_string_is_invalid(api, settings, user_id, claim):
    claims = _claims(user_id("stringly"))
    claims[claim] = str(claims[claim] if claim != "nbf" else int(time.time()) - 60)
    reply = await _me(api, jwt.encode(claims, settings.auth.jwt_secret, algorithm="HS256"))
    assert (reply.status, reply.code) == (401, "invalid_token"), reply
    # Control: the same claims as numbers are accepted.
    claims[claim] = int(claims[claim])
    reply = await _me(api, jwt.encode(claims, settings.auth.jwt_secret, algorithm="HS256"))
    assert reply.status == 200, reply


@pytest.mark.parametrize("value", [True, [9999999999], {"at": 1}, None])
async def test_an_exp_that_is_not_a_number_is_invalid(api, settings, user_id, value):
    claims = {**_claims(user_id("odd")), "exp": value}
    reply = await _me(api, jwt.encode(claims, settings.auth.jwt_secret, algorithm="HS256"))
    assert (reply.status, reply.code) == (401, "invalid_token"), reply


# --- Tokens too long to be real ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [8 * 1024 + 1, 16 * 1024 + 1, 24 * 1024])
async def test_a_long_token_is_answered_in_the_error_shape(api, size):
    reply = await api.get("/api/v1/me", headers={"Authorization": "Bearer " + "a" * size})
    assert (reply.status, reply.code) == (401, "invalid_token"), reply


async def test_a_long_bare_token_on_a_seed_route_is_answered_in_the_seed_shape(api):
    reply = await api.get("/api/rooms/refresh-url/", params={"message_id": "1"}, headers={"Authorization": "a" * 9000})
    assert (reply.status, reply.code) == (401, "invalid_token"), reply
