"""Thin tasks: load by id, call the domain, commit. Each is idempotent and takes ids only."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import shared_task
from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from intake.crypto import DataKeyUnavailable, SealBroken
from intake.db import TRANSIENT_DB_ERRORS
from intake.dispatch import (
    MEDIA_QUEUE,
    QUEUES,
    TEXT_QUEUE,
    dispatch_question_notice,
    dispatch_report,
    dispatch_submission,
    queue_room,
    report_queue,
)
from intake.extensions import db
from intake.media import discard_upload
from intake.models import Attachment, DataKey, Report, utcnow
from intake.models import Submission as JournalEntry
from intake.pipeline import (
    SWEEP,
    ArrivalRate,
    due_jobs,
    postpone,
    record_failure,
    record_run,
    start_job,
    yield_to_intake,
)
from intake.pipeline import process_report as run_pipeline
from intake.retention import apply_retention
from intake.review import expire_idle_claims
from intake.submissions import due_submissions, note_filing_failure, postpone_submissions, start_filing
from intake.submissions import file_submission as file_into_report
from intake.uploads.protocol import sweep_expired

log = logging.getLogger(__name__)
# How fast reports arrive, as this worker process sees it: during a burst its tasks wait.
_arrivals = ArrivalRate()


@shared_task(
    name="intake.process_report",
    bind=True,
    # A database gone for a moment: try the same message again, 2 s, 4 s, … up to 5 minutes apart.
    autoretry_for=TRANSIENT_DB_ERRORS,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=10,
)
def process_report(self: Any, report_id: int) -> None:
    """Idempotent: a report whose job is done is skipped; every step skips work already done.

    A message taken from the text queue for a report that has since been given a file to clean
    leaves it to the media queue: the request that added the file sent the media worker its own
    message (and the sweep sends it again if that one is lost).
    """
    queue = (self.request.delivery_info or {}).get("routing_key")
    if queue == TEXT_QUEUE and report_queue(report_id) == MEDIA_QUEUE:
        db.session.rollback()
        log.info("report %s: files to clean, left to the media queue", report_id)
        return
    _step_back(current_app.config)
    _run_pipeline(report_id)


def _step_back(config: Any) -> None:
    """Wait while reports arrive in a burst (`yield_to_intake`), and say so in the log."""
    waited = yield_to_intake(db.session, config, _arrivals)
    if waited >= 1:
        log.info("waited %.0f s before this task: reports were arriving faster than %s/s", waited,
                 config["PIPELINE_YIELD_ABOVE_PER_SECOND"])


def _run_pipeline(report_id: int) -> None:
    config = current_app.config
    started = start_job(db.session, report_id, config["PIPELINE_MAX_ATTEMPTS"], config["PIPELINE_DEADLINE_SECONDS"])
    db.session.commit()
    if not started:
        return
    try:
        outcome = run_pipeline(db.session, config, report_id)
        db.session.commit()
    except TRANSIENT_DB_ERRORS:
        db.session.rollback()
        raise
    except Exception as exc:
        # A poison report: note the failure by class name (its message may quote the report) and
        # let the sweep try again later; past the limit the job is held for a coordinator.
        db.session.rollback()
        state = record_failure(db.session, report_id, type(exc).__name__, config["PIPELINE_MAX_ATTEMPTS"])
        db.session.commit()
        log.error("report %s: pipeline failed with %s; job now %s", report_id, type(exc).__name__,
                  state.value if state else "missing")
        return
    log.info("report %s: %s", report_id, outcome)


@shared_task(
    name="intake.file_submission",
    autoretry_for=TRANSIENT_DB_ERRORS,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=10,
)
def file_submission(entry_id: int) -> None:
    """Idempotent: file an accepted submission as a report, then run its pipeline in this task.

    The attempt is counted first; a submission that fails every attempt is held, sealed and
    complete, for a coordinator (never dropped). A submission already filed only has its
    pipeline run (which skips a job already done).
    """
    config = current_app.config
    _step_back(config)
    deadline = config["PIPELINE_DEADLINE_SECONDS"]
    entry = start_filing(db.session, entry_id, config["PIPELINE_MAX_ATTEMPTS"], deadline)
    db.session.commit()
    if entry is None:
        report_id = db.session.scalar(select(JournalEntry.report_id).where(JournalEntry.id == entry_id))
        db.session.rollback()
        if report_id is not None:
            _run_text_pipeline(report_id)
        return
    try:
        report = file_into_report(db.session, entry, deadline)
        report_id = report.id
        db.session.commit()
    except TRANSIENT_DB_ERRORS:
        db.session.rollback()
        raise
    except Exception as exc:
        # Due again after the deadline; held for a coordinator past the attempts, never dropped.
        db.session.rollback()
        note_filing_failure(db.session, entry_id, type(exc).__name__)
        db.session.commit()
        log.error("submission %s: filing failed with %s", entry_id, type(exc).__name__)
        return
    log.info("submission %s filed as report %s", entry_id, report_id)
    _run_text_pipeline(report_id)


@shared_task(name="intake.make_odk_form_key", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=2,
             retry_backoff_max=300, retry_jitter=True, max_retries=10)
def make_odk_form_key(key_id: int) -> None:
    """Idempotent: make a requested form key pair (a key made already is left alone). The private key
    is made here, in a worker, so the web process that took the request never held it."""
    from intake.models import OdkFormKey
    from intake.openrosa.decrypt import make_form_key

    row = db.session.scalar(select(OdkFormKey).where(OdkFormKey.id == key_id).with_for_update())
    if row is None or not make_form_key(db.session, row):
        db.session.rollback()
        return
    db.session.commit()
    log.info("odk form key %s made", key_id)


@shared_task(name="intake.file_odk_encrypted", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=2,
             retry_backoff_max=300, retry_jitter=True, max_retries=10)
def file_odk_encrypted(entry_id: int) -> None:
    """Idempotent: decrypt an encrypted ODK submission with its organisation's private key (unwrapped
    here only), file it as a plain instance is filed, then run its pipeline in this task. One that
    does not open, or whose content the schema refuses, is held with its parts for a coordinator;
    a submission filed already only has its pipeline run (which skips a job already done)."""
    from intake.openrosa.decrypt import Undecryptable, file_encrypted, note_failure
    from intake.openrosa.instance import InstanceRefused
    from intake.openrosa.receive import InstanceConflict

    config = current_app.config
    try:
        report = file_encrypted(db.session, config, entry_id)
        report_id = report.id if report is not None else None
        db.session.commit()
    except TRANSIENT_DB_ERRORS:
        db.session.rollback()
        raise
    except (Undecryptable, InstanceRefused, InstanceConflict, DataKeyUnavailable, SealBroken) as exc:
        db.session.rollback()
        note_failure(db.session, entry_id, f"{type(exc).__name__}: {exc}" if isinstance(exc, Undecryptable)
                     else type(exc).__name__, hold=True, retry_seconds=0)
        db.session.commit()
        log.error("odk encrypted submission %s: held (%s)", entry_id, type(exc).__name__)
        return
    except Exception as exc:
        db.session.rollback()
        note_failure(db.session, entry_id, type(exc).__name__, hold=False,
                     retry_seconds=int(config["PIPELINE_DEADLINE_SECONDS"]))
        db.session.commit()
        log.error("odk encrypted submission %s: filing failed with %s", entry_id, type(exc).__name__)
        return
    if report_id is None:
        return
    log.info("odk encrypted submission %s filed as report %s", entry_id, report_id)
    _run_text_pipeline(report_id)


def relay_odk(deadline_seconds: int, limit: int = 100) -> int:
    """Dispatch the encrypted ODK submissions due for decryption (their first message lost, or their
    worker died) and the form keys still to be made; how many messages went out."""
    from intake.dispatch import dispatch_odk_encrypted, dispatch_odk_form_key
    from intake.models import OdkEncryptedSubmission, OdkFormKey

    now = utcnow()
    due = list(db.session.scalars(select(OdkEncryptedSubmission).where(OdkEncryptedSubmission.due_at <= now)
                                  .order_by(OdkEncryptedSubmission.due_at).limit(limit).with_for_update(skip_locked=True)))
    sent = 0
    for entry in due:
        if dispatch_odk_encrypted(entry.id):
            entry.due_at = now + dt.timedelta(seconds=deadline_seconds)
            sent += 1
    keys = list(db.session.scalars(select(OdkFormKey.id).where(OdkFormKey.ready_at.is_(None)).limit(limit)))
    db.session.commit()
    sent += sum(dispatch_odk_form_key(key_id) for key_id in keys)
    return sent


def _run_text_pipeline(report_id: int) -> None:
    """The pipeline of a report filed on the text queue, unless a file of it is still owed work: that
    run belongs to the media workers (its job stays pending, and the sweep sends it again if the
    message is lost). Run here only when the message cannot go out."""
    if report_queue(report_id) == MEDIA_QUEUE and dispatch_report(report_id, MEDIA_QUEUE):
        db.session.rollback()
        return
    db.session.rollback()
    _run_pipeline(report_id)


def relay_submissions(deadline_seconds: int, limit: int = 500) -> int:
    """Dispatch the journalled submissions that are due, as many as the text queue has room for
    (`queue_room`); returns how many messages went out.

    Runs in each worker's relay thread (workers.celery_app). Only the rows whose message went
    out get a new deadline; the others stay due for the next pass.
    """
    room = queue_room(limit, TEXT_QUEUE)
    if not room:
        return 0
    due = due_submissions(db.session, room)
    sent = [entry_id for entry_id in due if dispatch_submission(entry_id)]
    postpone_submissions(db.session, sent, deadline_seconds)
    db.session.commit()
    return len(sent)


def recover_overdue_jobs(deadline_seconds: int, limit: int = 500) -> tuple[int, int]:
    """Dispatch again the pipeline jobs past their deadline (their message was lost with the broker,
    or their worker died); how many were overdue and how many messages went out.

    Run by the sweep and, every SWEEP_INTERVAL_SECONDS, by each worker's relay thread, so recovery
    does not hang on the scheduler alone. The jobs are claimed with SKIP LOCKED and postponed in the
    same transaction: two of them running at once send each job once (a duplicate would be
    harmless anyway: a run of a job already done does nothing). Queue by queue, each job to the
    queue its report belongs on (a file still owed work: media), only as many as that queue has
    room for: while it is full, the jobs' first messages are most likely still waiting in it, and a
    full media queue does not hold back the text jobs.
    """
    overdue_count = 0
    sent: list[int] = []
    for queue in QUEUES:
        room = queue_room(limit, queue)
        overdue = due_jobs(db.session, room, claim=True, media=queue == MEDIA_QUEUE) if room else []
        overdue_count += len(overdue)
        # Only jobs whose message went out get a new deadline; the others stay overdue for the next pass.
        sent += [report_id for report_id in overdue if dispatch_report(report_id, queue)]
    postpone(db.session, sent, deadline_seconds)
    db.session.commit()
    return overdue_count, len(sent)


def note_run(name: str, *, started: bool = False) -> None:
    """`pipeline.record_run` in a transaction of its own; a failure to note it is only logged."""
    try:
        record_run(db.session, name, started=started)
        db.session.commit()
    except IntegrityError:  # two first runs at once: the other one noted it
        db.session.rollback()
    except Exception as exc:
        db.session.rollback()
        log.warning("could not note the %s run (%s)", name, type(exc).__name__)


@shared_task(name="intake.sweep")
def sweep() -> None:
    """Idempotent: re-dispatches jobs past their deadline and clears abandoned form stashes."""
    config = current_app.config
    # The workers' relay threads dispatch submissions every second and recover overdue jobs every
    # sweep interval; this covers a worker whose thread is stuck or a deployment where none runs yet.
    relay_submissions(config["PIPELINE_DEADLINE_SECONDS"])
    relay_odk(config["PIPELINE_DEADLINE_SECONDS"])
    overdue, sent = recover_overdue_jobs(config["PIPELINE_DEADLINE_SECONDS"])
    if overdue:
        log.warning("sweep: %d overdue report(s), %d dispatched again", overdue, sent)
    cutoff = utcnow() - dt.timedelta(seconds=config["STASH_MAX_AGE_SECONDS"])
    abandoned = db.session.scalars(
        select(Attachment).where(Attachment.report_id.is_(None), Attachment.created_at < cutoff).limit(500)
    ).all()
    key_ids = {attachment.data_key_id for attachment in abandoned}
    for attachment in abandoned:
        discard_upload(db.session, config, attachment)
    db.session.flush()
    # A stash's data key that no report adopted goes with its files.
    used = {*db.session.scalars(select(Attachment.data_key_id).where(Attachment.data_key_id.in_(key_ids))),
            *db.session.scalars(select(Report.data_key_id).where(Report.data_key_id.in_(key_ids)))}
    if key_ids - used:
        db.session.execute(delete(DataKey).where(DataKey.id.in_(key_ids - used)))
    db.session.commit()
    # Resumable uploads past their expiry go with their sealed partial files (only a count is logged).
    expired = sweep_expired(db.session, config)
    db.session.commit()
    if expired:
        log.info("sweep: %d expired resumable upload(s) removed", expired)
    resend_lost_notices()
    from intake.evidence.jobs import expire_packs

    packs = expire_packs(db.session, config)
    db.session.commit()
    if packs:
        log.info("sweep: %d evidence pack(s) past their keeping time erased", packs)
    note_run(SWEEP)  # /healthz says when the sweep last ran, and that it is stale when overdue


def resend_lost_notices() -> int:
    """Queue again the question notices whose message never led to a send (intake.notices.owed); how
    many went out. Noted before queueing, so a broker still down only delays them to a later sweep."""
    from intake import notices

    owed = notices.owed(db.session, current_app.config)
    db.session.commit()
    sent = sum(1 for request_id in owed if dispatch_question_notice(request_id))
    if owed:
        log.info("sweep: %d question notice(s) owed, %d queued again", len(owed), sent)
    return sent


@shared_task(name="intake.retention")
def retention() -> None:
    """Idempotent: erases the originals the retention rules say are due (each audited)."""
    erased = apply_retention(db.session, current_app.config)
    if erased:
        log.info("retention: originals of %d report(s) erased", erased)


@shared_task(name="intake.expire_claims")
def expire_claims() -> int:
    """Idempotent: returns to triage the claims idle past CLAIM_IDLE_SECONDS (each audited as the
    system), a batch per transaction; a claim already returned or touched meanwhile is left alone."""
    idle_seconds = int(current_app.config["CLAIM_IDLE_SECONDS"])
    total = 0
    while True:
        returned = expire_idle_claims(db.session, idle_seconds)
        db.session.commit()
        total += returned
        if returned == 0:
            break
    if total:
        log.info("claims: %d idle claim(s) returned to triage", total)
    return total


@shared_task(name="intake.notify_question", bind=True, max_retries=8, acks_late=True)
def notify_question(self: Any, request_id: int) -> None:
    """Idempotent: tell a reporter a question waits (intake.notices), unless already told, answered,
    or not asked for. A failed send is tried again, NOTIFY_RETRY_SECONDS, twice that, … up to an hour apart; logged by
    the question's row id and the failure's type only (never an address or a message)."""
    from intake import notices

    config = current_app.config
    due = notices.notice_due(db.session, config, request_id)
    db.session.rollback()
    if due is None:
        return
    try:
        if due.webhook:
            notices.send_webhook(config, due.user_public_id)
        if due.email is not None:
            notices.send_email(config, due.email, due.language)
    except notices.NoticeFailed as exc:
        log.warning("question %s: notice not sent (%s); try %d of %d", request_id, exc, self.request.retries + 1,
                    self.max_retries + 1)
        wait = min(3600.0, float(config["NOTIFY_RETRY_SECONDS"]) * 2 ** self.request.retries)
        raise self.retry(exc=exc, countdown=wait) from None
    notices.mark_sent(db.session, request_id)
    db.session.commit()
    log.info("question %s: notice sent (%s)", request_id,
             "+".join(c for c, on in (("webhook", due.webhook), ("e-mail", due.email is not None)) if on))


@shared_task(
    name="intake.build_evidence_pack",
    acks_late=True,
    autoretry_for=TRANSIENT_DB_ERRORS,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=10,
)
def build_evidence_pack(job_id: int) -> None:
    """Idempotent: build evidence pack job `job_id` unless it is done or failed; a build killed
    midway is built again from the start (intake.evidence.jobs). Logs the job's id and state only."""
    from intake.evidence.jobs import run_pack_job

    state = run_pack_job(db.session, current_app.config, job_id, current_app.extensions["intake_statement_engine"])
    log.info("pack job %s: %s", job_id, state)
