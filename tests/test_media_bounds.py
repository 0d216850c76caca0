"""Heavy media is bounded (issue 12, item 16): a decompression bomb is refused at upload by the size
its header declares, cleaned copies of large pictures are scaled down (JPEGs decoded at the smaller
size), one run decodes at most a budget of pixels per report, and every such refusal is final: the
file stays "original only" with a note, and the job is not retried."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from intake import media
from intake.derivatives import make_derivative
from intake.enums import AttachmentStatus, JobState
from intake.extensions import db
from intake.media import MAX_IMAGE_PIXELS, image_dimensions
from intake.models import Attachment, PipelineJob, Report
from intake.pipeline import process_report
from tests.conftest import complete_report, file_accepted, jpeg_bytes, make_token
from tests.test_api import REPORTS, bearer, upload


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares `width`×`height` and whose data is a few bytes of zeros: what a
    decompression bomb looks like at upload (the real one compresses 64 megapixels into 198 KB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
            + chunk(b"IEND", b""))


def jpeg_declaring(width: int, height: int, exif_bytes: int = 0) -> bytes:
    """A real small JPEG whose frame header is rewritten to declare another size."""
    image = Image.new("RGB", (16, 16), (200, 20, 20))
    buffer = io.BytesIO()
    extra: dict[str, Any] = {}
    if exif_bytes:
        exif = image.getexif()
        exif[0x010E] = "x" * exif_bytes  # ImageDescription: pushes the frame header further in
        extra["exif"] = exif.tobytes()
    image.save(buffer, "JPEG", **extra)
    data = bytearray(buffer.getvalue())
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC2):
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    data[pos + 5:pos + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def heic_declaring(size: tuple[int, int] | None) -> bytes | None:
    """A real small HEIC (123×45), its spatial extents rewritten to `size`; None if pillow-heif cannot write here."""
    import pillow_heif

    buffer = io.BytesIO()
    try:
        pillow_heif.from_pillow(Image.new("RGB", (123, 45), (10, 90, 30))).save(buffer, quality=50)
    except (OSError, ValueError, RuntimeError):
        return None
    data = bytearray(buffer.getvalue())
    at = data.find(b"ispe")
    while size is not None and at != -1:
        data[at + 8:at + 16] = struct.pack(">II", *size)
        at = data.find(b"ispe", at + 4)
    return bytes(data)


# ---- refused at upload --------------------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_at_upload_with_a_clear_message(app: Any, client: Any,
                                                                        reporter: Any) -> None:
    token = make_token(reporter)
    created = client.post(REPORTS, json=complete_report(), headers={**bearer(token), "Idempotency-Key": "key-bomb-01"})
    public_id = created.get_json()["id"]
    bombs = [("bomb.png", png_header_only(8000, 8000)), ("big.jpg", jpeg_declaring(10000, 7000))]
    if (heic := heic_declaring((12000, 9000))) is not None:
        bombs.append(("big.heic", heic))
    for name, content in bombs:
        response = upload(client, token, public_id, content, filename=name)
        assert response.status_code == 422, (name, response.get_json())
        message = response.get_json()["errors"]["file"][0]
        assert name in message and "million pixels accepted" in message and "lower resolution" in message
    db.session.remove()
    assert db.session.scalar(select(Attachment.id)) is None
    # A phone's 48-megapixel photo is still taken.
    assert upload(client, token, public_id, jpeg_declaring(8064, 6048), filename="phone.jpg").status_code == 201


def test_header_dimensions_are_read_without_decoding(tmp_path: Path) -> None:
    assert image_dimensions(png_header_only(8000, 8000)) == (8000, 8000)
    assert image_dimensions(jpeg_declaring(9000, 5000)) == (9000, 5000)
    assert image_dimensions(jpeg_declaring(9000, 5000, exif_bytes=4000)[:8192]) == (9000, 5000)
    for mode, lossless in (("RGB", False), ("RGB", True), ("RGBA", True)):
        buffer = io.BytesIO()
        Image.new(mode, (123, 45)).save(buffer, "WEBP", lossless=lossless)
        assert image_dimensions(buffer.getvalue()) == (123, 45), (mode, lossless)
    heic = heic_declaring(None)
    if heic is not None:
        width, height = image_dimensions(heic) or (0, 0)
        assert 123 <= width <= 140 and 45 <= height <= 64
        assert image_dimensions(heic_declaring((12000, 9000)) or b"") == (12000, 9000)
    assert image_dimensions(b"%PDF-1.7 ...") is None
    assert MAX_IMAGE_PIXELS < Image.MAX_IMAGE_PIXELS * 2 and MAX_IMAGE_PIXELS <= 60_000_000


# ---- bounded work in the worker ------------------------------------------------------------------------


def test_a_large_picture_gets_a_scaled_down_copy(tmp_path: Path) -> None:
    for media_type, fmt in (("image/jpeg", "JPEG"), ("image/png", "PNG")):
        src = tmp_path / f"large.{fmt.lower()}"
        Image.new("RGB", (2400, 1600), (90, 120, 150)).save(src, fmt)
        derivative = make_derivative(src, media_type, tmp_path / "work", max_output_pixels=400_000)
        assert derivative is not None
        with Image.open(derivative.path) as copy:
            assert copy.width * copy.height <= 400_000 and copy.width / copy.height == pytest.approx(1.5, rel=0.02)
        assert derivative.note is not None and "scaled down from 2400×1600" in derivative.note


def _filed_with_photos(app: Any, reporter: Any, count: int) -> Report:
    token = make_token(reporter)
    client = app.test_client()
    created = client.post(REPORTS, json=complete_report(), headers={**bearer(token), "Idempotency-Key": "key-px-0001"})
    public_id = created.get_json()["id"]
    for index in range(count):
        assert upload(client, token, public_id, jpeg_bytes((400, 300 + index))).status_code == 201
    file_accepted(app)
    db.session.remove()
    report = db.session.scalar(select(Report).where(Report.public_id == public_id))
    assert report is not None
    return report


def test_a_reports_pixel_budget_leaves_the_rest_original_only_once(app: Any, reporter: Any) -> None:
    app.config["REPORT_MAX_IMAGE_PIXELS"] = 250_000  # two of the three 400×300 photos
    report = _filed_with_photos(app, reporter, 3)
    with app.app_context():
        assert process_report(db.session, app.config, report.id) == "triaged"
        db.session.commit()
        attachments = db.session.scalars(select(Attachment).where(Attachment.report_id == report.id)
                                         .order_by(Attachment.id)).all()
        assert [a.derivative_storage_name is not None for a in attachments] == [True, True, False]
        last = attachments[-1]
        assert last.derived_at is not None
        assert last.derivative_note is not None and "250,000 pixels one run may clean" in last.derivative_note
        job = db.session.scalar(select(PipelineJob).where(PipelineJob.report_id == report.id))
        assert job is not None and job.state == JobState.DONE and job.last_error is None


def test_a_bomb_stored_before_the_upload_check_is_quarantined_without_decoding(
        app: Any, reporter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    token = make_token(reporter)
    client = app.test_client()
    created = client.post(REPORTS, json=complete_report(), headers={**bearer(token), "Idempotency-Key": "key-old-bomb"})
    public_id = created.get_json()["id"]
    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 10**12)  # as uploads were checked before
    assert upload(client, token, public_id, png_header_only(8000, 8000), filename="bomb.png").status_code == 201
    monkeypatch.undo()

    def no_decoding(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the picture was decoded")

    monkeypatch.setattr(media, "read_image_metadata", no_decoding)
    file_accepted(app)
    with app.app_context():
        report = db.session.scalar(select(Report).where(Report.public_id == public_id))
        assert report is not None
        process_report(db.session, app.config, report.id)
        db.session.commit()
        (attachment,) = report.attachments
        assert attachment.status == AttachmentStatus.QUARANTINED
        assert attachment.status_reason is not None and "8000×8000 pixels" in attachment.status_reason
