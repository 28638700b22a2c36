"""Checks of untrusted values that every transport shares (`check_*` may raise).

Gateways check shapes and types with their schemas; these check what the
domain needs: sizes, and text that Postgres and Redis can store (no NUL,
no unpaired surrogates), so that a message that is acknowledged can
always be persisted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.chat.errors import ChatError, Code
from app.chat.model import Status

MAX_ID_LENGTH = 255
MAX_CLIENT_REF_LENGTH = 128
MAX_ROOM_NAME_LENGTH = 200
MAX_DEVICE_ID_LENGTH = 200
MAX_USERNAME_LENGTH = 150

# Every status a client may set, with the synonyms the seed services used.
STATUSES: dict[str, Status] = {
    "online": "online",
    "available": "online",
    "active": "online",
    "away": "away",
    "idle": "away",
    "busy": "busy",
    "dnd": "busy",
    "do_not_disturb": "busy",
    "offline": "offline",
    "invisible": "offline",
}
_LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")
# Django's username rule (`UnicodeUsernameValidator`): letters, digits (any script) and _ . @ + -
_USERNAME = re.compile(r"^[\w.@+-]+\Z")


def check_status(raw: str) -> Status:
    """The canonical status for `raw` (case-insensitive, synonyms accepted); raise UNKNOWN_STATUS."""
    status = STATUSES.get(raw.strip().lower().replace("-", "_").replace(" ", "_"))
    if status is None:
        raise ChatError(
            Code.UNKNOWN_STATUS,
            f"unknown status {raw[:40]!r}; use online, away, busy or offline",
            {"allowed": sorted(STATUSES)},
        )
    return status


def check_device(device_id: str | None, language: str | None) -> None:
    if device_id is not None and (
        not device_id or len(device_id) > MAX_DEVICE_ID_LENGTH or not device_id.isprintable()
    ):
        raise ChatError(
            Code.INVALID_PAYLOAD,
            f"device_unique_id must be 1 to {MAX_DEVICE_ID_LENGTH} printable characters",
            _fields("device_unique_id", "not a usable device id"),
        )
    if language is not None and (len(language) > 35 or not _LANGUAGE.match(language)):
        raise ChatError(
            Code.INVALID_PAYLOAD,
            "preferred_language must be a language tag such as en or pt-BR",
            _fields("preferred_language", "not a language tag"),
        )


def excerpt(content: str, length: int) -> str:
    """The start of a message for a notification: white space collapsed, cut at `length` with an ellipsis."""
    text = " ".join(content.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class Limits:
    """The domain's configurable limits, built from settings by the composition root."""

    max_message_length: int = 4000
    message_rate: float = 10.0
    message_burst: int = 30
    max_room_members: int = 1000
    history_page_max: int = 200
    catchup_limit: int = 500
    idempotency_ttl: int = 86400
    membership_cache_ttl: float = 60.0
    user_cache_ttl: float = 30.0
    presence_ttl: int = 45
    typing_timeout: float = 5.0
    pending_notifications_max: int = 100
    search_query_max: int = 200
    system_messages: bool = True  # membership changes and new direct chats appear in the timeline


def _fields(field: str, message: str) -> dict:
    """Details of INVALID_PAYLOAD and CONTENT_INVALID: the same shape as schema validation errors."""
    return {"fields": {field: [message]}}


def check_text(value: str, field: str) -> None:
    """Raise CONTENT_INVALID when `value` cannot be stored as UTF-8 text in Postgres."""
    if "\x00" in value:
        raise ChatError(
            Code.CONTENT_INVALID, f"{field} must not contain NUL characters", _fields(field, "contains NUL")
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ChatError(
            Code.CONTENT_INVALID, f"{field} is not valid Unicode text", _fields(field, "contains an unpaired surrogate")
        ) from None


def check_content(content: str, max_length: int) -> None:
    if not content.strip():
        raise ChatError(Code.CONTENT_EMPTY, "message content is empty")
    if len(content) > max_length:
        raise ChatError(
            Code.CONTENT_TOO_LONG,
            f"message content is longer than {max_length} characters",
            {"max_length": max_length, "length": len(content)},
        )
    check_text(content, "content")


MAX_EMOJI_LENGTH = 32  # code points: the longest joined sequences (families, flags of regions) fit


def check_emoji(emoji: str, is_emoji) -> str:
    """Exactly one emoji; `is_emoji` is the adapter's full Unicode emoji check."""
    if not isinstance(emoji, str) or not emoji or len(emoji) > MAX_EMOJI_LENGTH or not is_emoji(emoji):
        raise ChatError(Code.INVALID_EMOJI, "a reaction must be exactly one emoji", _fields("emoji", "not one emoji"))
    return emoji


def check_message_id(message_id: str, field: str = "message_id") -> None:
    if not message_id.isascii() or not message_id.isdigit() or len(message_id) > 19 or message_id.startswith("0"):
        raise ChatError(Code.INVALID_PAYLOAD, f"{field} must be a message id", _fields(field, "not a message id"))


def check_user_id(user_id: str, field: str = "user_id") -> None:
    if not user_id or len(user_id) > MAX_ID_LENGTH or user_id != user_id.strip() or not user_id.isprintable():
        raise ChatError(
            Code.INVALID_PAYLOAD,
            f"{field} must be 1 to {MAX_ID_LENGTH} printable characters without surrounding spaces",
            _fields(field, "not a usable user id"),
        )
    check_text(user_id, field)


def check_username(value: str, field: str = "username") -> str:
    """Return `value` when it is a username: 1 to 150 letters, digits (of any script), `_`, `.`, `@`,
    `+` or `-`, Django's rule. Raise INVALID_PAYLOAD otherwise. Usernames are compared exactly (no case
    folding, no normalisation)."""
    # The pattern leaves out NUL, every other control and space, and unpaired surrogates (not \w), and
    # \Z, unlike $, refuses a trailing newline.
    if not isinstance(value, str) or len(value) > MAX_USERNAME_LENGTH or not _USERNAME.match(value):
        raise ChatError(
            Code.INVALID_PAYLOAD,
            f"{field} must be 1 to {MAX_USERNAME_LENGTH} letters, digits or the characters _ . @ + -",
            _fields(field, "not a valid username"),
        )
    return value


def check_client_ref(client_ref: str | None) -> None:
    if client_ref is None:
        return
    if not client_ref or len(client_ref) > MAX_CLIENT_REF_LENGTH or not client_ref.isprintable():
        raise ChatError(
            Code.INVALID_PAYLOAD,
            f"client_ref must be 1 to {MAX_CLIENT_REF_LENGTH} printable characters",
            _fields("client_ref", f"must be 1 to {MAX_CLIENT_REF_LENGTH} printable characters"),
        )
    check_text(client_ref, "client_ref")


def check_room_name(name: str) -> str:
    """Return the name without surrounding white space; raise when it is empty or too long."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_ROOM_NAME_LENGTH:
        raise ChatError(
            Code.INVALID_PAYLOAD, f"name must be 1 to {MAX_ROOM_NAME_LENGTH} characters", {"name": "invalid"}
        )
    check_text(cleaned, "name")
    return cleaned
