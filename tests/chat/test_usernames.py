"""The username rule (Django's: letters, digits of any script and _ . @ + -, 1 to 150 of them), the token
verifier that refuses a token whose username claim breaks it, and `mint`, which never makes such a token."""

from __future__ import annotations

import time

import jwt
import pytest

import config
from app.auth.tokens import TokenVerifier, mint
from app.chat.errors import ChatError, Code
from app.chat.rules import MAX_USERNAME_LENGTH, check_username

SECRET = "username-test-secret-" + "s" * 40


@pytest.fixture(scope="module")
def auth() -> config.AuthConfig:
    return config.load({"JWT_SECRET": SECRET}, require=("auth",)).auth


def _token(**claims) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "u-1", "iat": now, "exp": now + 600, **claims}, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "username",
    ["a", "ada", "Ada_Lovelace", "ada.lovelace@example.com", "first+tag", "with-dash", "José", "Ωμέγα", "用户名",
     "٣٤", "_", "x" * MAX_USERNAME_LENGTH],
)  # fmt: skip
def test_usernames_of_letters_digits_and_the_five_signs_are_accepted_as_they_are(username):
    assert check_username(username) == username


@pytest.mark.parametrize(
    "username",
    ["", "x" * (MAX_USERNAME_LENGTH + 1), "ada lovelace", " ada", "ada\n", "ada\t", "nul\x00byte", "lone\ud800",
     "\udfff", "ada!", "ada#1", "ada/../x", "a:b", "<ada>", "ada\u200b", "emoji😀", "ada\u00a0"],
)  # fmt: skip
def test_anything_else_is_an_invalid_payload_that_names_the_field(username):
    with pytest.raises(ChatError) as caught:
        check_username(username)
    assert caught.value.code is Code.INVALID_PAYLOAD
    assert caught.value.details == {"fields": {"username": ["not a valid username"]}}


@pytest.mark.parametrize("value", [None, 42, ["ada"], b"ada"])
def test_a_value_that_is_not_text_is_refused(value):
    with pytest.raises(ChatError) as caught:
        check_username(value)
    assert caught.value.code is Code.INVALID_PAYLOAD


@pytest.mark.parametrize("claim", ["username", "preferred_username"])
async def test_the_verifier_takes_the_username_from_either_claim(auth, claim):
    assert (await TokenVerifier(auth).verify(_token(**{claim: "ada.l@x"}))).username == "ada.l@x"


async def test_the_username_claim_wins_over_preferred_username(auth):
    assert (await TokenVerifier(auth).verify(_token(username="ada", preferred_username="lovelace"))).username == "ada"


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"username": ""},
        {"username": None},
        {"preferred_username": ""},
        {"username": "", "preferred_username": None},
    ],
)
async def test_an_absent_null_or_empty_claim_is_no_username(auth, claims):
    profile = await TokenVerifier(auth).verify(_token(**claims))
    assert (profile.id, profile.username) == ("u-1", None)


@pytest.mark.parametrize(
    "claims",
    [{"username": "ada lovelace"}, {"preferred_username": "ada\n"}, {"username": "x" * 151}, {"username": "a/b"},
     {"preferred_username": 42}, {"username": ["ada"]}, {"username": "bad name", "preferred_username": "good"}],
)  # fmt: skip
async def test_a_token_whose_username_claim_breaks_the_rule_is_invalid(auth, claims):
    with pytest.raises(ChatError) as caught:
        await TokenVerifier(auth).verify(_token(**claims))
    assert caught.value.code is Code.INVALID_TOKEN
    assert caught.value.message == "the token's username claim is not a valid username"


async def test_mint_puts_the_username_claim_only_when_given(auth):
    with_username = jwt.decode(mint(auth, "u-2", "Ada", 60, username="ada"), SECRET, algorithms=["HS256"])
    assert (with_username["sub"], with_username["name"], with_username["username"]) == ("u-2", "Ada", "ada")
    assert (await TokenVerifier(auth).verify(mint(auth, "u-2", username="ada"))).username == "ada"
    assert "username" not in jwt.decode(mint(auth, "u-2", "Ada"), SECRET, algorithms=["HS256"])


@pytest.mark.parametrize("username", ["", "no spaces", "x" * 151])
def test_mint_refuses_a_username_the_verifier_would_refuse(auth, username):
    with pytest.raises(ChatError) as caught:
        mint(auth, "u-3", username=username)
    assert caught.value.code is Code.INVALID_PAYLOAD
