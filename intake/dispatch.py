"""Handing work to the workers, after the transaction that made it has committed."""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app

log = logging.getLogger(__name__)

# After the broker failed once, this process does not try it again for a while: every request
# would otherwise wait out the connection timeout, and the outbox holds the work anyway.
BROKER_BACKOFF_SECONDS = 30.0
_lock = threading.Lock()
_broker_down_until = 0.0


def dispatch_report(report_id: int) -> bool:
    """Queue the pipeline for a report. Returns False if the broker could not be reached.

    Never raises: the report and its pipeline job are already committed, and the periodic sweep
    dispatches the job again if this message never arrives.
    """
    return _send("intake.process_report", report_id)


def dispatch_submission(entry_id: int) -> bool:
    """Queue the filing of a journalled submission (then its pipeline); as `dispatch_report`."""
    return _send("intake.file_submission", entry_id)


def _send(task: str, object_id: int) -> bool:
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return False
    celery = current_app.extensions["celery"]
    try:
        celery.send_task(task, args=[object_id])
    except Exception as exc:  # any broker failure; the sweep is the safety net
        with _lock:
            _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        log.warning("%s %s: could not reach the broker (%s); the sweep will dispatch it",
                    task, object_id, type(exc).__name__)
        return False
    return True


def broker_backoff_reset() -> None:
    """Forget a past broker failure (tests, and a process that knows the broker is back)."""
    global _broker_down_until
    with _lock:
        _broker_down_until = 0.0
