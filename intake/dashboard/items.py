"""Which items a report names, as the dashboard shows them: its platform, its munition and its
components, each with designation, manufacturer and country of manufacture (ISO 3166-1 alpha-2).

The items and their values in force — assessed where a verifier assessed them, reported otherwise
— come from `intake.items.report_items`; where those leave a manufacturer or a country blank and the
weapon catalogue knows the designation, `intake.items.catalogue.completed` fills it and the item
says so (`source == "catalogue"`). Designations are shown as the catalogue names them ("TB2" is
the "Bayraktar TB2") and compared as `intake.items.catalogue.match_key` compares them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from ..enums import ItemRole
from ..items import report_items as items_in_force
from ..items.catalogue import canonical, completed, match_key

__all__ = ["Item", "canonical", "incident_items", "name_key", "report_items"]

name_key = match_key  # how the dashboard compares designations and manufacturers


@dataclass(frozen=True)
class Item:
    """One item a report names."""

    kind: str  # "platform", "munition" or a ComponentKind value
    label: str  # what kind of item, in the reader's language
    designation: str
    manufacturer: str | None
    countries: tuple[str, ...]  # ISO codes: the one country of manufacture, or none known
    source: str  # "assessed", "reported", or "catalogue" where the weapon catalogue filled a blank


def report_items(report: Any) -> list[Item]:
    """The items `report` names: platform, munition, then components in their order."""
    items: list[Item] = []
    for item in items_in_force(report):
        values, filled = completed(item)
        if item.role == ItemRole.COMPONENT:
            kind, label = item.kind, str(item.kind_label)
        else:
            kind = item.role.value
            label = str(item.kind_label) if item.role == ItemRole.PLATFORM else str(_l("Munition"))
        designation = values.designation or (item.kind if item.role == ItemRole.MUNITION else "")
        if not designation:
            designation = label if item.role == ItemRole.PLATFORM else "—"
        items.append(Item(kind, label, canonical(designation, item.role.value), values.manufacturer,
                          (values.country,) if values.country else (), "catalogue" if filled else item.source))
    return items


def incident_items(reports: Iterable[Any]) -> list[Item]:
    """The items named across an incident's reports, each once (compared as `name_key` does)."""
    seen: dict[tuple[str, str, str, tuple[str, ...]], Item] = {}
    for report in reports:
        for item in report_items(report):
            key = (item.kind, name_key(item.designation), name_key(item.manufacturer), item.countries)
            seen.setdefault(key, item)
    return list(seen.values())
