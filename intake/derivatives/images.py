"""Photos: decode under the bomb guard, turn upright, convert to sRGB, keep only the pixels, cover faces.

Nothing of the original file is carried over but its pixels. `piexif.remove()` leaves XMP and the JPEG
comment, and a plain Pillow re-save keeps the comment (measured), so the derivative is a brand-new image
built from a pixel array and then checked marker by marker (JPEG) or chunk by chunk (PNG): anything but
the bare structure refuses the derivative.

Colour: the embedded ICC profile is applied (pixels converted to sRGB) and then dropped. Keeping it would
carry its description, copyright and creation date, and a device-calibrated profile can identify the
camera; dropping it without converting would shift the colours of wide-gamut phone photos (Display P3),
and colour can matter in evidence (smoke, blood, fire). An untagged image is read as sRGB everywhere.
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import DerivativeRefused
from .faces import cover_faces, detect_faces

pillow_heif.register_heif_opener()

# Which Pillow decoders may read a file sniffed as each type: a JPEG is never parsed as anything else.
# Multi-picture JPEGs (MPO, from some cameras) open through the JPEG decoder; only the first picture is used.
DECODERS: dict[str, list[str]] = {
    "image/jpeg": ["JPEG"],
    "image/png": ["PNG"],
    "image/webp": ["WEBP"],
    "image/heic": ["HEIF"],
    "image/heif": ["HEIF"],
}
JPEG_QUALITY = 90
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def sanitise_image(src: Path, media_type: str, out: Path, *, max_pixels: int,
                   max_output_pixels: int | None = None) -> tuple[str, int]:
    """Write the clean, face-covered picture to `out` (already created, empty). Returns (media type, faces).

    A picture above `max_output_pixels` is scaled down to fit, JPEGs while they are decoded (DCT
    scaling: a 48-megapixel photo is decoded at a quarter of its pixels, not in full); face
    detection's time grows with the pixels, so this bounds the time per file as well as the memory.
    """
    rgb = _decode_upright_srgb(src, media_type, max_pixels, max_output_pixels)
    boxes = detect_faces(rgb)
    cover_faces(rgb, boxes)
    # A brand-new image from the array: no info dictionary, no EXIF, ICC, XMP or comment to carry over.
    clean = Image.fromarray(rgb, "RGB")
    if media_type == "image/png":
        # Screenshots and scans of documents stay lossless.
        with open(out, "wb") as handle:
            clean.save(handle, "PNG")
        _check_png(out.read_bytes())
        return "image/png", len(boxes)
    with open(out, "wb") as handle:
        clean.save(handle, "JPEG", quality=JPEG_QUALITY)
    _check_jpeg(out.read_bytes())
    return "image/jpeg", len(boxes)


def _decode_upright_srgb(src: Path, media_type: str, max_pixels: int,
                         max_output_pixels: int | None = None) -> np.ndarray:
    """The first frame's pixels as an upright sRGB array (H×W×3, uint8), at most `max_output_pixels`."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; here a warning refuses too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(src, formats=DECODERS[media_type]) as image:
                # Checked before decoding: the size comes from the header.
                if image.width * image.height > max_pixels:
                    raise DerivativeRefused(
                        f"the picture has {image.width}×{image.height} pixels, more than the "
                        f"{max_pixels:,} allowed (decompression bomb guard)"
                    )
                if max_output_pixels and image.width * image.height > max_output_pixels:
                    scale = (max_output_pixels / (image.width * image.height)) ** 0.5
                    # Draft decoding for JPEG (only what the smaller size needs is decoded), then
                    # a resize; the picture's info (EXIF orientation, ICC profile) stays.
                    image.thumbnail((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
                image.load()
                icc = image.info.get("icc_profile")
                # Turned in place: no copy of the pixels when the picture is already upright (most are).
                ImageOps.exif_transpose(image, in_place=True)
                # The one copy of the pixels: into the array that is searched, covered and encoded.
                return np.array(_to_srgb(_flatten(image), icc), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DerivativeRefused(f"the picture has too many pixels (decompression bomb guard): {exc}") from None
    except DerivativeRefused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise DerivativeRefused(f"the picture cannot be decoded ({type(exc).__name__})") from None
    except Exception as exc:  # a decoder or EXIF parser choking on a crafted file: refused too
        raise DerivativeRefused(f"the picture cannot be decoded ({type(exc).__name__})") from None


def _flatten(image: Image.Image) -> Image.Image:
    """RGB (or CMYK/L for the colour transform) with transparency laid on white.

    Transparent pixels keep colour values a viewer does not show; flattening puts only what is seen
    into the derivative.
    """
    if image.mode in ("RGB", "CMYK", "L"):
        return image
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels converted from the embedded profile to sRGB; without a usable profile, converted as sRGB."""
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken or mismatched profile: colours may be off, the pixels are still right
    return image if image.mode == "RGB" else image.convert("RGB")


def _check_jpeg(data: bytes) -> None:
    """Refuse unless the JPEG holds only SOI, the JFIF header and the markers needed to decode it."""
    if data[:2] != b"\xff\xd8":
        raise DerivativeRefused("the re-encoded JPEG does not start with SOI")
    allowed = {0xE0, 0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xDD}  # APP0 (JFIF), DQT, SOF0-2, DHT, DRI
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise DerivativeRefused("the re-encoded JPEG has a damaged marker")
        marker = data[pos + 1]
        if marker == 0xDA:  # SOS: entropy-coded data follows
            return
        if marker not in allowed:
            raise DerivativeRefused(f"the re-encoded JPEG still has segment 0x{marker:02X}")
        if marker == 0xE0 and not data[pos + 4 : pos + 9] == b"JFIF\x00":
            raise DerivativeRefused("the re-encoded JPEG has an APP0 segment that is not JFIF")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    raise DerivativeRefused("the re-encoded JPEG has no image data")


def _check_png(data: bytes) -> None:
    """Refuse unless the PNG holds only IHDR, IDAT and IEND chunks."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise DerivativeRefused("the re-encoded PNG has no PNG signature")
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind not in (b"IHDR", b"IDAT", b"IEND"):
            raise DerivativeRefused(f"the re-encoded PNG still has a {kind.decode('latin-1')!r} chunk")
        if kind == b"IEND":
            return
        pos += 12 + length
    raise DerivativeRefused("the re-encoded PNG has no IEND chunk")
