"""Attachments: uploaded files, the signed links that fetch them, and who may have one.

- **Upload.** The transport hands over the file as an async iterator of chunks. They are written
  to the blob store as they arrive, counted on the way (past `max_bytes` the upload stops), and the
  first `HEAD_BYTES` are kept to decide the content type: from the bytes (`sniff`), never from the
  client's claim or the file name. The display name is cleaned (`clean_name`) and is never a disk
  path: blobs are stored under keys the server makes. Whatever fails, the blob is deleted, so a
  failed upload leaves no file behind.
- **Links.** A download link is `/api/attachments/<id>/content?expires=<unix seconds>&sig=<hex>`,
  where `sig` is HMAC-SHA256(secret, "<id>:<expires>"). Whoever holds a valid, unexpired link may
  fetch the file (so it works in `<img src>`); links are handed only to the uploader (on upload) and
  to members of the room the file was sent in (in messages, and by `refresh`), and they expire.
  Expiries are rounded up to a twelfth of the TTL, so a file shown several times within that step
  gets the same URL (and browsers cache it).
- **Claim.** A message carries an attachment only if the sender uploaded it; the first message binds
  it to its room, and it may be sent again only in that room.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import re
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.model import Attachment, AttachmentKind, Message, User, format_time
from app.chat.ports import AttachmentStore, Blob, BlobNotFound, BlobStore, Clock, IdGenerator, StoredFile

HEAD_BYTES = 8192  # how much of the file `sniff` looks at
MAX_NAME_LENGTH = 200
LINK_PREFIX = "/api/attachments/"
LINK_SUFFIX = "/content"
# Types a browser may show in place: plain raster images. Everything else is served as a download.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

FindMessage = Callable[[str], Awaitable[Message | None]]


@dataclass(frozen=True, slots=True)
class AttachmentOptions:
    secret: bytes  # HMAC key of download links (ATTACHMENT_SECRET, or derived from JWT_SECRET)
    max_bytes: int = 10 * 1024 * 1024  # MAX_UPLOAD_BYTES
    url_ttl: int = 3600  # ATTACHMENT_URL_TTL: seconds a link stays valid (at least)


@dataclass(frozen=True, slots=True)
class Download:
    """What a valid link fetches: the file's description, its open blob, and how the link expires."""

    attachment: Attachment
    blob: Blob
    expires: int  # unix seconds
    inline: bool  # a plain raster image, safe to show in place; anything else is a download


class Attachments:
    def __init__(
        self,
        store: AttachmentStore,
        blobs: BlobStore,
        access: Access,
        find_message: FindMessage,
        ids: IdGenerator,
        clock: Clock,
        options: AttachmentOptions,
    ) -> None:
        if not options.secret:
            raise ValueError("attachment links need a secret")
        self._store = store
        self._blobs = blobs
        self._access = access
        self._find_message = find_message
        self._ids = ids
        self._clock = clock
        self._options = options

    @property
    def max_bytes(self) -> int:
        return self._options.max_bytes

    # Upload and claim.

    async def upload(self, actor: User, filename: str | None, chunks: AsyncIterable[bytes]) -> Attachment:
        """Store a file streamed as `chunks` and record it as the actor's. Raises UPLOAD_TOO_LARGE (as soon
        as more than `max_bytes` arrived) or UPLOAD_EMPTY; on any failure nothing stays stored."""
        attachment_id = str(self._ids.next())
        key = attachment_id  # a server-made key: the client's file name never reaches the store
        counted = _Counted(chunks, self._options.max_bytes)
        try:
            size = await self._blobs.put(key, counted)
            if size == 0:
                raise ChatError(Code.UPLOAD_EMPTY, "the uploaded file is empty")
            content_type = sniff(bytes(counted.head))
            attachment = Attachment(
                id=attachment_id,
                name=clean_name(filename, content_type),
                content_type=content_type,
                size=size,
                kind=kind_of(content_type),
            )
            await self._store.insert(StoredFile(attachment, actor.id, None, key, self._clock.now()))
        except BaseException:
            # Shielded: a cancelled upload (the client went away) must still remove its file.
            await asyncio.shield(self._blobs.delete(key))
            raise
        return attachment

    async def claim(self, actor: User, attachment_id: str, room_id: str) -> Attachment:
        """The attachment, bound to `room_id`, for a message the actor sends there (the caller has checked
        that the actor is a member). Raises ATTACHMENT_NOT_FOUND for an id that is not one of the actor's
        uploads (others' uploads are never revealed) or that was already sent in another room."""
        stored = await self._store.bind(attachment_id, actor.id, room_id)
        if stored is not None:
            return stored.attachment
        existing = await self._store.get(attachment_id)
        if existing is not None and existing.uploader_id == actor.id:
            raise ChatError(
                Code.ATTACHMENT_NOT_FOUND,
                f"attachment {attachment_id} was sent in another room; upload the file again",
                {"attachment_id": attachment_id, "reason": "other_room"},
            )
        raise ChatError(Code.ATTACHMENT_NOT_FOUND, f"attachment {attachment_id} is not one of your uploads")

    # Links.

    def link(self, attachment: Attachment) -> dict:
        """The attachment's record with a fresh signed `url` and its `url_expires_at`."""
        return self.signed(attachment).record()

    def signed(self, attachment: Attachment) -> Attachment:
        """The attachment with a fresh signed link, as messages carry it."""
        expires = self._expiry(self._now())
        url = f"{LINK_PREFIX}{attachment.id}{LINK_SUFFIX}?expires={expires}&sig={self._sign(attachment.id, expires)}"
        return replace(attachment, url=url, url_expires_at=datetime.fromtimestamp(expires, UTC))

    async def check(self, actor: User, message_id: str, url: str | None = None) -> dict:
        """Whether the client's copy of the message's link must be refreshed: `{refresh_url, expires_at}`.

        `url` is the link the client holds. It needs refreshing when it is not a valid link of the message's
        attachment or expires within a minute. Without `url` the answer is `refresh_url: true`: the server
        cannot know which copy the client holds, and a needless refresh costs one request where a wrong
        `false` leaves a broken image. Raises MESSAGE_NOT_FOUND, ROOM_NOT_FOUND, NOT_MEMBER, NO_ATTACHMENT."""
        attachment = await self._attachment_of(actor, message_id)
        expires = self._expiry_in(url, attachment.id) if url else None
        margin = min(60, self._options.url_ttl // 4)
        fresh = expires is not None and expires - self._now() > margin
        return {"refresh_url": not fresh, "expires_at": _iso(expires) if expires is not None else None}

    async def refresh(self, actor: User, message_id: str) -> dict:
        """A fresh link to the message's attachment (see `link`), for a member of its room. Raises
        MESSAGE_NOT_FOUND, ROOM_NOT_FOUND, NOT_MEMBER, NO_ATTACHMENT."""
        return self.link(await self._attachment_of(actor, message_id))

    async def download(self, attachment_id: str, expires: str, sig: str) -> Download:
        """The file a link names, opened. Raises LINK_INVALID (malformed, forged or altered id, expiry or
        signature), LINK_EXPIRED, or ATTACHMENT_NOT_FOUND (the file is gone). The caller closes the blob."""
        until = self._verify(attachment_id, expires, sig)
        stored = await self._store.get(attachment_id)
        if stored is None:
            raise ChatError(Code.ATTACHMENT_NOT_FOUND, f"attachment {attachment_id} no longer exists")
        try:
            blob = await self._blobs.open(stored.storage_key)
        except BlobNotFound:
            raise ChatError(Code.ATTACHMENT_NOT_FOUND, f"the file of attachment {attachment_id} is gone") from None
        attachment = stored.attachment
        return Download(attachment, blob, until, attachment.content_type in INLINE_TYPES)

    # Internals.

    async def _attachment_of(self, actor: User, message_id: str) -> Attachment:
        message = await self._find_message(message_id)
        if message is None:
            raise ChatError(Code.MESSAGE_NOT_FOUND, f"message {message_id} does not exist")
        await self._access.require(message.room_id, actor.id)
        if message.deleted_at is not None or message.attachment is None:
            raise ChatError(Code.NO_ATTACHMENT, f"message {message_id} has no attachment")
        return message.attachment

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _expiry(self, now: float) -> int:
        ttl = self._options.url_ttl
        step = max(1, ttl // 12)
        return math.ceil((now + ttl) / step) * step  # at least `ttl` from now, rounded up to a step

    def _sign(self, attachment_id: str, expires: int) -> str:
        message = f"{attachment_id}:{expires}".encode()
        return hmac.new(self._options.secret, message, hashlib.sha256).hexdigest()

    def _verify(self, attachment_id: str, expires: str, sig: str) -> int:
        """The expiry of a valid, unexpired link; raises LINK_INVALID or LINK_EXPIRED."""
        if not (_ID.fullmatch(attachment_id) and _EXPIRES.fullmatch(expires or "") and _SIG.fullmatch(sig or "")):
            raise ChatError(Code.LINK_INVALID, "the download link is malformed")
        until = int(expires)
        if not hmac.compare_digest(self._sign(attachment_id, until), sig):
            raise ChatError(Code.LINK_INVALID, "the download link's signature does not match")
        if until <= self._now():
            raise ChatError(Code.LINK_EXPIRED, "the download link has expired", {"expired_at": _iso(until)})
        return until

    def _expiry_in(self, url: str, attachment_id: str) -> int | None:
        """The expiry of `url` if it is a validly signed link to `attachment_id` (expired or not), else None."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if not parts.path.endswith(f"{LINK_PREFIX}{attachment_id}{LINK_SUFFIX}"):
            return None
        query = parse_qs(parts.query)
        expires, sig = query.get("expires", [""])[0], query.get("sig", [""])[0]
        if not (_EXPIRES.fullmatch(expires) and _SIG.fullmatch(sig)):
            return None
        return int(expires) if hmac.compare_digest(self._sign(attachment_id, int(expires)), sig) else None


_ID = re.compile(r"[1-9][0-9]{0,18}")
_EXPIRES = re.compile(r"[1-9][0-9]{0,11}")
_SIG = re.compile(r"[0-9a-f]{64}")


def _iso(unix_s: int) -> str:
    return format_time(datetime.fromtimestamp(unix_s, UTC))


class _Counted:
    """Passes chunks through, counting them: past `limit` bytes it raises UPLOAD_TOO_LARGE; it keeps the
    first HEAD_BYTES for `sniff`."""

    def __init__(self, chunks: AsyncIterable[bytes], limit: int) -> None:
        self._chunks = chunks
        self._limit = limit
        self.size = 0
        self.head = bytearray()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            if not chunk:
                continue
            self.size += len(chunk)
            if self.size > self._limit:
                raise ChatError(
                    Code.UPLOAD_TOO_LARGE,
                    f"the file is larger than {self._limit} bytes",
                    {"max_bytes": self._limit},
                )
            if len(self.head) < HEAD_BYTES:
                self.head += chunk[: HEAD_BYTES - len(self.head)]
            yield chunk


# Content types, decided from the bytes.


def sniff(head: bytes) -> str:
    """The content type of a file from its first bytes (magic numbers), never from a claim.

    Known binary formats get their type; text that decodes as UTF-8 is `text/plain`, whatever markup it
    holds (HTML, SVG and XML are never given a type a browser would render); anything else is
    `application/octet-stream`."""
    for check, content_type in _SIGNATURES:
        if check(head):
            return content_type
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(head)
    if head[4:8] == b"ftyp":
        return _iso_media_type(head[8:12])
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"OggS"):
        return "video/ogg" if b"theora" in head[:128] else "audio/ogg"
    if _is_text(head):
        return "text/plain"
    return "application/octet-stream"


def _at(offset: int, magic: bytes) -> Callable[[bytes], bool]:
    return lambda head: head[offset : offset + len(magic)] == magic


def _riff(form: bytes) -> Callable[[bytes], bool]:
    return lambda head: head[:4] == b"RIFF" and head[8:12] == form


_SIGNATURES: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (_at(0, b"\x89PNG\r\n\x1a\n"), "image/png"),
    (_at(0, b"\xff\xd8\xff"), "image/jpeg"),
    (_at(0, b"GIF87a"), "image/gif"),
    (_at(0, b"GIF89a"), "image/gif"),
    (_riff(b"WEBP"), "image/webp"),
    (lambda head: head[:2] == b"BM" and len(head) >= 26 and head[6:10] == b"\0\0\0\0", "image/bmp"),
    (_at(0, b"II*\x00"), "image/tiff"),
    (_at(0, b"MM\x00*"), "image/tiff"),
    (_riff(b"WAVE"), "audio/wav"),
    (_riff(b"AVI "), "video/x-msvideo"),
    (_at(0, b"ID3"), "audio/mpeg"),
    (lambda head: len(head) >= 2 and head[0] == 0xFF and head[1] in (0xFB, 0xF3, 0xF2), "audio/mpeg"),
    (lambda head: len(head) >= 2 and head[0] == 0xFF and head[1] in (0xF1, 0xF9), "audio/aac"),
    (_at(0, b"fLaC"), "audio/flac"),
    (_at(0, b"#!AMR"), "audio/amr"),
    (_at(0, b"%PDF-"), "application/pdf"),
    (_at(0, b"\x1f\x8b"), "application/gzip"),
    (_at(0, b"7z\xbc\xaf\x27\x1c"), "application/x-7z-compressed"),
    (_at(0, b"Rar!\x1a\x07"), "application/vnd.rar"),
    (_at(257, b"ustar"), "application/x-tar"),
    (_at(0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), "application/x-ole-storage"),  # legacy .doc, .xls, .ppt
    (_at(0, b"{\\rtf"), "application/rtf"),
)

_ISO_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"avif": "image/avif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3g2a": "video/3gpp2",
}


def _iso_media_type(brand: bytes) -> str:
    return _ISO_BRANDS.get(brand, "video/mp4")  # isom, mp41, mp42, avc1, iso2, M4V, dash...


def _zip_type(head: bytes) -> str:
    """Office documents and e-books are zip files; their first entries tell which."""
    if head[30:38] == b"mimetype":  # OpenDocument and EPUB store their type first, uncompressed
        declared = head[38:120]
        for prefix, content_type in (
            (b"application/epub+zip", "application/epub+zip"),
            (b"application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.text"),
            (b"application/vnd.oasis.opendocument.spreadsheet", "application/vnd.oasis.opendocument.spreadsheet"),
            (b"application/vnd.oasis.opendocument.presentation", "application/vnd.oasis.opendocument.presentation"),
        ):
            if declared.startswith(prefix):
                return content_type
    for folder, content_type in (
        (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ):
        if b"[Content_Types].xml" in head and folder in head:
            return content_type
    return "application/zip"


_TEXT_CONTROLS = frozenset(range(32)) - {9, 10, 12, 13}


def _is_text(head: bytes) -> bool:
    """UTF-8 (a character cut at the end of `head` allowed) without control characters but tab and line ends."""
    if any(byte in _TEXT_CONTROLS for byte in head) or b"\x7f" in head:
        return False
    for cut in range(4):  # the last character may be cut in two by the end of `head`
        try:
            head[: len(head) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            if len(head) < HEAD_BYTES:
                return False  # the whole file: nothing was cut
    return False


def kind_of(content_type: str) -> AttachmentKind:
    major = content_type.partition("/")[0]
    if major in ("image", "video", "audio"):
        return major  # type: ignore[return-value]
    return "file"


# Display names.

_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "video/mp4": ".mp4",
    "audio/mpeg": ".mp3",
}
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)
_UNSAFE = re.compile(r'[<>:"|?*]')


def clean_name(raw: str | None, content_type: str) -> str:
    """A display name from a client's file name: the last path component only (`../../etc/passwd` is
    `passwd`, `C:\\x\\y` is `y`), without control, format or bidirectional-override characters (NUL,
    U+202E...), without characters Windows refuses, white space collapsed, no leading or trailing dots,
    at most MAX_NAME_LENGTH characters (the extension kept). Never used as a path: only shown and put in
    Content-Disposition."""
    text = unicodedata.normalize("NFC", raw or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(" " if unicodedata.category(ch) in ("Zl", "Zp") else ch for ch in text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    text = _UNSAFE.sub("_", " ".join(text.split())).strip(". ")
    if not text:
        return "file" + _EXTENSIONS.get(content_type, "")
    stem, dot, extension = text.rpartition(".")
    if not dot or not stem or len(extension) > 16:
        stem, extension = text, ""
    if stem.upper() in _RESERVED:
        stem = "_" + stem
    suffix = "." + extension if extension else ""
    return stem[: MAX_NAME_LENGTH - len(suffix)].rstrip(". ") + suffix
