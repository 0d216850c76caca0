"""Thin tasks: load by id, call the domain, commit. Each is idempotent and takes ids only."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from flask import current_app
from sqlalchemy.exc import DBAPIError, OperationalError

from intake.dispatch import dispatch_report
from intake.extensions import db
from intake.media import discard_upload
from intake.models import Attachment, utcnow
from intake.pipeline import process_report as run_pipeline
from intake.pipeline import reports_to_redispatch

log = logging.getLogger(__name__)


@shared_task(
    name="intake.process_report",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
)
def process_report(report_id: int) -> None:
    """Idempotent: every step skips work already done, and the state moves only from `received`."""
    try:
        outcome = run_pipeline(db.session, current_app.config, report_id)
        db.session.commit()
    except DBAPIError:
        db.session.rollback()
        raise
    log.info("report %s: %s", report_id, outcome)


@shared_task(name="intake.sweep")
def sweep() -> None:
    """Idempotent: re-dispatches reports stuck in `received` and clears abandoned form stashes."""
    config = current_app.config
    stalled = reports_to_redispatch(db.session, config["PIPELINE_DEADLINE_SECONDS"])
    db.session.rollback()
    for report_id in stalled:
        dispatch_report(report_id)
    if stalled:
        log.warning("sweep: re-dispatched %d stalled report(s)", len(stalled))
    cutoff = utcnow() - dt.timedelta(seconds=config["STASH_MAX_AGE_SECONDS"])
    from sqlalchemy import select

    abandoned = db.session.scalars(
        select(Attachment).where(Attachment.report_id.is_(None), Attachment.created_at < cutoff).limit(500)
    ).all()
    for attachment in abandoned:
        discard_upload(db.session, config, attachment)
    db.session.commit()
