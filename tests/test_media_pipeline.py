"""The worker turns every photo into a cleaned copy — the one verifiers see — and leaves the original alone."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from sqlalchemy import select

from intake.enums import AttachmentStatus, ReportState
from intake.extensions import db
from intake.models import Attachment, Report
from tests.conftest import complete_report, csrf_token, make_token, wait_for
from tests.test_derivatives import (
    ASTRONAUT_FACE,
    assert_covered,
    assert_fixture_loaded,
    assert_no_canary,
    assert_only_structure,
    astronaut,
    exiftool,
    write_jpeg,
)
from tests.test_verify import signed_in


def test_a_photo_comes_out_of_the_worker_clean_and_covered(app: Any, reporter: Any, verifier: Any, worker: Any,
                                                           tmp_path: Path) -> None:
    """A JPEG with GPS EXIF, an XMP location and a face, sent through the API: the real worker makes a
    copy with no metadata (exiftool finds none) and the face covered, shown on the review page; the
    original's hash is unchanged and the original still downloads byte for byte."""
    photo = write_jpeg(tmp_path / "upload.jpg", astronaut())
    assert_fixture_loaded(exiftool(photo))
    content = photo.read_bytes()
    headers = {"Authorization": f"Bearer {make_token(reporter)}"}
    api = app.test_client()
    created = api.post("/api/v1/reports", json=complete_report(),
                       headers={**headers, "Idempotency-Key": "media-photo-1"})
    assert created.status_code == 201
    report_id = created.get_json()["id"]
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(content), filename="IMG_0001.jpg")})
    uploaded = api.post(f"/api/v1/reports/{report_id}/attachments", data=body, headers=headers,
                        content_type=f"multipart/form-data; boundary={boundary}")
    assert uploaded.status_code == 201

    def derived() -> Attachment | None:
        db.session.remove()
        with app.app_context():
            found = db.session.scalar(select(Attachment).where(Attachment.derived_at.is_not(None)))
            report = db.session.scalar(select(Report))
            return found if found is not None and report is not None and report.state == ReportState.TRIAGE else None

    attachment = wait_for(derived, timeout=120)
    assert attachment.status == AttachmentStatus.INSPECTED
    assert attachment.faces_covered == 1 and attachment.derivative_media_type == "image/jpeg"
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()

    browser = signed_in(app, verifier)
    page = browser.get(f"/queue/reports/{report_id}").get_data(as_text=True)
    copy_url = f"/queue/reports/{report_id}/files/{attachment.public_id}/copy"
    assert f'src="{copy_url}"' in page and "1 face covered" in page
    shown = browser.get(copy_url)
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/jpeg"
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(shown.data)
    assert hashlib.sha256(shown.data).hexdigest() == attachment.derivative_sha256
    tags = exiftool(copy)
    assert_only_structure(tags, "JFIF", {"JFIFVersion", "ResolutionUnit", "XResolution", "YResolution"})
    assert_no_canary(copy, tags)
    assert_covered(copy, ASTRONAUT_FACE)

    original = browser.post(f"/queue/reports/{report_id}/files/{attachment.public_id}/original",
                            data={"csrf_token": csrf_token(page), "reason": "Checking the photo's own metadata"})
    assert original.status_code == 200 and original.data == content
    # Nothing of the photo in the clear on disk: both the original and the copy are sealed.
    for stored in Path(app.config["UPLOAD_PATH"]).rglob("*"):
        if stored.is_file():
            assert content[400:460] not in stored.read_bytes() and shown.data[400:460] not in stored.read_bytes()
    # Another organisation's verifier cannot open the copy.
    from intake.enums import Role
    from tests.conftest import make_org, make_user

    outsider = signed_in(app, make_user(make_org("Other NGO"), Role.VERIFIER))
    assert outsider.get(copy_url).status_code == 404
