"""Derivatives: every fixture is a real file made here, loaded with metadata that says "Canary" (and GPS
positions, dates, a thumbnail, an ICC profile…), and, for photos, a real face: scikit-image's public-domain
astronaut (Eileen Collins, NASA) and cameraman photos. What the derivative still carries is read back
with exiftool (`-a -G1 -u`, `-ee` for videos), ffprobe and the raw bytes.

exiftool and ffmpeg are Debian packages (`libimage-exiftool-perl`, `ffmpeg`). Without them the tests that
need them are skipped with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import piexif
import pikepdf
import pillow_heif
import pytest
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo
from skimage import data as skdata

from intake.derivatives import Derivative, DerivativeRefused, ffmpeg_available, make_derivative
from tests.conftest import service_missing

CANARY = b"canary"
# The astronaut's face (CenterFace finds it at about x 182-270, y 58-178); its middle must be covered.
ASTRONAUT_FACE = (195, 75, 255, 165)
# The cameraman's face, in profile, looking right at his camera.
CAMERAMAN_FACE = (200, 110, 245, 185)
XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'exif:GPSLatitude="46,38.124N" exif:GPSLongitude="32,36.234E" photoshop:City="CanaryCity">'
    "<dc:creator><rdf:Seq><rdf:li>Canary Creator</rdf:li></rdf:Seq></dc:creator>"
    '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
).encode()


# ---------------------------------------------------------------- tools


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        service_missing(f"{tool} is not installed (Debian package {package})")
    assert path is not None
    return path


def exiftool(path: Path, *extra: str) -> dict[str, Any]:
    """Every tag exiftool finds, as "Group:Tag" -> value."""
    tool = need("exiftool", "libimage-exiftool-perl")
    result = subprocess.run([tool, "-j", "-a", "-G1", "-u", *extra, str(path)],
                            capture_output=True, text=True, timeout=120, check=True)
    tags: dict[str, Any] = json.loads(result.stdout)[0]
    tags.pop("SourceFile")
    return tags


def ffprobe(path: Path) -> dict[str, Any]:
    tool = need("ffprobe", "ffmpeg")
    result = subprocess.run([tool, "-v", "error", "-show_format", "-show_streams", "-show_chapters",
                             "-of", "json", str(path)], capture_output=True, text=True, timeout=120, check=True)
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def ffmpeg(*args: str) -> None:
    tool = need("ffmpeg", "ffmpeg")
    subprocess.run([tool, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                   capture_output=True, timeout=120, check=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def groups(tags: dict[str, Any]) -> set[str]:
    return {key.split(":", 1)[0] for key in tags}


def assert_no_canary(path: Path, tags: dict[str, Any]) -> None:
    assert CANARY not in path.read_bytes().lower()
    assert "canary" not in json.dumps(tags).lower(), tags


def assert_only_structure(tags: dict[str, Any], format_group: str, format_tags: set[str] | None = None) -> None:
    """Only file-system, file-structure and computed tags: nothing the camera or the author wrote."""
    assert groups(tags) <= {"ExifTool", "System", "File", "Composite", format_group}, sorted(tags)
    if format_tags is not None:
        assert {k.split(":", 1)[1] for k in tags if k.startswith(format_group + ":")} <= format_tags, sorted(tags)
    assert not [k for k in tags if "GPS" in k or "Thumbnail" in k or "ICC" in k or "XMP" in k], sorted(tags)


def region(path: Path, box: tuple[int, int, int, int]) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").crop(box), dtype=np.float64)


def assert_covered(path: Path, box: tuple[int, int, int, int]) -> None:
    """The face's middle is one solid dark patch in the derivative."""
    pixels = region(path, box)
    assert pixels.std() < 4 and pixels.mean() < 16, (pixels.mean(), pixels.std())


# ---------------------------------------------------------------- fixtures


def astronaut() -> np.ndarray:
    return np.asarray(skdata.astronaut(), dtype=np.uint8)


def cameraman() -> np.ndarray:
    return np.repeat(np.asarray(skdata.camera(), dtype=np.uint8)[..., None], 3, axis=2)


def exif_bytes(orientation: int = 1) -> bytes:
    thumbnail = io.BytesIO()
    Image.fromarray(astronaut()).resize((160, 160)).save(thumbnail, "JPEG")
    return bytes(piexif.dump({
        "0th": {
            piexif.ImageIFD.Make: b"CanaryMake",
            piexif.ImageIFD.Model: b"CanaryModel 7",
            piexif.ImageIFD.Artist: b"Canary Artist",
            piexif.ImageIFD.ImageDescription: b"Canary description",
            piexif.ImageIFD.Software: b"CanarySoft 1.0",
            piexif.ImageIFD.Orientation: orientation,
        },
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: b"2024:03:14 07:05:00",
            piexif.ExifIFD.BodySerialNumber: b"CanarySerial987",
            piexif.ExifIFD.MakerNote: b"CanaryMakerNote owner and serial",
            piexif.ExifIFD.UserComment: b"ASCII\x00\x00\x00Canary comment",
        },
        "GPS": {
            piexif.GPSIFD.GPSLatitudeRef: b"N",
            piexif.GPSIFD.GPSLatitude: ((46, 1), (38, 1), (744, 100)),
            piexif.GPSIFD.GPSLongitudeRef: b"E",
            piexif.GPSIFD.GPSLongitude: ((32, 1), (36, 1), (1404, 100)),
            piexif.GPSIFD.GPSAltitude: (4500, 100),
        },
        "1st": {piexif.ImageIFD.Compression: 6},
        "thumbnail": thumbnail.getvalue(),
    }))


def icc_profile() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return bytes(profile.tobytes())


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def iptc_app13() -> bytes:
    """A Photoshop APP13 segment with IPTC city and by-line."""
    def dataset(number: int, value: bytes) -> bytes:
        return b"\x1c\x02" + bytes([number]) + struct.pack(">H", len(value)) + value
    iptc = dataset(80, b"Canary Byline") + dataset(90, b"CanaryCity")
    if len(iptc) % 2:
        iptc += b"\x00"
    resource = b"8BIM" + b"\x04\x04" + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    return segment(0xED, b"Photoshop 3.0\x00" + resource)


def write_jpeg(path: Path, pixels: np.ndarray, orientation: int = 1) -> Path:
    """A JPEG with EXIF (GPS, maker note, serial, thumbnail), XMP, IPTC, an ICC profile and a comment."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=92, exif=exif_bytes(orientation),
                                 icc_profile=icc_profile(), comment=b"Canary JPEG comment")
    data = buffer.getvalue()
    xmp = segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP)
    path.write_bytes(data[:2] + xmp + iptc_app13() + data[2:])
    return path


def assert_fixture_loaded(tags: dict[str, Any]) -> None:
    """The fixture really carries what the test says it removes (else the test proves nothing)."""
    text = json.dumps(tags)
    for needle in ("GPSLatitude", "CanaryMake", "CanaryMakerNote", "CanarySerial987", "Canary JPEG comment",
                   "CanaryCity", "Canary Creator", "Canary Byline", "ThumbnailImage", "ICC_Profile"):
        assert needle in text, needle


# ---------------------------------------------------------------- photos


def test_jpeg_loses_every_trace_and_the_face_is_covered(tmp_path: Path) -> None:
    """GPS EXIF, maker note, thumbnail, XMP, IPTC, ICC and comment are gone; the face is a solid box;
    the original's bytes are unchanged."""
    src = write_jpeg(tmp_path / "original.jpg", astronaut())
    assert_fixture_loaded(exiftool(src))
    before = sha256(src)

    derivative = make_derivative(src, "image/jpeg", tmp_path / "work")

    assert derivative is not None
    assert derivative.media_type == "image/jpeg" and derivative.note is None
    assert derivative.faces_covered == 1
    assert derivative.path.parent == tmp_path / "work" and derivative.path.stat().st_mode & 0o777 == 0o600
    tags = exiftool(derivative.path)
    assert_only_structure(tags, "JFIF", {"JFIFVersion", "ResolutionUnit", "XResolution", "YResolution"})
    assert_no_canary(derivative.path, tags)
    assert_covered(derivative.path, ASTRONAUT_FACE)
    # The rest of the picture is still the photo (the flag, the shuttle), not a black page.
    assert np.abs(region(derivative.path, (380, 0, 512, 240)) - astronaut()[0:240, 380:512]).mean() < 6
    assert sha256(src) == before


def test_orientation_is_applied_before_faces_are_looked_for(tmp_path: Path) -> None:
    """A photo stored sideways with Orientation=6 comes out upright, with the face covered where it is seen."""
    upright = astronaut()[:, :400]  # 400 wide, 512 tall
    src = write_jpeg(tmp_path / "sideways.jpg", np.ascontiguousarray(np.rot90(upright, 1)), orientation=6)
    derivative = make_derivative(src, "image/jpeg", tmp_path)
    assert derivative is not None
    with Image.open(derivative.path) as image:
        assert image.size == (400, 512)
    assert derivative.faces_covered == 1
    assert_covered(derivative.path, ASTRONAUT_FACE)


def test_a_face_in_profile_is_covered(tmp_path: Path) -> None:
    src = tmp_path / "cameraman.jpg"
    Image.fromarray(cameraman()).save(src, quality=92)
    derivative = make_derivative(src, "image/jpeg", tmp_path)
    assert derivative is not None and derivative.faces_covered >= 1
    assert_covered(derivative.path, CAMERAMAN_FACE)


def test_small_faces_in_a_large_photo_are_covered(tmp_path: Path) -> None:
    """Heads of 35-70 pixels in a 12-megapixel street-size photo: found on full-resolution tiles."""
    background = Image.fromarray(np.asarray(skdata.gravel(), dtype=np.uint8)).convert("RGB").resize((4000, 3000))
    head = Image.fromarray(astronaut()).crop((150, 40, 295, 200))  # 145×160, face at 30-120 × 20-140
    placed = []
    for x, y, scale in [(300, 300, 0.3), (1700, 900, 0.4), (3100, 400, 0.5), (900, 2300, 0.3), (2500, 2500, 0.45)]:
        background.paste(head.resize((round(145 * scale), round(160 * scale))), (x, y))
        placed.append((x + round(45 * scale), y + round(40 * scale), x + round(105 * scale), y + round(125 * scale)))
    src = tmp_path / "crowd.jpg"
    background.save(src, quality=92)
    derivative = make_derivative(src, "image/jpeg", tmp_path)
    assert derivative is not None and derivative.faces_covered >= len(placed)
    for box in placed:
        assert_covered(derivative.path, box)


def test_a_small_face_on_a_phone_photo_is_covered(tmp_path: Path) -> None:
    """A 12-megapixel phone photo (4000×3000) with two small faces and nothing larger: the astronaut's
    face 40 pixels tall, turned by 10° and in dim light, and the cameraman's profile 48 pixels tall.
    Shrunk to the whole-picture view they are 6-8 pixels, seen by no detector: each must still come out
    as a solid patch, and the gravel around them keep its pixels."""
    background = Image.fromarray(np.asarray(skdata.gravel(), dtype=np.uint8)).convert("RGB").resize((4000, 3000))
    from PIL import ImageEnhance

    # The astronaut's face is 119 pixels tall (brow to chin) in the crop, the cameraman's 103.
    head = Image.fromarray(astronaut()).crop((150, 40, 295, 200)).resize((49, 54), Image.Resampling.LANCZOS)
    head = ImageEnhance.Brightness(head.rotate(10, Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128)))
    background.paste(head.enhance(0.6), (1300, 2100))
    profile = Image.fromarray(cameraman()).crop((148, 58, 280, 222)).resize((62, 77), Image.Resampling.LANCZOS)
    background.paste(profile, (2950, 700))
    src = tmp_path / "phone.jpg"
    background.save(src, quality=90)
    derivative = make_derivative(src, "image/jpeg", tmp_path)
    assert derivative is not None and derivative.faces_covered >= 2
    # Each face's middle (nose and eyes); the head's centre after turning is where the crop's was.
    assert_covered(derivative.path, (1300 + 20, 2100 + 18, 1300 + 36, 2100 + 38))
    assert_covered(derivative.path, (2950 + 22, 700 + 26, 2950 + 42, 700 + 52))
    assert region(derivative.path, (200, 200, 600, 600)).std() > 10  # gravel, not a box


def test_a_photo_without_faces_keeps_its_pixels(tmp_path: Path) -> None:
    src = tmp_path / "coffee.jpg"
    Image.fromarray(np.asarray(skdata.coffee(), dtype=np.uint8)).save(src, quality=95)
    derivative = make_derivative(src, "image/jpeg", tmp_path)
    assert derivative is not None and derivative.faces_covered == 0
    with Image.open(src) as a, Image.open(derivative.path) as b:
        assert np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean() < 3


def test_png_text_chunks_exif_icc_and_hidden_transparent_pixels_are_gone(tmp_path: Path) -> None:
    """tEXt, zTXt, iTXt (XMP), eXIf, iCCP and tIME go; the PNG stays a PNG with IHDR, IDAT and IEND only;
    colour under fully transparent pixels is not carried over."""
    rgba = np.dstack([astronaut(), np.full((512, 512), 255, np.uint8)])
    rgba[450:, 450:] = (255, 0, 0, 0)  # red that nobody sees
    info = PngInfo()
    info.add_text("Author", "Canary Author")
    info.add_text("Comment", "Canary compressed comment " * 20, zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add(b"tIME", struct.pack(">HBBBBB", 2024, 3, 14, 7, 5, 0))
    src = tmp_path / "screenshot.png"
    Image.fromarray(rgba, "RGBA").save(src, pnginfo=info, exif=exif_bytes(), icc_profile=icc_profile())
    before = exiftool(src)
    assert "PNG:Author" in before and any("GPS" in k for k in before) and "PNG:ModifyDate" in before

    derivative = make_derivative(src, "image/png", tmp_path / "work")

    assert derivative is not None and derivative.media_type == "image/png" and derivative.path.suffix == ".png"
    tags = exiftool(derivative.path)
    assert_only_structure(tags, "PNG", {"ImageWidth", "ImageHeight", "BitDepth", "ColorType", "Compression",
                                        "Filter", "Interlace"})
    assert_no_canary(derivative.path, tags)
    data = derivative.path.read_bytes()
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.append(kind)
        pos += 12 + length
    assert set(chunks) == {b"IHDR", b"IDAT", b"IEND"}
    assert derivative.faces_covered == 1
    assert_covered(derivative.path, ASTRONAUT_FACE)
    assert region(derivative.path, (460, 460, 512, 512)).min() > 250  # white, not the hidden red


def test_webp_with_exif_and_xmp(tmp_path: Path) -> None:
    src = tmp_path / "photo.webp"
    Image.fromarray(astronaut()).save(src, "WEBP", quality=90, exif=exif_bytes(), xmp=XMP, icc_profile=icc_profile())
    assert any("GPS" in k for k in exiftool(src))
    derivative = make_derivative(src, "image/webp", tmp_path / "work")
    assert derivative is not None and derivative.media_type == "image/jpeg"
    tags = exiftool(derivative.path)
    assert_only_structure(tags, "JFIF")
    assert_no_canary(derivative.path, tags)
    assert_covered(derivative.path, ASTRONAUT_FACE)


def test_heic_with_exif_and_xmp(tmp_path: Path) -> None:
    """An iPhone-style HEIC: stored sideways with Orientation=6 (pillow-heif writes it as an irot box)."""
    src = tmp_path / "photo.heic"
    try:
        heif = pillow_heif.from_pillow(Image.fromarray(np.ascontiguousarray(np.rot90(astronaut()[:, :400], 1))))
        heif.info["exif"] = exif_bytes(orientation=6)
        heif.info["xmp"] = XMP
        heif.save(src, quality=90)
    except (OSError, ValueError, RuntimeError) as exc:
        pytest.skip(f"pillow-heif cannot write HEIC here: {exc}")
    assert any("GPS" in k for k in exiftool(src))
    derivative = make_derivative(src, "image/heic", tmp_path / "work")
    assert derivative is not None and derivative.media_type == "image/jpeg"
    with Image.open(derivative.path) as image:
        assert image.size == (400, 512)  # turned once, not twice
    tags = exiftool(derivative.path)
    assert_only_structure(tags, "JFIF")
    assert_no_canary(derivative.path, tags)
    assert_covered(derivative.path, ASTRONAUT_FACE)


def test_a_decompression_bomb_is_refused(tmp_path: Path) -> None:
    """A 69-byte PNG that claims 50,000 × 50,000 pixels is refused from its header, before decoding."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    work = tmp_path / "work"
    with pytest.raises(DerivativeRefused, match="decompression bomb"):
        make_derivative(bomb, "image/png", work)
    assert list(work.iterdir()) == []


def test_the_pixel_limit_is_a_parameter(tmp_path: Path) -> None:
    src = tmp_path / "big.jpg"
    Image.new("RGB", (2000, 1000), "gray").save(src)
    with pytest.raises(DerivativeRefused, match=r"2000×1000 pixels, more than the 1,000,000 allowed"):
        make_derivative(src, "image/jpeg", tmp_path / "work", max_pixels=1_000_000)
    assert make_derivative(src, "image/jpeg", tmp_path / "work", max_pixels=2_000_000) is not None


def test_a_broken_or_disguised_picture_is_refused(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.jpg"
    write_jpeg(truncated, astronaut())
    truncated.write_bytes(truncated.read_bytes()[:3000])
    with pytest.raises(DerivativeRefused, match="cannot be decoded"):
        make_derivative(truncated, "image/jpeg", tmp_path / "work")
    # A PNG sent as a JPEG is not parsed by another decoder than the one its sniffed type names.
    png = tmp_path / "really.png"
    Image.fromarray(astronaut()).save(png)
    with pytest.raises(DerivativeRefused, match="cannot be decoded"):
        make_derivative(png, "image/jpeg", tmp_path / "work")


def test_an_unknown_type_is_a_programming_error(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<html></html>")
    with pytest.raises(ValueError, match="no derivative"):
        make_derivative(tmp_path / "page.html", "text/html", tmp_path)


# ---------------------------------------------------------------- video and audio


def ffmetadata(path: Path) -> Path:
    path.write_text(
        ";FFMETADATA1\n"
        "title=Canary title\nartist=Canary artist\ncomment=Canary comment\n"
        "location=+46.6354+032.6178/\ncreation_time=2024-03-14T07:05:00Z\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle=Canary chapter\n"
    )
    return path


def cover_art(path: Path) -> Path:
    """A cover picture carrying its own GPS EXIF."""
    return write_jpeg(path, np.asarray(Image.fromarray(astronaut()).resize((128, 128))))


def assert_av_clean(derivative: Derivative, src: Path, before: str) -> None:
    tags = exiftool(derivative.path, "-ee")
    assert_no_canary(derivative.path, tags)
    bad = [k for k in tags if any(w in k for w in ("GPS", "Location", "Make", "Model", "Title", "Artist",
                                                     "Comment", "Encoder", "Chapter", "Software"))]
    assert not bad, {k: tags[k] for k in bad}
    dates = {k: v for k, v in tags.items() if k.endswith("Date") and not k.startswith(("System:", "File:"))}
    assert all(str(v).startswith("0000:00:00") for v in dates.values()), dates
    report = ffprobe(derivative.path)
    assert {s["codec_type"] for s in report["streams"]} <= {"video", "audio"}
    assert not any(s.get("disposition", {}).get("attached_pic") for s in report["streams"])
    assert report["chapters"] == []
    assert "creation_time" not in json.dumps(report)
    assert sha256(src) == before
    assert derivative.faces_covered == 0 and derivative.note and "NOT covered" in derivative.note


def make_video(tmp_path: Path, name: str, extra: list[str]) -> Path:
    """1 s of test picture and tone with subtitles, chapters, a timecode data track and location tags."""
    subtitles = tmp_path / "subs.srt"
    subtitles.write_text("1\n00:00:00,000 --> 00:00:00,900\nCanary subtitle\n")
    src = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=1",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
           "-i", str(subtitles), "-i", str(ffmetadata(tmp_path / "meta.txt")),
           "-map", "0:v", "-map", "1:a", "-map", "2:s", "-map_metadata", "3", "-map_chapters", "3",
           "-c:v", "mpeg4", "-c:a", "aac", "-c:s", "mov_text", "-timecode", "01:00:00:00",
           "-metadata:s:v:0", "handler_name=Canary handler", "-metadata:s:a:0", "creation_time=2024-03-14T07:05:00Z",
           *extra, str(src))
    return src


def test_mp4_loses_location_dates_titles_chapters_subtitles_and_data_tracks(tmp_path: Path) -> None:
    src = make_video(tmp_path, "clip.mp4", [])
    before_tags = exiftool(src, "-ee")
    assert "canary" in json.dumps(before_tags).lower() and any("GPS" in k for k in before_tags)
    streams = {s["codec_type"] for s in ffprobe(src)["streams"]}
    assert {"video", "audio", "subtitle", "data"} <= streams  # the timecode track is a data stream
    before = sha256(src)

    derivative = make_derivative(src, "video/mp4", tmp_path / "work")

    assert derivative is not None and derivative.media_type == "video/mp4" and derivative.path.suffix == ".mp4"
    assert_av_clean(derivative, src, before)
    assert {s["codec_type"] for s in ffprobe(derivative.path)["streams"]} == {"video", "audio"}


def test_mov_loses_apple_location_make_and_model(tmp_path: Path) -> None:
    """iPhone-style keys: com.apple.quicktime.location.ISO6709, .make, .model, .creationdate."""
    src = make_video(tmp_path, "clip.mov", [
        "-movflags", "use_metadata_tags",
        "-metadata", "com.apple.quicktime.location.ISO6709=+46.6354+032.6178+045.000/",
        "-metadata", "com.apple.quicktime.make=CanaryPhone",
        "-metadata", "com.apple.quicktime.model=CanaryPhone 15 Pro",
        "-metadata", "com.apple.quicktime.creationdate=2024-03-14T07:05:00+0200",
    ])
    before_tags = exiftool(src, "-ee")
    assert "CanaryPhone" in json.dumps(before_tags) and any("GPS" in k for k in before_tags)
    before = sha256(src)
    derivative = make_derivative(src, "video/quicktime", tmp_path / "work")
    assert derivative is not None and derivative.media_type == "video/quicktime"
    assert_av_clean(derivative, src, before)


@pytest.mark.parametrize(
    ("name", "media_type", "codec", "with_cover"),
    [("voice.m4a", "audio/mp4", "aac", True), ("voice.mp3", "audio/mpeg", "libmp3lame", True),
     ("voice.ogg", "audio/ogg", "libvorbis", False)],
)
def test_audio_loses_tags_and_cover_art(tmp_path: Path, name: str, media_type: str, codec: str,
                                        with_cover: bool) -> None:
    src = tmp_path / name
    cover = ["-i", str(cover_art(tmp_path / "cover.jpg")), "-map", "2:v", "-c:v", "copy",
             "-disposition:v", "attached_pic"] if with_cover else []
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-i", str(ffmetadata(tmp_path / "meta.txt")),
           *cover, "-map", "0:a", "-map_metadata", "1", "-c:a", codec, *(["-id3v2_version", "3"] if codec ==
                                                                          "libmp3lame" else []), str(src))
    before_tags = exiftool(src, "-ee")
    assert "canary" in json.dumps(before_tags).lower()
    if with_cover:
        assert any(s.get("disposition", {}).get("attached_pic") for s in ffprobe(src)["streams"])
    before = sha256(src)

    derivative = make_derivative(src, media_type, tmp_path / "work")

    assert derivative is not None and derivative.path.suffix == Path(name).suffix
    assert_av_clean(derivative, src, before)
    assert {s["codec_type"] for s in ffprobe(derivative.path)["streams"]} == {"audio"}


def test_without_ffmpeg_videos_stay_original_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert not ffmpeg_available()
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    assert make_derivative(tmp_path / "clip.mp4", "video/mp4", tmp_path / "work") is None
    assert list((tmp_path / "work").glob("*")) == []


def test_a_broken_video_is_refused(tmp_path: Path) -> None:
    need("ffmpeg", "ffmpeg")
    src = tmp_path / "broken.mp4"
    src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 1000)
    with pytest.raises(DerivativeRefused, match="ffmpeg could not copy the streams"):
        make_derivative(src, "video/mp4", tmp_path / "work")
    assert list((tmp_path / "work").iterdir()) == []


# ---------------------------------------------------------------- PDF


def make_pdf(path: Path, **save: Any) -> Path:
    """One page showing a photo (whose JPEG stream carries GPS EXIF), with Info, XMP, an attachment,
    a script run on opening, a comment by a named author, application data and a thumbnail."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(256, 256))
    photo = io.BytesIO()
    Image.fromarray(astronaut()).resize((128, 128)).save(photo, "JPEG", exif=exif_bytes())
    image = pikepdf.Stream(pdf, photo.getvalue(), Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image,
                           Width=128, Height=128, ColorSpace=pikepdf.Name.DeviceRGB, BitsPerComponent=8,
                           Filter=pikepdf.Name.DCTDecode)
    page = pdf.pages[0]
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.obj.Contents = pdf.make_stream(b"q 256 0 0 256 0 0 cm /Im0 Do Q")
    page.obj.PieceInfo = pikepdf.Dictionary(Canary=pikepdf.Dictionary(Private=pikepdf.String("Canary private")))
    page.obj.Thumb = pdf.make_stream(b"Canary thumbnail")
    page.obj.Annots = pdf.make_indirect(pikepdf.Array([pikepdf.Dictionary(
        Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Text, Rect=[10, 10, 30, 30], Contents=pikepdf.String("ok"),
        T=pikepdf.String("Canary Reviewer"), M=pikepdf.String("D:20240314070500Z"))]))
    pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('Canary')"))
    pdf.attachments["notes.txt"] = pikepdf.AttachedFileSpec(pdf, b"Canary attached file", mime_type="text/plain")
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:  # first: closing it copies XMP into Info
        meta["dc:creator"] = ["Canary XMP Creator"]
        meta["dc:title"] = "Canary XMP Title"
        meta["xmp:CreatorTool"] = "Canary XMP Tool"
    pdf.docinfo["/Author"] = "Canary Author"
    pdf.docinfo["/Title"] = "Canary Title"
    pdf.docinfo["/Creator"] = "Canary Creator App"
    pdf.docinfo["/Producer"] = "Canary Producer"
    pdf.docinfo["/CreationDate"] = "D:20240314070500Z"
    pdf.save(path, **save)
    return path


def all_pdf_bytes(path: Path) -> bytes:
    """The file's bytes and every stream decoded, so nothing hides in a compressed stream."""
    parts = [path.read_bytes()]
    with pikepdf.open(path) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream):
                parts.append(obj.read_raw_bytes())
                try:
                    parts.append(obj.read_bytes())
                except pikepdf.PdfError:
                    pass
    return b"".join(parts)


def test_pdf_loses_info_xmp_id_attachments_scripts_and_photo_exif(tmp_path: Path) -> None:
    src = make_pdf(tmp_path / "letter.pdf")
    before_tags = exiftool(src)
    assert "Canary Author" in json.dumps(before_tags) and "Canary XMP Creator" in json.dumps(before_tags)
    assert b"CanaryMake" in all_pdf_bytes(src)  # the photo's EXIF, which exiftool does not show
    before = sha256(src)
    with pikepdf.open(src) as pdf:
        original_id = bytes(pdf.trailer.ID[0])

    derivative = make_derivative(src, "application/pdf", tmp_path / "work")

    assert derivative is not None and derivative.media_type == "application/pdf"
    tags = exiftool(derivative.path)
    assert_only_structure(tags, "PDF", {"PDFVersion", "Linearized", "PageCount"})
    assert_no_canary(derivative.path, tags)
    everything = all_pdf_bytes(derivative.path).lower()
    assert CANARY not in everything
    assert b"gps" not in everything and b"exif" not in everything
    with pikepdf.open(derivative.path) as pdf:
        assert len(pdf.pages) == 1 and "/Info" not in pdf.trailer and "/Metadata" not in pdf.Root
        assert bytes(pdf.trailer.ID[0]) != original_id
        assert len(pdf.attachments) == 0 and "/OpenAction" not in pdf.Root
        # The photo is still there: its pixels are the page's content.
        assert pdf.pages[0].obj.Resources.XObject.Im0.Width == 128
    assert sha256(src) == before


def test_a_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    src = make_pdf(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(user="secret", owner="secret"))
    with pytest.raises(DerivativeRefused, match="password"):
        make_derivative(src, "application/pdf", tmp_path / "work")
    assert list((tmp_path / "work").iterdir()) == []
