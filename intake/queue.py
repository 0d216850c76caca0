"""The verifiers' queue: reports of one organisation in one state, newest first, keyset-paginated."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from .enums import IncidentType, ReportState
from .models import Report


@dataclass(frozen=True)
class Page:
    reports: list[Report]
    next_cursor: str | None
    total: int


def encode_cursor(report: Report) -> str:
    raw = f"{report.received_at.isoformat()}|{report.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int] | None:
    """The position a cursor points after, or None for a cursor that is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        when = dt.datetime.fromisoformat(stamp)
        return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)), int(ident)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return None


def queue_page(
    session: Session,
    organisation_id: int,
    state: ReportState,
    *,
    incident_type: IncidentType | None = None,
    after: str | None = None,
    page_size: int = 25,
) -> Page:
    """One page of the queue. `after` is the cursor from the previous page."""
    conditions = [Report.organisation_id == organisation_id, Report.state == state]
    if incident_type is not None:
        conditions.append(Report.incident_type == incident_type)
    total = session.scalar(select(func.count()).select_from(Report).where(*conditions)) or 0
    query = select(Report).where(*conditions)
    position = decode_cursor(after) if after else None
    if position is not None:
        query = query.where(tuple_(Report.received_at, Report.id) < tuple_(*position))
    rows = list(
        session.scalars(query.order_by(Report.received_at.desc(), Report.id.desc()).limit(page_size + 1))
    )
    next_cursor = encode_cursor(rows[page_size - 1]) if len(rows) > page_size else None
    return Page(rows[:page_size], next_cursor, total)
