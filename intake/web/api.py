"""The JSON API for apps and partners: `/api/v1`, bearer tokens, idempotent submission."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for
from pydantic import TypeAdapter, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from .. import quotas
from ..accounts import SCOPE_SUBMIT, TokenHolder, can_submit, export_tiers, holder_of_token, token_digest
from ..dispatch import dispatch_report
from ..enums import Channel, ReportState, Role
from ..extensions import db
from ..media import ClosedToFiles, OverUploadQuota, UploadRefused, attach_to_report, open_to_files
from ..models import Attachment, Report, Submission, User
from ..reports import being_filed, own_report, submitted_view
from ..schema import SUBMISSION_ID_RE, AttachmentOut, ReportIn, check_storable_text, errors_by_field
from ..submissions import Accepted, accept_with_token
from .openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
_captured_at = TypeAdapter(dt.datetime)


def _problem(status: int, error: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error=error, message=message, **extra), status


# Routes that authenticate their bearer token themselves: the submit before it reads the body, and
# again in the statement that does its work.
_SELF_AUTHENTICATING = {"api.openapi", "api.create_report"}


@bp.before_request
def _authenticate() -> tuple[Response, int] | None:
    if request.endpoint in _SELF_AUTHENTICATING:
        return None
    token = _bearer_token()
    holder = _token_holder(token) if token is not None else None
    if holder is None:
        return _unauthorized()
    if request.endpoint in _EXPORTING:
        # Exports take a read-only export scope (a coordinator's token, handed to a partner).
        if not export_tiers(holder.scope) or holder.role != Role.COORDINATOR:
            return _insufficient_scope("This token cannot download exports.")
        g.api_holder = holder
        return None
    if holder.scope != SCOPE_SUBMIT:
        return _insufficient_scope("This token may only download exports.")
    if not can_submit(holder):
        return _not_found()
    g.api_holder = holder
    return None


# Transfer records are public facts: any read-only export token of a coordinator may list them.
_EXPORTING = {"api.export_download", "api.export_notes", "api.transfer_list"}


def _insufficient_scope(message: str) -> tuple[Response, int]:
    """RFC 6750, 3.1: a valid token without the scope the request needs."""
    response, status = _problem(403, "insufficient_scope", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="intake", error="insufficient_scope"'
    return response, status


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


def being_filed_json(entry: Submission) -> dict[str, Any]:
    """An accepted submission not filed yet (one that could not be filed is held for a
    coordinator): its receipt and status, never its content."""
    location = url_for("api.get_report", public_id=entry.public_id)
    return {
        "id": entry.public_id,
        "receipt_code": entry.receipt_code,
        "status": ReportState.RECEIVED.value,
        "received_at": entry.received_at.isoformat(),
        "channel": entry.channel.value,
        "links": {"self": location, "attachments": location + "/attachments"},
        "status_label": str(ReportState.RECEIVED.label),  # type: ignore[attr-defined]
        "attachments": [],
        "filing": "pending",
    }


def _report_or_being_filed(public_id: str) -> dict[str, Any] | None:
    """The reporter's report as `report_json(full=True)`, or their submission still being filed."""
    report = own_report(db.session, _user(), public_id)
    if report is not None:
        return report_json(report, full=True)
    entries = being_filed(db.session, _user(), public_id)
    return being_filed_json(entries[0]) if entries else None


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
    # Who asks comes before anything they sent: an unknown token is answered 401 and a holder who
    # may not submit 404 before the body is read, and a holder over their limit 429.
    token = _bearer_token()
    holder = _known_holder(token) if token is not None else None
    if holder is None:
        return _unauthorized()
    if holder.scope != SCOPE_SUBMIT:
        return _insufficient_scope("This token may only download exports.")
    if not can_submit(holder):
        return _not_found()
    assert token is not None
    waits = quotas.report_allowed(current_app.config, token_digest(token) or "", holder.user_id)
    if waits is not None:
        return _too_many(waits, "Too many reports from this account in a short time.")
    try:
        data, key = _report_in_body()
    except _Refused as refused:
        return refused.answer
    # One statement: the token again (revoked meanwhile: 401), and the journal row if its holder may
    # submit; a worker files the report (intake.submissions). An unreachable database is answered
    # 503 with Retry-After by the app's handler (web/errors.py).
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
    body = _report_or_being_filed(accepted.public_id)
    if body is None:  # accepted through another organisation's account: never shown
        abort(404)
    response = jsonify(body)
    response.headers["Location"] = body["links"]["self"]
    return response, 200


# A token known to be valid is looked up again after this long. The cache only decides whether the
# body is worth reading and whose limits count it: the submit's own statement checks the token
# again, so a token revoked meanwhile never files anything.
HOLDER_CACHE_SECONDS = 10.0
HOLDER_CACHE_SIZE = 4096


def _known_holder(token: str) -> TokenHolder | None:
    """Who `token` speaks for, from a short per-process cache of valid tokens (no round trip on a
    client's next submission), else from the database."""
    digest = token_digest(token)
    if digest is None:
        return None
    cache: dict[str, tuple[float, TokenHolder]] = current_app.extensions.setdefault("intake_token_holders", {})
    now = time.monotonic()
    known = cache.get(digest)
    if known is not None and known[0] > now:
        return known[1]
    holder = _token_holder(token)
    if holder is not None:
        if len(cache) >= HOLDER_CACHE_SIZE:
            cache.clear()
        cache[digest] = (now + HOLDER_CACHE_SECONDS, holder)
    return holder


def _too_many(retry_after: int, message: str) -> tuple[Response, int]:
    response, status = _problem(429, "too_many_requests", f"{message} Try again in {retry_after} s.",
                                retry_after=retry_after)
    response.headers["Retry-After"] = str(retry_after)
    return response, status


class _Refused(Exception):
    """What is wrong with a request's body, as the 4xx that says so."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(error)
        self.answer = _problem(status, error, message, **extra)


def _report_in_body() -> tuple[ReportIn, str]:
    """The request's report, validated, and its idempotency key; `_Refused` says what is wrong."""
    if not request.is_json:
        raise _Refused(415, "unsupported_media_type", "Send the report as application/json.")
    raw = _json_body()
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


def _json_body() -> bytes:
    """The body, if it is no larger than API_MAX_JSON_BYTES (twice the largest real report, see config):
    a larger one is refused by its Content-Length before it is read, or once that much was read."""
    cap = int(current_app.config["API_MAX_JSON_BYTES"])
    too_large = _Refused(413, "too_large", f"A report's JSON may be at most {cap:,} bytes; send files as "
                                           "attachments.", max_bytes=cap)
    if request.content_length is not None and request.content_length > cap:
        raise too_large
    request.max_content_length = cap
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise too_large from None


@bp.get("/reports/<public_id>")
def get_report(public_id: str) -> Response:
    return jsonify(_report_or_being_filed(public_id) or abort(404))


def _closed_to_files(state: ReportState) -> tuple[Response, int]:
    hours = int(current_app.config["ATTACHMENT_WINDOW_SECONDS"]) // 3600
    return _problem(
        409, "report_closed_to_files",
        f"Files can be added to a report while it is being filed (until a verifier takes it up, at most {hours} "
        "hours after it was received) or while it answers a verifier's question; this report is no longer open "
        "to new files. Send the file with a new report, or wait for a question about this one.",
        report_status=state.value,
    )


# A multipart body's boundaries and text fields besides the file itself.
MULTIPART_OVERHEAD = 64 * 1024


@bp.post("/reports/<public_id>/attachments")
def add_attachment(public_id: str) -> tuple[Response, int]:
    report = own_report(db.session, _user(), public_id) or abort(404)
    if not open_to_files(current_app.config, report.state, report.received_at):
        # Refused before the upload is read.
        return _closed_to_files(report.state)
    room, waits = quotas.upload_room(current_app.config, _holder().user_id)
    if room is not None and (room <= 0 or (request.content_length or 0) > room + MULTIPART_OVERHEAD):
        return _too_many(waits, "This account has uploaded as many bytes of files as it may in one day.")
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
        check_storable_text(description)
    except ValueError as exc:
        return _problem(422, "invalid", "The description has a character that cannot be stored.",
                        errors={"description": [str(exc)]})
    try:
        # Stored, checked against the report's state and the account's daily bytes, owed its inspection
        # and audited, in one transaction, as a finished resumable upload is (media.attach_to_report).
        attachment, created = attach_to_report(
            db.session, current_app.config, report, _user(), upload.stream, upload.filename,
            captured_at=captured_at, description=description,
        )
        db.session.commit()
    except ClosedToFiles as exc:
        db.session.rollback()  # the stored file goes with the transaction
        return _closed_to_files(exc.state)
    except OverUploadQuota as exc:
        db.session.rollback()
        return _too_many(exc.retry_after, "This file would take the account past the bytes it may upload in one day.")
    except UploadRefused as exc:
        db.session.rollback()
        status = 413 if exc.too_large else 422
        return _problem(status, "upload_refused", str(exc), errors={"file": [str(exc)]})
    if created:
        dispatch_report(report.id)
    return jsonify(attachment_json(attachment)), 201 if created else 200


def _export_spec(of: str) -> Any:
    from ..exports import ExportSpec

    try:
        spec = ExportSpec.parse(request.args.get("format"), of, request.args.get("tier"))
    except ValueError as exc:
        return _problem(400, "bad_request", str(exc))
    if spec.tier.value not in export_tiers(_holder().scope):
        return _insufficient_scope(f"This token may not download the {spec.tier.value} tier.")
    return spec


@bp.get("/exports/<of>")
def export_download(of: str) -> Any:
    """The organisation's export over reports or incidents (`?format=csv|geojson|hxl|acled&tier=`),
    from the same code path as the web page and `intake export`; audited."""
    from ..exports import ExportBlocked, ExportSpec
    from .exports import file_response, prepared

    spec = _export_spec(of)
    if not isinstance(spec, ExportSpec):
        return spec
    try:
        export = prepared(spec, _user(), "api")
    except ExportBlocked:
        db.session.rollback()
        return _problem(409, "export_blocked", "A released count could identify people: nothing was exported.")
    return file_response(export)


@bp.get("/exports/<of>/notes")
def export_notes(of: str) -> Any:
    """What that export suppresses and why (no row of it)."""
    from ..exports import ExportBlocked, ExportSpec, build_export

    spec = _export_spec(of)
    if not isinstance(spec, ExportSpec):
        return spec
    try:
        export = build_export(db.session, _holder().organisation_id, spec, current_app.config)
    except ExportBlocked:
        db.session.rollback()
        return _problem(409, "export_blocked", "A released count could identify people: nothing was exported.")
    export.close()
    db.session.rollback()
    return jsonify(export.notes)


@bp.get("/transfers")
def transfer_list() -> Response:
    """The organisation's transfer records (public facts, intake/transfers), latest transfer first."""
    from ..transfers import transfers_of
    from ..transfers.records import transfer_json

    rows = transfers_of(db.session, _holder().organisation_id)
    db.session.rollback()
    return jsonify(transfers=[transfer_json(t) for t in rows])


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())
