"""REST: uploading files, downloading them through signed links, and fresh links for a message's file.

Canonical routes (under `/api/v1/`), and the paths of the seed service at the root, where its clients expect
them (`/api/rooms/upload`, `/api/rooms/check-url/`, `/api/rooms/refresh-url/`), as aliases answering the seed's
field names besides the canonical ones. Those take the token bare too (`Authorization: <JWT>`), as the seed's
clients send it (`Route.bare_token`).

The upload reads the multipart body itself, a chunk at a time, so it is bound by MAX_UPLOAD_BYTES and
not by MAX_FRAME_BYTES (aiohttp's `client_max_size` applies only to bodies read whole). The download
needs no token, only a valid link (it is used in `<img src>`), and is streamed with headers that keep a
browser from rendering anything but a plain image in place.

Downloads answer one byte range (`Range: bytes=a-b`, `bytes=a-`, `bytes=-n`) with 206 and `Content-Range`,
and a range that holds no byte of the file with 416 and `Content-Range: bytes */<size>`. Anything else in
`Range` (several ranges, another unit, a malformed or backwards range) is ignored, as RFC 9110 allows, and
answered with the whole file (200), as is a range sent with an `If-Range` that is not the file's ETag. aiohttp's
`FileResponse` is not used: it needs a path on disk (the blob store may be S3), answers 416 rather than 200
to several ranges or a malformed one, and its 416 has no error body.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from marshmallow import EXCLUDE, RAISE, Schema, fields

from app.chat.attachments import ByteRange
from app.chat.errors import ChatError, Code
from app.rest.api import Call, Route, v1
from app.rest.errors import REQUEST_ID, REQUEST_ID_KEY
from app.schemas.fields import Identifier
from app.schemas.payloads import TIME, AttachmentSchema

# Field names of the file in the multipart body: ours, and the seed's (`myFile`).
FILE_FIELDS = ("file", "myFile", "attachment")
_FILE_FIELDS = frozenset(name.lower() for name in FILE_FIELDS)
READ_BYTES = 64 * 1024  # one read from the request body
OTHER_FIELDS_BYTES = 64 * 1024  # all form fields besides the file, together
MULTIPART_OVERHEAD = 64 * 1024  # what a body may hold besides the file itself (boundaries, headers, fields)
INLINE_CSP = "default-src 'none'; sandbox"
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
# One range of bytes (RFC 9110 14.1.2).
_BYTE_RANGE = re.compile(r"bytes=[ \t]*([0-9]*)-([0-9]*)[ \t]*", re.IGNORECASE)
_HUGE = 10**30  # stands for a position of more digits than that: past any file (and int() has a digit limit)
# What aiohttp's multipart reader raises for a body that is not well-formed: ValueError (a missing, long or
# non-ASCII boundary, a body that does not start or end with it), KeyError and AssertionError (a content type
# without its parameters, a state a well-formed body never reaches), and its HTTP parser's errors for a part's
# headers (a control character in a header, a line too long, too many headers: HttpProcessingError, which is
# none of those). All of them are the client's malformed body: INVALID_PAYLOAD, never an internal error.
_MALFORMED = (ValueError, KeyError, AssertionError, HttpProcessingError)

# Schemas.


class _Request(Schema):
    class Meta:
        unknown = RAISE


class LinkQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a link may be given extra parameters (cache busters); only these two count

    expires = fields.String(load_default="", metadata={"description": "Unix time the link expires at."})
    sig = fields.String(load_default="", metadata={"description": "HMAC-SHA256 of the id and expiry, hex."})


class CheckQuerySchema(_Request):
    url = fields.String(
        load_default=None,
        metadata={
            "description": "The link the client holds (absolute or relative). Without it the answer is "
            "refresh_url: true, since the server cannot know which copy the client has."
        },
    )


class SeedMessageQuerySchema(_Request):
    message_id = Identifier(required=True, metadata={"description": "The message whose file it is."})


class SeedCheckQuerySchema(SeedMessageQuerySchema, CheckQuerySchema):
    pass


class LinkCheckSchema(Schema):
    refresh_url = fields.Boolean(
        required=True, metadata={"description": "True when the link given is invalid, expired or about to expire."}
    )
    expires_at = fields.String(
        allow_none=True, required=True, metadata={**TIME, "description": "When the link given expires (if valid)."}
    )


class SeedAttachmentSchema(AttachmentSchema):
    """The canonical fields, and the seed's names for three of them."""

    file_location = fields.String(required=True, metadata={"description": "The signed link (same as url)."})
    file_identifier = fields.String(required=True, metadata={"description": "The attachment's id."})
    expiration_time = fields.String(
        allow_none=True, required=True, metadata={**TIME, "description": "When the link expires."}
    )


# Handlers.


async def upload_attachment(call: Call) -> dict:
    return call.chat.attachments.link(await _upload(call))


async def upload_seed(call: Call) -> dict:
    return _seed(call.chat.attachments.link(await _upload(call)))


async def download_attachment(call: Call) -> web.StreamResponse:
    data = call.data
    wanted = _byte_range(call.request, _etag(data["attachment_id"]))
    download = await call.chat.attachments.download(data["attachment_id"], data["expires"], data["sig"], wanted)
    attachment = download.attachment
    try:
        content_type = attachment.content_type
        if content_type == "text/plain":
            content_type += "; charset=utf-8"
        headers = {
            "Content-Type": content_type,
            "Content-Disposition": _disposition("inline" if download.inline else "attachment", attachment.name),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": INLINE_CSP,
            "Cache-Control": f"private, max-age={max(0, download.expires - int(time.time()))}",
            "Referrer-Policy": "no-referrer",
            "Accept-Ranges": "bytes",
            "ETag": _etag(attachment.id),  # a file never changes under its id: a strong validator for If-Range
            REQUEST_ID: call.request[REQUEST_ID_KEY],
        }
        status = 200
        if download.part is not None:
            start, stop = download.part
            status = 206
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{download.size}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = download.length
        await response.prepare(call.request)
        try:
            async for chunk in download.blob:
                await response.write(chunk)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away; nothing to answer
        return response
    finally:
        await download.blob.aclose()


async def refresh_attachment_url(call: Call) -> dict:
    return await call.chat.attachments.refresh(call.user, call.data["message_id"])


async def check_attachment_url(call: Call) -> dict:
    return await call.chat.attachments.check(call.user, call.data["message_id"], call.data["url"])


async def refresh_url_seed(call: Call) -> dict:
    return _seed(await call.chat.attachments.refresh(call.user, call.data["message_id"]))


async def check_url_seed(call: Call) -> dict:
    return await call.chat.attachments.check(call.user, call.data["message_id"], call.data["url"])


def _etag(attachment_id: str) -> str:
    return f'"{attachment_id}"'


def _byte_range(request: web.Request, etag: str) -> ByteRange | None:
    """The one byte range a GET asks for, or None for the whole file: no `Range`, one that is ignored (several
    ranges, another unit, malformed, or ending before it starts), or an `If-Range` other than the file's ETag."""
    header = request.headers.get("Range")
    if header is None or request.method != "GET":
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None  # the client's copy may differ (a date, or another tag): send it all
    match = _BYTE_RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = (_position(text) for text in match.groups())
    if first is None and last is None:
        return None
    if first is not None and last is not None and last < first:
        return None
    return ByteRange(first, last)


def _position(digits: str) -> int | None:
    if not digits:
        return None
    return int(digits) if len(digits) <= 30 else _HUGE


# The multipart body.


async def _upload(call: Call):
    request = call.request
    attachments = call.chat.attachments
    if request.content_type != "multipart/form-data":
        raise ChatError(Code.UPLOAD_MISSING_FILE, "send the file as multipart/form-data")
    limit = attachments.max_bytes
    if request.content_length is not None and request.content_length > limit + MULTIPART_OVERHEAD:
        raise ChatError(Code.UPLOAD_TOO_LARGE, f"the file is larger than {limit} bytes", {"max_bytes": limit})
    try:
        reader = await request.multipart()
    except _MALFORMED as exc:
        raise _malformed(exc) from None
    part = await _file_part(reader)
    return await attachments.upload(call.user, _filename(part), _chunks(part))


def _malformed(exc: BaseException) -> ChatError:
    reason = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
    return ChatError(
        Code.INVALID_PAYLOAD,
        "the multipart/form-data body is malformed",
        {"reason": reason.replace("\n", " ").strip()[:200] or type(exc).__name__},
    )


async def _file_part(reader) -> BodyPartReader:
    """The first part under an accepted file field; other fields are read and dropped, up to a bound."""
    other = 0
    while True:
        try:
            part = await reader.next()
        except _MALFORMED as exc:
            raise _malformed(exc) from None
        if part is None:
            raise ChatError(
                Code.UPLOAD_MISSING_FILE,
                "no file in the upload; send it in a field named " + ", ".join(FILE_FIELDS),
                {"fields": list(FILE_FIELDS)},
            )
        if not isinstance(part, BodyPartReader):
            raise ChatError(Code.UPLOAD_MISSING_FILE, "nested multipart bodies are not accepted")
        if (part.name or "").lower() in _FILE_FIELDS:
            return part
        async for chunk in _chunks(part):
            other += len(chunk)
            if other > OTHER_FIELDS_BYTES:
                raise ChatError(
                    Code.UPLOAD_MISSING_FILE, f"form fields besides the file exceed {OTHER_FIELDS_BYTES} bytes"
                )


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while not part.at_eof():
        try:
            chunk = await part.read_chunk(READ_BYTES)
        except _MALFORMED as exc:
            raise _malformed(exc) from None
        if chunk:  # a read may end just short of a boundary and give nothing
            yield chunk


def _filename(part: BodyPartReader) -> str | None:
    """The name the client gave the file. Browsers send it as raw UTF-8 (`filename*` is decoded by aiohttp);
    some clients (aiohttp's among them) percent-encode it, which is undone when it decodes as UTF-8. The
    core cleans whatever comes out (an encoded `..%2F` is a path trick like any other)."""
    name = part.filename
    if name and _PERCENT.search(name):
        try:
            return unquote(name, errors="strict")
        except UnicodeDecodeError:
            return name
    return name


def _disposition(kind: str, name: str) -> str:
    """RFC 6266: an ASCII fallback name, and the real one in `filename*`."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _seed(link: dict) -> dict:
    return {
        **link,
        "file_location": link["url"],
        "file_identifier": link["id"],
        "expiration_time": link["url_expires_at"],
    }


_DOWNLOAD_ERRORS = (Code.LINK_INVALID, Code.LINK_EXPIRED, Code.ATTACHMENT_NOT_FOUND, Code.RANGE_NOT_SATISFIABLE)
_UPLOAD_ERRORS = (Code.UPLOAD_MISSING_FILE, Code.UPLOAD_EMPTY, Code.UPLOAD_TOO_LARGE, Code.INVALID_PAYLOAD)
_MESSAGE_ERRORS = (Code.MESSAGE_NOT_FOUND, Code.NO_ATTACHMENT, Code.INVALID_PAYLOAD)

ROUTES = [
    Route("POST", v1("/attachments"), upload_attachment,
          "Upload a file (multipart/form-data); the answer carries a signed download link", "attachments",
          files=FILE_FIELDS, response=AttachmentSchema, status=201, errors=_UPLOAD_ERRORS),
    Route("GET", v1("/attachments/{attachment_id}/content"), download_attachment,
          "Download a file through its signed link (no token needed)", "attachments",
          query=LinkQuerySchema, produces="application/octet-stream", auth=False, alt_status=(206,),
          errors=_DOWNLOAD_ERRORS),
    Route("GET", v1("/messages/{message_id}/attachment-url"), refresh_attachment_url,
          "A fresh signed link to a message's file (members of its room)", "attachments",
          response=AttachmentSchema, errors=_MESSAGE_ERRORS),
    Route("GET", v1("/messages/{message_id}/attachment-url/check"), check_attachment_url,
          "Whether a link to a message's file must be refreshed", "attachments",
          query=CheckQuerySchema, response=LinkCheckSchema, errors=_MESSAGE_ERRORS),
    # The seed service's paths and field names.
    Route("POST", "/api/rooms/upload", upload_seed,
          "Upload a file: the seed's path (field `myFile`) and answer (file_location, file_identifier, "
          "expiration_time)", "attachments",
          files=FILE_FIELDS, response=SeedAttachmentSchema, status=201, errors=_UPLOAD_ERRORS, bare_token=True),
    Route("GET", "/api/rooms/check-url/", check_url_seed,
          "Whether a link to a message's file must be refreshed: the seed's path", "attachments",
          query=SeedCheckQuerySchema, response=LinkCheckSchema, errors=_MESSAGE_ERRORS, bare_token=True),
    Route("GET", "/api/rooms/refresh-url/", refresh_url_seed,
          "A fresh signed link to a message's file: the seed's path (file_location)", "attachments",
          query=SeedMessageQuerySchema, response=SeedAttachmentSchema, errors=_MESSAGE_ERRORS, bare_token=True),
]  # fmt: skip
