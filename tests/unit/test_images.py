"""Image checks and re-encoding: what is accepted, what is refused, and what never survives."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from typing import Any

import pytest
from PIL import Image, ImageFile, PngImagePlugin

from app.domain.errors import InvalidInput
from app.domain.images import (
    MAX_IMAGE_BYTES,
    MAX_SIDE,
    NOT_AN_IMAGE,
    PreparedImage,
    clean_filename,
    human_size,
    is_image_key,
    new_image_key,
    prepare_image,
)

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def encode(image: Image.Image, format: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **params)
    return out.getvalue()


def opened(prepared: PreparedImage) -> Image.Image:
    image = Image.open(io.BytesIO(prepared.data))
    image.load()
    return image


def two_colours(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half red, right half blue: which way up it ends shows whether it was turned."""
    image = Image.new("RGB", size, RED)
    image.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    return image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares width x height 8-bit RGB pixels, with a few rows of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (3 * width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def refused(data: bytes) -> str:
    with pytest.raises(InvalidInput) as caught:
        prepare_image(data)
    return str(caught.value)


# ---- accepted kinds ------------------------------------------------------------------------


def test_png_stays_png_and_keeps_its_transparency() -> None:
    source = Image.new("RGBA", (60, 40), (200, 30, 30, 128))
    prepared = prepare_image(encode(source, "PNG"))
    assert (prepared.content_type, prepared.width, prepared.height) == ("image/png", 60, 40)
    assert prepared.sha256 == hashlib.sha256(prepared.data).hexdigest()
    image = opened(prepared)
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.getpixel((5, 5)) == (200, 30, 30, 128)


def test_jpeg_stays_jpeg() -> None:
    prepared = prepare_image(encode(two_colours((120, 80)), "JPEG", quality=95))
    assert (prepared.content_type, prepared.width, prepared.height) == ("image/jpeg", 120, 80)
    image = opened(prepared)
    assert image.format == "JPEG" and image.mode == "RGB"


def test_webp_stays_webp_with_alpha() -> None:
    source = Image.new("RGBA", (50, 30), (10, 200, 10, 0))
    source.paste((10, 200, 10, 255), (0, 0, 25, 30))
    prepared = prepare_image(encode(source, "WEBP", lossless=True))
    assert (prepared.content_type, prepared.width, prepared.height) == ("image/webp", 50, 30)
    image = opened(prepared)
    assert image.format == "WEBP" and image.mode == "RGBA"
    assert image.getpixel((40, 15))[3] < 10 and image.getpixel((5, 15))[3] > 245


def test_a_gif_becomes_a_png_of_its_first_frame_with_its_transparency() -> None:
    first = Image.new("P", (30, 30), 1)
    first.putpalette([0, 0, 0, *RED, *BLUE] + [0] * (256 * 3 - 9))
    first.paste(0, (0, 0, 10, 30))  # index 0 is transparent
    second = first.copy()
    second.paste(2, (0, 0, 30, 30))
    data = encode(first, "GIF", save_all=True, append_images=[second], transparency=0)
    prepared = prepare_image(data)
    assert prepared.content_type == "image/png"
    image = opened(prepared).convert("RGBA")
    assert image.getpixel((20, 15)) == (*RED, 255)  # the first frame, not the blue second
    assert image.getpixel((5, 15))[3] == 0
    assert b"GIF8" not in prepared.data


def test_a_16_bit_greyscale_png_keeps_its_grey() -> None:
    prepared = prepare_image(encode(Image.new("I;16", (30, 20), 40_000), "PNG"))
    image = opened(prepared)
    assert image.mode == "L" and image.getpixel((3, 3)) == 40_000 // 256


# ---- metadata ------------------------------------------------------------------------------


def test_exif_gps_camera_details_and_comments_are_gone() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Industries"  # Make
    exif[0x010E] = "Olivia's back garden"  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (59.0, 54.0, 41.5)  # latitude
    gps[3], gps[4] = "E", (10.0, 45.0, 7.2)  # longitude
    data = encode(two_colours(), "JPEG", exif=exif, comment=b"taken at home")
    assert b"SpyCam" in data and b"taken at home" in data
    prepared = prepare_image(data)
    image = opened(prepared)
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info and "comment" not in image.info
    for secret in (b"Exif", b"SpyCam", b"garden", b"taken at home"):
        assert secret not in prepared.data


def test_png_text_chunks_and_exif_are_gone() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "club members' home addresses")
    text.add_itxt("Author", "Olivia Owner")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Industries"
    data = encode(Image.new("RGB", (20, 20), RED), "PNG", pnginfo=text, exif=exif)
    prepared = prepare_image(data)
    for secret in (b"home addresses", b"Olivia", b"SpyCam", b"tEXt", b"iTXt", b"eXIf"):
        assert secret not in prepared.data
    assert opened(prepared).info == {}


def rgb_profile(red: tuple[float, float, float], green: tuple[float, float, float]) -> bytes:
    """A minimal ICC v2 RGB matrix profile (gamma 2.2, sRGB's blue and white) whose red and
    green primaries are the given XYZ colours."""

    def fixed(*values: float) -> bytes:
        return b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    def xyz(*values: float) -> bytes:
        return b"XYZ \0\0\0\0" + fixed(*values)

    name = b"test profile\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + b"\0" * 8 + b"\0" * 70
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(*red)),
        (b"gXYZ", xyz(*green)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + fixed(0.9642, 1.0, 0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


# sRGB's primaries as seen from the D50 profile connection space.
SRGB_RED = (0.4361, 0.2225, 0.0139)
SRGB_GREEN = (0.3851, 0.7169, 0.0971)


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP"])
def test_colours_are_converted_from_the_files_profile_to_srgb(format: str) -> None:
    # A profile whose red is sRGB's green: a pixel it calls pure red is green on any screen.
    swapped = rgb_profile(red=SRGB_GREEN, green=SRGB_RED)
    data = encode(Image.new("RGB", (16, 16), (255, 0, 0)), format, icc_profile=swapped)
    out = opened(prepare_image(data))
    assert "icc_profile" not in out.info
    r, g, b = out.convert("RGB").getpixel((8, 8))
    assert g > 200 and r < 60 and b < 60, (r, g, b)
    # Under a profile that is sRGB itself, colours stay as they were.
    same = rgb_profile(red=SRGB_RED, green=SRGB_GREEN)
    data = encode(Image.new("RGB", (16, 16), RED), format, icc_profile=same)
    kept = opened(prepare_image(data)).convert("RGB").getpixel((8, 8))
    assert all(abs(a - b) <= 12 for a, b in zip(kept, RED, strict=True)), kept


def test_a_broken_colour_profile_leaves_the_pixels_as_they_are() -> None:
    data = encode(Image.new("RGB", (16, 16), RED), "PNG", icc_profile=b"not a profile" * 20)
    out = opened(prepare_image(data))
    assert out.convert("RGB").getpixel((8, 8)) == RED
    assert "icc_profile" not in out.info


def test_exif_orientation_is_applied_before_it_is_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show the picture rotated 90° clockwise
    prepared = prepare_image(encode(two_colours((40, 20)), "JPEG", quality=95, exif=exif))
    assert (prepared.width, prepared.height) == (20, 40)
    image = opened(prepared).convert("RGB")
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 > top[2]  # the left (red) half is now on top
    assert bottom[2] > 150 > bottom[0]
    assert 0x0112 not in image.getexif()


# ---- refused kinds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "svg",
    [
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)'
        b"</script></svg>",
        b'\xef\xbb\xbf  <svg viewBox="0 0 10 10" onload="alert(1)"><rect/></svg>',
    ],
)
def test_svg_is_refused_and_says_why(svg: bytes) -> None:
    message = refused(svg)
    assert message.startswith(NOT_AN_IMAGE)
    assert "SVG is not accepted" in message and "export it as PNG" in message


@pytest.mark.parametrize(
    "data",
    [
        b"Bib,First Name\n1,Ana\n",
        b"<!doctype html><html><script>alert(document.cookie)</script></html>",
        b"PK\x03\x04" + b"\x00" * 100,
        b"BM" + b"\x00" * 100,  # a BMP: decodable by Pillow, yet not one we take
    ],
)
def test_other_files_are_refused(data: bytes) -> None:
    assert refused(data) == NOT_AN_IMAGE


def test_common_near_misses_get_a_hint() -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert "export it as JPEG or PNG" in refused(heic)
    assert "It is a PDF" in refused(b"%PDF-1.7\n%...")
    assert refused(b"") == "The file is empty."


# ---- polyglots -----------------------------------------------------------------------------


def test_a_png_with_a_zip_appended_is_refused() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("secret.txt", "payload")
    data = encode(two_colours(), "PNG") + archive.getvalue()
    assert zipfile.is_zipfile(io.BytesIO(data))
    message = refused(data)
    assert "more bytes after its end" in message and "polyglot" in message


def test_a_png_with_html_appended_is_refused() -> None:
    html = b"<html><script>fetch('/events').then(r=>r.text()).then(alert)</script></html>"
    assert "polyglot" in refused(encode(two_colours(), "PNG") + html)


@pytest.mark.parametrize("kind", ["JPEG", "WEBP", "GIF"])
def test_any_kind_with_a_file_riding_after_it_is_refused(kind: str) -> None:
    image = two_colours() if kind != "GIF" else two_colours().convert("P")
    clean = encode(image, kind)
    assert prepare_image(clean).data
    assert "polyglot" in refused(clean + b"<script>alert(1)</script>")


def test_a_jpeg_padded_with_zeros_after_its_end_is_accepted() -> None:
    # Some cameras pad the file; zeros carry nothing.
    assert prepare_image(encode(two_colours(), "JPEG") + b"\x00" * 64).content_type == "image/jpeg"


def test_a_gif_with_javascript_in_its_comment_is_neutralised() -> None:
    """A real GIF whose comment block carries JavaScript: stored as a plain PNG without it."""
    frame = Image.new("P", (16, 16), 1)
    frame.putpalette([0, 0, 0, *RED] + [0] * (256 * 3 - 6))
    js = b"*/=alert(document.domain);/*"
    data = encode(frame, "GIF", comment=js)
    assert b"alert(document.domain)" in data
    prepared = prepare_image(data)
    assert prepared.content_type == "image/png"
    assert b"alert" not in prepared.data and b"GIF8" not in prepared.data
    assert "polyglot" in refused(data + js)


def test_a_gif_javascript_polyglot_that_is_not_a_gif_is_refused() -> None:
    """GIF89a/*...*/=alert(...): valid JavaScript whose "image" is script text."""
    polyglot = b"GIF89a/*\x0a\x00\x00\x00\x00*/=alert(document.domain);"
    message = refused(polyglot)
    assert "does not decode as one from start to end" in message
    assert "other content is hidden in it" in message


def test_a_truncated_png_is_refused() -> None:
    data = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "PNG")
    message = refused(data[: len(data) // 2])
    assert message.startswith("This file starts like a PNG image but does not decode")


# ---- limits --------------------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = png_header_only(50_000, 50_000)
    assert len(bomb) < 2_000  # 7.5 GB of pixels once unpacked

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert refused(bomb) == (
        "The image is 50,000 × 50,000 pixels; the limit is 40 megapixels. "  # noqa: RUF001
        "Make it smaller and upload it again."
    )
    # Under Pillow's own alarm (89 megapixels) but over ours.
    assert "8,000 × 6,000 pixels" in refused(png_header_only(8_000, 6_000))  # noqa: RUF001


def test_oversized_files_are_refused_unread() -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES)
    assert refused(data) == "The file is 10.1 MB; the limit is 10 MB."


def test_large_images_are_scaled_down_to_the_long_side_limit() -> None:
    wide = prepare_image(encode(Image.new("L", (5_000, 1_000), 128), "PNG"))
    assert (wide.width, wide.height) == (MAX_SIDE, 768)
    tall = prepare_image(encode(Image.new("RGB", (2_000, 6_000), BLUE), "JPEG"))
    assert (tall.width, tall.height) == (1_280, MAX_SIDE)
    assert opened(tall).size == (1_280, MAX_SIDE)
    logo = Image.new("P", (4_000, 100), 1)
    logo.putpalette([0, 0, 0, *RED] + [0] * (256 * 3 - 6))
    scaled = prepare_image(encode(logo, "PNG", transparency=0))
    assert (scaled.width, scaled.height) == (MAX_SIDE, 96)


# ---- names ---------------------------------------------------------------------------------


def test_filenames_lose_folders_and_control_characters() -> None:
    assert clean_filename("C:\\fakepath\\Sponsor Logo.png") == "Sponsor Logo.png"
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("\x00evil\n.png") == "evil.png"
    assert clean_filename("") == "image"
    assert len(clean_filename("a" * 500 + ".png")) == 200


def test_public_keys_are_random_and_checked() -> None:
    keys = {new_image_key() for _ in range(100)}
    assert len(keys) == 100 and all(is_image_key(k) for k in keys)
    assert not is_image_key("../etc/passwd") and not is_image_key("short")


def test_sizes_read_as_people_say_them() -> None:
    assert human_size(512) == "512 bytes"
    assert human_size(85_000) == "84 KB"
    assert human_size(8_500_000) == "8.1 MB"
    assert human_size(200 * 2**20) == "200 MB"
