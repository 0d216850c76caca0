"""Text and media on separate queues: a report whose files still need cleaning goes to `media`, every
other report's pipeline to `text`, and a text-only report reaches triage while photos wait."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from intake.enums import JobState, ReportState
from intake.extensions import db
from intake.models import PipelineJob, Report
from tests.conftest import complete_report, make_token, running_worker, wait_for
from tests.test_derivatives import astronaut, write_jpeg
from tests.test_workers import queued_messages


def queued(app: Any) -> list[tuple[str, str, int]]:
    """(queue, task, object id) of every message waiting on the broker."""
    out = []
    for raw in queued_messages(app):
        message = json.loads(raw)
        queue = message["properties"]["delivery_info"]["routing_key"]
        out.append((queue, message["headers"]["task"], int(message["headers"]["argsrepr"].strip("[]"))))
    return out


def post_report(app: Any, headers: dict[str, str], key: str) -> str:
    created = app.test_client().post("/api/v1/reports", json=complete_report(),
                                     headers={**headers, "Idempotency-Key": f"dispatch-{key}"})
    assert created.status_code == 201, created.get_json()
    return str(created.get_json()["id"])


def attach_photo(app: Any, headers: dict[str, str], public_id: str, photo: Path) -> None:
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(photo.read_bytes()), filename="IMG.jpg")})
    uploaded = app.test_client().post(f"/api/v1/reports/{public_id}/attachments", data=body, headers=headers,
                                      content_type=f"multipart/form-data; boundary={boundary}")
    assert uploaded.status_code == 201, uploaded.get_json()


def state_of(app: Any, public_id: str) -> tuple[ReportState, JobState] | None:
    """The report's state and its job's, or None while it is not filed yet."""
    db.session.remove()
    with app.app_context():
        row = db.session.execute(select(Report.state, PipelineJob.state).join(PipelineJob)
                                 .where(Report.public_id == public_id)).first()
        db.session.rollback()
        return None if row is None else (row[0], row[1])


def report_id_of(app: Any, public_id: str) -> int:
    with app.app_context():
        found = db.session.scalar(select(Report.id).where(Report.public_id == public_id))
        db.session.rollback()
        assert found is not None
        return int(found)


def test_a_report_with_a_photo_to_clean_is_sent_to_the_media_queue_and_others_to_text(
        app: Any, reporter: Any, tmp_path: Path) -> None:
    """No worker runs: the messages wait, each on its queue, with ids only."""
    headers = {"Authorization": f"Bearer {make_token(reporter)}"}
    text_only = post_report(app, headers, "q-text")
    with_photo = post_report(app, headers, "q-photo")
    # Reading a report back files it and sends its pipeline's message.
    for public_id in (text_only, with_photo):
        assert app.test_client().get(f"/api/v1/reports/{public_id}", headers=headers).status_code == 200
    attach_photo(app, headers, with_photo, write_jpeg(tmp_path / "face.jpg", astronaut()))
    runs = {(queue, object_id) for queue, task, object_id in queued(app) if task == "intake.process_report"}
    assert ("text", report_id_of(app, text_only)) in runs
    assert ("media", report_id_of(app, with_photo)) in runs
    assert {queue for queue, task, _ in queued(app) if task == "intake.file_submission"} <= {"text"}


def test_a_text_report_reaches_triage_while_the_media_worker_is_not_running(
        app: Any, app_config: dict[str, Any], reporter: Any, instance_path: Path, tmp_path: Path) -> None:
    """Only a text worker (`-Q text`) runs: the text-only report reaches triage; the report with a photo
    stays received with its job pending and its message waiting on the media queue. A media worker
    (`-Q media`) started afterwards takes it to triage with its photo cleaned."""
    headers = {"Authorization": f"Bearer {make_token(reporter)}"}
    with_photo = post_report(app, headers, "burst-photo")
    assert app.test_client().get(f"/api/v1/reports/{with_photo}", headers=headers).status_code == 200
    attach_photo(app, headers, with_photo, write_jpeg(tmp_path / "face.jpg", astronaut()))
    text_only = post_report(app, headers, "burst-text")  # filed by the text worker from the journal
    with running_worker(app_config, instance_path / "text-worker.log", "-Q", "text", hostname="text@%h"):
        wait_for(lambda: state_of(app, text_only) == (ReportState.TRIAGE, JobState.DONE), timeout=90)
        assert state_of(app, with_photo) == (ReportState.RECEIVED, JobState.PENDING)
        assert ("media", "intake.process_report", report_id_of(app, with_photo)) in queued(app)
        with running_worker(app_config, instance_path / "media-worker.log", "-Q", "media", hostname="media@%h"):
            wait_for(lambda: state_of(app, with_photo) == (ReportState.TRIAGE, JobState.DONE), timeout=120)
    with app.app_context():
        report = db.session.scalar(select(Report).where(Report.public_id == with_photo))
        assert report is not None
        assert [a.faces_covered for a in report.attachments] == [1]
        assert report.attachments[0].derivative_storage_name is not None
        db.session.rollback()


def test_overdue_jobs_are_sent_again_each_to_its_queue(app: Any, reporter: Any, tmp_path: Path) -> None:
    """Recovery (the sweep and every worker's relay) sends an overdue job of a report with a photo to
    clean to the media queue, a text-only one to the text queue."""
    from sqlalchemy import update

    from intake.models import utcnow
    from tests.test_pipeline import purge_queue
    from workers.tasks import recover_overdue_jobs

    headers = {"Authorization": f"Bearer {make_token(reporter)}"}
    text_only = post_report(app, headers, "r-text")
    with_photo = post_report(app, headers, "r-photo")
    for public_id in (text_only, with_photo):
        assert app.test_client().get(f"/api/v1/reports/{public_id}", headers=headers).status_code == 200
    attach_photo(app, headers, with_photo, write_jpeg(tmp_path / "face.jpg", astronaut()))
    for queue in ("text", "media"):
        purge_queue(app, queue)  # the messages were lost with the broker
    assert queued(app) == []
    with app.app_context():
        db.session.execute(update(PipelineJob).values(due_at=utcnow()))
        db.session.commit()
        assert recover_overdue_jobs(app.config["PIPELINE_DEADLINE_SECONDS"]) == (2, 2)
    assert sorted(queued(app)) == sorted([("text", "intake.process_report", report_id_of(app, text_only)),
                                          ("media", "intake.process_report", report_id_of(app, with_photo))])
