"""Identified items as evidence: a report's platform, munition and components, each with what was
reported and, once a verifier confirmed or corrected it, what was assessed (design/evidence.md,
"Item fields worth keeping apart").

`report_items(report)` is the one way other parts read them (incidents, exports, evidence packs,
dashboards): each `Item` says its designation, manufacturer and country of manufacture in force —
assessed where a verifier assessed it, reported otherwise, and `source` says which — next to both
sets of values, its markings and codes, and the ids of the report's files that show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..enums import (
    DeliveryPlatform,
    IdentificationBasis,
    IdentificationConfidence,
    ItemRole,
    ManufactureDateBasis,
)
from ..models import Component, ItemAssessment, Report

ASSESSED = "assessed"
REPORTED = "reported"


@dataclass(frozen=True)
class Identification:
    """What an item is said to be, by the reporter or by a verifier."""

    designation: str | None = None
    manufacturer: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    confidence: IdentificationConfidence | None = None
    basis: IdentificationBasis | None = None

    def is_empty(self) -> bool:
        return not (self.designation or self.manufacturer or self.country)


@dataclass(frozen=True)
class Item:
    """One identified item of a report."""

    key: str  # "platform", "munition" or "component-<id>": stable within the report
    role: ItemRole
    kind: str  # DeliveryPlatform value, the munition type as typed, or a ComponentKind value
    kind_label: Any  # a lazy translated label: read it in a request (exports and workers need none)
    reported: Identification
    assessed: Identification | None = None
    assessed_at: Any = None
    markings: str | None = None
    serial_number: str | None = None
    lot_number: str | None = None
    part_number: str | None = None
    cage_code: str | None = None
    manufactured_on: str | None = None
    manufacture_date_basis: ManufactureDateBasis | None = None
    attachment_ids: tuple[str, ...] = field(default_factory=tuple)

    @property
    def source(self) -> str:
        """Whose values are in force: "assessed" once a verifier assessed the item, else "reported"."""
        return ASSESSED if self.assessed is not None else REPORTED

    @property
    def in_force(self) -> Identification:
        return self.assessed if self.assessed is not None else self.reported

    @property
    def designation(self) -> str | None:
        return self.in_force.designation

    @property
    def manufacturer(self) -> str | None:
        return self.in_force.manufacturer

    @property
    def country(self) -> str | None:
        return self.in_force.country

    @property
    def confidence(self) -> IdentificationConfidence | None:
        return self.in_force.confidence

    @property
    def basis(self) -> IdentificationBasis | None:
        return self.in_force.basis

    @property
    def serials(self) -> tuple[str, ...]:
        """The serial, lot and part numbers and the CAGE code the item carries, those given."""
        return tuple(v for v in (self.serial_number, self.lot_number, self.part_number, self.cage_code) if v)


def component_key(component_id: int) -> str:
    return f"component-{component_id}"


def _clean(text: str | None) -> str | None:
    return " ".join((text or "").split()) or None


def _assessed(row: ItemAssessment | None) -> Identification | None:
    if row is None:
        return None
    return Identification(row.designation, row.manufacturer, row.country_of_manufacture,
                          row.identification_confidence, row.identification_basis)


def platform_named(report: Report) -> bool:
    return report.delivery_platform != DeliveryPlatform.UNKNOWN or bool(_clean(report.platform_model))


def munition_named(report: Report) -> bool:
    return bool(_clean(report.munition_type) or _clean(report.munition_model))


def report_items(report: Report, assessments: list[ItemAssessment] | None = None) -> list[Item]:
    """The report's platform (if one is named), munition (if one is named) and components, in that
    order. `assessments` defaults to the report's own (`Report.item_assessments`)."""
    from flask_babel import lazy_gettext as _

    rows = assessments if assessments is not None else report.item_assessments
    by_key = {row.item_key: row for row in rows}
    items: list[Item] = []
    if platform_named(report) or by_key.get("platform") is not None:
        row = by_key.get("platform")
        items.append(Item(
            key="platform", role=ItemRole.PLATFORM, kind=report.delivery_platform.value,
            kind_label=report.delivery_platform.label,
            reported=Identification(_clean(report.platform_model), _clean(report.platform_manufacturer),
                                    report.platform_country, report.identification_confidence,
                                    report.identification_basis),
            assessed=_assessed(row), assessed_at=row.assessed_at if row else None,
            attachment_ids=tuple(row.attachment_ids or ()) if row else (),
        ))
    if munition_named(report) or by_key.get("munition") is not None:
        row = by_key.get("munition")
        items.append(Item(
            key="munition", role=ItemRole.MUNITION, kind=_clean(report.munition_type) or "",
            kind_label=_clean(report.munition_type) or _("Munition"),
            reported=Identification(_clean(report.munition_model), _clean(report.munition_manufacturer),
                                    report.munition_country, report.identification_confidence,
                                    report.identification_basis),
            assessed=_assessed(row), assessed_at=row.assessed_at if row else None,
            attachment_ids=tuple(row.attachment_ids or ()) if row else (),
        ))
    for component in report.components:
        items.append(component_item(component, by_key.get(component_key(component.id))))
    return items


def component_item(component: Component, row: ItemAssessment | None = None) -> Item:
    return Item(
        key=component_key(component.id), role=ItemRole.COMPONENT, kind=component.kind.value,
        kind_label=component.kind.label,
        reported=Identification(_clean(component.model), _clean(component.manufacturer),
                                (component.country_of_manufacture or "").upper() or None,
                                component.identification_confidence, component.identification_basis),
        assessed=_assessed(row), assessed_at=row.assessed_at if row else None,
        markings=component.markings, serial_number=component.serial_number, lot_number=component.lot_number,
        part_number=component.part_number, cage_code=component.cage_code,
        manufactured_on=component.manufactured_on, manufacture_date_basis=component.manufacture_date_basis,
        attachment_ids=tuple(row.attachment_ids or ()) if row else (),
    )


__all__ = ["ASSESSED", "REPORTED", "Identification", "Item", "component_key", "report_items"]
