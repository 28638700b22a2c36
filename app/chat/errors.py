"""Errors with stable, machine-readable codes.

A code never changes meaning once published; transports map codes to their
own vocabulary (HTTP status, acknowledgement, `error` event) in one place each.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    INVALID_PAYLOAD = "invalid_payload"
    CONTENT_EMPTY = "content_empty"
    CONTENT_TOO_LONG = "content_too_long"
    CONTENT_INVALID = "content_invalid"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    AUTH_REQUIRED = "auth_required"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    USER_MISMATCH = "user_mismatch"
    USER_DISABLED = "user_disabled"
    NOT_MEMBER = "not_member"
    NOT_OWNER = "not_owner"
    ROOM_NOT_FOUND = "room_not_found"
    MEMBER_NOT_FOUND = "member_not_found"
    DIRECT_ROOM_FIXED = "direct_room_fixed"
    TOO_MANY_MEMBERS = "too_many_members"
    DUPLICATE_CLIENT_REF = "duplicate_client_ref"
    UNKNOWN_STATUS = "unknown_status"
    READ_BEYOND_LAST = "read_beyond_last"
    USER_NOT_FOUND = "user_not_found"
    RATE_LIMITED = "rate_limited"
    UNKNOWN_EVENT = "unknown_event"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"


DESCRIPTIONS: dict[Code, str] = {
    Code.INVALID_PAYLOAD: "A field is missing, of the wrong type or out of range; `details` names each field.",
    Code.CONTENT_EMPTY: "The message content is empty or only white space.",
    Code.CONTENT_TOO_LONG: "The message content is longer than MAX_MESSAGE_LENGTH characters.",
    Code.CONTENT_INVALID: "A text field holds characters that cannot be stored (NUL, unpaired surrogates).",
    Code.PAYLOAD_TOO_LARGE: "The request body is larger than MAX_FRAME_BYTES.",
    Code.AUTH_REQUIRED: "No token was given.",
    Code.INVALID_TOKEN: "The token is malformed, forged, signed with a refused algorithm, or lacks a required claim.",
    Code.TOKEN_EXPIRED: "The token's `exp` has passed.",
    Code.USER_MISMATCH: "The user id given beside the token is not the token's subject.",
    Code.USER_DISABLED: "The user is disabled.",
    Code.NOT_MEMBER: "The user is not a member of the room.",
    Code.NOT_OWNER: "Only the room's owner may do this.",
    Code.ROOM_NOT_FOUND: "No such room.",
    Code.MEMBER_NOT_FOUND: "The user named is not a member of the room.",
    Code.DIRECT_ROOM_FIXED: "Members of a direct room cannot be changed, and it cannot be left.",
    Code.TOO_MANY_MEMBERS: "The room would exceed MAX_ROOM_MEMBERS.",
    Code.DUPLICATE_CLIENT_REF: "This client_ref was already used by the sender for a message in another room.",
    Code.UNKNOWN_STATUS: "The status is not online, away, busy or offline, nor a synonym such as available.",
    Code.READ_BEYOND_LAST: "The read cursor is past the room's last message; `details.last_seq` says where that is.",
    Code.USER_NOT_FOUND: "No such user among the people who share a room with the caller.",
    Code.RATE_LIMITED: "Too many requests; `details.retry_after` says how many seconds to wait.",
    Code.UNKNOWN_EVENT: "The Socket.IO event name is not part of the protocol.",
    Code.NOT_FOUND: "No such route.",
    Code.METHOD_NOT_ALLOWED: "The route does not accept this HTTP method.",
    Code.UNAVAILABLE: "A backing service (Redis, Postgres) is unreachable; retry later.",
    Code.INTERNAL_ERROR: "An unexpected error; it is logged with the request or connection id.",
}


class ChatError(Exception):
    """A refusal with a stable code, a human message and optional details."""

    def __init__(self, code: Code, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __repr__(self) -> str:
        return f"ChatError({self.code.value!r}, {self.message!r})"
