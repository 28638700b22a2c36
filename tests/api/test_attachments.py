"""Attachments over REST: uploads (every accepted field name, the seed's path), the content type decided from
the bytes, cleaned names, refusals that leave no file behind, downloads through signed links (forged,
altered and expired ones refused), the safe headers of downloads, and fresh links for members only."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from app.chat.errors import ChatError, Code
from app.chat.model import Attachment, Message, User
from app.storage.messages import insert_batch
from app.web import SERVICES
from tests.api.conftest import WIRE_TIME

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(200)
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n"


def form(content: bytes, field: str = "file", filename: str | None = "notes.bin", content_type: str | None = None):
    data = aiohttp.FormData()
    data.add_field(field, content, filename=filename, content_type=content_type or "application/octet-stream")
    return data


def files_in(folder: Path) -> list[Path]:
    """Every file under the upload folder, temporary ones included."""
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def link_parts(url: str) -> tuple[str, str, str]:
    """(attachment id, expires, sig) of a download link."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    path = re.fullmatch(r"/api/v1/attachments/(\d+)/content", parts.path)
    assert path is not None, url
    return path.group(1), query["expires"][0], query["sig"][0]


def sign(secret: str, attachment_id: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{attachment_id}:{expires}".encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def upload_dir(tmp_path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
async def files_api(api_with, upload_dir):
    return await api_with(UPLOAD_DIR=str(upload_dir), MAX_UPLOAD_BYTES=400_000)


def secret_of(api) -> str:
    return api.app[SERVICES].settings.attachments.attachment_secret


async def upload(api, user: str, content: bytes, **kwargs) -> dict:
    reply = await api.post("/api/v1/attachments", user, data=form(content, **kwargs))
    assert reply.status == 201, reply
    return reply.body


async def fetch(api, url: str):
    return await api.get(url)


# Uploads.


@pytest.mark.parametrize("path", ["/api/v1/attachments", "/api/rooms/upload"])
@pytest.mark.parametrize("field", ["file", "myFile", "attachment"])
async def test_an_upload_is_accepted_under_each_field_name_and_path(files_api, user_id, upload_dir, path, field):
    alice = user_id("alice")
    reply = await files_api.post(path, alice, data=form(b"plain words\n", field=field, filename="notes.txt"))
    assert reply.status == 201, reply
    body = reply.body
    assert (body["name"], body["content_type"], body["size"], body["kind"]) == ("notes.txt", "text/plain", 12, "file")
    assert body["url"].startswith(f"/api/v1/attachments/{body['id']}/content?expires=")
    assert WIRE_TIME.match(body["url_expires_at"])
    if path == "/api/rooms/upload":  # the seed's names, besides the canonical ones
        assert body["file_location"] == body["url"]
        assert body["file_identifier"] == body["id"]
        assert body["expiration_time"] == body["url_expires_at"]
    else:
        assert "file_location" not in body
    download = await fetch(files_api, body["url"])
    assert (download.status, download.raw) == (200, b"plain words\n")
    # Stored under a key the server made, not under the client's name.
    assert [path.name for path in files_in(upload_dir)] == [body["id"]]


async def test_the_content_type_comes_from_the_bytes_not_the_claim(files_api, user_id):
    alice = user_id("alice")
    png = await upload(files_api, alice, PNG, filename="page.html", content_type="text/html")
    assert (png["content_type"], png["kind"], png["name"]) == ("image/png", "image", "page.html")
    html = await upload(files_api, alice, HTML, filename="cat.png", content_type="image/png")
    assert (html["content_type"], html["kind"]) == ("text/plain", "file")

    shown = await fetch(files_api, png["url"])
    assert shown.status == 200 and shown.raw == PNG
    assert shown.headers["Content-Type"] == "image/png"
    assert shown.headers["Content-Disposition"].startswith("inline;")
    saved = await fetch(files_api, html["url"])
    assert saved.status == 200 and saved.raw == HTML
    assert saved.headers["Content-Type"] in ("text/plain; charset=utf-8", "application/octet-stream")
    assert saved.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''cat.png" in saved.headers["Content-Disposition"]
    for reply in (shown, saved):
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.parametrize(
    ("claimed", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("C:\\x\\y.txt", "y.txt"),
        ("/var/tmp/../.bashrc", "bashrc"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("..", "file.txt"),
        ("CON.txt", "_CON.txt"),
        ("a" * 300 + ".txt", "a" * 196 + ".txt"),
        ("résumé 2026.txt", "résumé 2026.txt"),
        ("100%.txt", "100%.txt"),
        ('say "hi"\t.txt', "say _hi_.txt"),
    ],
)
async def test_path_tricks_in_file_names_are_cleaned_and_never_reach_the_disk(
    files_api, user_id, upload_dir, claimed, shown
):
    body = await upload(files_api, user_id("alice"), b"text\n", filename=claimed)
    assert body["name"] == shown
    assert [path.name for path in files_in(upload_dir)] == [body["id"]]
    assert not (upload_dir.parent / "etc").exists()
    reply = await fetch(files_api, body["url"])
    assert reply.status == 200 and reply.raw == b"text\n"


async def test_a_browser_style_body_with_a_raw_utf8_name_is_read_and_cleaned(files_api, user_id, upload_dir):
    """Browsers send the name as raw UTF-8 (not percent-encoded); a hostile one carries a path and U+202E."""
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="caption"\r\n\r\n'
            "a field the upload ignores\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="myFile"; filename="../../\u202eevil r\u00e9sum\u00e9.txt"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + b"hello\n"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    reply = await files_api.post(
        "/api/rooms/upload",
        user_id("alice"),
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert reply.status == 201, reply
    assert (reply.body["name"], reply.body["content_type"], reply.body["size"]) == ("evil résumé.txt", "text/plain", 6)
    assert [path.name for path in files_in(upload_dir)] == [reply.body["id"]]


async def test_an_empty_upload_is_refused_and_leaves_no_file(files_api, user_id, upload_dir):
    reply = await files_api.post("/api/v1/attachments", user_id("alice"), data=form(b""))
    assert (reply.status, reply.code) == (400, "upload_empty")
    assert files_in(upload_dir) == []


@pytest.mark.parametrize("size", [400_001, 1_000_000])  # refused while streaming; refused by Content-Length
async def test_an_oversized_upload_is_refused_and_leaves_no_file(files_api, user_id, upload_dir, size):
    reply = await files_api.post("/api/rooms/upload", user_id("alice"), data=form(os.urandom(size)))
    assert (reply.status, reply.code) == (413, "upload_too_large")
    assert reply.body["details"] == {"max_bytes": 400_000}
    assert files_in(upload_dir) == []


async def test_an_upload_of_exactly_the_limit_is_accepted(api_with, user_id, upload_dir):
    api = await api_with(UPLOAD_DIR=str(upload_dir), MAX_UPLOAD_BYTES=100_000)
    content = os.urandom(100_000)
    body = await upload(api, user_id("alice"), content)
    assert body["size"] == 100_000
    assert (await fetch(api, body["url"])).raw == content


async def test_the_upload_limit_is_its_own_not_the_frame_limit(api_with, user_id, upload_dir):
    api = await api_with(UPLOAD_DIR=str(upload_dir), MAX_FRAME_BYTES=4096, MAX_UPLOAD_BYTES=200_000)
    content = os.urandom(150_000)
    body = await upload(api, user_id("alice"), content)
    assert (await fetch(api, body["url"])).raw == content


async def test_an_upload_without_a_file_is_refused(files_api, user_id, upload_dir):
    alice = user_id("alice")
    fields_only = aiohttp.FormData()
    fields_only.add_field("note", "no file here")
    reply = await files_api.post("/api/v1/attachments", alice, data=fields_only)
    assert (reply.status, reply.code) == (400, "upload_missing_file")
    reply = await files_api.post("/api/v1/attachments", alice, data=form(b"x", field="document"))
    assert (reply.status, reply.code) == (400, "upload_missing_file")
    reply = await files_api.post("/api/v1/attachments", alice, json={"file": "aGVsbG8="})
    assert (reply.status, reply.code) == (400, "upload_missing_file")
    assert files_in(upload_dir) == []


async def test_an_upload_needs_a_token(files_api, upload_dir):
    reply = await files_api.post("/api/v1/attachments", data=form(b"x"))
    assert (reply.status, reply.code) == (401, "auth_required")
    assert files_in(upload_dir) == []


# Downloads.


async def test_a_valid_link_streams_the_exact_bytes_with_safe_headers(files_api, user_id):
    content = b"%PDF-1.7\n" + os.urandom(300_000)  # several read chunks
    body = await upload(files_api, user_id("alice"), content, filename="report.pdf")
    assert (body["content_type"], body["kind"]) == ("application/pdf", "file")
    reply = await fetch(files_api, body["url"])
    assert reply.status == 200
    assert reply.raw == content
    headers = reply.headers
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Length"] == str(len(content))
    assert headers["Content-Disposition"] == "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    assert headers["X-Content-Type-Options"] == "nosniff"
    max_age = int(headers["Cache-Control"].removeprefix("private, max-age="))
    assert 3600 - 5 <= max_age <= 3600 + 300  # the link's TTL, rounded up to a twelfth of it


async def test_a_link_stays_the_same_within_its_rounding_step(files_api, user_id):
    body = await upload(files_api, user_id("alice"), PNG)
    services = files_api.app[SERVICES]
    again = services.chat.attachments.link(Attachment.from_record(body))
    assert abs(int(link_parts(again["url"])[1]) - int(link_parts(body["url"])[1])) in (0, 300)


async def test_forged_and_altered_links_are_refused(files_api, user_id):
    alice = user_id("alice")
    first = await upload(files_api, alice, b"first\n")
    second = await upload(files_api, alice, b"second\n")
    attachment_id, expires, sig = link_parts(first["url"])
    other_id = second["id"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    forged = sign("not-the-server-secret-" + "y" * 20, attachment_id, int(expires))
    cases = {
        "another id": f"/api/v1/attachments/{other_id}/content?expires={expires}&sig={sig}",
        "later expiry": f"/api/v1/attachments/{attachment_id}/content?expires={int(expires) + 3600}&sig={sig}",
        "earlier expiry": f"/api/v1/attachments/{attachment_id}/content?expires={int(expires) - 1}&sig={sig}",
        "flipped signature": f"/api/v1/attachments/{attachment_id}/content?expires={expires}&sig={flipped}",
        "uppercase signature": f"/api/v1/attachments/{attachment_id}/content?expires={expires}&sig={sig.upper()}",
        "short signature": f"/api/v1/attachments/{attachment_id}/content?expires={expires}&sig={sig[:-2]}",
        "forged with another key": f"/api/v1/attachments/{attachment_id}/content?expires={expires}&sig={forged}",
        "no signature": f"/api/v1/attachments/{attachment_id}/content?expires={expires}",
        "no expiry": f"/api/v1/attachments/{attachment_id}/content?sig={sig}",
        "not a number": f"/api/v1/attachments/{attachment_id}/content?expires=soon&sig={sig}",
        "padded id": f"/api/v1/attachments/0{attachment_id}/content?expires={expires}&sig={sig}",
        "not an id": f"/api/v1/attachments/passwd/content?expires={expires}&sig={sig}",
    }
    for case, url in cases.items():
        reply = await fetch(files_api, url)
        assert (reply.status, reply.code) == (403, "link_invalid"), (case, reply)
    assert (await fetch(files_api, first["url"])).raw == b"first\n"


async def test_an_expired_link_is_refused_even_with_a_valid_signature(files_api, user_id):
    body = await upload(files_api, user_id("alice"), b"old\n")
    expired = int(time.time()) - 10
    signature = sign(secret_of(files_api), body["id"], expired)
    url = f"/api/v1/attachments/{body['id']}/content?expires={expired}&sig={signature}"
    reply = await fetch(files_api, url)
    assert (reply.status, reply.code) == (403, "link_expired")
    assert WIRE_TIME.match(reply.body["details"]["expired_at"])


async def test_a_link_expires_after_its_ttl(api_with, user_id, upload_dir):
    api = await api_with(UPLOAD_DIR=str(upload_dir), ATTACHMENT_URL_TTL=1)
    body = await upload(api, user_id("alice"), b"brief\n")
    assert (await fetch(api, body["url"])).status == 200
    await asyncio.sleep(int(link_parts(body["url"])[1]) - time.time() + 0.2)
    reply = await fetch(api, body["url"])
    assert (reply.status, reply.code) == (403, "link_expired")


async def test_a_valid_link_to_a_file_that_is_gone_answers_not_found(files_api, user_id, upload_dir):
    expires = int(time.time()) + 600
    unknown = "123456789"
    url = f"/api/v1/attachments/{unknown}/content?expires={expires}&sig={sign(secret_of(files_api), unknown, expires)}"
    reply = await fetch(files_api, url)
    assert (reply.status, reply.code) == (404, "attachment_not_found")
    body = await upload(files_api, user_id("alice"), b"soon gone\n")
    for path in files_in(upload_dir):
        path.unlink()
    reply = await fetch(files_api, body["url"])
    assert (reply.status, reply.code) == (404, "attachment_not_found")


# Claims (the send path binds an upload to its room).


async def test_only_the_uploader_may_send_an_attachment_and_only_in_its_first_room(files_api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await files_api.create_group(alice, "Files", [bob])
    other = await files_api.create_group(alice, "Elsewhere", [bob])
    body = await upload(files_api, alice, PNG)
    attachments = files_api.app[SERVICES].chat.attachments
    claimed = await attachments.claim(User(alice), body["id"], room["id"])
    assert claimed == Attachment.from_record(body)
    assert await attachments.claim(User(alice), body["id"], room["id"]) == claimed  # again, same room
    with pytest.raises(ChatError) as refused:
        await attachments.claim(User(bob), body["id"], room["id"])
    assert refused.value.code is Code.ATTACHMENT_NOT_FOUND
    with pytest.raises(ChatError) as refused:
        await attachments.claim(User(alice), body["id"], other["id"])
    assert (refused.value.code, refused.value.details["reason"]) == (Code.ATTACHMENT_NOT_FOUND, "other_room")
    for unknown in ("987654321", "x", "0" + body["id"]):
        with pytest.raises(ChatError) as refused:
            await attachments.claim(User(alice), unknown, room["id"])
        assert refused.value.code is Code.ATTACHMENT_NOT_FOUND


async def test_claims_racing_for_two_rooms_bind_the_attachment_once(files_api, user_id):
    alice = user_id("alice")
    rooms = [await files_api.create_group(alice, f"Race {i}") for i in range(4)]
    body = await upload(files_api, alice, PNG)
    attachments = files_api.app[SERVICES].chat.attachments
    results = await asyncio.gather(
        *(attachments.claim(User(alice), body["id"], room["id"]) for room in rooms), return_exceptions=True
    )
    assert sum(isinstance(result, Attachment) for result in results) == 1
    assert all(isinstance(r, Attachment) or r.code is Code.ATTACHMENT_NOT_FOUND for r in results)


# Fresh links and checks, by message.


def _message(db, room_id: str, seq: int, sender: str, attachment: dict | None, deleted: bool = False) -> str:
    message_id = str(7_000_000_000_000_000_000 + int(room_id) * 1000 + seq)
    now = datetime.now(UTC)
    record = Message(
        id=message_id,
        room_id=room_id,
        seq=seq,
        sender_id=sender,
        type="image" if attachment else "text",
        content="" if deleted else "see this",
        client_ref=None,
        created_at=now,
        attachment=Attachment.from_record(attachment) if attachment else None,
        deleted_at=now if deleted else None,
        deleted_by=sender if deleted else None,
    ).record()
    insert_batch(db, [record])
    return message_id


@pytest.fixture
async def shared(files_api, user_id, db):
    """A room of alice (uploader) and bob, an outsider, and messages with and without a file."""
    alice, bob, outsider = user_id("alice"), user_id("bob"), user_id("outsider")
    room = await files_api.create_group(alice, "Shared", [bob])
    body = await upload(files_api, alice, PNG, filename="cat.png")
    await files_api.app[SERVICES].chat.attachments.claim(User(alice), body["id"], room["id"])
    return {
        "alice": alice,
        "bob": bob,
        "outsider": outsider,
        "file": body,
        "with": _message(db, room["id"], 1, alice, body),
        "without": _message(db, room["id"], 2, alice, None),
        "deleted": _message(db, room["id"], 3, alice, body, deleted=True),
    }


@pytest.mark.parametrize("seed", [False, True])
async def test_a_member_gets_a_fresh_link_that_works(files_api, shared, seed):
    message_id = shared["with"]
    if seed:
        reply = await files_api.get("/api/rooms/refresh-url/", shared["bob"], params={"message_id": message_id})
    else:
        reply = await files_api.get(f"/api/v1/messages/{message_id}/attachment-url", shared["bob"])
    assert reply.status == 200, reply
    link = reply.body
    assert {k: link[k] for k in ("id", "name", "content_type", "kind")} == {
        "id": shared["file"]["id"],
        "name": "cat.png",
        "content_type": "image/png",
        "kind": "image",
    }
    if seed:
        assert link["file_location"] == link["url"]
    download = await fetch(files_api, link["url"])
    assert (download.status, download.raw) == (200, PNG)


@pytest.mark.parametrize("seed", [False, True])
async def test_checking_a_link_says_when_to_refresh(files_api, shared, seed):
    message_id, bob, file = shared["with"], shared["bob"], shared["file"]

    async def check(url: str | None = None) -> dict:
        params = {"url": url} if url is not None else {}
        if seed:
            reply = await files_api.get("/api/rooms/check-url/", bob, params={"message_id": message_id, **params})
        else:
            reply = await files_api.get(f"/api/v1/messages/{message_id}/attachment-url/check", bob, params=params)
        assert reply.status == 200, reply
        return reply.body

    assert await check(file["url"]) == {"refresh_url": False, "expires_at": file["url_expires_at"]}
    assert (await check("http://chat.example" + file["url"]))["refresh_url"] is False  # absolute is fine
    assert await check() == {"refresh_url": True, "expires_at": None}  # which copy? refresh to be safe
    attachment_id, expires, sig = link_parts(file["url"])
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    altered = f"/api/v1/attachments/{attachment_id}/content?expires={expires}&sig={flipped}"
    assert await check(altered) == {"refresh_url": True, "expires_at": None}
    secret = secret_of(files_api)
    soon = int(time.time()) + 20
    expiring = f"/api/v1/attachments/{attachment_id}/content?expires={soon}&sig={sign(secret, attachment_id, soon)}"
    assert (await check(expiring))["refresh_url"] is True
    past = int(time.time()) - 20
    expired = f"/api/v1/attachments/{attachment_id}/content?expires={past}&sig={sign(secret, attachment_id, past)}"
    answer = await check(expired)
    assert answer["refresh_url"] is True and WIRE_TIME.match(answer["expires_at"])
    other = await upload(files_api, shared["alice"], b"another file\n")
    assert (await check(other["url"]))["refresh_url"] is True  # a link, but not to this message's file
    assert (await check("not a url at all"))["refresh_url"] is True


@pytest.mark.parametrize(
    "route",
    ["refresh", "check", "seed-refresh", "seed-check"],
)
async def test_links_by_message_are_refused_to_non_members_and_for_messages_without_a_file(files_api, shared, route):
    async def ask(user: str, message_id: str):
        if route.startswith("seed"):
            path = "/api/rooms/refresh-url/" if route == "seed-refresh" else "/api/rooms/check-url/"
            return await files_api.get(path, user, params={"message_id": message_id})
        suffix = "/check" if route == "check" else ""
        return await files_api.get(f"/api/v1/messages/{message_id}/attachment-url{suffix}", user)

    assert (await ask(shared["alice"], shared["with"])).status == 200
    reply = await ask(shared["outsider"], shared["with"])
    assert (reply.status, reply.code) == (404, "message_not_found")  # as for an unknown id: no existence oracle
    for unknown in ("7999999999999999999", "abc", "0" + shared["with"]):
        reply = await ask(shared["bob"], unknown)
        assert (reply.status, reply.code) == (404, "message_not_found"), unknown
    reply = await ask(shared["bob"], shared["without"])
    assert (reply.status, reply.code) == (404, "no_attachment")
    reply = await ask(shared["bob"], shared["deleted"])
    assert (reply.status, reply.code) == (404, "no_attachment")
    reply = await ask(shared["outsider"], shared["without"])
    assert (reply.status, reply.code) == (404, "message_not_found")


async def test_the_seed_paths_need_a_message_id_and_a_token(files_api, shared):
    for path in ("/api/rooms/refresh-url/", "/api/rooms/check-url/"):
        reply = await files_api.get(path, shared["bob"])
        assert (reply.status, reply.code) == (400, "invalid_payload")
        reply = await files_api.get(path, params={"message_id": shared["with"]})
        assert (reply.status, reply.code) == (401, "auth_required")


# Byte ranges.


def max_age(reply) -> int:
    directive, _, seconds = reply.headers["Cache-Control"].rpartition("max-age=")
    assert directive == "private, ", reply.headers["Cache-Control"]
    return int(seconds)


SAFE_HEADERS = ("Content-Type", "Content-Disposition", "X-Content-Type-Options", "Content-Security-Policy",
                "Cache-Control", "Referrer-Policy", "Accept-Ranges", "ETag")  # fmt: skip


async def ranged(api, url: str, header: str, **extra: str):
    return await api.get(url, headers={"Range": header, **extra})


@pytest.fixture
async def big_file(files_api, user_id) -> tuple[dict, bytes]:
    """A PDF of 300,009 bytes: more than one 256 KiB read chunk of the store, served as a download."""
    content = b"%PDF-1.7\n" + os.urandom(300_000)
    return await upload(files_api, user_id("alice"), content, filename="report.pdf"), content


async def test_a_full_download_says_that_ranges_are_accepted(files_api, big_file):
    body, content = big_file
    reply = await fetch(files_api, body["url"])
    assert (reply.status, reply.raw) == (200, content)
    assert reply.headers["Accept-Ranges"] == "bytes"
    assert reply.headers["ETag"] == f'"{body["id"]}"'
    assert "Content-Range" not in reply.headers


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),  # a-b
        ("bytes=1000-", 1000, 300_008),  # a-
        ("bytes=-500", 299_509, 300_008),  # -n: the last n bytes
        ("bytes=262100-262200", 262_100, 262_200),  # across the store's read chunks
        ("bytes=7-7", 7, 7),  # one byte
        ("bytes=0-", 0, 300_008),  # all of it, still as a part
        ("bytes=299000-999999999", 299_000, 300_008),  # an end past the file is cut at its end
        ("bytes=-999999999", 0, 300_008),  # a suffix longer than the file is all of it
        ("bytes=-" + "9" * 40, 0, 300_008),
        ("bytes=5-" + "9" * 40, 5, 300_008),
        ("Bytes=10-19", 10, 19),  # the unit is case-insensitive
    ],
)
async def test_one_range_is_answered_with_206_and_exactly_its_bytes(files_api, big_file, header, first, last):
    body, content = big_file
    reply = await ranged(files_api, body["url"], header)
    assert reply.status == 206, reply
    assert reply.raw == content[first : last + 1]
    assert reply.headers["Content-Range"] == f"bytes {first}-{last}/{len(content)}"
    assert reply.headers["Content-Length"] == str(last - first + 1)
    # The part keeps every header of the whole file.
    whole = await fetch(files_api, body["url"])
    for name in SAFE_HEADERS:
        if name == "Cache-Control":  # max-age counts down to the link's expiry: a second may pass in between
            assert max_age(reply) - max_age(whole) in (0, 1), (reply.headers[name], whole.headers[name])
        else:
            assert reply.headers[name] == whole.headers[name], name
    assert reply.headers["Content-Disposition"].startswith("attachment;")
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


async def test_a_part_of_an_inline_image_keeps_its_inline_headers(files_api, user_id):
    body = await upload(files_api, user_id("alice"), PNG, filename="cat.png")
    reply = await ranged(files_api, body["url"], "bytes=-8")
    assert (reply.status, reply.raw) == (206, PNG[-8:])
    assert reply.headers["Content-Type"] == "image/png"
    assert reply.headers["Content-Disposition"].startswith("inline;")
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("header", ["bytes=300009-", "bytes=400000-400010", "bytes=-0", "bytes=" + "9" * 40 + "-"])
async def test_a_range_with_no_byte_of_the_file_is_416_with_the_size(files_api, big_file, header):
    body, content = big_file
    reply = await ranged(files_api, body["url"], header)
    assert (reply.status, reply.code) == (416, "range_not_satisfiable"), reply
    assert reply.headers["Content-Range"] == f"bytes */{len(content)}"
    assert reply.body["details"] == {"size": len(content)}


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-6",  # several ranges: answered whole, as RFC 9110 allows
        "bytes=-1, 0-0",
        "items=0-5",  # another unit
        "bytes=5-2",  # backwards: invalid, so ignored
        "bytes=-",
        "bytes=abc-",
        "bytes 0-5",
    ],
)
async def test_ranges_that_are_not_one_valid_byte_range_get_the_whole_file(files_api, big_file, header):
    body, content = big_file
    reply = await ranged(files_api, body["url"], header)
    assert (reply.status, reply.raw) == (200, content), reply
    assert "Content-Range" not in reply.headers


async def test_if_range_sends_the_part_only_for_the_files_etag(files_api, big_file):
    body, content = big_file
    etag = (await fetch(files_api, body["url"])).headers["ETag"]
    same = await ranged(files_api, body["url"], "bytes=0-9", **{"If-Range": etag})
    assert (same.status, same.raw) == (206, content[:10])
    for other in ('"123"', f"W/{etag}", "Wed, 21 Oct 2015 07:28:00 GMT"):
        reply = await ranged(files_api, body["url"], "bytes=0-9", **{"If-Range": other})
        assert (reply.status, reply.raw) == (200, content), other


async def test_a_range_does_not_get_past_the_link_check(files_api, big_file, user_id):
    body, _content = big_file
    attachment_id, expires, sig = link_parts(body["url"])
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    forged = f"/api/v1/attachments/{attachment_id}/content?expires={expires}&sig={flipped}"
    for header in ("bytes=0-99", "bytes=-1", "bytes=999999999-"):  # even one the file could not satisfy
        reply = await ranged(files_api, forged, header)
        assert (reply.status, reply.code) == (403, "link_invalid"), header
        assert "Content-Range" not in reply.headers
    past = int(time.time()) - 10
    signature = sign(secret_of(files_api), attachment_id, past)
    expired = f"/api/v1/attachments/{attachment_id}/content?expires={past}&sig={signature}"
    reply = await ranged(files_api, expired, "bytes=0-99")
    assert (reply.status, reply.code) == (403, "link_expired")


async def test_a_range_of_a_file_that_is_gone_is_not_found(files_api, user_id, upload_dir):
    body = await upload(files_api, user_id("alice"), b"soon gone\n")
    for path in files_in(upload_dir):
        path.unlink()
    reply = await ranged(files_api, body["url"], "bytes=0-3")
    assert (reply.status, reply.code) == (404, "attachment_not_found")
