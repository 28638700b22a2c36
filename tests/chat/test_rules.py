"""The domain's checks of untrusted values."""

import pytest

from app.chat.errors import ChatError, Code
from app.chat.rules import check_client_ref, check_content, check_room_name, check_user_id


def test_content_of_only_white_space_is_empty():
    with pytest.raises(ChatError) as caught:
        check_content(" \n\t ", 100)
    assert caught.value.code is Code.CONTENT_EMPTY


def test_content_over_the_limit_is_too_long_and_says_the_limit():
    with pytest.raises(ChatError) as caught:
        check_content("x" * 11, 10)
    assert caught.value.code is Code.CONTENT_TOO_LONG
    assert caught.value.details == {"max_length": 10, "length": 11}


def test_content_at_the_limit_passes():
    check_content("x" * 10, 10)


@pytest.mark.parametrize("text", ["nul\x00byte", "lone \ud800 surrogate"])
def test_text_postgres_cannot_store_is_refused(text):
    with pytest.raises(ChatError) as caught:
        check_content(text, 100)
    assert caught.value.code is Code.CONTENT_INVALID


@pytest.mark.parametrize("user_id", ["", " padded", "x" * 256, "tab\tinside", "new\nline"])
def test_malformed_user_ids_are_refused(user_id):
    with pytest.raises(ChatError) as caught:
        check_user_id(user_id)
    assert caught.value.code is Code.INVALID_PAYLOAD


@pytest.mark.parametrize("user_id", ["42", "674bd8ba5a0b920001bd9f5d", "+84912345678", "alice@example.com", "José"])
def test_the_seeds_kinds_of_user_ids_are_accepted(user_id):
    check_user_id(user_id)


def test_client_ref_is_optional_but_bounded():
    check_client_ref(None)
    check_client_ref("r" * 128)
    with pytest.raises(ChatError):
        check_client_ref("r" * 129)
    with pytest.raises(ChatError):
        check_client_ref("")


def test_room_names_are_trimmed_and_bounded():
    assert check_room_name("  Team  ") == "Team"
    with pytest.raises(ChatError):
        check_room_name("   ")
    with pytest.raises(ChatError):
        check_room_name("n" * 201)
