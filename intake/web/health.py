"""`GET /healthz`: can this installation take reports and process them right now?"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from werkzeug.wrappers import Response

from ..extensions import db
from ..models import utcnow
from ..pipeline import latest_heartbeat

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    checks: dict[str, Any] = {"database": _database(), "broker": _broker(), "worker": {"ok": False}}
    if checks["database"]["ok"]:
        checks["worker"] = _worker()
    healthy = all(check["ok"] for check in checks.values())
    return jsonify(status="ok" if healthy else "degraded", checks=checks), 200 if healthy else 503


def _database() -> dict[str, Any]:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return {"ok": True}
    except Exception as exc:
        db.session.rollback()
        return {"ok": False, "error": type(exc).__name__}


def _broker() -> dict[str, Any]:
    celery = current_app.extensions["celery"]
    try:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def _worker() -> dict[str, Any]:
    try:
        seen = latest_heartbeat(db.session)
        db.session.rollback()
    except Exception as exc:
        db.session.rollback()
        return {"ok": False, "error": type(exc).__name__}
    if seen is None:
        return {"ok": False, "error": "no worker has ever reported"}
    age = (utcnow() - seen).total_seconds()
    stale = current_app.config["WORKER_STALE_SECONDS"]
    return {"ok": age <= stale, "last_seen_seconds_ago": round(age, 1),
            **({} if age <= stale else {"error": f"no heartbeat for over {stale} s"})}


