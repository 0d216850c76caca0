"""Handing work to the workers, after the transaction that made it has committed."""

from __future__ import annotations

import logging

from flask import current_app

log = logging.getLogger(__name__)


def dispatch_report(report_id: int) -> bool:
    """Queue the pipeline for a report. Returns False if the broker could not be reached.

    Never raises: the report is already committed in state `received`, and the periodic sweep
    dispatches it again if this message never arrives.
    """
    celery = current_app.extensions["celery"]
    try:
        celery.send_task("intake.process_report", args=[report_id])
    except Exception as exc:  # any broker failure; the sweep is the safety net
        log.warning("report %s: could not reach the broker (%s); the sweep will retry",
                    report_id, type(exc).__name__)
        return False
    return True
