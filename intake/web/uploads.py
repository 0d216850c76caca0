"""Resumable uploads over HTTP: the tus 1.0.0 endpoints under `/api/v1/uploads` (intake.uploads).

Who asks: a bearer token, as the rest of the API, or the signed-in browser session of a submitter,
whose writes carry the form's CSRF token in `X-CSRFToken`. Another user's upload is not found (404).
Every answer carries `Tus-Resumable`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from ..accounts import can_submit, holder_of_token
from ..extensions import csrf, db
from ..models import ResumableUpload, User
from ..uploads import protocol
from ..uploads.protocol import TUS_VERSION, TusError
from ..uploads.storage import UploadBusy
from .access import SUBMITTERS
from .auth import second_factor_passed

bp = Blueprint("uploads", __name__, url_prefix="/api/v1/uploads")
log = logging.getLogger(__name__)


def _answer(status: int, error: str | None = None, message: str | None = None, **headers: str) -> Response:
    response = jsonify(error=error, message=message) if error else current_app.response_class(status=status)
    response.status_code = status
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


@bp.before_request
def _authenticate() -> Response | None:
    if request.method == "OPTIONS":
        return None  # discovery: what the server supports is no secret
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        return _answer(412, "tus_version", "Send Tus-Resumable: 1.0.0.", Tus_Version=TUS_VERSION)
    token = _bearer_token()
    if token is not None:
        engine = current_app.extensions["intake_engine"]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            holder = holder_of_token(connection, token)
        if holder is None:
            return _unauthorized()
        if not can_submit(holder):
            return _answer(404, "not_found", "There is nothing here, or it is not yours to see.")
        g.upload_user_id = holder.user_id
        return None
    if current_user.is_authenticated:
        if current_user.role not in SUBMITTERS or not second_factor_passed():
            return _answer(404, "not_found", "There is nothing here, or it is not yours to see.")
        if request.method not in ("GET", "HEAD"):
            try:
                csrf.protect()  # the X-CSRFToken header the page's script sends
            except CSRFError:
                return _answer(403, "csrf", "The page's CSRF token is missing or expired: reload the page.")
        g.upload_user_id = current_user.id
        return None
    return _unauthorized()


def _unauthorized() -> Response:
    return _answer(401, "unauthorized", "A valid bearer token or a signed-in session is required.",
                   WWW_Authenticate='Bearer realm="intake"')


@bp.after_app_request
def _tus_headers(response: Response) -> Response:
    # Every answer under the prefix, also those no route of the blueprint made (405, a 413 of the body).
    if request.path.startswith(bp.url_prefix or ""):
        response.headers["Tus-Resumable"] = TUS_VERSION
    return response


def _user() -> User:
    user = db.session.get(User, g.upload_user_id)
    assert user is not None
    return user


def _capabilities() -> Response:
    return _answer(204, Tus_Version=TUS_VERSION, Tus_Extension=protocol.EXTENSIONS,
                   Tus_Max_Size=str(current_app.config["MAX_FILE_BYTES"]),
                   Tus_Checksum_Algorithm=protocol.CHECKSUM_ALGORITHMS)


def _refused(exc: TusError) -> Response:
    db.session.rollback()
    return _answer(exc.status, exc.error, exc.message)


def _expires(upload: ResumableUpload) -> dict[str, str]:
    if upload.status != "open":
        return {}
    return {"Upload_Expires": email.utils.format_datetime(upload.expires_at.astimezone(dt.UTC), usegmt=True)}


@bp.route("", methods=["OPTIONS"], provide_automatic_options=False)
def options() -> Response:
    return _capabilities()


@bp.post("")
def create() -> Response:
    try:
        upload = protocol.create(db.session, current_app.config, _user(), request.headers.get("Upload-Length"),
                                 request.headers.get("Upload-Metadata", ""))
    except TusError as exc:
        return _refused(exc)
    location = url_for("uploads.head", public_id=upload.public_id)
    headers = {"Location": location, **_expires(upload)}
    db.session.commit()
    log.info("resumable upload %s created", upload.public_id)
    return _answer(201, **headers)


def _own(public_id: str) -> ResumableUpload:
    upload = protocol.find(db.session, _user(), public_id)
    if upload is None:
        raise TusError(404, "not_found", "There is nothing here, or it is not yours to see.")
    return upload


def _progress(upload: ResumableUpload, offset: int | None = None) -> dict[str, Any]:
    headers: dict[str, Any] = {"Upload_Offset": str(upload.upload_offset if offset is None else offset),
                               **_expires(upload)}
    if upload.attachment is not None:
        headers["Intake_Attachment"] = upload.attachment.public_id
    return headers


@bp.route("/<public_id>", methods=["OPTIONS"], provide_automatic_options=False)
def options_one(public_id: str) -> Response:
    return _capabilities()


@bp.route("/<public_id>", methods=["HEAD"])
def head(public_id: str) -> Response:
    try:
        upload = _own(public_id)
        protocol.check_usable(upload)
    except TusError as exc:
        return _refused(exc)
    return _answer(200, Upload_Length=str(upload.length), Cache_Control="no-store", **_progress(upload))


@bp.patch("/<public_id>")
def patch(public_id: str) -> Response:
    try:
        upload = _own(public_id)
        result = protocol.patch(
            db.session, current_app.config, _user(), upload, request.headers.get("Upload-Offset"),
            request.headers.get("Content-Type", ""), request.content_length, request.headers.get("Upload-Checksum"),
            request.stream,
        )
    except UploadBusy:
        db.session.rollback()
        return _answer(423, "locked", "Another request is sending this upload; try again in a moment.")
    except TusError as exc:
        return _refused(exc)
    if result.attachment is not None and result.created:
        log.info("resumable upload %s complete", public_id)
    upload = _own(public_id)
    return _answer(204, **_progress(upload, result.offset))


@bp.delete("/<public_id>")
def terminate(public_id: str) -> Response:
    try:
        upload = _own(public_id)
        protocol.terminate(db.session, current_app.config, upload)
    except UploadBusy:
        db.session.rollback()
        return _answer(423, "locked", "Another request is sending this upload; try again in a moment.")
    except TusError as exc:
        return _refused(exc)
    return _answer(204)
