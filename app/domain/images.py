"""Image uploads checked by content and re-encoded with Pillow: pixels survive, nothing else."""

from __future__ import annotations

import hashlib
import io
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from PIL import (
    GifImagePlugin,
    Image,
    ImageCms,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from app.domain.errors import InvalidInput

# A phone photo is 2-8 MB; a logo far less. The web layer refuses larger bodies unread.
MAX_IMAGE_BYTES: Final = 10 * 2**20
# Checked from the header before any pixel is decoded: a few kilobytes of PNG can declare
# 50,000 x 50,000 pixels and unpack into gigabytes (a decompression bomb).
MAX_PIXELS: Final = 40_000_000
# A 4K screen's long side; larger images are scaled down to it.
MAX_SIDE: Final = 3840
JPEG_QUALITY: Final = 88
WEBP_QUALITY: Final = 88

NOT_AN_IMAGE: Final = "This file is not a PNG, JPEG, WebP or GIF image."
CONTENT_TYPES: Final = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
# What each accepted kind is stored as. A GIF becomes a PNG of its first frame, which keeps
# its transparency and leaves no GIF (nor anything riding in one) to serve.
_STORED_AS: Final = {"PNG": "PNG", "GIF": "PNG", "JPEG": "JPEG", "WEBP": "WEBP"}
# Each kind opened by its own decoder only: Pillow never guesses another format from the bytes.
_DECODERS: Final[dict[str, type[ImageFile.ImageFile]]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "GIF": GifImagePlugin.GifImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
}
_NAMES: Final = {"PNG": "PNG", "JPEG": "JPEG", "GIF": "GIF", "WEBP": "WebP"}
_KIND_NAMES: Final = {CONTENT_TYPES[k]: _NAMES[k] for k in CONTENT_TYPES}
_ALPHA_MODES: Final = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_PNG_MODES: Final = frozenset({"1", "L", "LA", "RGB", "RGBA"})

# Public keys: 128 random bits, URL-safe base64 (22 characters).
_KEY = re.compile(r"[A-Za-z0-9_-]{22}")


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An upload as it will be stored and served: re-encoded bytes and what describes them."""

    content_type: str
    width: int
    height: int
    data: bytes
    sha256: str


@dataclass(frozen=True, slots=True)
class LibraryImage:
    """A stored image as the library lists it (its bytes stay in the database)."""

    id: int
    public_key: str
    filename: str
    content_type: str
    width: int
    height: int
    byte_size: int
    sha256: str
    uploaded_by: int | None
    uploader: str
    created_at: datetime

    @property
    def url(self) -> str:
        return f"/media/{self.public_key}"

    @property
    def size_text(self) -> str:
        return human_size(self.byte_size)

    @property
    def kind(self) -> str:
        return _KIND_NAMES.get(self.content_type, self.content_type)


@dataclass(frozen=True, slots=True)
class ImageContent:
    """What /media/<key> serves."""

    content_type: str
    data: bytes
    sha256: str


def new_image_key() -> str:
    return secrets.token_urlsafe(16)


def is_image_key(value: str) -> bool:
    return _KEY.fullmatch(value) is not None


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    if n < 2**20:
        return f"{math.ceil(n / 1024):,} KB"
    return f"{n / 2**20:,.1f}".removesuffix(".0") + " MB"


def clean_filename(name: str) -> str:
    """The file's own name, for the library list: no folder (browsers may send one), no
    control characters, at most 200 characters."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()
    return base[:200] or "image"


def sniff(data: bytes) -> str | None:
    """The image kind by its first bytes ("PNG", "JPEG", "GIF", "WEBP"), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _refusal(data: bytes) -> str:
    """Why a file that is none of the accepted kinds was refused, naming common mistakes."""
    head = data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in head):
        return (
            f"{NOT_AN_IMAGE} It is an SVG drawing, and SVG is not accepted because it can "
            "carry scripts: export it as PNG and upload that."
        )
    if data[4:8] == b"ftyp":
        return (
            f"{NOT_AN_IMAGE} It looks like a HEIC, AVIF or video file (as iPhones save "
            "photos): export it as JPEG or PNG and upload that."
        )
    if data.startswith(b"%PDF"):
        return f"{NOT_AN_IMAGE} It is a PDF: export the page or logo as PNG and upload that."
    return NOT_AN_IMAGE


def _too_large(n: int) -> str:
    shown = math.ceil(n / 2**20 * 10) / 10
    return f"The file is {shown:,.1f} MB; the limit is {MAX_IMAGE_BYTES // 2**20} MB."


def _check_pixels(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise InvalidInput("The image has no pixels.")
    if width * height > MAX_PIXELS:
        raise InvalidInput(
            f"The image is {width:,} × {height:,} pixels; the limit is "  # noqa: RUF001
            f"{MAX_PIXELS // 1_000_000} megapixels. Make it smaller and upload it again."
        )


def _damaged(kind: str) -> str:
    name = _NAMES[kind]
    return (
        f"This file starts like a {name} image but does not decode as one from start to end "
        f"(it is damaged, or other content is hidden in it). Save it again as {name} or PNG "
        "and upload that."
    )


def image_end(kind: str, data: bytes) -> int | None:
    """Where the image's own bytes end by its container's structure (None: cannot tell, the
    decoder will refuse it). Bytes after that are another file riding along: a polyglot."""
    try:
        if kind == "PNG":
            at = 8
            while at + 8 <= len(data):
                length = int.from_bytes(data[at : at + 4], "big")
                chunk = data[at + 4 : at + 8]
                at += 12 + length
                if chunk == b"IEND":
                    return at
            return None
        if kind == "WEBP":
            return 8 + int.from_bytes(data[4:8], "little")
        if kind == "JPEG":
            # Some cameras pad with zeros after the end-of-image marker; that is not content.
            end = data.rfind(b"\xff\xd9")
            rest = data[end + 2 :] if end >= 0 else b""
            return None if end < 0 else end + 2 + (len(rest) - len(rest.lstrip(b"\x00")))
        return _gif_end(data)
    except IndexError:
        return None


def _gif_end(data: bytes) -> int | None:
    """The offset after a GIF's trailer byte, walking its blocks."""

    def sub_blocks(at: int) -> int:
        while data[at]:
            at += 1 + data[at]
        return at + 1

    flags = data[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while at < len(data):
        block = data[at]
        if block == 0x3B:
            return at + 1
        if block == 0x21:
            at = sub_blocks(at + 2)
        elif block == 0x2C:
            local = data[at + 9]
            at += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            at = sub_blocks(at + 1)
        else:
            return None
    return None


def prepare_image(data: bytes) -> PreparedImage:
    """Check an upload by its content and re-encode it; InvalidInput says plainly why not.

    A file with bytes after its image's end (a PNG+ZIP or GIF+JavaScript polyglot) is refused.
    Only the decoded pixels are written out, so nothing else in the file survives: no EXIF
    (GPS included), no text chunks (a comment carrying script), no colour profile, no second
    frame.
    EXIF orientation is applied first, so a phone photo stays the right way up, and colours
    are converted from the file's colour profile to sRGB, so a wide-gamut photo or a CMYK
    logo looks as it did without the profile being kept.
    """
    if not data:
        raise InvalidInput("The file is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(_too_large(len(data)))
    kind = sniff(data)
    if kind is None:
        raise InvalidInput(_refusal(data))
    end = image_end(kind, data)
    if end is not None and end < len(data):
        raise InvalidInput(
            f"This {_NAMES[kind]} image has {len(data) - end:,} more bytes after its end: "
            "another file is hidden in it (a polyglot). Open it in an image editor, save it "
            "again and upload that."
        )
    decoder = _DECODERS[kind]
    try:
        # The decoder's constructor reads the header only; size is known before decoding.
        with decoder(io.BytesIO(data)) as probe:
            _check_pixels(*probe.size)
            probe.verify()  # a PNG's chunk checksums, through IEND
        with decoder(io.BytesIO(data)) as image:
            _draft(image)
            image.load()
            return _encode(kind, image)
    except InvalidInput:
        raise
    except Image.DecompressionBombError:
        # A GIF frame reaching past its declared screen; Pillow refuses before decoding it.
        raise InvalidInput(
            f"The image is larger than {MAX_PIXELS // 1_000_000} megapixels; make it smaller "
            "and upload it again."
        ) from None
    except Exception:
        # Pillow's decoders raise many kinds on hostile or truncated input; all mean the same.
        raise InvalidInput(_damaged(kind)) from None


def _draft(image: ImageFile.ImageFile) -> None:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 scale when it is to be scaled down anyway."""
    width, height = image.size
    if image.format != "JPEG" or max(width, height) <= MAX_SIDE:
        return
    scale = MAX_SIDE / max(width, height)
    image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))


def _oriented(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        # A broken EXIF block is metadata we drop anyway; the pixels are still good.
        return image


# Modes a colour profile is applied in, and the mode the sRGB pixels come out in.
_PROFILED_MODES: Final = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}
_SRGB: Final = ImageCms.createProfile("sRGB")


def _in_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """The pixels converted from the file's ICC profile to sRGB, what screens assume."""
    out_mode = _PROFILED_MODES.get(image.mode)
    if not icc or out_mode is None:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken or mismatched profile: the pixels as they are, as without one.
        return image
    assert converted is not None  # not converted in place
    return converted


def _encode(kind: str, decoded: Image.Image) -> PreparedImage:
    image = _in_srgb(_oriented(decoded), decoded.info.get("icc_profile"))
    if image.mode.startswith("I") or image.mode == "F":
        # 16-bit greyscale PNG: scaled to 8 bits, where convert() would clip it to white.
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    stored_as = _STORED_AS[kind]
    transparency = image.info.get("transparency")
    has_alpha = image.mode in _ALPHA_MODES or transparency is not None
    too_big = max(image.size) > MAX_SIDE
    if stored_as == "JPEG":
        mode = "L" if image.mode == "L" else "RGB"
    elif stored_as == "WEBP":
        mode = "RGBA" if has_alpha else "RGB"
    elif image.mode == "P" and not too_big:
        mode = "P"  # palette logos stay small; the tRNS transparency is passed on below
    elif image.mode in _PNG_MODES and transparency is None:
        mode = image.mode
    else:
        mode = "RGBA" if has_alpha else "RGB"
    if too_big and mode == "1":
        mode = "L"
    if image.mode != mode:
        image = image.convert(mode)
    if too_big:
        width, height = image.size
        scale = MAX_SIDE / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    # A copy with an empty info dict: whatever the file carried besides pixels stays behind.
    clean = image.copy()
    clean.info = {}
    params: dict[str, Any] = {}
    if stored_as == "PNG" and mode == "P" and transparency is not None:
        params["transparency"] = transparency
    elif stored_as == "JPEG":
        params = {"quality": JPEG_QUALITY, "optimize": True, "progressive": True}
    elif stored_as == "WEBP":
        params = {"quality": WEBP_QUALITY, "method": 4}
    out = io.BytesIO()
    clean.save(out, stored_as, **params)
    encoded = out.getvalue()
    return PreparedImage(
        content_type=CONTENT_TYPES[stored_as],
        width=clean.width,
        height=clean.height,
        data=encoded,
        sha256=hashlib.sha256(encoded).hexdigest(),
    )
