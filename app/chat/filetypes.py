"""What a file is, decided from its bytes, and the name it is shown under: rules of the attachments
service (`app/chat/attachments.py`) that need nothing but the bytes and the client's file name."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from app.chat.model import AttachmentKind

HEAD_BYTES = 8192  # how much of the file `sniff` looks at
MAX_NAME_LENGTH = 200


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
