"""Duplicate suggestions: which reports of the same organisation probably describe the same event.

The pipeline step `suggest_duplicates` compares a report with its neighbours and stores the likely
duplicates (`DuplicateSuggestion`: the other report, a score, the reasons as `DuplicateReason` codes),
replacing what an earlier run of the same report stored. Verifiers see them on the review page and
link the reports into one incident; nothing is linked automatically.

Two reports are suggested for each other when

- they hold **the same file** (an attachment with the same SHA-256): enough on its own; or
- they are **close in time** — dates apart by no more than the wider window of the two reports' date
  precisions (exact day ±1 day, within a week ±7, within a month ±31) — **and in place** — H3 cells
  (`location_cell`) within k rings, k from both reports' location precision; or, when a report has no
  cell or only a district-precise one, the same district (admin2; the locality when no district is
  given) — **and** something more speaks for it, so that the score reaches `THRESHOLD`: the same
  incident type, the same platform or munition model (case-insensitive), or a similar anonymized
  account (Jaccard similarity of word pairs).

Fast at a million reports: the candidates come from index range scans only — one per H3 cell of the
report's disk within the widest time window (`ix_reports_cell_date`), the district or locality
(`ix_reports_admin2_date`, `ix_reports_locality_date`) and the files' hashes (`ix_attachments_sha256`)
— each reading short publishable columns of at most `CANDIDATE_LIMIT` reports nearest in date. Only the
`ACCOUNT_LIMIT` best candidates that an account could still lift over the threshold have their
anonymized account read. Every input is publishable; no sealed field is opened.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, String, any_, func, literal, or_, select
from sqlalchemy.orm import Session, load_only, selectinload

from .enums import DatePrecision, DuplicateReason, IncidentType, LocationPrecision
from .models import Attachment, DuplicateSuggestion, Report

# How far the true date may lie from the stated one, in days, by the report's date precision.
DATE_WINDOW_DAYS = {DatePrecision.EXACT: 1, DatePrecision.WEEK: 7, DatePrecision.MONTH: 31}
WIDEST_WINDOW_DAYS = max(DATE_WINDOW_DAYS.values())
# How far the true place may lie from the stated point, in km, by location precision. A district is
# compared by name (admin2) instead: its disk of cells would be thousands of cells wide.
PLACE_RADIUS_KM = {
    LocationPrecision.EXACT: 0.1,
    LocationPrecision.KM1: 1.0,
    LocationPrecision.NEIGHBOURHOOD: 1.5,
    LocationPrecision.TOWN: 4.0,
}
WIDEST_RADIUS_KM = max(PLACE_RADIUS_KM.values())

WEIGHTS = {
    DuplicateReason.SAME_MEDIA: 1.0,
    "place_and_time": 0.4,
    DuplicateReason.SAME_TYPE: 0.15,
    DuplicateReason.SAME_PLATFORM: 0.15,
    DuplicateReason.SAME_MUNITION: 0.2,
    DuplicateReason.SIMILAR_ACCOUNT: 0.3,
}
THRESHOLD = 0.55  # place and time alone (0.4) are not enough: a town under daily shelling
ACCOUNT_MIN_JACCARD = 0.2  # word-pair overlap from which two accounts count as similar
ACCOUNT_FULL_JACCARD = 0.5  # … and from which they earn the full weight
CANDIDATE_LIMIT = 200  # reports read per candidate query, nearest in date first
ACCOUNT_LIMIT = 25  # anonymized accounts read per report
MAX_SUGGESTIONS = 10  # kept per report, best first

PLACEHOLDER = re.compile(r"\[[A-Z]+-\d+\]")
WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Facts:
    """The publishable facts of a report that the comparison needs: short columns, no account."""

    id: int
    occurred_on: dt.date
    date_precision: DatePrecision
    location_cell: str | None
    location_precision: LocationPrecision
    country: str
    admin2: str | None
    locality: str | None
    incident_type: IncidentType
    platform_model: str | None
    munition_model: str | None


FACT_COLUMNS = (Report.id, Report.occurred_on, Report.date_precision, Report.location_cell,
                Report.location_precision, Report.country, Report.admin2, Report.locality, Report.incident_type,
                Report.platform_model, Report.munition_model)


def facts_of(report: Report) -> Facts:
    return Facts(*(getattr(report, column.key) for column in FACT_COLUMNS))


@dataclass
class Candidate:
    facts: Facts
    reasons: list[DuplicateReason] = field(default_factory=list)
    score: float = 0.0

    def add(self, reason: DuplicateReason, weight: float | None = None) -> None:
        self.reasons.append(reason)
        self.score = min(1.0, self.score + (WEIGHTS[reason] if weight is None else weight))


# ---- comparing two reports ----------------------------------------------------------------------


def same_time(a: Facts, b: Facts) -> bool:
    """Dates apart by no more than the wider of the two precisions' windows."""
    window = max(DATE_WINDOW_DAYS[a.date_precision], DATE_WINDOW_DAYS[b.date_precision])
    return abs((a.occurred_on - b.occurred_on).days) <= window


def has_point(facts: Facts) -> bool:
    """A cell precise enough to compare on the map (a district-precise point is compared by name)."""
    return bool(facts.location_cell) and facts.location_precision in PLACE_RADIUS_KM


def cell_spacing_km(cell: str) -> float:
    """Distance between the centres of neighbouring cells at this cell's resolution."""
    import h3

    return float(h3.average_hexagon_edge_length(h3.get_resolution(cell), "km")) * math.sqrt(3)


def rings_for(cell: str, radius_km: float) -> int:
    """How many rings of cells around `cell` cover `radius_km`, plus one for points near a cell's edge."""
    return 1 + math.ceil(radius_km / cell_spacing_km(cell))


def nearby(a: Facts, b: Facts) -> bool:
    """Cells within the rings that both reports' location precision allows."""
    import h3

    assert a.location_cell and b.location_cell
    k = rings_for(a.location_cell, PLACE_RADIUS_KM[a.location_precision] + PLACE_RADIUS_KM[b.location_precision])
    try:
        return int(h3.grid_distance(a.location_cell, b.location_cell)) <= k
    except (h3.H3BaseException, ValueError):
        return False  # too far apart (or across a pentagon) to measure: not nearby


def _norm(text: str | None) -> str:
    return " ".join((text or "").casefold().split())


def same_area(a: Facts, b: Facts) -> bool:
    """The same district, or the same locality when either gives no district."""
    if a.country != b.country:
        return False
    if a.admin2 and b.admin2:
        return _norm(a.admin2) == _norm(b.admin2)
    return bool(a.locality and b.locality) and _norm(a.locality) == _norm(b.locality)


def shingles(text: str | None) -> frozenset[str]:
    """Pairs of consecutive words of an anonymized account, placeholders left out (every account
    has a [PERSON-1]; that says nothing about the event)."""
    words = WORD.findall(PLACEHOLDER.sub(" ", text or "").casefold())
    if len(words) < 2:
        return frozenset(words)
    return frozenset(f"{x} {y}" for x, y in zip(words, words[1:], strict=False))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def compare(report: Facts, other: Facts, *, same_media: bool) -> Candidate:
    """Every reason but the account's, and the score they add up to."""
    candidate = Candidate(other)
    if same_media:
        candidate.add(DuplicateReason.SAME_MEDIA)
    if same_time(report, other):
        if has_point(report) and has_point(other):
            place = DuplicateReason.NEARBY if nearby(report, other) else None
        else:
            place = DuplicateReason.SAME_AREA if same_area(report, other) else None
        if place is not None:
            candidate.reasons += [DuplicateReason.SAME_TIME, place]
            candidate.score = min(1.0, candidate.score + float(WEIGHTS["place_and_time"]))
    if report.incident_type == other.incident_type and report.incident_type != IncidentType.OTHER:
        candidate.add(DuplicateReason.SAME_TYPE)
    if _norm(report.platform_model) and _norm(report.platform_model) == _norm(other.platform_model):
        candidate.add(DuplicateReason.SAME_PLATFORM)
    if _norm(report.munition_model) and _norm(report.munition_model) == _norm(other.munition_model):
        candidate.add(DuplicateReason.SAME_MUNITION)
    return candidate


def place_and_time(candidate: Candidate) -> bool:
    return DuplicateReason.SAME_TIME in candidate.reasons


def suggested(candidate: Candidate) -> bool:
    if DuplicateReason.SAME_MEDIA in candidate.reasons:
        return True
    return place_and_time(candidate) and candidate.score >= THRESHOLD - 1e-9


# ---- finding the candidates ---------------------------------------------------------------------


def _days_from(session: Session, day: dt.date) -> ColumnElement[Any]:
    """|occurred_on - day| in days, in the database's own date arithmetic (to order by)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.abs(func.julianday(Report.occurred_on) - func.julianday(literal(day.isoformat())))
    return func.abs(Report.occurred_on - literal(day, Report.occurred_on.type))


def _facts(session: Session, report: Facts, *conditions: ColumnElement[bool]) -> list[Facts]:
    lo = report.occurred_on - dt.timedelta(days=WIDEST_WINDOW_DAYS)
    hi = report.occurred_on + dt.timedelta(days=WIDEST_WINDOW_DAYS)
    rows = session.execute(
        select(*FACT_COLUMNS)
        .where(*conditions, Report.id != report.id, Report.occurred_on >= lo, Report.occurred_on <= hi)
        .order_by(_days_from(session, report.occurred_on), Report.id)
        .limit(CANDIDATE_LIMIT)
    )
    return [Facts(*row) for row in rows]


def _one_of(session: Session, cells: list[str]) -> ColumnElement[bool]:
    """`location_cell IN (cells)`; on PostgreSQL as `= ANY(array)`, one parameter instead of hundreds
    (a disk has 1 + 3k(k+1) cells): the statement is the same text each time, parsed once by the
    driver, and the index range scans are the same."""
    if session.get_bind().dialect.name == "postgresql":
        return Report.location_cell == any_(literal(cells, ARRAY(String(16))))
    return Report.location_cell.in_(cells)


def near_in_place_and_time(session: Session, organisation_id: int, report: Facts) -> list[Facts]:
    """Reports of the organisation in the widest time window that could be nearby or in the same area."""
    import h3

    found: list[Facts] = []
    if has_point(report):
        assert report.location_cell
        k = rings_for(report.location_cell, PLACE_RADIUS_KM[report.location_precision] + WIDEST_RADIUS_KM)
        disk = sorted(str(c) for c in h3.grid_disk(report.location_cell, k))
        found += _facts(session, report, Report.organisation_id == organisation_id, _one_of(session, disk))
    if report.admin2 or report.locality:
        by_name = (Report.admin2 == report.admin2) if report.admin2 else (Report.locality == report.locality)
        conditions = [Report.organisation_id == organisation_id, by_name, Report.country == report.country]
        if has_point(report):
            # Reports with a comparable point were found by the cells above.
            conditions.append(or_(Report.location_cell.is_(None),
                                  Report.location_precision == LocationPrecision.DISTRICT))
        found += _facts(session, report, *conditions)
    return found


def same_media_reports(session: Session, organisation_id: int, report_id: int, hashes: Sequence[str]) -> list[Facts]:
    """Reports of the organisation with a file of the same SHA-256."""
    if not hashes:
        return []
    ids = select(Attachment.report_id).where(
        Attachment.organisation_id == organisation_id, Attachment.sha256.in_(sorted(set(hashes))),
        Attachment.report_id.is_not(None), Attachment.report_id != report_id,
    ).limit(CANDIDATE_LIMIT)
    rows = session.execute(select(*FACT_COLUMNS).where(Report.id.in_(ids), Report.organisation_id == organisation_id))
    return [Facts(*row) for row in rows]


def accounts(session: Session, report_ids: Iterable[int]) -> dict[int, str | None]:
    """The anonymized accounts of a few reports (at most ACCOUNT_LIMIT): each is sealed under its own
    report's data key, so each is unsealed here; an erased report has none."""
    ids = sorted(set(report_ids))
    if not ids:
        return {}
    rows = session.scalars(select(Report).where(Report.id.in_(ids))
                           .options(load_only(Report.id, Report.sealed, Report.data_key_id),
                                    selectinload(Report.data_key)))
    return {report.id: report.narrative_anonymized for report in rows}


def find_duplicates(session: Session, report: Report) -> list[Candidate]:
    """The report's likely duplicates among its organisation's other reports, best first."""
    facts = facts_of(report)
    hashes = [a.sha256 for a in report.attachments if a.sha256]
    media = same_media_reports(session, report.organisation_id, report.id, hashes)
    media_ids = {f.id for f in media}
    others: dict[int, Facts] = {f.id: f for f in media}
    for other in near_in_place_and_time(session, report.organisation_id, facts):
        others.setdefault(other.id, other)
    candidates = [compare(facts, other, same_media=other.id in media_ids) for other in others.values()]
    # The account can add at most its weight: read it only where that could still decide, or add a reason.
    worth_reading = sorted(
        (c for c in candidates
         if DuplicateReason.SAME_MEDIA in c.reasons
         or (place_and_time(c) and c.score + WEIGHTS[DuplicateReason.SIMILAR_ACCOUNT] >= THRESHOLD)),
        key=lambda c: (-c.score, c.facts.id),
    )[:ACCOUNT_LIMIT]
    if worth_reading and report.narrative_anonymized:
        mine = shingles(report.narrative_anonymized)
        theirs = accounts(session, (c.facts.id for c in worth_reading))
        for candidate in worth_reading:
            similarity = jaccard(mine, shingles(theirs.get(candidate.facts.id)))
            if similarity >= ACCOUNT_MIN_JACCARD:
                weight = WEIGHTS[DuplicateReason.SIMILAR_ACCOUNT] * min(1.0, similarity / ACCOUNT_FULL_JACCARD)
                candidate.add(DuplicateReason.SIMILAR_ACCOUNT, weight)
    chosen = [c for c in candidates if suggested(c)]
    chosen.sort(key=lambda c: (-c.score, abs((c.facts.occurred_on - facts.occurred_on).days), c.facts.id))
    return chosen[:MAX_SUGGESTIONS]


def suggest_duplicates(session: Session, config: dict[str, Any], report: Report) -> None:
    """Pipeline step: (re)compute the report's duplicate suggestions, replacing every earlier one it is
    part of (either side). Idempotent: the same reports leave the same rows."""
    # The reads need nothing of this run's pending changes (the report's own facts are taken from the
    # object), and leaving them unflushed keeps SQLite's write lock for the commit at the end of the run.
    with session.no_autoflush:
        found = {c.facts.id: c for c in find_duplicates(session, report)}
        stored = list(session.scalars(select(DuplicateSuggestion).where(
            or_(DuplicateSuggestion.report_id == report.id, DuplicateSuggestion.candidate_id == report.id))))
    for row in stored:
        other = row.candidate_id if row.report_id == report.id else row.report_id
        candidate = found.pop(other, None)
        if candidate is None:
            session.delete(row)
        else:
            row.score, row.reasons = round(candidate.score, 3), [r.value for r in candidate.reasons]
    session.add_all(
        DuplicateSuggestion(organisation_id=report.organisation_id, report_id=report.id, candidate_id=c.facts.id,
                            score=round(c.score, 3), reasons=[r.value for r in c.reasons])
        for c in found.values()
    )


# ---- reading them -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    other: Report
    score: float
    reasons: list[DuplicateReason]


def suggestions_for(session: Session, report: Report) -> list[Suggestion]:
    """The suggestions a report is part of, either side, one per other report, best first."""
    rows = session.scalars(
        select(DuplicateSuggestion).where(
            DuplicateSuggestion.organisation_id == report.organisation_id,
            or_(DuplicateSuggestion.report_id == report.id, DuplicateSuggestion.candidate_id == report.id),
        )
    )
    best: dict[int, DuplicateSuggestion] = {}
    for row in rows:
        other_id = row.candidate_id if row.report_id == report.id else row.report_id
        if other_id not in best or row.score > best[other_id].score:
            best[other_id] = row
    if not best:
        return []
    others = {r.id: r for r in session.scalars(
        select(Report).where(Report.id.in_(sorted(best)), Report.organisation_id == report.organisation_id))}
    out = []
    for other_id, row in best.items():
        if other_id in others:
            reasons = [DuplicateReason(code) for code in row.reasons if code in DuplicateReason.values()]
            out.append(Suggestion(others[other_id], row.score, reasons))
    out.sort(key=lambda s: (-s.score, s.other.id))
    return out
