"""One generator for the three tiers of a pack (design/evidence.md, The pack).

`build_pack` selects the organisation's verified incidents the selector names (only those whose
grade two people signed off), writes the annexes through the exports' records and policy (one
policy: the public tier's counts suppressed and checked, k = 5), copies the working copies of the
media (and, for the restricted tier only, the originals: each one audited as a reveal with the
reason typed), draws the custody log from the audit log and the records, writes the dossier, and
makes the folder a BagIt bag. Everything is sorted and nothing depends on the clock but the
build time, which only bag-info.txt's Bagging-Date and the custody log's last line (the export
itself) carry: the same build twice gives the same files otherwise.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import hashlib
import io
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..audit import record as audit_record
from ..enums import AttachmentStatus, AuditAction, Harm, ReportState, Role
from ..exports import formats
from ..exports import policy as export_policy
from ..exports.policy import Of, Suppression, Tier
from ..exports.records import exportable, incident_record
from ..models import Assessment, AuditEntry, Incident, IncidentLink, Organisation, Report, User
from . import custody, sources
from .selector import Selector

GENERATOR_VERSION = "1"
CUSTODY_VIA = "pack"  # audit entries a pack build writes carry via=pack; no pack's custody draws on them
MIN_REASON = 10


def generator() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("intake")
    except PackageNotFoundError:  # pragma: no cover - a checkout that was never installed
        release = "unknown"
    return f"intake evidence pack {GENERATOR_VERSION} (intake {release})"


class PackTier(str, enum.Enum):
    PUBLIC = "public"
    PARTNER = "partner"
    RESTRICTED = "restricted"

    @property
    def records_tier(self) -> Tier:
        """The exports' tier whose policy the annexes follow (restricted adds to the partner tier)."""
        return Tier.PUBLIC if self == PackTier.PUBLIC else Tier.PARTNER


class PackError(ValueError):
    """A pack that cannot be built as asked (the message says why, never a value of a report)."""


@dataclass(frozen=True)
class PackSpec:
    selector: Selector
    tier: PackTier = PackTier.PUBLIC
    reason: str | None = None

    def check(self) -> None:
        """A restricted pack (originals, exact places) needs a typed reason; the others take none."""
        if self.tier == PackTier.RESTRICTED and len((self.reason or "").strip()) < MIN_REASON:
            raise PackError(f"a restricted pack needs a reason of at least {MIN_REASON} characters")


@dataclass
class Signed:
    """The two people behind a report's grade, by role (never by name)."""

    report: Report
    assessment: Assessment

    @property
    def graded_by(self) -> str:
        return self.assessment.assessed_by.role.value

    @property
    def signed_off_by(self) -> str:
        return self.assessment.signed_off_by.role.value if self.assessment.signed_off_by else ""


@dataclass
class Included:
    """One incident of the pack: its reports exportable in the tier, its items, who signed off."""

    incident: Incident
    reports: list[Report]
    linked: int
    items: list[sources.Item]
    matched: list[sources.Item]
    signed: list[Signed]

    @property
    def first_date(self) -> dt.date:
        return min(r.occurred_on for r in self.reports)


@dataclass
class Pack:
    """What a build put in the bag (the dossier reads it; the caller reports from it)."""

    organisation: str
    spec: PackSpec
    built_at: dt.datetime
    incidents: list[Included]
    records: list[dict[str, Any]]
    items: list[sources.Item]
    markings: list[sources.Marking]
    transfers: list[sources.Transfer]
    aggregates: list[dict[str, Any]]
    media: list[dict[str, str]]
    custody_events: list[custody.Event]
    exact_places: list[dict[str, Any]]
    stats: Suppression
    suppressed: list[str] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)
    path: Path | None = None
    content_sha256: str = ""

    @property
    def data_as_of(self) -> str:
        """The latest change among what the pack holds (the dossier's date: not the build time)."""
        times = [i.incident.updated_at for i in self.incidents] + [
            r.state_changed_at for i in self.incidents for r in i.reports]
        return max(times).date().isoformat() if times else ""


Progress = Callable[[int, str], None]


def _no_progress(_percent: int, _step: str) -> None:
    return None


# ---- selection ------------------------------------------------------------------------------------


def _signed(report: Report) -> Signed | None:
    """The assessment in force, when a second person signed it off."""
    for assessment in sorted(report.assessments, key=lambda a: a.id, reverse=True):
        if assessment.grade == report.grade:
            if assessment.signed_off_by_id is not None and assessment.signed_off_by_id != assessment.assessed_by_id:
                return Signed(report, assessment)
            return None
    return None


def select_incidents(session: Session, organisation_id: int, spec: PackSpec) -> tuple[list[Included], dict[str, int]]:
    """The organisation's open incidents whose exportable verified reports name an item the
    selector names, within its dates, with a grade two people signed off; and how many were left
    out for want of the sign-offs."""
    tier = spec.tier.records_tier
    reports = session.scalars(
        select(Report).join(IncidentLink, IncidentLink.report_id == Report.id)
        .join(Incident, Incident.id == IncidentLink.incident_id)
        .where(*exportable(organisation_id, tier, ReportState.VERIFIED), Incident.organisation_id == organisation_id,
               Incident.merged_into_id.is_(None), Incident.closed_at.is_(None))
        .options(selectinload(Report.components), selectinload(Report.victims), selectinload(Report.objects_damaged),
                 selectinload(Report.attachments),
                 selectinload(Report.assessments).selectinload(Assessment.assessed_by),
                 selectinload(Report.assessments).selectinload(Assessment.signed_off_by),
                 selectinload(Report.reporter), selectinload(Report.item_assessments))
        .order_by(Report.id)
    ).unique().all()
    links = {link.report_id: link.incident_id for link in session.scalars(
        select(IncidentLink).where(IncidentLink.report_id.in_([r.id for r in reports])))} if reports else {}
    grouped: dict[int, list[Report]] = {}
    for report in reports:
        grouped.setdefault(links[report.id], []).append(report)
    incidents = {i.id: i for i in session.scalars(select(Incident).where(Incident.id.in_(list(grouped))))}
    linked_count: dict[int, int] = {}
    for incident_id in session.scalars(select(IncidentLink.incident_id).where(
            IncidentLink.incident_id.in_(list(grouped)))):
        linked_count[incident_id] = linked_count.get(incident_id, 0) + 1
    included: list[Included] = []
    left_out = {"without_two_sign_offs": 0}
    for incident_id, members in grouped.items():
        incident = incidents[incident_id]
        members.sort(key=lambda r: (r.occurred_on, r.public_id))
        if not spec.selector.in_range(min(r.occurred_on for r in members)):
            continue
        items = [item for r in members for item in sources.items_of(incident.public_id, r)]
        matched = [item for item in items if item.selected_by(spec.selector)]
        if not matched:
            continue
        signed = [s for s in (_signed(r) for r in members) if s is not None]
        if not signed:
            left_out["without_two_sign_offs"] += 1
            continue
        included.append(Included(incident, members, linked_count.get(incident_id, len(members)), items, matched,
                                 signed))
    included.sort(key=lambda i: (i.first_date, i.incident.public_id))
    return included, left_out


# ---- annexes --------------------------------------------------------------------------------------


def _write_csv(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([formats.neutralise("" if row.get(c) is None else row.get(c)) for c in columns])
    path.write_bytes(buffer.getvalue().encode("utf-8"))


def _write_chunks(path: Path, chunks: Iterable[str]) -> None:
    with path.open("wb") as handle:
        for chunk in chunks:
            handle.write(chunk.encode("utf-8"))


def incident_records(included: list[Included], tier: Tier, resolution: int, stats: Suppression) -> list[dict[str, Any]]:
    """The incidents as export records of the tier (the exports' own code, applied to the pack's
    selection), checked as a public export is."""
    out = []
    for index, item in enumerate(included, 1):
        stats.rows += 1
        row = incident_record(item.incident, item.linked, item.reports, tier, resolution, stats)
        if tier == Tier.PUBLIC:
            problems = export_policy.check_public(row, index)
            if problems:
                raise export_policy.ExportBlocked("; ".join(problems[:5]))
        out.append(row)
    return out


AGGREGATE_COLUMNS = ["period", "country", "incidents",
                     *(f"{h.value}_{g}" for h in (Harm.KILLED, Harm.INJURED) for g in export_policy.GROUPS),
                     "killed_total", "injured_total"]


def aggregates(included: list[Included], tier: Tier, resolution: int, stats: Suppression) -> list[dict[str, Any]]:
    """Civilians killed and injured by month and country over the pack's incidents, each group's
    count from the incident's fullest account; in the public tier suppressed as every export is."""
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for item in included:
        raw = incident_record(item.incident, item.linked, item.reports, Tier.PARTNER, resolution, Suppression())
        key = (item.first_date.strftime("%Y-%m"), item.reports[0].country)
        bucket = sums.setdefault(key, {"incidents": 0})
        bucket["incidents"] += 1
        for harm in (Harm.KILLED, Harm.INJURED):
            for group in export_policy.GROUPS:
                name = f"{harm.value}_{group}"
                bucket[name] = bucket.get(name, 0) + int(raw[name] or 0)
    rows: list[dict[str, Any]] = []
    for (period, country), bucket in sorted(sums.items()):
        row: dict[str, Any] = {"period": period, "country": country, "incidents": bucket["incidents"]}
        for harm in (Harm.KILLED, Harm.INJURED):
            cells = {g: bucket[f"{harm.value}_{g}"] for g in export_policy.GROUPS}
            if tier == Tier.PUBLIC:
                shown, total = export_policy.suppress_counts(cells, stats)
            else:
                shown, total = dict(cells), sum(cells.values())
            row.update({f"{harm.value}_{g}": v for g, v in shown.items()})
            row[f"{harm.value}_total"] = total
        if tier == Tier.PUBLIC:
            # The exports' check, read as a reader would read the row (period as its date).
            problems = export_policy.check_public({**row, "occurred_on": period, "missing_total": 0,
                                                   **{f"missing_{g}": 0 for g in export_policy.GROUPS}},
                                                  len(rows) + 1)
            if problems:
                raise export_policy.ExportBlocked("casualties_aggregate.csv: " + "; ".join(problems[:5]))
        rows.append(row)
    return rows


SOURCE_COLUMNS = ["incident_id", "report_id", "source_type", "source_reliability", "independent_sources",
                  "location_verified", "time_verified", "media_authentic", "weapon_checked", "files", "grade"]
GRADING_COLUMNS = ["incident_id", "report_id", "assessment", "grade", "source_reliability", "graded_by_role",
                   "graded_at", "signed_off_by_role", "signed_off_at", "in_force"]


def _when(value: dt.datetime | None, tier: PackTier) -> str:
    if value is None:
        return ""
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    # The public tier gives the month: the day a report was graded narrows the day of its event.
    if tier == PackTier.PUBLIC:
        return value.strftime("%Y-%m")
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def source_rows(included: list[Included]) -> list[dict[str, Any]]:
    return [{"incident_id": i.incident.public_id, "report_id": r.public_id, "source_type": r.source_type.value,
             "source_reliability": r.source_reliability.value if r.source_reliability else "",
             "independent_sources": r.independent_sources, "location_verified": int(r.location_verified),
             "time_verified": int(r.time_verified), "media_authentic": int(r.media_authentic),
             "weapon_checked": int(r.weapon_checked),
             "files": sum(1 for a in r.attachments if a.status != AttachmentStatus.ERASED),
             "grade": r.grade.value if r.grade else ""}
            for i in included for r in i.reports]


def grading_rows(included: list[Included], tier: PackTier) -> list[dict[str, Any]]:
    rows = []
    for i in included:
        for r in i.reports:
            in_force = _signed(r)
            for n, a in enumerate(sorted(r.assessments, key=lambda a: a.id), 1):
                rows.append({"incident_id": i.incident.public_id, "report_id": r.public_id, "assessment": n,
                             "grade": a.grade.value, "source_reliability": a.source_reliability.value,
                             "graded_by_role": a.assessed_by.role.value, "graded_at": _when(a.assessed_at, tier),
                             "signed_off_by_role": a.signed_off_by.role.value if a.signed_off_by else "",
                             "signed_off_at": _when(a.signed_off_at, tier),
                             "in_force": int(in_force is not None and in_force.assessment.id == a.id)})
    return rows


# ---- media ----------------------------------------------------------------------------------------

MEDIA_COLUMNS = ["working_file", "working_sha256", "media_type", "original_sha256", "original_file", "incident_id",
                 "report_id", "faces_covered", "note"]
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4",
              "video/quicktime": "mov", "audio/mp4": "m4a", "audio/ogg": "ogg", "video/ogg": "ogv",
              "application/pdf": "pdf", "audio/mpeg": "mp3", "image/heic": "heic", "image/heif": "heif"}


def _extension(media_type: str | None) -> str:
    return EXTENSIONS.get(media_type or "", "bin")


def _copy_checked(chunks: Iterable[bytes], target: Path, expected: str | None) -> str:
    digest = hashlib.sha256()
    with target.open("wb") as handle:
        for chunk in chunks:
            digest.update(chunk)
            handle.write(chunk)
    found = digest.hexdigest()
    if expected and found != expected:
        target.unlink()
        raise PackError("a stored file does not match its recorded SHA-256: the pack was not built")
    return found


# ---- custody --------------------------------------------------------------------------------------

_AUDITED = {AuditAction.REPORT_GRADED.value: "graded", AuditAction.GRADE_SIGNED_OFF.value: "signed off",
            AuditAction.REPORT_REVEALED.value: "revealed", AuditAction.ORIGINAL_DOWNLOADED.value: "revealed"}
_TOOLS = {"graded": "intake review", "signed off": "intake review", "revealed": "intake reveal"}
_CHANNEL_TOOL = {"web": "intake web form", "api": "intake JSON API", "odk": "ODK Collect (OpenRosa)"}


def custody_events(session: Session, organisation_id: int, included: list[Included],
                   tier: PackTier) -> list[custody.Event]:
    """Every item's custody until now: its arrival, hashing and cleaning from the records, its
    grading, sign-off and reveals from the audit log (not the entries earlier packs wrote)."""
    withhold = tier == PackTier.PUBLIC  # one policy: no hash of an original in the public tier
    events: list[custody.Event] = []
    objects: dict[str, str] = {}
    for i in included:
        for r in i.reports:
            report = f"report:{r.public_id}"
            objects[r.public_id] = report
            events.append(custody.Event("received", report, r.reporter.role.value, r.received_at,
                                        tool=_CHANNEL_TOOL.get(r.channel.value, "intake")))
            for a in sorted(r.attachments, key=lambda a: a.id):
                if a.status == AttachmentStatus.ERASED:
                    continue
                thing = f"file:{a.public_id}"
                objects[a.public_id] = thing
                original = None if withhold else a.sha256
                events.append(custody.Event("received", thing, r.reporter.role.value, a.created_at,
                                            sha256_after=original, tool=_CHANNEL_TOOL.get(r.channel.value, "intake")))
                if a.inspected_at is not None:
                    events.append(custody.Event("hashed", thing, "system", a.inspected_at, sha256_after=original,
                                                tool="intake media inspection (SHA-256)"))
                if a.derived_at is not None and a.derivative_sha256:
                    events.append(custody.Event("derived", thing, "system", a.derived_at, sha256_before=original,
                                                sha256_after=a.derivative_sha256,
                                                tool="intake derivatives (metadata removed, faces covered)"))
    if objects:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.organisation_id == organisation_id,
                                     AuditEntry.action.in_(list(_AUDITED)),
                                     AuditEntry.target_id.in_(list(objects)))
            .order_by(AuditEntry.chain, AuditEntry.chain_seq)
        ).all()
        for entry in entries:
            if (entry.detail or {}).get("via") == CUSTODY_VIA:
                continue
            event = _AUDITED[entry.action]
            sha = (entry.detail or {}).get("sha256") if entry.action == AuditAction.ORIGINAL_DOWNLOADED.value else None
            events.append(custody.Event(event, objects[entry.target_id or ""], entry.actor_role or "system", entry.at,
                                        sha256_before=None if withhold else sha, tool=_TOOLS[event],
                                        audit_entry=entry.entry_hash))
    return events


# ---- the bag --------------------------------------------------------------------------------------


def _content_sha256(data: Path, skip: set[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        name = path.relative_to(data).as_posix()
        if name in skip:
            continue
        digest.update(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {name}\n".encode())
    return digest.hexdigest()


def build_pack(session: Session, config: dict[str, Any], organisation: Organisation, spec: PackSpec, out_dir: Path,
               *, actor: User | None, via: str, built_at: dt.datetime, progress: Progress = _no_progress,
               job: str | None = None) -> Pack:
    """Build the pack as a bag in a new folder under `out_dir`; audit it (and, in the restricted
    tier, every original and exact place revealed) in the caller's transaction, which commits.

    Raises PackError (nothing selected, no reason, a stored file altered) or ExportBlocked (the
    public tier's check failed); the partly written folder is removed then."""
    import bagit

    from .dossier import write_dossier

    spec.check()
    if spec.tier == PackTier.RESTRICTED and actor is not None and actor.role != Role.COORDINATOR:
        raise PackError("only coordinators build restricted packs")
    progress(5, "selecting")
    included, left_out = select_incidents(session, organisation.id, spec)
    if not included:
        raise PackError("no verified incident with two sign-offs matches this selector")
    tier = spec.tier.records_tier
    resolution = int(config["EXPORT_CELL_RESOLUTION"])
    stats = Suppression()
    built_at = built_at.astimezone(dt.UTC).replace(microsecond=0)
    staging = out_dir / f".pack-building-{job or built_at.strftime('%Y%m%dT%H%M%S')}"
    if staging.exists():
        shutil.rmtree(staging)
    data = staging  # bagit moves the folder's files into data/ itself
    try:
        staging.mkdir(parents=True)
        progress(15, "annexes")
        records = incident_records(included, tier, resolution, stats)
        items = sorted((it for i in included for it in i.items), key=lambda it: it.item_id)
        marks: list[sources.Marking] = []
        transfers = sources.transfers_of(session, organisation.id, items, [r for i in included for r in i.reports])
        agg = aggregates(included, tier, resolution, stats)
        notes = {"generator": generator(), "tier": spec.tier.value, "selector": spec.selector.describe(),
                 "suppressed": stats.as_dict(), "rules": export_policy.RULES}
        _write_chunks(data / "incidents.csv", formats.write(formats.Format.CSV, records, Of.INCIDENTS, lambda: notes))
        _write_chunks(data / "incidents.hxl.csv", formats.write(formats.Format.HXL, records, Of.INCIDENTS,
                                                                lambda: notes))
        _write_chunks(data / "incidents.geojson", formats.write(formats.Format.GEOJSON, records, Of.INCIDENTS,
                                                                lambda: notes))
        _write_csv(data / "casualties_aggregate.csv", AGGREGATE_COLUMNS, agg)
        _write_csv(data / "sources.csv", SOURCE_COLUMNS, source_rows(included))
        _write_csv(data / "grading.csv", GRADING_COLUMNS, grading_rows(included, spec.tier))
        _write_csv(data / "transfers.csv", sources.TRANSFER_COLUMNS, (t.row() for t in transfers))

        progress(30, "media")
        media_rows: list[dict[str, str]] = []
        (data / "media" / "working").mkdir(parents=True)
        if spec.tier == PackTier.RESTRICTED:
            (data / "media" / "originals").mkdir(parents=True)
        from ..media import read_derivative, read_original

        files = [(i, r, a) for i in included for r in i.reports for a in sorted(r.attachments, key=lambda a: a.id)
                 if a.status != AttachmentStatus.ERASED and not r.erased]
        withheld = withheld_public = 0
        reveals: list[custody.Event] = []
        photos: dict[str, dict[str, str]] = {}  # report → file → working copy's SHA-256
        for n, (i, r, a) in enumerate(files, 1):
            progress(30 + 40 * n // max(1, len(files)), "media")
            row = {"incident_id": i.incident.public_id, "report_id": r.public_id, "media_type": "",
                   "working_file": "", "working_sha256": "", "faces_covered": "",
                   "original_sha256": "" if spec.tier == PackTier.PUBLIC else a.sha256, "original_file": "",
                   "note": ""}
            shows_more = spec.tier == PackTier.PUBLIC and bool(a.derivative_note)
            if a.derivative_storage_name and a.derivative_sha256 and not shows_more:
                name = f"media/working/{a.derivative_sha256}.{_extension(a.derivative_media_type)}"
                if not (data / name).exists():
                    _copy_checked(read_derivative(config, a), data / name, a.derivative_sha256)
                row.update(working_file=name, working_sha256=a.derivative_sha256,
                           media_type=a.derivative_media_type or "",
                           faces_covered="" if a.faces_covered is None else str(a.faces_covered),
                           note=a.derivative_note or "")
                if (a.derivative_media_type or "").startswith("image/"):
                    photos.setdefault(r.public_id, {})[a.public_id] = a.derivative_sha256
            elif shows_more:
                # The copy still shows what the worker could not cover (faces in a video): not public.
                withheld_public += 1
                row["note"] = "working copy withheld from the public tier: it still shows what could not be covered"
            else:
                withheld += 1
                row["note"] = "no working copy: original only"
            if spec.tier == PackTier.RESTRICTED:
                name = f"media/originals/{a.sha256}.{_extension(a.media_type)}"
                if not (data / name).exists():
                    _copy_checked(read_original(config, a), data / name, a.sha256)
                row["original_file"] = name
                audit_record(AuditAction.ORIGINAL_DOWNLOADED.value, actor=actor, organisation_id=organisation.id,
                             target_type="attachment", target_id=a.public_id,
                             detail={"report": r.public_id, "sha256": a.sha256, "reason": (spec.reason or "").strip(),
                                     "via": CUSTODY_VIA, "pack_job": job}, session=session)
                reveals.append(custody.Event("revealed", f"file:{a.public_id}",
                                             actor.role.value if actor else "operator", built_at,
                                             sha256_before=a.sha256, sha256_after=a.sha256, tool=generator()))
            media_rows.append(row)
        media_rows.sort(key=lambda m: (m["incident_id"], m["report_id"], m["working_sha256"], m["original_sha256"]))
        _write_csv(data / "media" / "index.csv", MEDIA_COLUMNS, media_rows)
        for i in included:
            for r in i.reports:
                marks.extend(sources.markings_of(i.incident.public_id, r, photos.get(r.public_id)))
        marks.sort(key=lambda m: (m.incident_id, m.report_id, m.item_id))
        _write_csv(data / "items.csv", sources.ITEM_COLUMNS, (it.row() for it in items))
        _write_csv(data / "markings.csv", sources.MARKING_COLUMNS, (m.row() for m in marks))

        exact: list[dict[str, Any]] = []
        if spec.tier == PackTier.RESTRICTED:
            for i in included:
                for r in i.reports:
                    exact.append({"incident_id": i.incident.public_id, "report_id": r.public_id,
                                  "latitude": r.latitude, "longitude": r.longitude, "locality": r.locality or "",
                                  "location_precision": r.location_precision.value})
                    audit_record(AuditAction.REPORT_REVEALED.value, actor=actor, organisation_id=organisation.id,
                                 target_type="report", target_id=r.public_id,
                                 detail={"fields": "location", "reason": (spec.reason or "").strip(),
                                         "via": CUSTODY_VIA, "pack_job": job}, session=session)
                    reveals.append(custody.Event("revealed", f"report:{r.public_id}",
                                                 actor.role.value if actor else "operator", built_at, tool=generator()))
            _write_csv(data / "places_exact.csv", ["incident_id", "report_id", "latitude", "longitude", "locality",
                                                   "location_precision"], exact)

        progress(75, "custody")
        events = custody_events(session, organisation.id, included, spec.tier) + reveals
        suppressed = _suppressed(spec.tier, stats, withheld, left_out, withheld_public)
        pack = Pack(organisation=organisation.name, spec=spec, built_at=built_at, incidents=included, records=records,
                    items=items, markings=marks, transfers=transfers, aggregates=agg, media=media_rows,
                    custody_events=events, exact_places=exact, stats=stats, suppressed=suppressed, left_out=left_out)
        progress(80, "dossier")
        write_dossier(pack, data / "dossier.pdf", data)

        progress(90, "bag")
        content = _content_sha256(data, {"custody.jsonl"})
        pack.content_sha256 = content
        exporter = actor.role.value if actor else "operator"
        events.append(custody.Event("exported", f"pack:{content[:16]}", exporter, built_at, sha256_after=content,
                                    tool=generator()))
        lines = list(custody.chain(events, month_only=spec.tier == PackTier.PUBLIC, exact_after=built_at))
        (data / "custody.jsonl").write_text("".join(lines), encoding="utf-8")
        head = json.loads(lines[-1])["hash"]
        name = f"pack-{spec.selector.slug}-{built_at.date().isoformat()}-{content[:8]}"
        info = {
            "Source-Organization": organisation.name,
            "Bagging-Date": built_at.isoformat().replace("+00:00", "Z"),
            "External-Identifier": name,
            "Bag-Software-Agent": f"{generator()} with bagit.py {bagit.VERSION}",
            "Pack-Selector": spec.selector.describe(),
            "Pack-Tier": spec.tier.value,
            "Pack-Incidents": str(len(included)),
            "Pack-Content-SHA256": content,
            "Pack-Custody-Lines": str(len(lines)),
            "Pack-Custody-Head": head,
            "Pack-Suppressed": suppressed or ["nothing"],
        }
        bagit.make_bag(str(staging), bag_info=info, checksums=["sha256"])
        _sort_tagmanifest(staging)
        target = out_dir / name
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
        pack.path = target
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    audit_record(AuditAction.PACK_BUILT.value, actor=actor, organisation_id=organisation.id, target_type="pack",
                 target_id=job, detail={"selector": spec.selector.kind.value, "tier": spec.tier.value,
                                        "incidents": len(included), "files": len(media_rows),
                                        "content_sha256": content, "via": via}, session=session)
    progress(100, "done")
    return pack


def _suppressed(tier: PackTier, stats: Suppression, withheld: int, left_out: dict[str, int],
                withheld_public: int = 0) -> list[str]:
    """What the pack leaves out and why, one line each (bag-info.txt and the dossier)."""
    lines = []
    if tier == PackTier.PUBLIC:
        s = stats.as_dict()
        lines += [f"counts of 1-4 people shown as <5: {s['cells_below_5']}",
                  f"counts hidden beside them (complementary suppression): {s['cells_complementary']}",
                  f"totals of 1-4 shown as <5: {s['totals_below_5']}",
                  f"dates given as the month: {s['dates_to_month']}",
                  f"places given as district and a 36 km2 cell: {s['places_generalised']}",
                  "no per-victim rows, no locality, no time of day; no hash of an original file",
                  "custody and grading times given as the month (the export's own time in full)"]
    elif tier == PackTier.PARTNER:
        lines += ["places as a coarse cell, never the reported point; no original files"]
    else:
        lines += ["nothing withheld for the tier: originals and exact places included (restricted)"]
    if withheld:
        lines.append(f"files without a working copy (original only) left out of media/working: {withheld}")
    if withheld_public:
        lines.append(f"working copies that still show what could not be covered (faces in videos), left out of "
                     f"the public tier: {withheld_public}")
    if left_out.get("without_two_sign_offs"):
        lines.append(f"incidents matching the selector without a grade signed off by two people: "
                     f"{left_out['without_two_sign_offs']}")
    lines.append("identities, narratives and witnesses are never in a pack")
    return lines


def _sort_tagmanifest(bag: Path) -> None:
    """bagit.py lists tag files in the order the file system gives them: sorted here, so that two
    builds write the same tagmanifest."""
    path = bag / "tagmanifest-sha256.txt"
    lines = sorted(path.read_text(encoding="utf-8").splitlines(keepends=True), key=lambda line: line.split(" ", 1)[1])
    path.write_text("".join(lines), encoding="utf-8")
