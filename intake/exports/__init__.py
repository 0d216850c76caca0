"""Anonymized exports (design/workflow.md, Outputs; security.md, invariant 8).

An export holds publishable fields only — never an identifying field, never a sensitive one (the
narrative, exact coordinates, links, original media). It leaves out reports whose source is at
high risk and reports recorded for internal use only, and every text cell that a spreadsheet would
run as a formula is neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..anonymization import export_cell
from ..enums import AgeBand, Consent, Harm, HarmGroup, ReportState, Risk
from ..models import Report

# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets (OWASP,
# "CSV injection"); tab and carriage return can smuggle one past a naive check.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXPORTABLE_CONSENT = (Consent.ANONYMIZED, Consent.PARTNERS, Consent.PUBLIC)

COLUMNS = [
    "report_id", "state", "received_on", "occurred_on", "occurred_time", "date_precision", "country", "admin1",
    "admin2", "locality", "location_precision", "location_cell", "incident_type",
    *(f"{harm.value}_{group.value}" for harm in Harm for group in HarmGroup),
    "victims", "displaced", "objects_damaged", "delivery_platform", "platform_model", "munition_type", "munition_model",
    "remnants_found", "markings", "components", "identification_basis", "identification_confidence",
    "source_type", "consent", "attachments_sha256",
]


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _value(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "value") and not isinstance(value, (int, float)):
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def exportable_reports(session: Session, organisation_id: int, state: ReportState) -> Iterator[Report]:
    query = (
        select(Report)
        .where(Report.organisation_id == organisation_id, Report.state == state,
               Report.consent.in_(EXPORTABLE_CONSENT), Report.risk_to_source != Risk.HIGH)
        .order_by(Report.received_at, Report.id)
        .options(selectinload(Report.objects_damaged), selectinload(Report.components),
                 selectinload(Report.attachments), selectinload(Report.victims))
        .execution_options(yield_per=500)
    )
    yield from session.scalars(query)


def row_of(report: Report, cell_resolution: int = 6) -> list[Any]:
    components = "; ".join(
        " / ".join(part for part in (c.kind.value, c.model, c.manufacturer, c.country_of_manufacture) if part)
        for c in report.components
    )
    # People as harm, sex, age band and civilian status only: an exact age helps identify someone.
    victims = "; ".join(
        ":".join((v.harm.value, v.sex.value,
                  (AgeBand.for_age(v.age) if v.age is not None else v.age_band or AgeBand.UNKNOWN).value,
                  v.civilian_status.value))
        for v in report.victims
    )
    values: dict[str, Any] = {
        "victims": victims,
        "report_id": report.public_id,
        # Coarser than the verifiers' cell, and the time to the hour only (design/anonymization.md).
        "location_cell": export_cell(report.location_cell, cell_resolution),
        "occurred_time": report.occurred_time.replace(minute=0, second=0) if report.occurred_time else None,
        "received_on": report.received_at.date(),
        "objects_damaged": "; ".join(f"{o.kind.value}:{o.extent.value}" for o in report.objects_damaged),
        "components": components,
        "attachments_sha256": " ".join(a.sha256 for a in report.attachments),
    }
    return [neutralise(_value(values[c] if c in values else getattr(report, c))) for c in COLUMNS]


def write_csv(reports: Iterable[Report], cell_resolution: int = 6) -> Iterator[str]:
    """The CSV text, a row at a time (an export of many reports never sits whole in memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    count = 0
    for report in reports:
        writer.writerow(row_of(report, cell_resolution))
        count += 1
        if count % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
