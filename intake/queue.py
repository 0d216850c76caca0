"""The verifiers' queue: one organisation's reports by tab, filtered, sorted and keyset-paginated.

Every tab and sort is served by an index that starts with (organisation_id, state) — see the
indexes of `Report` — and every page continues from a cursor that carries its sort and the sort key
of the last row shown, never an offset: page 4,000 costs what page 1 costs.

The priority sort (casualties, most first; then the report waiting longest) mixes directions, which
one index range cannot serve. It walks the casualty totals downwards instead: the rest of the
current total's rows in (received_at, id) order, then the next lower total found by one index
probe (`max(casualty_total) < current`), and so on until the page is full — each step an index
range scan on (organisation_id, state, casualty_total, received_at, id).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session, selectinload

from .enums import DeliveryPlatform, Grade, IncidentType, QueueSort, QueueTab, ReportState
from .models import Attachment, Report

TAB_STATES = {
    QueueTab.TRIAGE: ReportState.TRIAGE,
    QueueTab.MINE: ReportState.IN_REVIEW,
    QueueTab.SIGN_OFF: ReportState.IN_REVIEW,
    QueueTab.NEEDS_INFO: ReportState.NEEDS_INFO,
    QueueTab.VERIFIED: ReportState.VERIFIED,
    QueueTab.REJECTED: ReportState.REJECTED,
}


@dataclass(frozen=True)
class Filters:
    """What a verifier narrowed the queue to. Every field is optional."""

    incident_type: IncidentType | None = None
    occurred_from: dt.date | None = None
    occurred_to: dt.date | None = None
    admin1: str | None = None
    delivery_platform: DeliveryPlatform | None = None
    munition: str | None = None
    grade: Grade | None = None
    has_media: bool | None = None
    claimed_by_id: int | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.incident_type is not None:
            found.append(Report.incident_type == self.incident_type)
        if self.occurred_from is not None:
            found.append(Report.occurred_on >= self.occurred_from)
        if self.occurred_to is not None:
            found.append(Report.occurred_on <= self.occurred_to)
        if self.admin1:
            found.append(func.lower(Report.admin1) == self.admin1.strip().lower())
        if self.delivery_platform is not None:
            found.append(Report.delivery_platform == self.delivery_platform)
        if self.munition:
            pattern = "%" + _escape_like(self.munition.strip().lower()) + "%"
            found.append(or_(func.lower(Report.munition_type).like(pattern, escape="\\"),
                             func.lower(Report.munition_model).like(pattern, escape="\\")))
        if self.grade is not None:
            found.append(Report.grade == self.grade)
        if self.has_media is not None:
            files = exists().where(Attachment.report_id == Report.id)
            found.append(files if self.has_media else ~files)
        if self.claimed_by_id is not None:
            found.append(Report.claimed_by_id == self.claimed_by_id)
        return found


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Page:
    reports: list[Report]
    next_cursor: str | None
    total: int
    counts: dict[QueueTab, int] = field(default_factory=dict)


def tab_conditions(tab: QueueTab, organisation_id: int, user_id: int) -> list[ColumnElement[bool]]:
    conditions = [Report.organisation_id == organisation_id, Report.state == TAB_STATES[tab]]
    if tab == QueueTab.MINE:
        conditions.append(Report.claimed_by_id == user_id)
    elif tab == QueueTab.SIGN_OFF:
        # Plain `sign_off_pending` (not `IS TRUE`): PostgreSQL then uses the partial index ix_reports_sign_off.
        conditions.append(Report.sign_off_pending.expression)
    return conditions


# Tab counts are exact up to this many; above it a tab says "1000+". An exact count of a tab with a
# hundred thousand reports would read them all on every page view.
COUNT_CAP = 1000


def tab_counts(session: Session, organisation_id: int, user_id: int,
               filters: Filters | None = None, cap: int = COUNT_CAP) -> dict[QueueTab, int]:
    """How many reports each tab holds under the filters, up to `cap` + 1 (meaning "more than cap").

    One bounded query per tab, each an index range of at most `cap` + 1 entries (ix_reports_queue,
    ix_reports_claimed_by, ix_reports_sign_off, ix_reports_filter for the type and date filters).
    """
    conditions = (filters or Filters()).conditions()
    counts: dict[QueueTab, int] = {}
    for tab in QueueTab:
        bounded = (select(Report.id).where(*tab_conditions(tab, organisation_id, user_id), *conditions)
                   .limit(cap + 1).subquery())
        counts[tab] = int(session.scalar(select(func.count()).select_from(bounded)) or 0)
    return counts


# ---- cursors ------------------------------------------------------------------------------------

# The sort keys of each sort, and whether they run descending. PRIORITY is special (see above).
SORT_KEYS: dict[QueueSort, tuple[tuple[str, bool], ...]] = {
    QueueSort.PRIORITY: (("casualty_total", True), ("received_at", False), ("id", False)),
    QueueSort.NEWEST: (("received_at", True), ("id", True)),
    QueueSort.OLDEST: (("received_at", False), ("id", False)),
    QueueSort.OCCURRED: (("occurred_on", True), ("id", True)),
}


def _key_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def encode_cursor(sort: QueueSort, report: Report) -> str:
    """The position after `report` in `sort`, as an opaque URL-safe token."""
    values = [_key_value(getattr(report, name)) for name, _desc in SORT_KEYS[sort]]
    raw = json.dumps([sort.value, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: QueueSort, cursor: str) -> tuple[Any, ...] | None:
    """The sort key a cursor points after, or None for a cursor that is not ours or of another sort."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if not isinstance(raw, list) or raw[0] != sort.value or len(raw) != len(SORT_KEYS[sort]) + 1:
            return None
        values: list[Any] = []
        for (name, _desc), value in zip(SORT_KEYS[sort], raw[1:], strict=True):
            if name in ("id", "casualty_total"):
                # Beyond 64 bits no row has it, and the database refuses to compare with it.
                if not isinstance(value, int) or isinstance(value, bool) or not -(2**63) <= value < 2**63:
                    return None
                values.append(value)
            elif name == "received_at":
                when = dt.datetime.fromisoformat(value)
                # In UTC, as stored: a time at the calendar's edge that has no UTC form is no cursor of ours.
                values.append((when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC))
            else:
                values.append(dt.date.fromisoformat(value))
        return tuple(values)
    except (ValueError, TypeError, IndexError, OverflowError, UnicodeDecodeError, binascii.Error):
        return None


# ---- pages --------------------------------------------------------------------------------------


def queue_page(
    session: Session,
    organisation_id: int,
    user_id: int,
    tab: QueueTab = QueueTab.TRIAGE,
    *,
    filters: Filters | None = None,
    sort: QueueSort = QueueSort.PRIORITY,
    after: str | None = None,
    page_size: int = 25,
    count_cap: int = COUNT_CAP,
) -> Page:
    """One page of a tab. `after` is the cursor from the previous page (ignored if of another sort)."""
    filters = filters or Filters()
    conditions = [*tab_conditions(tab, organisation_id, user_id), *filters.conditions()]
    position = decode_cursor(sort, after) if after else None
    if sort == QueueSort.PRIORITY:
        rows = _priority_rows(session, conditions, position, page_size + 1)
    else:
        rows = _uniform_rows(session, conditions, sort, position, page_size + 1)
    next_cursor = encode_cursor(sort, rows[page_size - 1]) if len(rows) > page_size else None
    counts = tab_counts(session, organisation_id, user_id, filters, count_cap)
    return Page(rows[:page_size], next_cursor, counts[tab], counts)


def _select(conditions: list[ColumnElement[bool]]) -> Any:
    # The queue shows each report's file count, claimant and people listed (its Killed and Injured
    # are the larger of the table and the list): loaded for the page in one query each.
    return select(Report).where(*conditions).options(selectinload(Report.attachments), selectinload(Report.claimed_by),
                                                     selectinload(Report.victims))


def _uniform_rows(session: Session, conditions: list[ColumnElement[bool]], sort: QueueSort,
                  position: tuple[Any, ...] | None, limit: int) -> list[Report]:
    keys = SORT_KEYS[sort]
    columns = [getattr(Report, name) for name, _desc in keys]
    descending = keys[0][1]
    query = _select(conditions)
    if position is not None:
        after = tuple_(*columns) < tuple_(*position) if descending else tuple_(*columns) > tuple_(*position)
        query = query.where(after)
    order = [c.desc() if descending else c.asc() for c in columns]
    return list(session.scalars(query.order_by(*order).limit(limit)))


def _priority_rows(session: Session, conditions: list[ColumnElement[bool]], position: tuple[Any, ...] | None,
                   limit: int) -> list[Report]:
    def group(total: int, after: tuple[Any, ...] | None, room: int) -> list[Report]:
        query = _select([*conditions, Report.casualty_total == total])
        if after is not None:
            query = query.where(tuple_(Report.received_at, Report.id) > tuple_(*after))
        return list(session.scalars(query.order_by(Report.received_at, Report.id).limit(room)))

    def next_total(below: int | None) -> int | None:
        query = select(func.max(Report.casualty_total)).where(*conditions)
        if below is not None:
            query = query.where(Report.casualty_total < below)
        return session.scalar(query)

    rows: list[Report] = []
    if position is not None:
        current: int | None = position[0]
        rows += group(position[0], position[1:], limit)
    else:
        current = next_total(None)
        if current is None:
            return rows
        rows += group(current, None, limit)
    while len(rows) < limit and current is not None:
        current = next_total(current)
        if current is not None:
            rows += group(current, None, limit - len(rows))
    return rows
