"""Video and audio: the same video and sound, copied bit for bit into a new container without metadata.

ffmpeg copies the picture and sound streams (`-c copy`: no re-encoding, no quality loss, seconds even for
long videos) and nothing else: no global or per-stream tags (location `©xyz` and
`com.apple.quicktime.location.ISO6709`, creation time, title, make and model), no chapters, no data tracks
(drone and action cameras keep per-frame GPS in one), no subtitles, no cover art. `bitexact` keeps ffmpeg
from writing its own name and version. ffprobe then reads the result back, and anything left but a short
allow-list of structural tags refuses the derivative: we fail closed if a new ffmpeg writes something new.

Faces in videos are NOT covered; the derivative's note says so.

ffmpeg never gets a chance to reach beyond the file: the demuxer is named (no format guessing, so a
"video" cannot turn out to be a playlist of URLs), only the `file` protocol is allowed, and QuickTime
external references stay off.
"""

from __future__ import annotations

import json
import shutil
import subprocess  # noqa: S404 - fixed argument lists, no shell
from dataclasses import dataclass
from pathlib import Path

from .errors import DerivativeRefused


@dataclass(frozen=True)
class Container:
    demuxer: str
    muxer: str
    suffix: str
    media_type: str
    keeps_video: bool


CONTAINERS: dict[str, Container] = {
    "video/mp4": Container("mov", "mp4", ".mp4", "video/mp4", True),
    "video/quicktime": Container("mov", "mov", ".mov", "video/quicktime", True),
    "audio/mp4": Container("mov", "mp4", ".m4a", "audio/mp4", False),
    "audio/m4a": Container("mov", "mp4", ".m4a", "audio/mp4", False),
    "audio/x-m4a": Container("mov", "mp4", ".m4a", "audio/mp4", False),
    "video/ogg": Container("ogg", "ogg", ".ogg", "video/ogg", True),
    "audio/ogg": Container("ogg", "ogg", ".ogg", "audio/ogg", False),
    "audio/mpeg": Container("mp3", "mp3", ".mp3", "audio/mpeg", False),
}
# What may remain after the copy: container structure, not facts about the recording.
ALLOWED_FORMAT_TAGS = {"major_brand", "minor_version", "compatible_brands"}
ALLOWED_STREAM_TAGS = {"language", "handler_name", "vendor_id"}
# handler_name is free text a camera app can fill; after the copy it must be ffmpeg's own (or empty).
ALLOWED_HANDLER_NAMES = {"", "VideoHandler", "SoundHandler"}
NOTE = "metadata removed; faces in the picture are NOT covered in videos"


def ffmpeg_available() -> bool:
    """True when both ffmpeg and ffprobe are on PATH."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def sanitise_av(src: Path, media_type: str, out: Path, *, timeout: float) -> str:
    """Copy the picture and sound streams of `src` into `out` without metadata. Returns the media type."""
    container = CONTAINERS[media_type]
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg")
    maps = ["-map", "0:V?", "-map", "0:a?"] if container.keeps_video else ["-map", "0:a"]
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-protocol_whitelist", "file",
        *(["-enable_drefs", "0"] if container.demuxer == "mov" else []),
        "-f", container.demuxer, "-i", f"file:{src.resolve()}",
        # 0:V is video that is not cover art or a thumbnail; data (-dn) and subtitles (-sn) are dropped.
        *maps, "-dn", "-sn",
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-c", "copy",
        "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
        *(["-id3v2_version", "0", "-write_id3v1", "0"] if container.muxer == "mp3" else []),
        "-f", container.muxer, f"file:{out.resolve()}",
    ]
    # ffmpeg's messages are not passed on: they could quote the file's own tags.
    _run(command, timeout, "ffmpeg could not copy the streams")
    _check_clean(out, container, timeout)
    return container.media_type


def _run(command: list[str], timeout: float, failure: str) -> str:
    try:
        result = subprocess.run(  # noqa: S603 - our own argument list, no shell
            command, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise DerivativeRefused(f"{failure}: it took longer than {timeout:g} s") from None
    if result.returncode != 0:
        raise DerivativeRefused(f"{failure} (exit status {result.returncode})")
    return result.stdout.decode("utf-8", "replace")


def _check_clean(out: Path, container: Container, timeout: float) -> None:
    """Read the derivative back with ffprobe; refuse it if any stream, tag or chapter is left that should not."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise FileNotFoundError("ffprobe")
    command = [
        ffprobe, "-v", "error", "-protocol_whitelist", "file", "-f", container.demuxer,
        "-show_format", "-show_streams", "-show_chapters", "-of", "json", f"file:{out.resolve()}",
    ]
    report = json.loads(_run(command, timeout, "ffprobe could not read the derivative back"))
    streams = report.get("streams", [])
    if not streams:
        raise DerivativeRefused("the derivative has no picture or sound stream")
    if report.get("chapters"):
        raise DerivativeRefused("the derivative still has chapters")
    left = set(report.get("format", {}).get("tags", {})) - ALLOWED_FORMAT_TAGS
    for stream in streams:
        if stream.get("codec_type") not in ("video", "audio") or stream.get("disposition", {}).get("attached_pic"):
            raise DerivativeRefused(f"the derivative still has a {stream.get('codec_type')} stream")
        tags = stream.get("tags", {})
        left |= set(tags) - ALLOWED_STREAM_TAGS
        if tags.get("handler_name", "") not in ALLOWED_HANDLER_NAMES:
            left.add("handler_name")
    if left:
        raise DerivativeRefused(f"the derivative still has tags: {', '.join(sorted(left))}")
