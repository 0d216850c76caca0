"""Error pages and JSON errors that never echo what was submitted."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import AnonymousUserMixin
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestTimeout

from ..crypto import DataKeyUnavailable, SealBroken
from ..db import TRANSIENT_DB_ERRORS
from ..extensions import db
from ..serving import ClientReadTimeout

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"



def register(app: Flask) -> None:
    from . import params

    params.register(app)

    def _database_unavailable(exc: Exception) -> Any:
        """The database is unreachable: say so, keep what was sent, and store nothing half-written."""
        try:
            db.session.rollback()
        except Exception:  # the connection is gone; the pool replaces it on the next request
            log.debug("rollback after a database failure failed too")
        if "_login_user" not in g:
            g._login_user = AnonymousUserMixin()  # the page must not ask the database who this is
        log.error("database unavailable (%s) on %s %s", type(exc).__name__, request.method, request.url_rule)
        if _wants_json():
            response = jsonify(error="unavailable", message=_(
                "The database is unreachable: nothing was stored. Retry in a moment with the same "
                "Idempotency-Key."))
            response.headers["Retry-After"] = "30"
            return response, 503
        if request.endpoint == "field.new_report" and request.method == "POST":
            from ..forms import ReportForm

            not_sent = _("Your report was NOT sent: the server could not store it just now. Everything you "
                         "typed is still on this page — press “Send report” again in a minute. Files that "
                         "reached the server are kept and go with the report; choosing the same file again "
                         "does not add it twice.")
            page = render_template("field/new_report.html", form=ReportForm(), uploads={}, not_sent=not_sent)
            return page, 503, {"Retry-After": "30"}
        return render_template("error.html", code=503, message=_message(503)), 503, {"Retry-After": "30"}

    for error in TRANSIENT_DB_ERRORS:
        app.register_error_handler(error, _database_unavailable)

    @app.errorhandler(DataKeyUnavailable)
    def _originals_gone(exc: DataKeyUnavailable) -> Any:
        """An action that needs a report's originals after its data key was erased (retention, or an
        erasure request). Nothing can bring them back: 410 Gone, with nothing of the request stored."""
        _rollback()
        log.warning("%s on %s %s (%s)", type(exc).__name__, request.method, request.url_rule, _ids())
        if _wants_json():
            return jsonify(error="gone", message=_message(410)), 410
        return render_template("error.html", code=410, message=_message(410)), 410

    @app.errorhandler(SealBroken)
    def _seal_broken(exc: SealBroken) -> Any:
        """A sealed value or file that does not open with its key: altered, truncated or moved in the
        database or on the disk. A fault of the stored record, not of the request, so a 500-class
        answer, but one that says what happened. Logged and audited by ids only (the route's ids:
        a report's or file's public id), never with anything of the record."""
        _rollback()
        log.error("stored record failed its integrity check (%s) on %s %s (%s)", type(exc).__name__,
                  request.method, request.url_rule, _ids())
        _audit_integrity_failure()
        if _wants_json():
            return jsonify(error="integrity_failure", message=_seal_broken_message()), SEAL_BROKEN_STATUS
        return (render_template("error.html", code=SEAL_BROKEN_STATUS, message=_seal_broken_message()),
                SEAL_BROKEN_STATUS)

    @app.errorhandler(ClientReadTimeout)
    def _client_stalled(exc: Exception) -> Any:
        """The client stopped sending its body for the web server's read timeout (intake.serving):
        408, nothing stored, nothing of the request logged; the server closes the connection after."""
        _rollback()
        return _http_error(RequestTimeout())

    @app.errorhandler(ClientDisconnected)
    def _client_disconnected(exc: ClientDisconnected) -> Any:
        # Werkzeug reports any failed read of a body of known length as a disconnect; the read
        # timeout is one (the client may still be there to read the 408).
        if isinstance(exc.__context__, ClientReadTimeout):
            return _client_stalled(exc)
        return _http_error(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if _wants_json():
            return jsonify(error=_error_slug(code), message=_message(code)), code
        return render_template("error.html", code=code, message=_message(code)), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if app.config.get("TESTING") and app.config.get("PROPAGATE_UNEXPECTED", True):
            raise exc  # tests see the traceback; production never shows or logs it
        # Only the exception's type: its message may quote a value from the report.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url_rule)
        if _wants_json():
            return jsonify(error="internal_error", message=_message(500)), 500
        return render_template("error.html", code=500, message=_message(500)), 500


# A sealed record that fails its check is the server's fault (an altered database or disk): a 500,
# not a 409 the client could resolve. Its page says so, unlike the generic 500.
SEAL_BROKEN_STATUS = 500


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the pool replaces it on the next request
        log.debug("rollback after an error failed too")


def _ids() -> str:
    """The ids in the route (public ids of a report, a file, an incident): what an operator needs to
    find the record, and nothing of its content."""
    args = request.view_args or {}
    return ", ".join(f"{name}={str(value)[:64]}" for name, value in sorted(args.items())) or "no ids"


def _audit_integrity_failure() -> None:
    """An entry in the audit log, in a transaction of its own: who met which broken record, when."""
    from flask_login import current_user

    from .. import audit
    from ..enums import AuditAction

    args = request.view_args or {}
    target_type, target_id = next(((kind, str(args[name])[:64]) for name, kind in (
        ("file_id", "attachment"), ("public_id", "report")) if name in args), (None, None))
    if request.blueprint == "incidents" and target_type == "report":
        target_type = "incident"
    try:
        actor = current_user if getattr(current_user, "is_authenticated", False) else None
        audit.record(AuditAction.RECORD_INTEGRITY_FAILED.value, actor=actor, target_type=target_type,
                     target_id=target_id, detail={"route": str(request.url_rule)[:200]})
        db.session.commit()
    except Exception as audit_failure:  # the page must still be shown; the log line above has the ids
        # By type only, as every unexpected error here: a traceback could quote what was stored.
        log.error("could not audit the integrity failure (%s)", type(audit_failure).__name__)
        _rollback()


def _error_slug(code: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
            408: "request_timeout", 413: "too_large", 415: "unsupported_media_type", 422: "invalid",
            429: "too_many_requests", 410: "gone", 503: "unavailable"}.get(code, "error")


def _seal_broken_message() -> str:
    return _("A stored record failed its integrity check: it was altered or damaged in the database or on "
             "the disk, so it is not shown. Nothing was changed. The failure was logged and audited by the "
             "record's id only: tell your administrator.")


def _message(code: int) -> str:
    messages = {
        400: _("The request could not be understood. Reload the page and try again."),
        401: _("Sign in first."),
        404: _("There is nothing here, or it is not yours to see."),
        410: _("This report's originals were erased (under the retention rules or on request): what was "
               "sealed in it — narrative, exact place, identities, files — can no longer be opened, so "
               "this action cannot be done. Its publishable facts remain. Nothing was changed."),
        405: _("This address does not accept that kind of request."),
        408: _("What you sent stopped arriving before it was complete, so the server stopped waiting. Nothing "
               "was stored. Go back: your browser still has what you typed; send it again."),
        413: _("What you sent is larger than the server accepts. Nothing was stored. Go back: your browser "
               "still has what you typed; send fewer or smaller files at a time."),
        415: _("Send the body as application/json."),
        429: _("Too many attempts in a short time. Wait a minute, then try again."),
        503: _("The service is unavailable just now. Nothing was stored; try again in a minute."),
    }

    return messages.get(code, _("Something went wrong on the server. Nothing you typed was logged."))
