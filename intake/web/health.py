"""`GET /healthz`: can this installation take reports and process them right now?"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from werkzeug.wrappers import Response

from ..extensions import db
from ..models import utcnow
from ..pipeline import RECOVERY, SWEEP, latest_heartbeat, scheduled_run

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)
# The sweep is stale when it has not run for two of its intervals and this much more.
SWEEP_MARGIN_SECONDS = 10.0


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    checks: dict[str, Any] = {"database": _database(), "broker": _broker(), "worker": {"ok": False},
                              "sweep": {"ok": False}}
    if checks["database"]["ok"]:
        checks["worker"] = _worker()
        checks["sweep"] = _sweep()
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




def _sweep() -> dict[str, Any]:
    """When celery beat's sweep last ran (or, before its first run, when a scheduler started), and
    when a worker's relay last recovered overdue work: stale past two sweep intervals and a margin,
    so monitoring sees a scheduler that died or hangs even while the relays keep recovering."""
    try:
        sweep = scheduled_run(db.session, SWEEP)
        recovery = scheduled_run(db.session, RECOVERY)
        db.session.rollback()
    except Exception as exc:
        db.session.rollback()
        return {"ok": False, "error": type(exc).__name__}
    now = utcnow()
    interval = float(current_app.config["SWEEP_INTERVAL_SECONDS"])
    stale_after = 2 * interval + SWEEP_MARGIN_SECONDS
    result: dict[str, Any] = {"interval_seconds": interval}
    if recovery is not None and recovery.last_run_at is not None:
        result["recovery_last_run_seconds_ago"] = round((now - recovery.last_run_at).total_seconds(), 1)
    last_run = sweep.last_run_at if sweep is not None else None
    started = sweep.started_at if sweep is not None else None
    if last_run is not None:
        result["last_run_seconds_ago"] = round((now - last_run).total_seconds(), 1)
    reference = max((t for t in (last_run, started) if t is not None), default=None)
    if reference is None:
        return {"ok": False, "stale": True, "error": "the sweep has never run: is celery beat running?", **result}
    age = (now - reference).total_seconds()
    stale = age > stale_after
    return {"ok": not stale, "stale": stale, **result,
            **({"error": f"the sweep has not run for over {stale_after:g} s: is celery beat running?"}
               if stale else {})}
