"""What the core decides about an uploaded file by itself: its content type from the bytes, its kind,
a display name that is never a path, and which bytes a range asked for holds."""

import pytest

from app.chat.attachments import ByteRange
from app.chat.filetypes import HEAD_BYTES, MAX_NAME_LENGTH, clean_name, kind_of, sniff

SAMPLES = [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
    (b"GIF89a\x01\x00\x01\x00", "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00" + b"\x00" * 8, "image/bmp"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"),
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm", "video/webm"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
    (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),
    (b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1evorbis", "audio/ogg"),
    (b"fLaC\x00\x00\x00\x22", "audio/flac"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
    (b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\x00" * 20 + b"[Content_Types].xml" + b"word/document.xml",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/epub+zip", "application/epub+zip"),
    (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 20 + b"photo.jpg", "application/zip"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "application/gzip"),
    (b"hello, world\n", "text/plain"),
    ("grüße, 你好, مرحبا\n".encode(), "text/plain"),
    (b"<!DOCTYPE html><html><script>alert(1)</script>", "text/plain"),  # never text/html
    (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "text/plain"),  # never image/svg+xml
    (b"\x00\x01\x02\x03binary", "application/octet-stream"),
    (b"MZ\x90\x00\x03\x00\x00\x00", "application/octet-stream"),
    (b"\xfe\xff\x00h\x00i", "application/octet-stream"),
    (b"BMW is a car\n", "text/plain"),  # "BM" alone is not a bitmap
]  # fmt: skip


@pytest.mark.parametrize(("head", "content_type"), SAMPLES, ids=[c for _h, c in SAMPLES])
def test_the_content_type_comes_from_the_first_bytes(head, content_type):
    assert sniff(head) == content_type


def test_utf8_cut_by_the_end_of_the_head_is_still_text():
    whole = ("é" * HEAD_BYTES).encode()[:HEAD_BYTES]  # two bytes each: ends on a character boundary
    assert sniff(whole) == "text/plain"
    cut = ("x" + "é" * HEAD_BYTES).encode()[:HEAD_BYTES]  # ends with half of an é
    assert sniff(cut) == "text/plain"
    assert sniff(b"x\xc3") == "application/octet-stream"  # the whole file, broken at its end


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [("image/png", "image"), ("video/mp4", "video"), ("audio/ogg", "audio"), ("application/pdf", "file"),
     ("text/plain", "file")],
)  # fmt: skip
def test_the_kind_follows_the_content_type(content_type, kind):
    assert kind_of(content_type) == kind


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("C:\\Users\\me\\cv.pdf", "cv.pdf"),
        ("/abs/path/", "file.png"),
        ("nul\x00byte.png", "nulbyte.png"),
        ("tab\tand\nnewline.png", "tabandnewline.png"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("zero\u200bwidth.png", "zerowidth.png"),
        ("line\u2028break.png", "line break.png"),
        ("  spaced   out  .png", "spaced out.png"),
        ("...", "file.png"),
        (".env", "env"),
        ("trailing dots...", "trailing dots"),
        ('a<b>c:d"e|f?g*.png', "a_b_c_d_e_f_g_.png"),
        ("LPT1.png", "_LPT1.png"),
        ("e\u0301te\u0301.png", "été.png"),  # NFC
        ("lone \udc80 surrogate.png", "lone surrogate.png"),
        (None, "file.png"),
        ("", "file.png"),
    ],
)
def test_names_are_cleaned_of_paths_and_invisible_characters(raw, name):
    assert clean_name(raw, "image/png") == name


def test_long_names_are_cut_keeping_the_extension():
    name = clean_name("x" * 1000 + ".jpeg", "image/jpeg")
    assert len(name) == MAX_NAME_LENGTH and name.endswith("x.jpeg")
    assert len(clean_name("y" * 1000, "text/plain")) == MAX_NAME_LENGTH
    odd = clean_name("z" * 10 + "." + "e" * 500, "text/plain")  # a "suffix" that long is not an extension
    assert len(odd) == MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("first", "last", "size", "span"),
    [
        (0, 99, 1000, (0, 100)),
        (10, None, 1000, (10, 1000)),
        (None, 1, 1000, (999, 1000)),  # the last byte
        (None, 5000, 1000, (0, 1000)),  # a suffix longer than the file: all of it
        (990, 5000, 1000, (990, 1000)),  # an end past the file: cut at its end
        (999, 999, 1000, (999, 1000)),
        (1000, None, 1000, None),  # starts past the end
        (1000, 1005, 1000, None),
        (None, 0, 1000, None),  # no byte at all
    ],
)
def test_a_byte_range_is_cut_to_the_file(first, last, size, span):
    assert ByteRange(first, last).within(size) == span


@pytest.mark.parametrize(("first", "last"), [(None, None), (5, 4), (-1, 3), (None, -2)])
def test_a_byte_range_that_means_nothing_cannot_be_made(first, last):
    with pytest.raises(ValueError):
        ByteRange(first, last)
