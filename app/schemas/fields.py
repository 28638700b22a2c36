"""Fields shared by request schemas."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields

from app.chat.errors import ChatError, Code
from app.chat.rules import MAX_ID_LENGTH


class Identifier(fields.Field):
    """An id given as a string or, as some clients send them, an integer; loaded as a string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("must be a string or an integer")
        text = str(value)
        if not text or len(text) > MAX_ID_LENGTH:
            raise ValidationError(f"must be 1 to {MAX_ID_LENGTH} characters")
        return text

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


MAX_SEQUENCE = 2**62


class Sequence(fields.Integer):
    """A sequence number: a non-negative integer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)

    def _validated(self, value):
        number = super()._validated(value)
        if number is not None and not 0 <= number <= MAX_SEQUENCE:
            raise ValidationError("must be a non-negative integer")
        return number


MAX_VERSION = 2**63 - 1


class Version(fields.Field):
    """A version or changes cursor: a decimal string (as the server sends them) or an integer; loaded as an int."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("must be a string of digits or an integer")
        text = str(value)
        if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_VERSION:
            raise ValidationError("must be a version the server gave (a non-negative 64-bit integer)")
        return int(text)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


INVALID = "the payload is invalid"  # the message of every validation failure; `details.fields` says what


def load(schema: Schema, data: object) -> dict:
    """`schema.load(data)`, turning validation errors into INVALID_PAYLOAD with per-field details."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ChatError(Code.INVALID_PAYLOAD, INVALID, {"fields": messages}) from None
