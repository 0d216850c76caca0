"""What the workers do with every new report, as plain functions over a session.

received ──(inspect media; anonymize; look for duplicates)──▶ triage

Each step is idempotent: it looks at what is already done and does only the rest, so a step
killed at any line and run again leaves the same result. Anonymization and duplicate detection
are their own issues and join `STEPS` when they land.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from .enums import ReportState
from .media import inspect_attachment
from .models import Report, WorkerHeartbeat, utcnow
from .reports import stalled_reports, transition


def inspect_media(session: Session, config: dict[str, Any], report: Report) -> None:
    """Check every attachment's hash and real type, and read its embedded metadata."""
    for attachment in report.attachments:
        inspect_attachment(session, config, attachment)


Step = Callable[[Session, dict[str, Any], Report], None]
STEPS: list[Step] = [inspect_media]


def process_report(session: Session, config: dict[str, Any], report_id: int) -> str:
    """Run every pipeline step on a report and move it to triage. Returns what happened, by word."""
    report = session.get(Report, report_id, with_for_update=True)
    if report is None:
        return "missing"
    for step in STEPS:
        step(session, config, report)
    if report.state == ReportState.RECEIVED:
        transition(session, report, ReportState.TRIAGE)
        return "triaged"
    return "updated"


def reports_to_redispatch(session: Session, deadline_seconds: int) -> list[int]:
    """Reports whose pipeline has not finished within its deadline."""
    return stalled_reports(session, utcnow() - dt.timedelta(seconds=deadline_seconds))


def record_heartbeat(session: Session, hostname: str) -> None:
    row = session.get(WorkerHeartbeat, hostname)
    if row is None:
        session.add(WorkerHeartbeat(hostname=hostname, seen_at=utcnow()))
    else:
        row.seen_at = utcnow()


def latest_heartbeat(session: Session) -> dt.datetime | None:
    from sqlalchemy import func, select

    return session.scalar(select(func.max(WorkerHeartbeat.seen_at)))
