"""The JSON API for apps and partners: `/api/v1`, bearer tokens, idempotent submission."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response

from ..accounts import TokenHolder, can_submit, holder_of_token
from ..dispatch import dispatch_report
from ..enums import Channel, ReportState
from ..extensions import db
from ..media import UploadRefused, store_upload
from ..models import Attachment, Report, User
from ..pipeline import owe_work
from ..reports import own_report, submitted_view, submitted_view_of
from ..schema import SUBMISSION_ID_RE, AttachmentOut, ReportIn, errors_by_field
from ..submissions import Accepted, accept
from .openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
_captured_at = TypeAdapter(dt.datetime)


def _problem(status: int, error: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error=error, message=message, **extra), status


@bp.before_request
def _authenticate() -> tuple[Response, int] | None:
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    holder = holder_of_token(_connection(), token.strip()) if scheme.lower() == "bearer" else None
    if request.endpoint != "api.create_report":
        _release_connection(None)  # the other routes read through the session: one connection each
    if holder is None:
        response, status = _problem(401, "unauthorized", "A valid bearer token is required.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="intake"'
        return response, status
    if not can_submit(holder):
        return _problem(404, "not_found", "There is nothing here, or it is not yours to see.")
    g.api_holder = holder
    return None


def _connection() -> Connection:
    """This request's autocommit connection. The token lookup and the journal's INSERT are one
    statement each: run on their own, they need no BEGIN and COMMIT round trips."""
    connection: Connection | None = g.get("api_connection")
    if connection is None:
        engine = current_app.extensions["intake_engine"]
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        g.api_connection = connection
    return connection


@bp.teardown_request
def _release_connection(_exc: BaseException | None) -> None:
    connection = g.pop("api_connection", None)
    if connection is not None:
        connection.close()


def _holder() -> TokenHolder:
    return g.api_holder  # type: ignore[no-any-return]


def _user() -> User:
    """The token's user as a full row, loaded only by the requests that need more than its ids."""
    user = db.session.get(User, _holder().user_id)
    assert user is not None
    return user


def report_json(report: Report, *, full: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": report.public_id,
        "receipt_code": report.receipt_code,
        "status": report.state.value,
        "received_at": report.received_at.isoformat(),
        "channel": report.channel.value,
        "links": {
            "self": url_for("api.get_report", public_id=report.public_id),
            "attachments": url_for("api.add_attachment", public_id=report.public_id),
        },
    }
    if full:
        body["status_label"] = str(report.state.label)  # type: ignore[attr-defined]
        body["submitted"] = submitted_view(report)
        body["attachments"] = [attachment_json(a) for a in report.attachments]
    return body


def accepted_json(accepted: Accepted, data: ReportIn) -> dict[str, Any]:
    """`report_json(…, full=True)` for a report just accepted, from what was sent (nothing read back)."""
    links = {
        "self": url_for("api.get_report", public_id=accepted.public_id),
        "attachments": url_for("api.add_attachment", public_id=accepted.public_id),
    }
    return {
        "id": accepted.public_id,
        "receipt_code": accepted.receipt_code,
        "status": ReportState.RECEIVED.value,
        "received_at": accepted.received_at.isoformat(),
        "channel": Channel.API.value,
        "links": links,
        "status_label": str(ReportState.RECEIVED.label),  # type: ignore[attr-defined]
        "submitted": submitted_view_of(data),
        "attachments": [],
    }


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    return AttachmentOut(
        id=attachment.public_id,
        media_type=attachment.media_type,
        size=attachment.size,
        sha256=attachment.sha256,
        status=attachment.status.value,
        captured_at=attachment.captured_at,
    ).model_dump(mode="json")


@bp.post("/reports")
def create_report() -> tuple[Response, int]:
    if not request.is_json:
        return _problem(415, "unsupported_media_type", "Send the report as application/json.")
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        position = getattr(exc, "pos", None)
        return _problem(400, "malformed_json", "The body is not valid JSON.",
                        **({"position": position} if position is not None else {}))
    except RecursionError:
        # Valid JSON nested thousands deep (a few hundred kB of brackets) exhausts the parser's stack.
        return _problem(400, "malformed_json", "The body is nested too deeply to be a report.")
    if not isinstance(body, dict):
        return _problem(422, "invalid", "The body must be a JSON object.",
                        errors={"__root__": ["Expected an object."]})
    key = request.headers.get("Idempotency-Key") or body.get("submission_id")
    if key is None:
        return _problem(422, "invalid", "Give an Idempotency-Key header or a submission_id.",
                        errors={"submission_id": ["An Idempotency-Key header or submission_id is required."]})
    if not isinstance(key, str) or not SUBMISSION_ID_RE.fullmatch(key):
        return _problem(422, "invalid", "The idempotency key must be 8–64 letters, digits or . _ : -",
                        errors={"submission_id": ["8–64 characters from A–Z, a–z, 0–9 and . _ : -"]})
    try:
        data = ReportIn.model_validate(body)
    except ValidationError as exc:
        return _problem(422, "invalid", "The report has errors; see `errors`, one entry per field.",
                        errors=errors_by_field(exc.errors()))
    # One row, then the answer: a worker files the report (intake.submissions). An unreachable
    # database is answered 503 with Retry-After by the app's handler (web/errors.py).
    holder = _holder()
    accepted = accept(_connection(), holder.user_id, holder.organisation_id, data, Channel.API, key)
    _release_connection(None)  # a replay reads through the session: never two connections at once
    if accepted.created:
        log.info("submission %s accepted via api", accepted.public_id)
        body = accepted_json(accepted, data)
    else:
        report = own_report(db.session, _user(), accepted.public_id)
        if report is None:  # accepted through another organisation's account: never shown
            abort(404)
        body = report_json(report, full=True)
    response = jsonify(body)
    response.headers["Location"] = body["links"]["self"]
    return response, 201 if accepted.created else 200


@bp.get("/reports/<public_id>")
def get_report(public_id: str) -> Response:
    report = own_report(db.session, _user(), public_id) or abort(404)
    return jsonify(report_json(report, full=True))


@bp.post("/reports/<public_id>/attachments")
def add_attachment(public_id: str) -> tuple[Response, int]:
    report = own_report(db.session, _user(), public_id) or abort(404)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _problem(422, "invalid", "Send the file as multipart/form-data in the field `file`.",
                        errors={"file": ["A file is required."]})
    captured_at = None
    if raw := request.form.get("captured_at", "").strip():
        try:
            captured_at = _captured_at.validate_python(raw).replace(tzinfo=None)
        except ValidationError:
            return _problem(422, "invalid", "captured_at is not a date and time.",
                            errors={"captured_at": ["Use ISO 8601, e.g. 2026-03-01T14:30."]})
    description = (request.form.get("description") or "").strip()[:2000] or None
    try:
        attachment, created = store_upload(
            db.session, current_app.config, upload.stream, upload.filename, _user(), report=report,
            captured_at=captured_at, description=description,
        )
        if created:
            # The new file is owed an inspection: in the same transaction as the file's row.
            owe_work(db.session, report, current_app.config["PIPELINE_DEADLINE_SECONDS"])
        db.session.commit()
    except UploadRefused as exc:
        db.session.rollback()
        status = 413 if exc.too_large else 422
        return _problem(status, "upload_refused", str(exc), errors={"file": [str(exc)]})
    if created:
        dispatch_report(report.id)
    return jsonify(attachment_json(attachment)), 201 if created else 200


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())
