"""A malformed multipart/form-data upload (a part's headers, the boundaries, the names' encodings) is the
client's error: 400 with a code, no file left behind, and a log line at WARNING at most, never an internal
error with a traceback; on the canonical path and on the seed's (`/api/rooms/upload`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

PATHS = ("/api/v1/attachments", "/api/rooms/upload")
DISPOSITION = b'Content-Disposition: form-data; name="file"; filename="a.bin"'
FORM = "multipart/form-data; boundary=XX"


def body(headers: bytes, content: bytes = b"hello", boundary: bytes = b"XX") -> bytes:
    """One part with these header lines, and the closing boundary."""
    return b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n--" + boundary + b"--\r\n"


def named(name: bytes) -> bytes:
    return body(b'Content-Disposition: form-data; name="' + name + b'"; filename="a.bin"')


MALFORMED = {
    # A part's headers, as aiohttp's HTTP parser refuses them (these were 500s).
    "control-character-in-name": (FORM, named(b"file\x01")),
    "delete-character-in-name": (FORM, named(b"file\x7f")),
    "nul-in-name": (FORM, named(b"fi\x00le")),
    "bare-cr-in-header": (FORM, named(b"fi\rle")),
    "bare-lf-in-header": (FORM, named(b"fi\nle")),
    "nul-in-filename": (FORM, body(b'Content-Disposition: form-data; name="file"; filename="a\x00b.png"')),
    "header-without-colon": (FORM, body(DISPOSITION + b"\r\nNoColonHere")),
    "space-before-colon": (FORM, body(DISPOSITION + b"\r\nX-Thing : b")),
    "folded-header": (FORM, body(DISPOSITION + b"\r\n continued")),
    "header-line-too-long": (FORM, body(DISPOSITION + b"\r\nX-Long: " + b"a" * 70_000)),
    "too-many-headers": (FORM, body(DISPOSITION + b"".join(b"\r\nX-%d: v" % i for i in range(200)))),
    # Boundaries.
    "no-boundary-parameter": ("multipart/form-data", body(DISPOSITION)),
    "empty-boundary": ("multipart/form-data; boundary=", body(DISPOSITION)),
    "boundary-too-long": ("multipart/form-data; boundary=" + "b" * 80, body(DISPOSITION, boundary=b"b" * 80)),
    "no-closing-boundary": (FORM, b"--XX\r\n" + DISPOSITION + b"\r\n\r\nhello"),
    "boundary-only": (FORM, b"--XX\r\n"),
    "empty-body": (FORM, b""),
    "nested-multipart-without-boundary": (FORM, body(DISPOSITION + b"\r\nContent-Type: multipart/mixed", b"x")),
}


@pytest.fixture
async def files_api(api_with, tmp_path):
    return await api_with(UPLOAD_DIR=str(tmp_path / "uploads"), MAX_UPLOAD_BYTES=400_000)


def stored(api) -> list[Path]:
    from app.web import SERVICES

    folder = Path(api.app[SERVICES].settings.attachments.upload_dir)
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("path", PATHS)
async def test_a_malformed_multipart_body_is_a_400_with_a_code(files_api, user_id, caplog, case, path):
    content_type, data = MALFORMED[case]
    with caplog.at_level(logging.WARNING):
        reply = await files_api.post(path, user_id("alice"), data=data, headers={"Content-Type": content_type})
    assert reply.status == 400, reply
    assert reply.code == "invalid_payload", reply
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
    assert stored(files_api) == []


async def test_a_malformed_part_header_says_why(files_api, user_id):
    reply = await files_api.post(
        "/api/v1/attachments", user_id("alice"), data=named(b"file\x01"), headers={"Content-Type": FORM}
    )
    assert (reply.status, reply.code) == (400, "invalid_payload"), reply
    assert reply.body["error"] == "the multipart/form-data body is malformed"
    assert reply.body["details"]["reason"], reply


@pytest.mark.parametrize(
    "disposition",
    [
        b"Content-Disposition: form-data; name=\"file\"; filename*=utf-8''%ed%a0%80.png",  # an encoded surrogate
        b"Content-Disposition: form-data; name=\"file\"; filename*=utf-8''a%00b.png",  # an encoded NUL
        b'Content-Disposition: form-data; name="file"; filename="a%00b.png"',  # percent-encoded, as aiohttp sends
        b'Content-Disposition: form-data; name="file"; filename="\xff\xfe.png"',  # not UTF-8
        b"Content-Disposition: form-data; name=\"file\"; filename*=bogus-charset''a.png",
    ],
)
async def test_odd_encodings_of_a_file_name_are_cleaned_not_errors(files_api, user_id, disposition):
    for path in PATHS:
        reply = await files_api.post(path, user_id("alice"), data=body(disposition), headers={"Content-Type": FORM})
        assert reply.status == 201, reply
        assert "\x00" not in reply.body["name"] and reply.body["name"].isprintable(), reply
