"""A report's page as verifiers see it: the facts, the review panel and the timeline, with any of its
forms as submitted. `verify.py` (reveals, files, corrections) and `review.py` (the review's actions)
both render it from here, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import render_template
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from ..anonymization import PLACEHOLDER, segments
from ..enums import Grade, ReportState, Role
from ..extensions import db
from ..forms import HideMoreForm, OriginalFileForm, RevealForm, opts
from ..items import Item, report_items
from ..items.catalogue import suggest
from ..models import Report, User
from ..review import timeline
from ..review_forms import (
    AssessmentForm,
    CommentForm,
    DowngradeForm,
    DuplicateForm,
    ItemAssessmentForm,
    LiftRedactionForm,
    QuestionForm,
    ReasonForm,
    ReassignForm,
)
from .access import VERIFIERS


def colleagues(organisation_id: int) -> list[User]:
    """Active verifiers and coordinators of the organisation: who may hold a claim."""
    people = db.session.scalars(select(User).where(User.organisation_id == organisation_id,
                                                   User.role.in_(VERIFIERS), User.active.is_(True)))
    return sorted(people, key=lambda user: user.email)


def reassign_form(report: Report, submitted: bool = False) -> ReassignForm:
    form = ReassignForm(prefix="reassign") if submitted else ReassignForm(formdata=None, prefix="reassign")
    form.assignee.choices = opts([("", _("— choose —"))] + [
        (user.public_id, f"{user.email} ({user.role.label})") for user in colleagues(report.organisation_id)
        if user.id != report.claimed_by_id])
    return form


def downgrade_form(report: Report, submitted: bool = False) -> DowngradeForm:
    form = DowngradeForm(prefix="downgrade") if submitted else DowngradeForm(formdata=None, prefix="downgrade")
    weaker = [grade for grade in Grade if report.grade is not None and grade.rank < report.grade.rank]
    form.grade.choices = opts([("", _("— choose —"))] + [(g.value, g.label) for g in weaker])
    return form


def lift_form(report: Report, formdata: bool = False) -> LiftRedactionForm:
    form = LiftRedactionForm(prefix="lift") if formdata else LiftRedactionForm(formdata=None, prefix="lift")
    account = None if report.erased else report.narrative_anonymized
    placeholders = sorted({m.group(0) for m in PLACEHOLDER.finditer(account or "")})
    form.placeholder.choices = [SelectChoice(p, p) for p in placeholders]
    return form


def file_choices(report: Report) -> list[SelectChoice]:
    """The report's files as choices of the files that show an item ("File 2 · image/jpeg")."""
    return [SelectChoice(a.public_id, _("File %(n)d · %(type)s", n=number, type=a.media_type))
            for number, a in enumerate(report.attachments, start=1)]


def item_form(report: Report, item: Item, submitted: bool = False) -> ItemAssessmentForm:
    """The form of one item: as submitted, or filled with the assessment in force, else with what was
    reported and, where the report left a blank, what the catalogue says of the designation."""
    prefix = f"item-{item.key}"
    if submitted:
        form = ItemAssessmentForm(prefix=prefix)
    else:
        start = item.assessed or item.reported
        known = suggest(start.designation, item.role.value) if item.assessed is None else None
        form = ItemAssessmentForm(formdata=None, prefix=prefix, data={
            "designation": start.designation or (known.designation if known else ""),
            "manufacturer": start.manufacturer or (known.manufacturer if known else "") or "",
            "country": start.country or (known.country if known else "") or "",
            "identification_confidence": _value(start.confidence),
            "identification_basis": _value(start.basis),
            "files": list(item.attachment_ids),
        })
    form.files.choices = file_choices(report)
    return form


def _value(choice: Any) -> str:
    return choice.value if choice is not None else ""


def review_context(report: Report, forms: dict[str, Any]) -> dict[str, Any]:
    """What the report page needs for its review panel and timeline; `forms` replace the blank ones."""
    checks = {name: getattr(report, name) for name in
              ("location_verified", "time_verified", "media_authentic", "weapon_checked", "independent_sources")}
    pending = report.pending_assessment
    blank: dict[str, Callable[[], Any]] = {
        # The grade chosen last: the one awaiting sign-off, else the one saved with the checklist,
        # else the one in force (a reopened report).
        "assessment_form": lambda: AssessmentForm(formdata=None, prefix="assess", data={
            **checks,
            "grade": _value(pending.grade if pending else report.draft_grade or report.grade),
            "source_reliability": _value(pending.source_reliability if pending else
                                         report.draft_source_reliability or report.source_reliability)}),
        "reject_form": lambda: ReasonForm(formdata=None, prefix="reject"),
        "reopen_form": lambda: ReasonForm(formdata=None, prefix="reopen"),
        "downgrade_form": lambda: downgrade_form(report),
        "reassign_form": lambda: reassign_form(report),
        "duplicate_form": lambda: DuplicateForm(formdata=None, prefix="duplicate"),
        "comment_form": lambda: CommentForm(formdata=None, prefix="comment"),
        "question_form": lambda: QuestionForm(formdata=None, prefix="question"),
    }
    context = {name: forms.get(name) or make() for name, make in blank.items()}
    items = report_items(report)
    submitted = forms.get("item_form")
    context.update(
        items=items,
        item_forms={item.key: submitted if submitted is not None and forms.get("item_key") == item.key
                    else item_form(report, item) for item in items},
        open_item=forms.get("item_key"),
        action_form=FlaskForm(formdata=None),
        timeline=timeline(report),
        is_claimant=report.state == ReportState.IN_REVIEW and report.claimed_by_id == current_user.id,
        is_coordinator=current_user.role == Role.COORDINATOR,
        pending=pending,
        may_sign_off=pending is not None and pending.assessed_by_id != current_user.id,
        open_action=forms.get("open_action"),
    )
    return context


def render_report_page(report: Report, *, reveal_form: RevealForm | None = None, revealed: str | None = None,
                       file_form: OriginalFileForm | None = None, file_error: str | None = None,
                       hide_form: HideMoreForm | None = None, lift: LiftRedactionForm | None = None,
                       forms: dict[str, Any] | None = None) -> str:
    """The report page; `forms` are review forms as submitted (errors and what was typed)."""
    return render_template(
        "verify/report.html", report=report, revealed=revealed, file_error=file_error, segments=segments,
        reveal_form=reveal_form or RevealForm(formdata=None, prefix="reveal"),
        file_form=file_form or OriginalFileForm(formdata=None),
        hide_form=hide_form or HideMoreForm(formdata=None, prefix="hide"),
        lift_form=lift or lift_form(report),
        **review_context(report, forms or {}),
    )
