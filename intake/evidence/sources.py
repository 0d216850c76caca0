"""Where a pack's items and transfers come from: the one module to change when the models do.

Today a report names its platform and munition as free text, and only its components carry a
manufacturer and a country of manufacture; its markings are one text for the whole report, with
the identification basis and confidence. An item here is one of those, with what the weapon
catalogue suggests beside what was reported ("as reported" and "as assessed" kept apart). There
is no transfer record yet: `transfers_of` gives none, and `transfers.csv` goes out with its header
only. When items with their own markings and transfer records arrive, `items_of`, `markings_of`
and `transfers_of` read them instead; nothing else in the pack changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..enums import DeliveryPlatform
from .selector import Selector, catalogue_entry, country_code

ITEM_COLUMNS = [
    "item_id", "incident_id", "report_id", "role", "kind", "parent_item", "designation_as_reported",
    "manufacturer_as_reported", "country_as_reported", "designation_as_assessed", "manufacturer_as_assessed",
    "country_as_assessed", "country_basis", "identification_basis", "identification_confidence",
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
    country_basis: str
    identification_basis: str
    identification_confidence: str
    remnants_found: str

    def row(self) -> dict[str, str]:
        return {c: getattr(self, c) for c in ITEM_COLUMNS}

    def selected_by(self, selector: Selector) -> bool:
        """Reported and assessed values both count: a TB2 reported without its maker is Baykar's."""
        return any(selector.matches(designation, manufacturer, country, self.role) for designation, manufacturer,
                   country in ((self.designation_as_reported, self.manufacturer_as_reported or
                                self.manufacturer_as_assessed, self.country_as_reported or self.country_as_assessed),
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


def _assessed(designation: str, kinds: tuple[str, ...]) -> tuple[str, str, str]:
    """(name, manufacturer, country code) the catalogue suggests for a designation."""
    entry = catalogue_entry(designation, kinds)
    if entry is None:
        return "", "", ""
    return entry.name, entry.manufacturer, country_code(entry.country) or ""


def items_of(incident_id: str, report: Any) -> list[Item]:
    """The items one report names: its platform, its munition, its components (the sensor inside
    the drone has the drone as its parent item)."""
    items: list[Item] = []
    common = {"incident_id": incident_id, "report_id": report.public_id,
              "identification_basis": _text(report.identification_basis),
              "identification_confidence": _text(report.identification_confidence),
              "remnants_found": _text(report.remnants_found)}
    platform_id = ""
    platform = _text(report.platform_model)
    if platform or report.delivery_platform != DeliveryPlatform.UNKNOWN:
        name, maker, country = _assessed(platform, ("platform",))
        platform_id = f"{report.public_id}:platform"
        items.append(Item(item_id=platform_id, role="platform", kind=_text(report.delivery_platform), parent_item="",
                          designation_as_reported=platform, manufacturer_as_reported="", country_as_reported="",
                          designation_as_assessed=name, manufacturer_as_assessed=maker, country_as_assessed=country,
                          country_basis="catalogue" if country else "", **common))
    munition = _text(report.munition_model) or _text(report.munition_type)
    if munition:
        name, maker, country = _assessed(munition, ("munition",))
        items.append(Item(item_id=f"{report.public_id}:munition", role="munition", kind=_text(report.munition_type),
                          parent_item=platform_id, designation_as_reported=munition, manufacturer_as_reported="",
                          country_as_reported="", designation_as_assessed=name, manufacturer_as_assessed=maker,
                          country_as_assessed=country, country_basis="catalogue" if country else "", **common))
    for index, component in enumerate(report.components, 1):
        model = _text(component.model)
        name, maker, country = _assessed(model, ("component",))
        reported_country = (component.country_of_manufacture or "").upper()
        items.append(Item(item_id=f"{report.public_id}:component:{index}", role="component",
                          kind=_text(component.kind), parent_item=platform_id, designation_as_reported=model,
                          manufacturer_as_reported=_text(component.manufacturer), country_as_reported=reported_country,
                          designation_as_assessed=name, manufacturer_as_assessed=maker, country_as_assessed=country,
                          country_basis="as reported" if reported_country else "catalogue" if country else "",
                          **common))
    return items


def markings_of(incident_id: str, report: Any, photos: Iterable[str] = ()) -> list[Marking]:
    """The markings transcribed for a report (today one text per report, against its first item),
    with the hashes of the working copies of the photos filed with it."""
    text = (report.markings or "").strip()
    if not text:
        return []
    items = items_of(incident_id, report)
    return [Marking(item_id=items[0].item_id if items else "", incident_id=incident_id, report_id=report.public_id,
                    markings_verbatim=text, photos_sha256=" ".join(sorted(photos)))]


def transfers_of(session: Any, organisation_id: int, items: list[Item]) -> list[Transfer]:
    """The public transfer records matching the pack's items: none are recorded yet."""
    return []


def diversion_indicators(items: list[Item], transfers: list[Transfer]) -> list[str]:
    """Why an item's user in the conflict differs from a matching transfer's authorised end user:
    nothing to say without transfer records."""
    return []
