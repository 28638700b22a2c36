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
    MESSAGE_NOT_FOUND = "message_not_found"
    NOT_SENDER = "not_sender"
    MESSAGE_DELETED = "message_deleted"
    SYSTEM_MESSAGE = "system_message"
    REPLY_NOT_FOUND = "reply_not_found"
    INVALID_EMOJI = "invalid_emoji"
    REACTION_NOT_FOUND = "reaction_not_found"
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    RATE_LIMITED = "rate_limited"
    UNKNOWN_EVENT = "unknown_event"
    SEARCH_QUERY_INVALID = "search_query_invalid"
    SEARCH_TOO_BROAD = "search_too_broad"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"
    UPLOAD_MISSING_FILE = "upload_missing_file"
    UPLOAD_EMPTY = "upload_empty"
    UPLOAD_TOO_LARGE = "upload_too_large"
    ATTACHMENT_NOT_FOUND = "attachment_not_found"
    NO_ATTACHMENT = "no_attachment"
    LINK_INVALID = "link_invalid"
    LINK_EXPIRED = "link_expired"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"


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
    Code.MESSAGE_NOT_FOUND: "No such message in a room the user belongs to.",
    Code.NOT_SENDER: "Only the message's sender may edit it, and only the sender or the room's owner delete it.",
    Code.MESSAGE_DELETED: "The message was deleted: it can no longer be edited, deleted again or reacted to.",
    Code.SYSTEM_MESSAGE: "System messages (members added, a direct chat started) cannot be edited or sent by clients.",
    Code.REPLY_NOT_FOUND: "`reply_to` names no message of the same room.",
    Code.INVALID_EMOJI: "A reaction must be exactly one emoji (skin tones, flags and joined sequences count as one).",
    Code.REACTION_NOT_FOUND: "No such reaction of the caller's (a reaction id names one person's reaction: only they "
    "may remove it).",
    Code.UNKNOWN_MESSAGE_TYPE: "The message type is not one a client may send: text, image, file, video or audio.",
    Code.RATE_LIMITED: "Too many requests; `details.retry_after` says how many seconds to wait.",
    Code.UNKNOWN_EVENT: "The event (or frame, topic) is not part of the dialect's protocol.",
    Code.SEARCH_QUERY_INVALID: (
        "The search query cannot be searched; `details.reason` says why: empty, too_long, invalid_text, "
        "no_words (only punctuation or symbols), too_many_terms or term_too_long."
    ),
    Code.SEARCH_TOO_BROAD: "The search matched too many messages to rank in SEARCH_TIMEOUT; add words or pick a room.",
    Code.NOT_FOUND: "No such route.",
    Code.METHOD_NOT_ALLOWED: "The route does not accept this HTTP method.",
    Code.UNAVAILABLE: "A backing service (Redis, Postgres) is unreachable; retry later.",
    Code.INTERNAL_ERROR: "An unexpected error; it is logged with the request or connection id.",
    Code.UPLOAD_MISSING_FILE: "The body is not multipart/form-data with a file in `file`, `myFile` or `attachment`.",
    Code.UPLOAD_EMPTY: "The uploaded file is empty.",
    Code.UPLOAD_TOO_LARGE: "The file is larger than MAX_UPLOAD_BYTES; `details.max_bytes` says how large it may be.",
    Code.ATTACHMENT_NOT_FOUND: "No such attachment among the caller's uploads (or its file is gone).",
    Code.NO_ATTACHMENT: "The message has no attachment, or it was deleted.",
    Code.LINK_INVALID: "The download link is malformed, forged or altered (its id, expiry or signature).",
    Code.LINK_EXPIRED: "The download link has expired; ask for a fresh one (refresh-url).",
    Code.RANGE_NOT_SATISFIABLE: "The byte range asked for holds no byte of the file (it starts past the end, or is "
    "`bytes=-0`); `details.size` is the file's size, also sent as `Content-Range: bytes */<size>`.",
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
