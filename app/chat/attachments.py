"""Attachments: uploaded files, the signed links that fetch them, and who may have one.

- **Upload.** The transport hands over the file as an async iterator of chunks. They are written
  to the blob store as they arrive, counted on the way (past `max_bytes` the upload stops), and the
  first `HEAD_BYTES` are kept to decide the content type: from the bytes (`sniff`), never from the
  client's claim or the file name. The display name is cleaned (`clean_name`) and is never a disk
  path: blobs are stored under keys the server makes. Whatever fails, the blob is deleted, so a
  failed upload leaves no file behind.
- **Links.** A download link is `/api/v1/attachments/<id>/content?expires=<unix seconds>&sig=<hex>`,
  where `sig` is HMAC-SHA256(secret, "<id>:<expires>"). Whoever holds a valid, unexpired link may
  fetch the file (so it works in `<img src>`); links are handed only to the uploader (on upload) and
  to members of the room the file was sent in (in messages, and by `refresh`), and they expire.
  Expiries are rounded up to a twelfth of the TTL, so a file shown several times within that step
  gets the same URL (and browsers cache it).
- **Parts.** A download may ask for one byte range (`ByteRange`: from a position, or the last n bytes); it is
  checked against the size recorded at upload and passed on to the blob store, which reads only that part.
- **Claim.** A message carries an attachment only if the sender uploaded it; the first message binds
  it to its room, and it may be sent again only in that room.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.filetypes import HEAD_BYTES, clean_name, kind_of, sniff
from app.chat.model import Attachment, Message, User, format_time
from app.chat.ports import AttachmentStore, Blob, BlobNotFound, BlobStore, Clock, IdGenerator, StoredFile

LINK_PREFIX = "/api/v1/attachments/"  # the REST route of downloads (app/rest/attachments.py)
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
    part: tuple[int, int] | None = None  # (start, stop) of the bytes the blob yields, when a range was asked for
    size: int = 0  # the whole file's size

    @property
    def length(self) -> int:
        """How many bytes the blob yields."""
        return self.part[1] - self.part[0] if self.part is not None else self.size


@dataclass(frozen=True, slots=True)
class ByteRange:
    """One range of bytes asked for: `first` to `last` inclusive (`last` None: to the end of the file), or,
    with `first` None, the final `last` bytes."""

    first: int | None
    last: int | None

    def __post_init__(self) -> None:
        if self.first is None and self.last is None:
            raise ValueError("a byte range needs a first position or a length")
        if (self.first is not None and self.first < 0) or (self.last is not None and self.last < 0):
            raise ValueError("byte positions are not negative")
        if self.first is not None and self.last is not None and self.last < self.first:
            raise ValueError("a byte range ends before it starts")

    def within(self, size: int) -> tuple[int, int] | None:
        """(start, stop) of the bytes of a file of `size` bytes in the range (stop exclusive, cut at the end),
        or None when none of them is."""
        if self.first is None:
            return (max(0, size - self.last), size) if self.last and size else None
        if self.first >= size:
            return None
        return self.first, size if self.last is None else min(self.last + 1, size)


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
        `false` leaves a broken image. Raises MESSAGE_NOT_FOUND (also for a room one is not in) or NO_ATTACHMENT."""
        attachment = await self._attachment_of(actor, message_id)
        expires = self._expiry_in(url, attachment.id) if url else None
        margin = min(60, self._options.url_ttl // 4)
        fresh = expires is not None and expires - self._now() > margin
        return {"refresh_url": not fresh, "expires_at": _iso(expires) if expires is not None else None}

    async def refresh(self, actor: User, message_id: str) -> dict:
        """A fresh link to the message's attachment (see `link`), for a member of its room. Raises
        MESSAGE_NOT_FOUND (also for a room one is not in) or NO_ATTACHMENT."""
        return self.link(await self._attachment_of(actor, message_id))

    async def download(self, attachment_id: str, expires: str, sig: str, wanted: ByteRange | None = None) -> Download:
        """The file a link names, opened: all of it, or the part `wanted`. Raises LINK_INVALID (malformed,
        forged or altered id, expiry or signature), LINK_EXPIRED, ATTACHMENT_NOT_FOUND (the file is gone), or
        RANGE_NOT_SATISFIABLE (no byte of the file is in `wanted`; the link is checked first). The caller
        closes the blob."""
        until = self._verify(attachment_id, expires, sig)
        stored = await self._store.get(attachment_id)
        if stored is None:
            raise ChatError(Code.ATTACHMENT_NOT_FOUND, f"attachment {attachment_id} no longer exists")
        attachment = stored.attachment
        part = None
        if wanted is not None:
            part = wanted.within(attachment.size)
            if part is None:
                raise ChatError(
                    Code.RANGE_NOT_SATISFIABLE,
                    f"the file has {attachment.size} bytes; the range asked for holds none of them",
                    {"size": attachment.size},
                )
        try:
            blob = await self._blobs.open(stored.storage_key, *(part or ()))
        except BlobNotFound:
            raise ChatError(Code.ATTACHMENT_NOT_FOUND, f"the file of attachment {attachment_id} is gone") from None
        return Download(attachment, blob, until, attachment.content_type in INLINE_TYPES, part, blob.size)

    # Internals.

    async def _attachment_of(self, actor: User, message_id: str) -> Attachment:
        message = await self._find_message(message_id)
        access = await self._access.get(message.room_id) if message is not None else None
        if message is None or access is None or actor.id not in access.member_ids:
            # As Messages.find: whether a message exists in a room one is not in is not one's to know.
            raise ChatError(Code.MESSAGE_NOT_FOUND, f"no message {message_id} in your rooms")
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
