"""A verifier confirms or corrects the identification of one item at review.

The assessed values are stored apart from the reported ones (`models.ItemAssessment`, one row per
item, the latest in force); every save is written to the audit log in the same transaction, with the
item's key, which fields differ from what was reported, the country code, the confidence, the basis
and how many files were linked — never the text typed (a designation field may be misused for a
note that names someone). The caller commits.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from ..enums import AuditAction, ReportState
from ..models import ItemAssessment, Report, User, utcnow
from ..review import ReviewError, _audit, _guard, _require_claimant
from ..schema import check_country, check_storable_text
from . import Identification, Item, report_items
from .catalogue import match_key

FIELDS = ("designation", "manufacturer", "country")


def changed_fields(item: Item, values: Identification) -> list[str]:
    """Which of designation, manufacturer and country the assessment gives differently from the report."""
    return [name for name in FIELDS
            if match_key(getattr(values, name)) != match_key(getattr(item.reported, name))]


def assess_item(session: Session, report: Report, user: User, key: str, values: Identification,
                attachment_ids: list[str] | None = None, now: dt.datetime | None = None) -> ItemAssessment:
    """Record the claimant's identification of the item `key` of `report` (confirming what was
    reported when the values are the same, correcting it otherwise)."""
    now = now or utcnow()
    _require_claimant(report, user)
    item = next((i for i in report_items(report) if i.key == key), None)
    if item is None:
        raise ReviewError(_l("This report has no such item."))
    own_files = {a.public_id for a in report.attachments}
    photos = list(dict.fromkeys(attachment_ids or []))
    if any(public_id not in own_files for public_id in photos):
        raise ReviewError(_l("Link only files of this report."))
    for text in (values.designation, values.manufacturer):
        try:
            check_storable_text(text)
        except ValueError as exc:
            raise ReviewError(str(exc)) from None
    country = check_country(values.country) if values.country else None
    _guard(session, report, [ReportState.IN_REVIEW], claimant=user)
    row = next((r for r in report.item_assessments if r.item_key == key), None)
    if row is None:
        row = ItemAssessment(report=report, item_key=key, role=item.role,
                             component_id=int(key.split("-", 1)[1]) if key.startswith("component-") else None)
        session.add(row)
    changed = changed_fields(item, Identification(values.designation, values.manufacturer, country))
    row.designation = values.designation or None
    row.manufacturer = values.manufacturer or None
    row.country_of_manufacture = country
    row.identification_confidence = values.confidence
    row.identification_basis = values.basis
    row.attachment_ids = photos
    row.assessed_by = user
    row.assessed_at = now
    report.last_activity_at = now
    _audit(session, AuditAction.ITEM_ASSESSED, user, report, item=key, role=item.role.value,
           outcome="corrected" if changed else "confirmed", changed=",".join(changed) or None, country=country,
           confidence=values.confidence.value if values.confidence else None,
           basis=values.basis.value if values.basis else None, files=len(photos))
    return row
