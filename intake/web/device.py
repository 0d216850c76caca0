"""What the form's script on the phone needs from the server (intake.device, static/outbox.js):
the key that opens its drafts and outbox, and the service worker that sends the outbox when no
page is open."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from ..device import device_keys
from .access import SUBMITTERS, roles_required

bp = Blueprint("device", __name__)

# Scripts the service worker runs, in order: IndexedDB helpers, the outbox shared with the pages,
# then the worker's own events.
WORKER_SCRIPTS = ("vendor/idb-8.0.4/umd.js", "device-store.js", "sw.js")


@bp.get("/device/key")
@roles_required(*SUBMITTERS)
def key() -> Response:
    """The signed-in user's device keys and a fresh CSRF token, for the page or the service worker.

    JSON on a GET: another site cannot read it (no CORS), and the session cookie is SameSite=Strict.
    Never cached (the app's `no-store`); kept in the browser's memory only, never in its storage.
    """
    config = current_app.config
    secrets = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or ())]
    keys = device_keys(secrets, current_user.public_id)
    return jsonify(keys=[k.as_json() for k in keys], csrf_token=generate_csrf())


@bp.get("/device-sw.js")
def service_worker() -> Response:
    """The service worker, served from the site's root so that its scope covers every page of the
    form, the receipt and *My reports*. It has no `fetch` handler: it never answers or caches a page
    (pages carry report content); it only sends the outbox in the background (Background Sync)."""
    urls = {"key": url_for("device.key"), "post": url_for("field.new_report")}
    sources = ", ".join(json.dumps(url_for("static", filename=name)) for name in WORKER_SCRIPTS)
    body = f"self.intakeUrls = {json.dumps(urls)};\nimportScripts({sources});\n"
    return current_app.response_class(body, mimetype="text/javascript")
