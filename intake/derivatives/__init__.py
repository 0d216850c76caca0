"""Derivatives: copies of uploaded media that are safe to show — no metadata, faces in photos covered.

The original stays untouched (and hashed); verifiers see the derivative by default. These are pure
functions over files: they know nothing of the database, of encryption or of Celery. A worker decrypts
an original to a private temporary file, calls `make_derivative`, stores the file it gets back and
deletes both. Decode only in workers: a crafted file can make a decoder spend memory and time, which the
pixel limit, the subprocess timeout and the task's own time limit bound.

    derivative = make_derivative(src, attachment.media_type, workdir)
    if derivative is None:      # cannot be sanitised on this machine (no ffmpeg): "original only"
        ...
    derivative.path             # the new file, mode 0600, in workdir, under a random name
    derivative.media_type       # image/jpeg, image/png, video/mp4, video/quicktime, audio/mp4,
                                # audio/ogg, video/ogg, audio/mpeg, application/pdf
    derivative.faces_covered    # photos: faces boxed out; 0 for everything else
    derivative.note             # e.g. "faces in the picture are NOT covered in videos"

`make_derivative` raises `DerivativeRefused` (message safe to log and show) when the file cannot be made
safe: undecodable, above the pixel limit (decompression bomb), a tool failed or timed out, or the check
of the result found metadata left; the attachment then stays "original only", not shown by default. A
picture above `max_output_pixels` gets a scaled-down copy (JPEGs are decoded at the smaller size), which
bounds the memory and the face detection's time per file.

| sniffed type                     | derivative                                                    |
|----------------------------------|---------------------------------------------------------------|
| JPEG, WebP, HEIC/HEIF            | JPEG (quality 90), upright, sRGB, faces covered, pixels only  |
| PNG                              | PNG, upright, sRGB, faces covered, pixels only                |
| MP4, MOV, M4A, OGG, MP3          | same container, streams copied, no tags/chapters/data tracks  |
| PDF                              | same pages; no Info, XMP, ID, attachments, scripts, JPEG EXIF |

What stays is the content itself: faces in videos and PDFs, voices, names spoken or written, landmarks
in the picture. The derivative removes what the file says about itself, and faces in photos.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .avmedia import CONTAINERS, NOTE, ffmpeg_available, sanitise_av
from .errors import DerivativeRefused
from .images import DECODERS, sanitise_image
from .pdf import sanitise_pdf

__all__ = ["Derivative", "DerivativeRefused", "SUPPORTED_TYPES", "ffmpeg_available", "make_derivative"]

# Same default as intake.media (50 megapixels: a phone's 48- or 50-megapixel mode still fits, well
# below Pillow's own 89); Pillow's global limit applies as well. Pictures are refused above it, and
# their copies scaled down to DEFAULT_MAX_OUTPUT_PIXELS.
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_OUTPUT_PIXELS = 16_000_000
# ffmpeg copies streams without re-encoding: minutes of video take seconds. A hung tool is stopped.
DEFAULT_TIMEOUT_SECONDS = 300.0
SUPPORTED_TYPES = frozenset(DECODERS) | frozenset(CONTAINERS) | {"application/pdf"}


@dataclass(frozen=True)
class Derivative:
    """A sanitised copy of an upload, written by `make_derivative`."""

    path: Path
    media_type: str
    faces_covered: int
    note: str | None


def make_derivative(
    src: Path,
    media_type: str,
    workdir: Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_output_pixels: int | None = DEFAULT_MAX_OUTPUT_PIXELS,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Derivative | None:
    """Write a metadata-free, face-covered copy of `src` (of the sniffed `media_type`) into `workdir`.

    Returns None when this machine cannot sanitise the type (ffmpeg or ffprobe missing); raises
    `DerivativeRefused` when the file itself cannot be made safe, and ValueError for a type that
    intake never accepts. `src` is only read.
    """
    if media_type not in SUPPORTED_TYPES:
        raise ValueError(f"no derivative for media type {media_type!r}")
    if media_type in CONTAINERS and not ffmpeg_available():
        return None
    out = _new_file(workdir, _suffix(media_type))
    try:
        if media_type in DECODERS:
            out_type, faces = sanitise_image(src, media_type, out, max_pixels=max_pixels,
                                             max_output_pixels=max_output_pixels)
            return Derivative(out, out_type, faces, _scaled_note(src, out, media_type))
        if media_type in CONTAINERS:
            try:
                out_type = sanitise_av(src, media_type, out, timeout=timeout)
            except FileNotFoundError:  # ffmpeg went away between the check and the call
                out.unlink(missing_ok=True)
                return None
            return Derivative(out, out_type, 0, NOTE)
        return Derivative(out, sanitise_pdf(src, out), 0, "metadata removed; the pages themselves are unchanged")
    except BaseException:
        out.unlink(missing_ok=True)
        raise


def _scaled_note(src: Path, out: Path, media_type: str) -> str | None:
    """Says so when the copy has fewer pixels than the original (headers only: nothing is decoded)."""
    from PIL import Image

    try:
        with Image.open(src, formats=DECODERS[media_type]) as original, Image.open(out) as copy:
            before, after = original.size, copy.size
    except Exception:  # the copy was made from it: the original opens; anything else says nothing
        return None
    if before[0] * before[1] <= after[0] * after[1]:
        return None
    return f"scaled down from {before[0]}×{before[1]} to {after[0]}×{after[1]} pixels; the original keeps them all"


def _suffix(media_type: str) -> str:
    if media_type in CONTAINERS:
        return CONTAINERS[media_type].suffix
    if media_type == "application/pdf":
        return ".pdf"
    return ".png" if media_type == "image/png" else ".jpg"


def _new_file(workdir: Path, suffix: str) -> Path:
    """An empty file only this process's user can read, under a random name that says nothing."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / (secrets.token_hex(16) + suffix)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path
