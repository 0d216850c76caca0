"""Open exports (design/evidence.md, Export vocabularies and Small counts; workflow.md, Outputs).

One code path for the web page, the JSON API and `intake export`: `build_export` reads the
organisation's exportable reports or incidents as records of one tier (records.py, applying
policy.py), writes them in one of four formats (formats.py) to a spooled temporary file — memory
up to a megabyte, then disk — while the public tier's k-anonymity check reads every row, and only
when the check passed hands back the file, its row count and its notes (what was suppressed and
why). The caller audits the export (who, format, tier, rows: never content) and sends the file.

An export holds publishable fields only — never an identifying field, never a sensitive one (the
narrative, exact coordinates, links, original media) — and only the organisation's own reports.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy.orm import Session

from ..audit import record as audit_record
from ..enums import AuditAction, ReportState
from ..models import User, utcnow
from .formats import MEDIA_TYPES, SUFFIXES, Format, neutralise
from .policy import RULES, ExportBlocked, Of, Suppression, Tier, check_public
from .records import records

__all__ = ["ExportBlocked", "ExportSpec", "Format", "Of", "Tier", "build_export", "neutralise"]

SPOOL_IN_MEMORY = 1 << 20
READ_CHUNK = 64 * 1024
GENERATOR = "intake exports 1"


@dataclass(frozen=True)
class ExportSpec:
    format: Format
    of: Of = Of.REPORTS
    tier: Tier = Tier.PUBLIC
    state: ReportState = ReportState.VERIFIED

    @classmethod
    def parse(cls, fmt: str | None, of: str | None, tier: str | None) -> ExportSpec:
        """From the words of a form, a query or the command line; ValueError names what is wrong."""
        try:
            chosen = Format(fmt or "")
        except ValueError:
            raise ValueError(f"format must be one of {', '.join(f.value for f in Format)}") from None
        try:
            over = Of(of or Of.REPORTS.value)
        except ValueError:
            raise ValueError(f"of must be one of {', '.join(o.value for o in Of)}") from None
        try:
            level = Tier(tier or Tier.PUBLIC.value)
        except ValueError:
            raise ValueError(f"tier must be one of {', '.join(t.value for t in Tier)}") from None
        return cls(chosen, over, level)

    @property
    def filename(self) -> str:
        return f"{self.of.value}-{self.tier.value}-{utcnow().date().isoformat()}{SUFFIXES[self.format]}"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


@dataclass
class Export:
    """A finished export: its bytes in a temporary file (read from the start), rows and notes."""

    spec: ExportSpec
    file: IO[bytes]
    rows: int
    notes: dict[str, Any]

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes, a chunk at a time; the file is closed at the end."""
        try:
            while chunk := self.file.read(READ_CHUNK):
                yield chunk
        finally:
            self.file.close()

    def close(self) -> None:
        self.file.close()


def _notes(spec: ExportSpec, stats: Suppression, made_at: dt.datetime) -> dict[str, Any]:
    rules = RULES if spec.tier == Tier.PUBLIC else [RULES[0], "Partner tier: item-level detail, no suppression; "
                                                    "place as a coarse cell, never the reported point.", RULES[-1]]
    return {
        "generator": GENERATOR, "made_at": made_at.isoformat(timespec="seconds"), "of": spec.of.value,
        "tier": spec.tier.value, "format": spec.format.value, "state": spec.state.value,
        "k": 5 if spec.tier == Tier.PUBLIC else None,
        "k_anonymity_check": "passed" if spec.tier == Tier.PUBLIC else "not applied (partner tier)",
        "suppressed": stats.as_dict(), "rules": rules,
    }


def build_export(session: Session, organisation_id: int, spec: ExportSpec, config: dict[str, Any]) -> Export:
    """Write the export to a temporary file; raise ExportBlocked (and keep nothing) if the check fails."""
    stats = Suppression()
    made_at = utcnow()
    resolution = int(config["EXPORT_CELL_RESOLUTION"])

    def checked() -> Iterator[dict[str, Any]]:
        for index, row in enumerate(records(session, organisation_id, spec.of, spec.tier, resolution, stats,
                                            spec.state), 1):
            if spec.tier == Tier.PUBLIC:
                problems = check_public(row, index)
                if problems:
                    stats.problems.extend(problems)
                    raise ExportBlocked("; ".join(problems[:5]))
            yield row

    from .formats import write

    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, mode="w+b")  # noqa: SIM115 (handed to Export)
    try:
        for chunk in write(spec.format, checked(), spec.of, lambda: _notes(spec, stats, made_at)):
            spool.write(chunk.encode("utf-8"))
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return Export(spec, spool, stats.rows, _notes(spec, stats, made_at))


def audit_export(session: Session, export: Export, *, actor: User | None, organisation_id: int, via: str) -> None:
    """Who exported what shape of what, and how many rows: never a value of the export."""
    audit_record(AuditAction.EXPORTED.value, actor=actor, organisation_id=organisation_id, target_type="export",
                 detail={"format": export.spec.format.value, "of": export.spec.of.value,
                         "tier": export.spec.tier.value, "state": export.spec.state.value, "rows": export.rows,
                         "via": via}, session=session)
