"""Fields shared by request schemas."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields

from app.chat.errors import ChatError, Code
from app.chat.rules import MAX_ID_LENGTH


class Identifier(fields.Field):
    """An id given as a string or, as some clients send them, an integer; loaded as a string."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = _whole(value)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("must be a string or an integer")
        text = str(value)
        if not text or len(text) > MAX_ID_LENGTH:
            raise ValidationError(f"must be 1 to {MAX_ID_LENGTH} characters")
        return text

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


MAX_SEQUENCE = 2**62


def _whole(value: object) -> object:
    """A JSON number without a fraction (`12.0`, an integer to JSON Schema and JavaScript alike) as the int, when
    exact; anything else as it is."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


class Sequence(fields.Integer):
    """A sequence number: a non-negative integer (`12.0` too: JSON Schema's integers include it)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)

    def _validated(self, value):
        number = super()._validated(_whole(value))
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


# What the core's rules (app.chat.rules) check, as JSON Schema states it in the documents, so that a generated
# client refuses what the server would refuse. Patterns are in the syntax ECMA-262 (JSON Schema) and Python share;
# they end with END, not `$`, which in Python also matches before a final newline.
END = r"(?![\s\S])"


# Never printable (str.isprintable refuses them): the controls, the separators besides the space, the format
# characters and the private use area of the first plane (surrogates never get here: JSON and UTF-8 refuse
# them). The rest of what it refuses, the code points Unicode has not assigned and the private use planes, is
# hundreds of ranges no pattern can carry usefully (a generator spends seconds on each such class), so the
# OpenAPI document says it in words.
_UNPRINTABLE = (
    r"\x00-\x1f\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u1680\u180e\u2000-\u200f"
    r"\u2028-\u202f\u205f-\u206f\u3000\ue000-\uf8ff\ufeff\ufff9-\ufffb"
)
_SPACE = r"\s\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # white space str.strip() removes
PRINTABLE = rf"^[^{_UNPRINTABLE}]*{END}"
# A user id: printable, no white space around it (app.chat.rules.check_user_id).
USER_ID_PATTERN = rf"^[^{_SPACE}{_UNPRINTABLE}](?:[^{_UNPRINTABLE}]*[^{_SPACE}{_UNPRINTABLE}])?{END}"
# Text kept in Postgres: no NUL; with NOT_BLANK also something besides white space (a name, a message).
NO_NUL = rf"^[^\x00]*{END}"
NOT_BLANK = rf"^[^\x00]*[^{_SPACE}\x00][^\x00]*{END}"
# A room or message id: the canonical decimal of a positive 64-bit integer (app.chat.rules.check_message_id).
ID_PATTERN = rf"^[1-9][0-9]{{0,18}}{END}"
# A version cursor: up to 19 digits within a signed 64-bit integer (a 19-digit one below 9e18 is documented).
VERSION_PATTERN = rf"^(?:[0-9]{{1,18}}|[0-8][0-9]{{18}}){END}"
# The widest integers the JSON parser (orjson) reads as integers: wider ones become floats, not ids.
MIN_JSON_INTEGER = -(2**63)
MAX_JSON_INTEGER = 2**64 - 1

USER_ID_TEXT = {"pattern": USER_ID_PATTERN}  # what a user id given as a string must match
PRINTABLE_TEXT = {"pattern": PRINTABLE}


def with_null(schema: dict, field: fields.Field) -> dict:
    """`schema`, its type also allowing null when the field does."""
    if field.allow_none and "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema = {**schema, "type": [*types, "null"]}
    return schema


class UserIdentifier(Identifier):
    """A user id: an Identifier the core's user-id rule takes (printable, no surrounding white space)."""


class MessageIdentifier(Identifier):
    """A message or room id: an Identifier holding a positive decimal integer."""
