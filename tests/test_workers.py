"""The worker pipeline: a real Celery worker process takes new reports to triage; the pipeline's
steps are idempotent; queue messages carry ids only; a lost message is recovered by the sweep."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags
from sqlalchemy import func, select, update

from intake import crypto
from intake.enums import AttachmentStatus, Channel, ReportState
from intake.extensions import db
from intake.media import file_aad, store_upload, stored_path
from intake.models import PipelineJob, Report, StateTransition, Submission, WorkerHeartbeat
from intake.pipeline import process_report
from intake.reports import submit_report
from intake.schema import ReportIn
from tests.conftest import complete_report, jpeg_bytes, make_token, wait_for
from workers.tasks import relay_submissions

GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (39.0, 30.0, 20.52),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (46.0, 26.0, 10.32),
}
CAMERA = {ExifTags.Base.Make: "Samsung", ExifTags.Base.Model: "SM-A515F",
          ExifTags.Base.DateTime: "2026:03:14 06:52:10"}


def fresh(report_id: int) -> Report:
    db.session.expire_all()
    report = db.session.get(Report, report_id)
    assert report is not None
    return report


def file_report(app: Any, reporter: Any, narrative: str | None = None) -> Report:
    """A report stored the way the web and API store it, without dispatching it."""
    body = complete_report(**({"narrative": narrative} if narrative else {}))
    with app.test_request_context():
        submission = submit_report(db.session, reporter, ReportIn.model_validate(body), Channel.API,
                                   f"sub-{dt.datetime.now().timestamp()}")
        db.session.commit()
    return submission.report


@pytest.mark.worker
def test_a_report_reaches_triage_through_a_real_worker(app: Any, client: Any, reporter: Any, worker: Any) -> None:
    """Submitted through the API with a photo, a report is inspected by the worker and waits in triage."""
    token = make_token(reporter)
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/v1/reports", json=complete_report(),
                          headers={**headers, "Idempotency-Key": "k-worker-1"})
    assert created.status_code == 201
    report_id_public = created.get_json()["id"]
    image = jpeg_bytes(exif=CAMERA, gps=GPS)
    upload = client.post(f"/api/v1/reports/{report_id_public}/attachments", headers=headers,
                         data={"file": (io.BytesIO(image), "IMG_0042.jpg")}, content_type="multipart/form-data")
    assert upload.status_code == 201

    report = db.session.scalar(select(Report).where(Report.public_id == report_id_public))
    assert report is not None
    wait_for(lambda: fresh(report.id).state == ReportState.TRIAGE
             and fresh(report.id).attachments[0].status != AttachmentStatus.STORED, timeout=60)
    report = fresh(report.id)
    attachment = report.attachments[0]
    assert attachment.status == AttachmentStatus.INSPECTED
    assert attachment.sha256 == hashlib.sha256(image).hexdigest()
    metadata = attachment.embedded_metadata or {}
    assert metadata["make"] == "Samsung" and metadata["model"] == "SM-A515F"
    assert metadata["taken_at"] == "2026-03-14T06:52:10"
    assert metadata["gps_latitude"] == pytest.approx(39.5057, abs=1e-4)
    assert metadata["gps_longitude"] == pytest.approx(46.4362, abs=1e-4)
    steps = [(t.from_state, t.to_state, t.actor_id) for t in report.transitions]
    assert steps == [(None, ReportState.RECEIVED, reporter.id), (ReportState.RECEIVED, ReportState.TRIAGE, None)]
    # The API shows the reporter the new status.
    assert client.get(f"/api/v1/reports/{report_id_public}", headers=headers).get_json()["status"] == "triage"
    # The worker reports itself alive, and /healthz says so; it also says that no scheduler runs
    # (this test starts none), while the worker's relay recovers overdue work.
    assert db.session.scalar(select(func.count()).select_from(WorkerHeartbeat)) >= 1
    checks = client.get("/healthz").get_json()["checks"]
    assert checks["worker"]["ok"] is True
    assert checks["sweep"]["ok"] is False and "never run" in checks["sweep"]["error"]
    assert checks["sweep"]["recovery_last_run_seconds_ago"] >= 0


@pytest.mark.worker
def test_the_sweep_recovers_a_report_whose_message_was_lost(app: Any, reporter: Any, worker: Any) -> None:
    """A report whose message never arrived is dispatched again by the sweep once its job is overdue."""
    from workers.tasks import sweep

    report = file_report(app, reporter)
    db.session.execute(update(PipelineJob).where(PipelineJob.report_id == report.id)
                       .values(due_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    db.session.commit()
    with app.app_context():
        sweep.run()
    wait_for(lambda: fresh(report.id).state == ReportState.TRIAGE, timeout=60)
    triaged = db.session.scalar(select(func.count()).select_from(StateTransition).where(
        StateTransition.report_id == report.id, StateTransition.to_state == ReportState.TRIAGE))
    assert triaged == 1


def test_healthz_reports_a_missing_worker(client: Any) -> None:
    """Without any worker heartbeat, /healthz answers 503 and says the worker is the problem."""
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["database"]["ok"] is True and checks["broker"]["ok"] is True
    assert checks["worker"]["ok"] is False


def test_pipeline_is_idempotent(app: Any, reporter: Any) -> None:
    """Running the pipeline twice on a report leaves one transition to triage and the same metadata."""
    report = file_report(app, reporter)
    with app.app_context():
        store_upload(db.session, app.config, io.BytesIO(jpeg_bytes(exif=CAMERA)), "a.jpg", reporter, report=report)
        db.session.commit()
        assert process_report(db.session, app.config, report.id) == "triaged"
        db.session.commit()
        first = dict(fresh(report.id).attachments[0].embedded_metadata or {})
        assert process_report(db.session, app.config, report.id) == "updated"
        db.session.commit()
    report = fresh(report.id)
    assert [t.to_state for t in report.transitions].count(ReportState.TRIAGE) == 1
    assert report.attachments[0].embedded_metadata == first


def tampered(app: Any, reporter: Any, change: Callable[[Any, Path], None]) -> Report:
    """A report with one photo whose stored file `change` alters before the pipeline runs."""
    report = file_report(app, reporter)
    with app.app_context():
        attachment, _ = store_upload(db.session, app.config, io.BytesIO(jpeg_bytes()), "a.jpg", reporter,
                                     report=report)
        db.session.commit()
        change(attachment, stored_path(app.config, attachment))
        process_report(db.session, app.config, report.id)
        db.session.commit()
    return report


def test_a_file_changed_after_receipt_is_quarantined(app: Any, reporter: Any) -> None:
    """If the stored bytes no longer match the SHA-256 taken on receipt, the file is held back."""
    def replace(attachment: Any, path: Path) -> None:
        # Someone with the key replaces the file: it opens, but it is not what was received.
        with open(path, "wb") as out:
            writer = crypto.SealedFileWriter(out, attachment.data_key.plain(), file_aad(attachment.storage_name))
            writer.write(jpeg_bytes() + b"tampered")
            writer.close()

    report = tampered(app, reporter, replace)
    attachment = fresh(report.id).attachments[0]
    assert attachment.status == AttachmentStatus.QUARANTINED
    assert "SHA-256" in (attachment.status_reason or "")
    assert fresh(report.id).state == ReportState.TRIAGE  # the report itself still goes to review


def test_a_stored_file_altered_without_the_key_is_quarantined(app: Any, reporter: Any) -> None:
    """A flipped byte in the sealed file (disk fault, tampering) fails its seal: held back, never shown."""
    def flip(_attachment: Any, path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[40] ^= 0x01
        path.write_bytes(bytes(data))

    report = tampered(app, reporter, flip)
    attachment = fresh(report.id).attachments[0]
    assert attachment.status == AttachmentStatus.QUARANTINED
    assert "altered" in (attachment.status_reason or "")


def test_a_truncated_image_is_quarantined(app: Any, reporter: Any) -> None:
    """An image whose bytes start like a JPEG but cannot be decoded is held back, not shown."""
    report = file_report(app, reporter)
    broken = jpeg_bytes(size=(400, 300))[:600]
    with app.app_context():
        store_upload(db.session, app.config, io.BytesIO(broken), "cut.jpg", reporter, report=report)
        db.session.commit()
        process_report(db.session, app.config, report.id)
        db.session.commit()
    attachment = fresh(report.id).attachments[0]
    assert attachment.status == AttachmentStatus.QUARANTINED


def queued_messages(app: Any) -> list[str]:
    """Every message now waiting on the broker, as raw text."""
    url = app.config["BROKER_URL"]
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url)
        try:
            return [raw.decode() for key in client.keys("*") if client.type(key) == b"list"
                    for raw in client.lrange(key, 0, -1)]
        finally:
            client.close()
    folder = Path(app.instance_path) / "broker" / "queue"
    return [p.read_text() for p in folder.iterdir() if p.is_file()]


def test_queue_messages_carry_ids_only(app: Any, client: Any, reporter: Any) -> None:
    """What goes on the broker for a report names it by id and holds none of its content."""
    token = make_token(reporter)
    canary = "CANARY-narrative-7f3a9"
    body = complete_report(narrative=f"The shell hit {canary} at dawn.")
    response = client.post("/api/v1/reports", json=body,
                           headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-ids-only"})
    assert response.status_code == 201
    with app.app_context():
        assert relay_submissions(300) == 1
    messages = queued_messages(app)
    assert messages, "the new report was dispatched"
    entry = db.session.scalar(select(Submission))
    assert entry is not None
    for raw in messages:
        assert canary not in raw
        for secret in ("Anahit Petrosyan", "+374 91 234567", "gor@example.org", "39.5057", "Khndzoresk"):
            assert secret not in raw
    envelope = json.loads(messages[0])
    headers = envelope.get("headers", {})
    assert headers.get("task") == "intake.file_submission"
    assert headers.get("argsrepr") == f"[{entry.id}]"


@pytest.mark.worker
def test_done_when_reporter_files_and_verifier_sees_it_within_seconds(app: Any, org: Any, reporter: Any,
                                                                       worker: Any) -> None:
    """Form with two victims and a photo → receipt → worker → the same organisation's verifier sees it."""
    from intake.enums import Role
    from tests.conftest import make_org, make_user, sign_in
    from tests.test_field import form_fields, page_of, photo

    field_browser = app.test_client()
    sign_in(field_browser, reporter.email)
    _, token, submission_id = page_of(field_browser)
    sent = field_browser.post("/reports/new", data=form_fields(token, submission_id,
                                                               **{"attachments-0-file": photo()}),
                              content_type="multipart/form-data")
    assert sent.status_code == 302
    receipt = field_browser.get(sent.headers["Location"]).get_data(as_text=True)
    report = db.session.scalar(select(Report))
    assert report is not None and report.receipt_code in receipt
    assert len(report.victims) == 2 and len(report.attachments) == 1

    wait_for(lambda: fresh(report.id).state == ReportState.TRIAGE, timeout=30)
    ours, theirs = app.test_client(), app.test_client()
    sign_in(ours, make_user(org, Role.VERIFIER).email)
    sign_in(theirs, make_user(make_org("Elsewhere"), Role.VERIFIER).email)
    assert report.public_id in ours.get("/queue/").get_data(as_text=True)
    assert report.public_id not in theirs.get("/queue/").get_data(as_text=True)
    assert "Waiting for review" in field_browser.get("/my-reports").get_data(as_text=True)


def test_the_sweep_removes_abandoned_form_uploads_with_their_data_key(app: Any, reporter: Any) -> None:
    """Files kept for a form that was never sent go after STASH_MAX_AGE_SECONDS, with the stash's data key;
    a stash still in time, and the key a report adopted, stay."""
    from intake.models import Attachment, DataKey
    from workers.tasks import sweep

    with app.app_context():
        old, _ = store_upload(db.session, app.config, io.BytesIO(jpeg_bytes()), "old.jpg", reporter, stash_key="s-old")
        fresh_one, _ = store_upload(db.session, app.config, io.BytesIO(jpeg_bytes((70, 50))), "new.jpg", reporter,
                                    stash_key="s-new")
        old.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=app.config["STASH_MAX_AGE_SECONDS"] + 60)
        db.session.commit()
        old_key, old_path = old.data_key_id, stored_path(app.config, old)
        kept_key = fresh_one.data_key_id
        sweep.run()
        db.session.remove()
        assert db.session.scalars(select(Attachment.stash_key)).all() == ["s-new"]
        assert db.session.get(DataKey, old_key) is None and db.session.get(DataKey, kept_key) is not None
    assert not old_path.exists()
