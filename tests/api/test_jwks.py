"""Tokens of an identity provider that publishes its keys as a JWKS (Firebase, Auth0, Keycloak, Cognito).

A real JWKS endpoint (a small aiohttp server the test starts, counting its hits) serves the keys; the app is
the real one, with tokens checked on REST and on a Socket.IO connect. What is checked: keys chosen by `kid`,
the set loaded once and cached, a rotation picked up on the first unknown `kid`, unknown `kid`s refreshing at
most once per JWT_JWKS_REFRESH, a provider that cannot be reached (UNAVAILABLE before any set is held, the
held set kept after), `iss` and `aud` enforced, and a JWKS file for offline setups.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import jwt
import pytest
import socketio
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.auth.jwks import JwksKeys
from app.chat.errors import ChatError, Code
from app.web import create_app
from config import ConfigError

ISSUER = "https://securetoken.google.com/chat-tests"
AUDIENCE = "chat-tests"
LINK_SECRET = "link-secret-" + "z" * 40  # ATTACHMENT_SECRET: needed when JWT_SECRET is unset


def _jwk(key, kid: str, **extra) -> dict:
    """The public JWK of `key`, as a provider publishes it."""
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    else:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", **extra}


def _token(key, kid: str | None, sub: str, algorithm: str = "RS256", **claims) -> str:
    now = int(time.time())
    body = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, **claims}
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


class Provider:
    """A JWKS endpoint whose key set the test changes; `hits` counts the fetches, `down` answers 503."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.hits = 0
        self.down = False
        self.delay = 0.0  # seconds before each answer
        self.url = ""

    async def serve(self, request: web.Request) -> web.Response:
        self.hits += 1
        await asyncio.sleep(self.delay)
        if self.down:
            return web.Response(status=503, text="unavailable")
        return web.json_response({"keys": self.keys})


@pytest.fixture(scope="module")
def rsa_keys():
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


@pytest.fixture(scope="module")
def p256_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
async def provider(aiohttp_server) -> Provider:
    provider = Provider()
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", provider.serve)
    server = await aiohttp_server(app)
    provider.url = str(server.make_url("/.well-known/jwks.json"))
    return provider


def _jwks_env(**env) -> dict:
    return {
        "JWT_SECRET": "",
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "ATTACHMENT_SECRET": LINK_SECRET,
        "DEV_MODE": "0",
        **env,
    }


@pytest.fixture
def app_for(aiohttp_client, make_settings):
    async def build(**env):
        return await aiohttp_client(create_app(make_settings(**_jwks_env(**env))))

    return build


async def _me(client, token: str) -> tuple[int, dict]:
    reply = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    return reply.status, await reply.json()


def _sub() -> str:
    return f"idp-{uuid.uuid4().hex[:10]}"


async def test_a_token_is_verified_with_the_key_its_kid_names_and_the_set_is_fetched_once(
    app_for, provider, rsa_keys, p256_key
):
    provider.keys = [_jwk(rsa_keys[0], "rsa-1"), _jwk(p256_key, "ec-1")]
    client = await app_for(JWT_JWKS_URL=provider.url)
    assert provider.hits == 0  # loaded on first use: a node starts while its provider is unreachable
    for _ in range(3):
        sub = _sub()
        status, body = await _me(client, _token(rsa_keys[0], "rsa-1", sub))
        assert (status, body["id"]) == (200, sub)
    status, body = await _me(client, _token(p256_key, "ec-1", (sub := _sub()), "ES256"))
    assert (status, body["id"]) == (200, sub)
    assert provider.hits == 1


async def test_keys_the_set_does_not_hold_or_that_cannot_verify_the_algorithm_are_refused(
    app_for, provider, rsa_keys, p256_key
):
    provider.keys = [_jwk(rsa_keys[0], "rsa-1", alg="RS256"), _jwk(p256_key, "ec-1")]
    client = await app_for(JWT_JWKS_URL=provider.url, JWT_JWKS_REFRESH="3600")
    cases = [
        _token(rsa_keys[1], "rsa-1", _sub()),  # the kid of a held key, signed by another key
        _token(rsa_keys[0], "rsa-1", _sub(), "RS512"),  # the key declares RS256 only
        _token(p256_key, "rsa-1", _sub(), "ES256"),  # an EC signature against an RSA key
        _token(rsa_keys[0], "ec-1", _sub()),  # an RSA signature against an EC key
        _token(rsa_keys[0], None, _sub()),  # no kid, and the set holds two keys
        _token(rsa_keys[0], "rsa-1", _sub(), iss="https://securetoken.google.com/another-project"),
        _token(rsa_keys[0], "rsa-1", _sub(), aud="another-project"),
    ]
    for token in cases:
        status, body = await _me(client, token)
        assert (status, body["code"]) == (401, "invalid_token"), jwt.get_unverified_header(token)
    assert provider.hits == 1


async def test_a_rotation_is_picked_up_on_the_first_token_of_the_new_key(app_for, provider, rsa_keys):
    provider.keys = [_jwk(rsa_keys[0], "old")]
    client = await app_for(JWT_JWKS_URL=provider.url, JWT_JWKS_REFRESH="1")
    assert (await _me(client, _token(rsa_keys[0], "old", _sub())))[0] == 200
    await asyncio.sleep(1.05)  # past JWT_JWKS_REFRESH since the first load
    provider.keys = [_jwk(rsa_keys[1], "new")]  # the provider rotates and withdraws the old key
    sub = _sub()
    status, body = await _me(client, _token(rsa_keys[1], "new", sub))
    assert (status, body["id"]) == (200, sub)
    assert provider.hits == 2
    status, body = await _me(client, _token(rsa_keys[0], "old", _sub()))
    assert (status, body["code"]) == (401, "invalid_token")  # withdrawn: no longer trusted


async def test_unknown_kids_refresh_the_set_at_most_once_per_interval(app_for, provider, rsa_keys):
    provider.keys = [_jwk(rsa_keys[0], "k1")]
    client = await app_for(JWT_JWKS_URL=provider.url, JWT_JWKS_REFRESH="3600")
    assert (await _me(client, _token(rsa_keys[0], "k1", _sub())))[0] == 200
    replies = await asyncio.gather(*(_me(client, _token(rsa_keys[0], f"made-up-{n}", _sub())) for n in range(20)))
    assert {(status, body["code"]) for status, body in replies} == {(401, "invalid_token")}
    assert provider.hits == 1  # the first load was just now: made-up kids fetch nothing


async def test_concurrent_tokens_share_one_load(app_for, provider, rsa_keys):
    provider.keys = [_jwk(rsa_keys[0], "k1")]
    client = await app_for(JWT_JWKS_URL=provider.url)
    replies = await asyncio.gather(*(_me(client, _token(rsa_keys[0], "k1", _sub())) for _ in range(10)))
    assert {status for status, _ in replies} == {200}
    assert provider.hits == 1


async def test_an_unreachable_provider_is_unavailable_until_a_set_is_held_and_then_the_set_is_kept(
    app_for, provider, rsa_keys
):
    provider.keys = [_jwk(rsa_keys[0], "k1")]
    provider.down = True
    client = await app_for(JWT_JWKS_URL=provider.url, JWT_JWKS_REFRESH="1", JWT_JWKS_MAX_AGE="1")
    status, body = await _me(client, _token(rsa_keys[0], "k1", _sub()))
    assert (status, body["code"]) == (503, "unavailable")  # the client retries; the token may well be good
    provider.down = False
    await asyncio.sleep(1.05)
    assert (await _me(client, _token(rsa_keys[0], "k1", _sub())))[0] == 200
    provider.down = True
    await asyncio.sleep(1.05)  # the set is past JWT_JWKS_MAX_AGE: loaded again, which fails
    hits = provider.hits
    assert (await _me(client, _token(rsa_keys[0], "k1", _sub())))[0] == 200  # the held set still serves
    assert provider.hits == hits + 1


async def _ready(client: socketio.AsyncClient, server, token: str) -> dict:
    """Connect `client` over WebSocket with `token` (waiting up to 10 s for the namespace) and return its
    session:ready."""
    ready = asyncio.get_running_loop().create_future()
    client.on("session:ready", lambda data: ready.done() or ready.set_result(data))
    await asyncio.wait_for(
        client.connect(str(server.make_url("/")), auth={"token": token}, transports=["websocket"], wait_timeout=10),
        10,
    )
    return await asyncio.wait_for(ready, 10)


async def test_a_socketio_connect_is_verified_with_the_jwks(aiohttp_server, make_settings, provider, rsa_keys):
    provider.keys = [_jwk(rsa_keys[0], "k1")]
    server = await aiohttp_server(create_app(make_settings(**_jwks_env(JWT_JWKS_URL=provider.url))))
    sub = _sub()
    client = socketio.AsyncClient(reconnection=False)
    try:
        assert (await _ready(client, server, _token(rsa_keys[0], "k1", sub)))["user"]["id"] == sub
    finally:
        await client.disconnect()
    errors: list = []
    refused = socketio.AsyncClient(reconnection=False)
    refused.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await asyncio.wait_for(
            refused.connect(
                str(server.make_url("/")), auth={"token": _token(rsa_keys[1], "k1", sub)}, transports=["websocket"]
            ),
            10,
        )
    assert errors and errors[0]["data"]["code"] == "invalid_token", errors


async def test_a_connect_slower_than_connect_timeout_is_not_cut_while_it_is_handled(
    aiohttp_server, make_settings, provider, rsa_keys
):
    """CONNECT_TIMEOUT closes sessions that do not connect a namespace; one whose connect is being handled (here the
    key set is fetched for 1.5 s, as a node under a connect storm is slow) must not be cut in the middle."""
    provider.keys = [_jwk(rsa_keys[0], "k1")]
    provider.delay = 1.5
    settings = make_settings(**_jwks_env(JWT_JWKS_URL=provider.url, CONNECT_TIMEOUT="0.5"))
    server = await aiohttp_server(create_app(settings))
    sub = _sub()
    client = socketio.AsyncClient(reconnection=False)
    try:
        assert (await _ready(client, server, _token(rsa_keys[0], "k1", sub)))["user"]["id"] == sub
        await asyncio.sleep(1.0)  # past the deadline once more: a connected session is left alone
        assert client.connected
    finally:
        await client.disconnect()


async def test_a_jwks_file_serves_offline_setups_and_a_rewritten_file_is_read_again(app_for, tmp_path, rsa_keys):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(rsa_keys[0], "k1")]}))
    client = await app_for(JWT_JWKS_FILE=str(path), JWT_JWKS_REFRESH="1")
    assert (await _me(client, _token(rsa_keys[0], "k1", _sub())))[0] == 200
    path.write_text(json.dumps({"keys": [_jwk(rsa_keys[0], "k1"), _jwk(rsa_keys[1], "k2")]}))
    await asyncio.sleep(1.05)
    assert (await _me(client, _token(rsa_keys[1], "k2", _sub())))[0] == 200


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"JWT_JWKS_URL": "https://idp.example/jwks", "JWT_ISSUER": ""}, "JWT_ISSUER"),
        ({"JWT_JWKS_URL": "https://idp.example/jwks", "JWT_AUDIENCE": ""}, "JWT_AUDIENCE"),
        ({"JWT_JWKS_URL": "ftp://idp.example/jwks"}, "JWT_JWKS_URL"),
        ({"JWT_JWKS_URL": "https://idp.example/jwks", "JWT_JWKS_FILE": "jwks.json"}, "JWT_JWKS_FILE"),
        ({"JWT_JWKS_URL": "https://idp.example/jwks", "JWT_PUBLIC_KEY": "x"}, "JWT_PUBLIC_KEY"),
    ],
)
def test_a_jwks_without_issuer_and_audience_or_beside_another_key_source_is_a_config_error(
    make_settings, env, variable
):
    with pytest.raises(ConfigError, match=variable):
        make_settings(**_jwks_env(**env))


async def test_the_key_set_ignores_encryption_keys_and_picks_the_only_key_for_a_token_without_kid(rsa_keys, tmp_path):
    """JwksKeys on a file, with a clock the test moves: what is a usable key, and when a load is due."""
    now = [0.0]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(rsa_keys[0], "enc", use="enc"), _jwk(rsa_keys[1], "sig")]}))
    keys = JwksKeys(file=str(path), refresh_interval=60, max_age=600, monotonic=lambda: now[0])
    assert await keys.key(None, "RS256") is not None  # one signing key only: a token without kid may use it
    with pytest.raises(ChatError) as refused:
        await keys.key("enc", "RS256")
    assert refused.value.code is Code.INVALID_TOKEN
    assert keys.loads == 1  # the load for "enc" was not due yet
    now[0] = 61
    with pytest.raises(ChatError):
        await keys.key("enc", "RS256")
    assert keys.loads == 2
    path.write_text("not json")
    now[0] = 700  # past max age: loaded again, which fails, and the held set still serves
    assert await keys.key("sig", "RS256") is not None
    assert keys.loads == 3
