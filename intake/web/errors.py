"""Error pages and JSON errors that never echo what was submitted."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import AnonymousUserMixin
from werkzeug.exceptions import HTTPException

from ..db import TRANSIENT_DB_ERRORS
from ..extensions import db

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"



def register(app: Flask) -> None:
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


def _error_slug(code: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
            413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "too_many_requests",
            503: "unavailable"}.get(code, "error")


def _message(code: int) -> str:
    messages = {
        400: _("The request could not be understood. Reload the page and try again."),
        401: _("Sign in first."),
        404: _("There is nothing here, or it is not yours to see."),
        405: _("This address does not accept that kind of request."),
        413: _("What you sent is larger than the server accepts. Nothing was stored. Go back: your browser "
               "still has what you typed; send fewer or smaller files at a time."),
        415: _("Send the body as application/json."),
        429: _("Too many attempts in a short time. Wait a minute, then try again."),
        503: _("The service is unavailable just now. Nothing was stored; try again in a minute."),
    }
    return messages.get(code, _("Something went wrong on the server. Nothing you typed was logged."))
