"""Where a pack's items and transfers come from: the one module to change when the models do.

The items are `intake.items.report_items`: a report's platform, munition and components, each with
what was reported and, once a verifier confirmed or corrected it at review, what was assessed
("as reported" and "as assessed" kept apart). An item no verifier assessed gets, in its "as
assessed" columns, what the weapon catalogue says of its designation, and `assessed_by` says which
("verifier" or "catalogue"). Markings, serial, lot and part numbers, CAGE code and date of
manufacture are each component's own; the photos of an item are those a verifier linked to it (the
report's photos go with the markings transcribed for the report as a whole). There is no transfer
record yet: `transfers_of` gives none, and `transfers.csv` goes out with its header only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..enums import ItemRole
from ..items import report_items
from ..items.catalogue import completed, looked_up, suggest
from .selector import Selector

ITEM_COLUMNS = [
    "item_id", "incident_id", "report_id", "role", "kind", "parent_item", "designation_as_reported",
    "manufacturer_as_reported", "country_as_reported", "designation_as_assessed", "manufacturer_as_assessed",
    "country_as_assessed", "assessed_by", "country_basis", "identification_basis", "identification_confidence",
    "remnants_found",
]
MARKING_COLUMNS = ["item_id", "incident_id", "report_id", "markings_verbatim", "part_number", "serial_number",
                   "lot_number", "cage_code", "date_of_manufacture", "date_basis", "photos_sha256"]
TRANSFER_COLUMNS = ["transfer_id", "exporting_state", "importing_state", "authorised_end_user", "item",
                    "quantity", "date", "source", "source_url", "diversion_indicator", "reasoning"]


@dataclass(frozen=True)
class Item:
    """One platform, munition or component named by a report, as reported and as assessed."""

    item_id: str
    incident_id: str
    report_id: str
    role: str  # platform, munition, component
    kind: str
    parent_item: str
    designation_as_reported: str
    manufacturer_as_reported: str
    country_as_reported: str
    designation_as_assessed: str
    manufacturer_as_assessed: str
    country_as_assessed: str
    assessed_by: str  # "verifier", "catalogue" (what the weapon catalogue says) or ""
    country_basis: str
    identification_basis: str
    identification_confidence: str
    remnants_found: str
    # In force (not a column): the verifier's values, else the reported ones, blanks from the catalogue.
    designation: str = ""
    manufacturer: str = ""
    country: str = ""
    attachment_ids: tuple[str, ...] = ()

    def row(self) -> dict[str, str]:
        return {c: getattr(self, c) for c in ITEM_COLUMNS}

    def selected_by(self, selector: Selector) -> bool:
        """Reported, catalogue and in-force values all count (a TB2 reported without its maker is
        Baykar's), until a verifier assessed the item: then what the verifier says is in force."""
        if self.assessed_by == "verifier":
            return selector.matches(self.designation, self.manufacturer, self.country, self.role)
        return any(selector.matches(designation, manufacturer, country, self.role) for designation, manufacturer,
                   country in ((self.designation, self.manufacturer, self.country),
                               (self.designation_as_reported, self.manufacturer_as_reported, self.country_as_reported),
                               (self.designation_as_assessed, self.manufacturer_as_assessed,
                                self.country_as_assessed)))


@dataclass(frozen=True)
class Marking:
    item_id: str
    incident_id: str
    report_id: str
    markings_verbatim: str
    photos_sha256: str = ""
    part_number: str = ""
    serial_number: str = ""
    lot_number: str = ""
    cage_code: str = ""
    date_of_manufacture: str = ""
    date_basis: str = ""

    def row(self) -> dict[str, str]:
        return {c: getattr(self, c) for c in MARKING_COLUMNS}


@dataclass(frozen=True)
class Transfer:
    """A public record of a transfer (none are recorded yet; the shape the annex has)."""

    values: dict[str, str] = field(default_factory=dict)

    def row(self) -> dict[str, str]:
        return {c: self.values.get(c, "") for c in TRANSFER_COLUMNS}


def _text(value: Any) -> str:
    if value is None:
        return ""
    value = getattr(value, "value", value)
    return " ".join(str(value).split())


def items_of(incident_id: str, report: Any) -> list[Item]:
    """The items one report names: its platform, its munition, its components (the sensor inside
    the drone has the drone as its parent item)."""
    items: list[Item] = []
    platform_id = ""
    components = 0
    for item in report_items(report):
        if item.role == ItemRole.PLATFORM:
            item_id = platform_id = f"{report.public_id}:platform"
        elif item.role == ItemRole.MUNITION:
            item_id = f"{report.public_id}:munition"
        else:
            components += 1
            item_id = f"{report.public_id}:component:{components}"
        reported = item.reported
        if item.assessed is not None:
            assessed, known, by = item.assessed, None, "verifier"
        else:
            known = suggest(looked_up(item), item.role.value)
            assessed = None
            by = "catalogue" if known is not None else ""
        in_force, filled = completed(item)
        a_name, a_maker, a_country = ((assessed.designation, assessed.manufacturer, assessed.country) if assessed
                                      else (known.designation, known.manufacturer, known.country) if known
                                      else (None, None, None))
        if item.assessed is not None and item.assessed.country:
            basis = "as assessed"
        elif reported.country:
            basis = "as reported"
        else:
            basis = "catalogue" if "country" in filled else ""
        items.append(Item(
            item_id=item_id, incident_id=incident_id, report_id=report.public_id, role=item.role.value,
            kind=_text(item.kind), parent_item="" if item.role == ItemRole.PLATFORM else platform_id,
            designation_as_reported=_text(reported.designation) or (
                _text(item.kind) if item.role == ItemRole.MUNITION else ""),
            manufacturer_as_reported=_text(reported.manufacturer), country_as_reported=_text(reported.country),
            designation_as_assessed=_text(a_name), manufacturer_as_assessed=_text(a_maker),
            country_as_assessed=_text(a_country), assessed_by=by if (a_name or a_maker or a_country) else "",
            country_basis=basis,
            identification_basis=_text(item.basis or report.identification_basis),
            identification_confidence=_text(item.confidence or report.identification_confidence),
            remnants_found=_text(report.remnants_found),
            designation=_text(in_force.designation), manufacturer=_text(in_force.manufacturer),
            country=_text(in_force.country), attachment_ids=item.attachment_ids,
        ))
    return items


def markings_of(incident_id: str, report: Any, photos: Mapping[str, str] | None = None) -> list[Marking]:
    """What is written on a report's items: a row for each component with markings, codes, a date of
    manufacture or photos linked to it, with the SHA-256 of the working copies of those photos; and a
    row for the markings transcribed for the report as a whole (against its first item), with all its
    photos. `photos` maps a file's public id to its working copy's SHA-256 (images in the pack)."""
    photos = photos or {}
    found = report_items(report)
    items = items_of(incident_id, report)
    marks: list[Marking] = []
    text = (report.markings or "").strip()
    if text:
        marks.append(Marking(item_id=items[0].item_id if items else "", incident_id=incident_id,
                             report_id=report.public_id, markings_verbatim=text,
                             photos_sha256=" ".join(sorted(set(photos.values())))))
    for item, row in zip(found, items, strict=True):
        shown = sorted({photos[a] for a in item.attachment_ids if a in photos})
        if not (item.markings or item.serials or item.manufactured_on or shown):
            continue
        marks.append(Marking(item_id=row.item_id, incident_id=incident_id, report_id=report.public_id,
                             markings_verbatim=item.markings or "", photos_sha256=" ".join(shown),
                             part_number=_text(item.part_number), serial_number=_text(item.serial_number),
                             lot_number=_text(item.lot_number), cage_code=_text(item.cage_code),
                             date_of_manufacture=_text(item.manufactured_on),
                             date_basis=_text(item.manufacture_date_basis)))
    return marks


def transfers_of(session: Any, organisation_id: int, items: list[Item], reports: Iterable[Any] = ()) -> list[Transfer]:
    """The organisation's public transfer records of the pack's items (the same weapon catalogue
    entry as an item's designation in force or as reported), latest first, each with the diversion
    indicators the pack's reports give it (intake.transfers: the item's user in the conflict is
    neither the importing state nor the end user's state), their reasoning in words."""
    from .. import transfers as records
    from ..transfers.records import format_period

    names = set()
    for item in items:
        for text in (item.designation, item.designation_as_reported, item.designation_as_assessed):
            match = records.match_designation(text)
            if match is not None:
                names.add(match.name)
    if not names:
        return []
    found = records.diversion_indicators(session, organisation_id, records.items_of(list(reports)))
    rows = []
    for row in records.transfers_of(session, organisation_id, catalogue_names=names):
        reasons = [records.reasoning(indicator) for indicator in found if indicator.transfer.id == row.id]
        rows.append(Transfer({
            "transfer_id": row.public_id, "exporting_state": row.exporting_state,
            "importing_state": row.importing_state, "authorised_end_user": row.end_user,
            "item": row.catalogue_name or row.designation, "quantity": str(row.quantity or ""),
            "date": format_period(row.transfer_date, row.date_precision),
            "source": f"{row.source_kind.value}: {row.source_citation}", "source_url": row.source_url or "",
            "diversion_indicator": "yes" if reasons else "no", "reasoning": " | ".join(sorted(set(reasons))),
        }))
    return rows


def diversion_indicators(items: list[Item], transfers: list[Transfer]) -> list[str]:
    """The reasoning of every diversion indicator of the pack's transfer records."""
    return [t.values["reasoning"] for t in transfers if t.values.get("diversion_indicator") == "yes"]
