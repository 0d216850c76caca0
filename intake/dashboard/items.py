"""Which items a report names: its platform, its munition and its components, each with designation,
manufacturer and country of manufacture (ISO 3166-1 alpha-2).

This is the dashboard's one source of item data, so that it changes in one place when item data
does. Today only components carry a manufacturer and a country; a platform or munition gets them
from the weapon catalogue (intake/data/weapons.json) when its designation is a catalogue name or
alias, and says so (`source == "catalogue"`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from flask_babel import lazy_gettext as _l

from ..anonymize.catalogue import CatalogueEntry, catalogue
from ..enums import DeliveryPlatform

# The catalogue's countries of manufacture are English names; items carry ISO codes. Historical
# states keep the code ISO 3166-3 reserved for them (SU, CS). "A / B" is made in both.
CATALOGUE_COUNTRIES = {
    "Austria": "AT", "Belarus": "BY", "Canada": "CA", "China": "CN", "Czechoslovakia": "CS", "Germany": "DE",
    "Iran": "IR", "Israel": "IL", "North Korea": "KP", "Russia": "RU", "Soviet Union": "SU", "Sweden": "SE",
    "Switzerland": "CH", "Turkey": "TR", "United Kingdom": "GB", "France": "FR", "United States": "US",
    "Yemen": "YE",
}


@dataclass(frozen=True)
class Item:
    """One item a report names."""

    kind: str  # "platform", "munition" or a ComponentKind value
    label: str  # what kind of item, in the reader's language
    designation: str
    manufacturer: str | None
    countries: tuple[str, ...]  # ISO codes; more than one for a joint product
    source: str  # "reported" (the report says it) or "catalogue" (suggested by the weapon catalogue)


def catalogue_countries(name: str) -> tuple[str, ...]:
    """The ISO codes of a catalogue country ("Soviet Union/Russia" → SU, RU); unknown names are dropped."""
    return tuple(code for part in re.split(r"\s*/\s*", name or "") if (code := CATALOGUE_COUNTRIES.get(part.strip())))


def name_key(text: str | None) -> str:
    """A designation as compared: case, spaces and hyphens do not count ("MX 15D" is "mx-15d")."""
    return re.sub(r"[\s\-–_./]+", "", (text or "").casefold())


@cache
def _by_name() -> dict[str, CatalogueEntry]:
    found: dict[str, CatalogueEntry] = {}
    for entry in catalogue():
        if entry.kind == "manufacturer":
            continue
        for name in (entry.name, *entry.aliases):
            found.setdefault(name_key(name), entry)
    return found


def catalogue_entry(designation: str | None) -> CatalogueEntry | None:
    """The catalogue entry a designation names, by its name or an alias, case- and spacing-insensitively."""
    return _by_name().get(name_key(designation)) if designation else None


def canonical(designation: str) -> str:
    """The catalogue's name for a designation it knows ("TB2" → "Bayraktar TB2"), else the designation."""
    entry = catalogue_entry(designation)
    return entry.name if entry is not None else designation


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _from_catalogue(kind: str, label: str, designation: str) -> Item:
    entry = catalogue_entry(designation)
    if entry is None:
        return Item(kind, label, designation, None, (), "reported")
    return Item(kind, label, entry.name, entry.manufacturer or None, catalogue_countries(entry.country), "catalogue")


def report_items(report: Any) -> list[Item]:
    """The items `report` names (a Report, or anything with its publishable weapon fields and
    `components`): platform, munition, then components in their order."""
    items: list[Item] = []
    platform = _clean(report.platform_model)
    if platform:
        items.append(_from_catalogue("platform", str(report.delivery_platform.label), platform))
    elif report.delivery_platform != DeliveryPlatform.UNKNOWN:
        label = str(report.delivery_platform.label)
        items.append(Item("platform", label, label, None, (), "reported"))
    munition = _clean(report.munition_model) or _clean(report.munition_type)
    if munition:
        items.append(_from_catalogue("munition", str(_l("Munition")), munition))
    for component in report.components:
        designation = _clean(component.model)
        entry = catalogue_entry(designation)
        manufacturer = _clean(component.manufacturer) or None
        country = (component.country_of_manufacture or "").upper()
        items.append(Item(component.kind.value, str(component.kind.label),
                          entry.name if entry is not None else (designation or "—"), manufacturer,
                          (country,) if country else (), "reported"))
    return items


def incident_items(reports: Iterable[Any]) -> list[Item]:
    """The items named across an incident's reports, each once (compared as `name_key` does)."""
    seen: dict[tuple[str, str, str, tuple[str, ...]], Item] = {}
    for report in reports:
        for item in report_items(report):
            key = (item.kind, name_key(item.designation), name_key(item.manufacturer), item.countries)
            seen.setdefault(key, item)
    return list(seen.values())
