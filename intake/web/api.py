"""The JSON API for apps and partners: `/api/v1`, bearer tokens, idempotent submission."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for
from pydantic import TypeAdapter, ValidationError
from werkzeug.wrappers import Response

from ..accounts import TokenHolder, can_submit, holder_of_token
from ..dispatch import dispatch_report
from ..enums import Channel, ReportState
from ..extensions import db
from ..media import UploadRefused, attach_to_report
from ..models import Attachment, Report, User
from ..reports import own_report, submitted_view
from ..schema import SUBMISSION_ID_RE, AttachmentOut, ReportIn, errors_by_field
from ..submissions import Accepted, accept_with_token
from .openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
_captured_at = TypeAdapter(dt.datetime)


def _problem(status: int, error: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error=error, message=message, **extra), status


# Routes that authenticate their bearer token themselves, in the statement that does their work.
_SELF_AUTHENTICATING = {"api.openapi", "api.create_report"}


@bp.before_request
def _authenticate() -> tuple[Response, int] | None:
    if request.endpoint in _SELF_AUTHENTICATING:
        return None
    token = _bearer_token()
    holder = _token_holder(token) if token is not None else None
    if holder is None:
        return _unauthorized()
    if not can_submit(holder):
        return _not_found()
    g.api_holder = holder
    return None


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _token_holder(token: str) -> TokenHolder | None:
    """Who the token speaks for, in one query on an autocommit connection of its own."""
    engine = current_app.extensions["intake_engine"]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return holder_of_token(connection, token)


def _unauthorized() -> tuple[Response, int]:
    response, status = _problem(401, "unauthorized", "A valid bearer token is required.")
    response.headers["WWW-Authenticate"] = 'Bearer realm="intake"'
    return response, status


def _not_found() -> tuple[Response, int]:
    return _problem(404, "not_found", "There is nothing here, or it is not yours to see.")


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


def accepted_response(accepted: Accepted) -> Response:
    """`report_json(…, full=True)` for a report just accepted, as the response: nothing is read back,
    and what was sent is echoed as the JSON that was sealed (`Accepted.echo`), not encoded again."""
    assert accepted.echo is not None
    location = url_for("api.get_report", public_id=accepted.public_id)
    head = {
        "id": accepted.public_id,
        "receipt_code": accepted.receipt_code,
        "status": ReportState.RECEIVED.value,
        "received_at": accepted.received_at.isoformat(),
        "channel": Channel.API.value,
        "links": {"self": location, "attachments": location + "/attachments"},
        "status_label": _status_label(request.headers.get("Accept-Language", ""),
                                      tuple(current_app.config["LANGUAGES"]), ReportState.RECEIVED),
        "attachments": [],
    }
    body = json.dumps(head, separators=(",", ":"))[:-1] + ',"submitted":' + accepted.echo + "}"
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Location"] = location
    return response


@functools.lru_cache(maxsize=256)
def _status_label(accept_language: str, languages: tuple[str, ...], state: ReportState) -> str:
    """A state's label in the request's language, which the Accept-Language header and the
    languages offered decide (`app._select_locale`): worked out once per header."""
    return str(state.label)  # type: ignore[attr-defined]


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
    token = _bearer_token()
    if token is None:
        return _unauthorized()
    try:
        data, key = _report_in_body()
    except _Refused as refused:
        # Who asks comes before what is wrong with what they sent.
        holder = _token_holder(token)
        if holder is None:
            return _unauthorized()
        return refused.answer if can_submit(holder) else _not_found()
    # One statement: the token, and the journal row if its holder may submit; a worker files the
    # report (intake.submissions). An unreachable database is answered 503 with Retry-After by the
    # app's handler (web/errors.py).
    holder, accepted = accept_with_token(current_app.extensions["intake_statement_engine"], token, data,
                                         Channel.API, key)
    if holder is None:
        return _unauthorized()
    if accepted is None:
        return _not_found()
    g.api_holder = holder
    if accepted.created:
        log.info("submission %s accepted via api", accepted.public_id)
        return accepted_response(accepted), 201
    report = own_report(db.session, _user(), accepted.public_id)
    if report is None:  # accepted through another organisation's account: never shown
        abort(404)
    body = report_json(report, full=True)
    response = jsonify(body)
    response.headers["Location"] = body["links"]["self"]
    return response, 200


class _Refused(Exception):
    """What is wrong with a request's body, as the 4xx that says so."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(error)
        self.answer = _problem(status, error, message, **extra)


def _report_in_body() -> tuple[ReportIn, str]:
    """The request's report, validated, and its idempotency key; `_Refused` says what is wrong."""
    if not request.is_json:
        raise _Refused(415, "unsupported_media_type", "Send the report as application/json.")
    raw = request.get_data(cache=False)
    header_key = request.headers.get("Idempotency-Key")
    if header_key and SUBMISSION_ID_RE.fullmatch(header_key):
        # The usual request, parsed and validated in one pass by pydantic; anything it refuses goes
        # the long way below, which says precisely what is wrong.
        try:
            return ReportIn.model_validate_json(raw), header_key
        except ValidationError:
            pass
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        position = getattr(exc, "pos", None)
        raise _Refused(400, "malformed_json", "The body is not valid JSON.",
                       **({"position": position} if position is not None else {})) from None
    except RecursionError:
        # Valid JSON nested thousands deep (a few hundred kB of brackets) exhausts the parser's stack.
        raise _Refused(400, "malformed_json", "The body is nested too deeply to be a report.") from None
    if not isinstance(body, dict):
        raise _Refused(422, "invalid", "The body must be a JSON object.",
                       errors={"__root__": ["Expected an object."]})
    key = request.headers.get("Idempotency-Key") or body.get("submission_id")
    if key is None:
        raise _Refused(422, "invalid", "Give an Idempotency-Key header or a submission_id.",
                       errors={"submission_id": ["An Idempotency-Key header or submission_id is required."]})
    if not isinstance(key, str) or not SUBMISSION_ID_RE.fullmatch(key):
        raise _Refused(422, "invalid", "The idempotency key must be 8–64 letters, digits or . _ : -",
                       errors={"submission_id": ["8–64 characters from A–Z, a–z, 0–9 and . _ : -"]})
    try:
        data = ReportIn.model_validate(body)
    except ValidationError as exc:
        raise _Refused(422, "invalid", "The report has errors; see `errors`, one entry per field.",
                       errors=errors_by_field(exc.errors())) from None
    return data, key


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
        # Stored and owed its inspection in one transaction, as a finished resumable upload is.
        attachment, created = attach_to_report(
            db.session, current_app.config, report, _user(), upload.stream, upload.filename,
            captured_at=captured_at, description=description,
        )
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
