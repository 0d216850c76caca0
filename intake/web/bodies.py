"""A browser's form body is read in full before the request touches the database.

A phone on a 2G link sends a report with a photo for minutes. Read where it used to be — in the
view, or in the CSRF check, both after the session check had loaded the user — the request held a
database connection, in an open transaction, all that time: 8 trickling phones held 8 of a
process's 15 pooled connections "idle in transaction" (and with them a lock on `users` that a
migration would queue behind, and every query after it). Read first, a slow body holds only its
thread (see intake/serving.py), and the database work after it takes milliseconds.

Only form bodies (`multipart/form-data`, `application/x-www-form-urlencoded`) of requests that
carry a session cookie: anonymous posts are answered as before (the sign-in form's body is small),
and the JSON API authenticates on connections of its own before reading a body (web/api.py,
web/uploads.py), so it is left alone. Files still go to memory or the sealed spool
(media.UploadRequest); `MAX_CONTENT_LENGTH` and the per-read timeout apply as before.
"""

from __future__ import annotations

from flask import Flask, request, session

FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


def register(app: Flask) -> None:
    """Install the hook; call it before anything that registers a `before_request` which may use
    the database (the session check, CSRFProtect)."""
    from ..app import API_PREFIX

    @app.before_request
    def _read_form_body_first() -> None:
        if (request.method in ("POST", "PUT", "PATCH") and request.mimetype in FORM_TYPES
                and not request.path.startswith(API_PREFIX) and session):
            request.form  # noqa: B018  (parses the body: fields, and files to memory or the sealed spool)
