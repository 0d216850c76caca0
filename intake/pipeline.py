"""What the workers do with every new report, as plain functions over a session.

received ──(inspect media; cleaned copies of files; anonymized view; look for duplicates)──▶ triage

The work owed to a report is a `PipelineJob` row (the outbox), written in the same transaction as
the report or the attachment that needs it. A broker message only says "start now"; the sweep
dispatches again any job still pending after its deadline, and a job that fails or dies again and
again is held as `dead` for a coordinator to look at and retry.

Each step is idempotent: it looks at what is already done and does only the rest, so a step
killed at any line and run again leaves the same result. The last step, `suggest_duplicates`, needs
the coarse cell and the anonymized account the step before it made.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .anonymization import anonymize_report
from .duplicates import suggest_duplicates
from .enums import JobState, ReportState
from .media import PixelBudget, inspect_attachment, make_derivative_of, media_owed
from .models import PipelineJob, Report, ScheduledRun, Submission, WorkerHeartbeat, utcnow
from .reports import transition


def inspect_media(session: Session, config: dict[str, Any], report: Report) -> None:
    """Check every attachment's hash and real type, and read its embedded metadata."""
    for attachment in report.attachments:
        inspect_attachment(session, config, attachment)


def make_derivatives(session: Session, config: dict[str, Any], report: Report) -> None:
    """For every checked file, the copy shown by default: no metadata, faces in photos covered.
    The run decodes at most REPORT_MAX_IMAGE_PIXELS for the report's pictures."""
    budget = PixelBudget(int(config["REPORT_MAX_IMAGE_PIXELS"]))
    for attachment in report.attachments:
        make_derivative_of(session, config, attachment, budget)


Step = Callable[[Session, dict[str, Any], Report], None]
STEPS: list[Step] = [inspect_media, make_derivatives, anonymize_report, suggest_duplicates]


# ---- the outbox ---------------------------------------------------------------------------------


def owe_work(session: Session, report: Report, deadline_seconds: int) -> None:
    """Record, in the caller's transaction, that the workers owe `report` another pipeline run.

    One UPDATE computed by the database: a run in progress elsewhere sees the new generation and
    leaves the job pending, whatever this session happened to have loaded.
    """
    session.execute(
        update(PipelineJob)
        .where(PipelineJob.report_id == report.id)
        .values(state=JobState.PENDING, attempts=0, last_error=None, generation=PipelineJob.generation + 1,
                due_at=utcnow() + dt.timedelta(seconds=deadline_seconds))
        .execution_options(synchronize_session=False)
    )


def start_job(session: Session, report_id: int, max_attempts: int, deadline_seconds: int) -> bool:
    """Claim a run of the report's pending job; False if there is nothing to do.

    The attempt is counted and committed by the caller before any work, so a worker killed
    mid-task still counts; past `max_attempts` the job is held as dead instead of run again.
    """
    job = session.scalar(select(PipelineJob).where(PipelineJob.report_id == report_id).with_for_update())
    if job is None or job.state != JobState.PENDING:
        return False
    if job.attempts >= max_attempts:
        job.state = JobState.DEAD
        job.last_error = job.last_error or "stopped without finishing (worker lost)"
        return False
    job.attempts += 1
    job.due_at = utcnow() + dt.timedelta(seconds=deadline_seconds)
    return True


def process_report(session: Session, config: dict[str, Any], report_id: int) -> str:
    """Run every pipeline step on a report, move it to triage and mark its job done."""
    # FOR NO KEY UPDATE: runs of the same report wait for each other, but a file being added to it
    # (whose foreign key check only needs KEY SHARE) does not wait for the run.
    report = session.get(Report, report_id, with_for_update={"key_share": True})
    if report is None:
        return "missing"
    started_from = session.scalar(
        select(PipelineJob.generation).where(PipelineJob.report_id == report_id)
    )
    pause = float(config.get("PIPELINE_STEP_DELAY_SECONDS") or 0)
    # The steps' changes are written at the end, not whenever a step happens to query: on SQLite a
    # write takes the database's one write lock, which would then be held through the slow steps
    # (cleaned copies, anonymization) and make an upload arriving meanwhile wait.
    with session.no_autoflush:
        for step in STEPS:
            if pause:
                time.sleep(pause)  # fault injection for the fault tests and the soak bench only
            step(session, config, report)
    outcome = "updated"
    if report.state == ReportState.RECEIVED:
        transition(session, report, ReportState.TRIAGE)
        outcome = "triaged"
    # Done only if no new work was owed while this run went on (a file added meanwhile bumped the
    # generation, and gets a run of its own).
    if started_from is not None:
        session.execute(
            update(PipelineJob)
            .where(PipelineJob.report_id == report_id, PipelineJob.generation == started_from)
            .values(state=JobState.DONE, last_error=None)
            .execution_options(synchronize_session=False)
        )
    return outcome


def record_failure(session: Session, report_id: int, error: str, max_attempts: int) -> JobState | None:
    """Note a failed run (by exception class only) and when to try again, or hold the job as dead."""
    job = session.scalar(select(PipelineJob).where(PipelineJob.report_id == report_id).with_for_update())
    if job is None:
        return None
    job.last_error = error[:200]
    if job.attempts >= max_attempts:
        job.state = JobState.DEAD
    else:
        # 30 s, 60 s, 2 min, … up to an hour between tries of a report that keeps failing.
        job.due_at = utcnow() + dt.timedelta(seconds=min(3600, 30 * 2 ** max(job.attempts - 1, 0)))
    return job.state


def due_jobs(session: Session, limit: int = 500, *, claim: bool = False, media: bool | None = None) -> list[int]:
    """Report ids whose pending job is past its deadline: their message was lost or their worker died.

    `claim`: lock them, skipping jobs another session holds (PostgreSQL's SKIP LOCKED), so the sweep
    and every worker's relay can recover overdue work at the same time, each job sent by one of
    them; the caller postpones what it sent in the same transaction. `media`: only the jobs of
    reports with a file still owed work (True) or only the others (False), one queue's jobs.
    """
    query = (
        select(PipelineJob.report_id)
        .where(PipelineJob.state == JobState.PENDING, PipelineJob.due_at < utcnow())
        .order_by(PipelineJob.due_at)
        .limit(limit)
    )
    if media is not None:
        owed = media_owed(PipelineJob.report_id)
        query = query.where(owed if media else ~owed)
    if claim:
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def postpone(session: Session, report_ids: list[int], deadline_seconds: int) -> None:
    """Give re-dispatched jobs a new deadline, so the next sweep does not send them again at once."""
    if report_ids:
        session.execute(
            update(PipelineJob)
            .where(PipelineJob.report_id.in_(report_ids), PipelineJob.state == JobState.PENDING)
            .values(due_at=utcnow() + dt.timedelta(seconds=deadline_seconds))
        )


def dead_jobs(session: Session, organisation_id: int, limit: int = 200) -> list[PipelineJob]:
    """Jobs held as dead for one organisation, most recent first."""
    return list(
        session.scalars(
            select(PipelineJob)
            .join(Report)
            .where(PipelineJob.state == JobState.DEAD, Report.organisation_id == organisation_id)
            .order_by(PipelineJob.updated_at.desc())
            .limit(limit)
        )
    )


def retry_job(session: Session, organisation_id: int, report_public_id: str, deadline_seconds: int) -> int | None:
    """Give a dead job of this organisation a fresh start; the report's id, or None if there is none."""
    job = session.scalar(
        select(PipelineJob)
        .join(Report)
        .where(Report.public_id == report_public_id, Report.organisation_id == organisation_id,
               PipelineJob.state == JobState.DEAD)
    )
    if job is None:
        return None
    owe_work(session, job.report, deadline_seconds)
    return job.report_id


# ---- yielding to intake -------------------------------------------------------------------------


class ArrivalRate:
    """How fast reports are being accepted, from the journal's newest id sampled over the last
    `window` seconds (every report, from every channel, gets a journal row when it is accepted).
    Each worker process keeps its own; a sample is one index lookup."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, session: Session, now: float) -> float | None:
        """Reports per second over the samples of the last `window` seconds, this one included;
        None until they span a second."""
        newest = session.scalar(select(func.max(Submission.id))) or 0
        self._samples.append((now, newest))
        while now - self._samples[0][0] > self.window:
            self._samples.popleft()
        then, oldest = self._samples[0]
        if now - then < 1.0:
            return None
        return (newest - oldest) / (now - then)


def yield_to_intake(session: Session, config: dict[str, Any], rate: ArrivalRate, *,
                    clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> float:
    """Before a pipeline task: wait while reports arrive faster than PIPELINE_YIELD_ABOVE_PER_SECOND.

    During such a burst the machine's CPU goes to accepting reports (each is safe in the journal
    the moment it is acknowledged) and the pipeline catches up once the burst has passed. The
    worker's idle scheduling class asks the same of the kernel, which does not always give it.
    After PIPELINE_YIELD_MAX_SECONDS the task runs anyway: a burst that does not end slows the
    pipeline, never stops it. 0 turns this off (workers on machines of their own). Returns the
    seconds waited; no transaction is left open.
    """
    threshold = float(config["PIPELINE_YIELD_ABOVE_PER_SECOND"])
    if threshold <= 0:
        return 0.0
    started = clock()
    give_up = started + float(config["PIPELINE_YIELD_MAX_SECONDS"])
    while True:
        measured = rate.sample(session, clock())
        session.rollback()
        now = clock()
        if measured is None or measured < threshold or now >= give_up:
            return now - started
        sleep(min(1.0, give_up - now))


# ---- worker liveness ----------------------------------------------------------------------------


def record_heartbeat(session: Session, hostname: str) -> None:
    row = session.get(WorkerHeartbeat, hostname)
    if row is None:
        session.add(WorkerHeartbeat(hostname=hostname, seen_at=utcnow()))
    else:
        row.seen_at = utcnow()


def latest_heartbeat(session: Session) -> dt.datetime | None:
    return session.scalar(select(func.max(WorkerHeartbeat.seen_at)))


# ---- periodic duties ----------------------------------------------------------------------------

SWEEP = "sweep"  # celery beat's sweep (started_at: when a scheduler last started)
RECOVERY = "recovery"  # a worker relay's recovery of overdue work


def record_run(session: Session, name: str, *, started: bool = False) -> None:
    """Note that the periodic duty `name` ran now (or, `started`, that its scheduler started)."""
    row = session.get(ScheduledRun, name, with_for_update=True)
    if row is None:
        row = ScheduledRun(name=name)
        session.add(row)
    if started:
        row.started_at = utcnow()
    else:
        row.last_run_at = utcnow()


def scheduled_run(session: Session, name: str) -> ScheduledRun | None:
    return session.get(ScheduledRun, name)
