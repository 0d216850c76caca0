"""Forms of the review: the queue's filters, the claimant's actions, and the reporter's answer."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    MultipleFileField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .enums import (
    DeliveryPlatform,
    Grade,
    IdentificationBasis,
    IdentificationConfidence,
    IncidentType,
    QueueSort,
    SourceReliability,
)
from .forms import REVEAL_REASON_HELP, CountryNameField, blank_choice, opts, storable_text
from .i18n.forms import TranslatedForm, TranslatedPlainForm
from .review import lifting_reveals

REASON_HELP = _l("Kept sealed with the report's history; your organisation's verifiers see it anonymized, "
                 "like comments. Describe the evidence; avoid names, phone numbers or addresses.")
SEALED_HELP = _l("Stored encrypted with the report. You may quote people here.")


class QueueFilterForm(TranslatedPlainForm):
    """The queue's filters, read from the query string (GET: no CSRF token, nothing changes)."""

    incident_type = SelectField(_l("Incident type"), [Optional()],
                                choices=opts(blank_choice(_l("All")) + IncidentType.choices()), default="")
    occurred_from = DateField(_l("Event from"), [Optional()])
    occurred_to = DateField(_l("Event until"), [Optional()])
    admin1 = StringField(_l("Region / province"), [Optional(), Length(max=200)])
    delivery_platform = SelectField(_l("Delivery platform"), [Optional()],
                                    choices=opts(blank_choice(_l("All")) + DeliveryPlatform.choices()), default="")
    munition = StringField(_l("Munition (type or model)"), [Optional(), Length(max=200)])
    grade = SelectField(_l("Grade"), [Optional()], choices=opts(blank_choice(_l("All")) + Grade.choices()),
                        default="")
    has_media = SelectField(_l("Files"), [Optional()], default="", choices=opts([
        ("", _l("All")), ("yes", _l("With files")), ("no", _l("Without files"))]))
    claimed_by = SelectField(_l("Claimed by"), [Optional()], default="", validate_choice=True)
    sort = SelectField(_l("Sort"), choices=opts(QueueSort.choices()), default=QueueSort.PRIORITY.value)

    def validate_occurred_to(self, field: Any) -> None:
        if field.data and self.occurred_from.data and field.data < self.occurred_from.data:
            raise ValidationError(_l("The end date is before the start date."))


class ChecklistMixin:
    location_verified = BooleanField(_l("Location verified"))
    time_verified = BooleanField(_l("Time verified"))
    media_authentic = BooleanField(_l("Media authentic (no earlier copy found, metadata consistent)"))
    weapon_checked = BooleanField(_l("Weapon identification checked"))
    independent_sources = IntegerField(_l("Independent sources"), [InputRequired(), NumberRange(min=0, max=999)],
                                       default=0, render_kw={"inputmode": "numeric", "min": 0})


class AssessmentForm(ChecklistMixin, TranslatedForm):
    """The checklist and the grade. "Save checklist" keeps the checks; "Grade" also grades."""

    grade = SelectField(_l("Grade"), choices=opts(blank_choice() + Grade.choices()), default="",
                        description=_l("Confirmed needs a second sign-off by another verifier or a coordinator."))
    source_reliability = SelectField(_l("Source reliability"),
                                     choices=opts(blank_choice() + SourceReliability.choices()), default="")
    reason = TextAreaField(_l("Reason (needed when lowering the grade)"), [Optional(), Length(max=2000)],
                           description=REASON_HELP, render_kw={"rows": 2})

    # Set by the view from the button pressed: a grade and a reliability are needed only to grade.
    grading = False

    def validate_grade(self, field: Any) -> None:
        if self.grading and not field.data:
            raise ValidationError(_l("Choose a grade."))

    def validate_source_reliability(self, field: Any) -> None:
        if self.grading and not field.data:
            raise ValidationError(_l("Rate the source's reliability."))


class ReasonForm(TranslatedForm):
    """Reject and reopen: a typed reason is required."""

    reason = TextAreaField(_l("Reason"), [DataRequired(message=_l("Say why.")), Length(min=5, max=2000)],
                           description=REASON_HELP, render_kw={"rows": 3})


class DowngradeForm(TranslatedForm):
    grade = SelectField(_l("New grade"), [DataRequired(message=_l("Choose a grade."))],
                        choices=opts(blank_choice() + Grade.choices()), default="")
    reason = TextAreaField(_l("Reason"), [DataRequired(message=_l("Say why.")), Length(min=5, max=2000)],
                           description=REASON_HELP, render_kw={"rows": 3})


class ReassignForm(TranslatedForm):
    assignee = SelectField(_l("Give this report to"), [DataRequired(message=_l("Choose a person."))], default="")


class DuplicateForm(TranslatedForm):
    original = StringField(_l("Receipt code of the report it duplicates"),
                           [DataRequired(message=_l("Give a receipt code.")), Length(max=40)],
                           render_kw={"autocapitalize": "characters", "spellcheck": "false"})


class CommentForm(TranslatedForm):
    text = TextAreaField(_l("Comment"), [DataRequired(message=_l("Write the comment.")), Length(max=10_000)],
                         description=SEALED_HELP, render_kw={"rows": 3})


class QuestionForm(TranslatedForm):
    question = TextAreaField(_l("Question to the reporter"),
                             [DataRequired(message=_l("Write the question.")), Length(min=5, max=5000)],
                             description=_l("The reporter sees it under \"My reports\" and answers from their phone."),
                             render_kw={"rows": 3})


class AnswerForm(TranslatedForm):
    answer = TextAreaField(_l("Your answer"), [DataRequired(message=_l("Write your answer.")), Length(max=50_000)],
                           render_kw={"rows": 6})
    files = MultipleFileField(_l("More photos, videos, audio or PDF (optional)"),
                              render_kw={"accept": "image/*,video/*,audio/*,application/pdf"})


class LiftRedactionForm(TranslatedForm):
    """A verifier shows what a redaction hides. A town or a weapon hidden needlessly is a correction;
    a name, a contact, an ID or a position is a reveal, for a typed reason that goes to the audit log."""

    placeholder = SelectField(_l("Redaction to lift"), choices=[], validate_choice=True)
    reason = TextAreaField(_l("Reason (needed to lift a name, a contact, an ID or a position: that is a reveal, "
                              "recorded in the audit log)"), [Optional(), Length(max=500)],
                           description=REVEAL_REASON_HELP, render_kw={"rows": 2})

    def validate_reason(self, field: Any) -> None:
        if lifting_reveals(self.placeholder.data or "") and len((field.data or "").strip()) < 10:
            raise ValidationError(_l("Lifting this redaction shows who or where someone is: say why you need "
                                     "it (at least 10 characters)."))


class ItemAssessmentForm(TranslatedForm):
    """The claimant's identification of one item (platform, munition or a component): shown filled
    with what was reported (blanks filled from the catalogue), saved as assessed, apart from it."""

    designation = StringField(_l("Designation (as assessed)"), [Optional(), Length(max=200), storable_text])
    manufacturer = StringField(_l("Manufacturer (as assessed)"), [Optional(), Length(max=200), storable_text])
    country = CountryNameField(_l("Country of manufacture (as assessed)"), default="")
    identification_confidence = SelectField(
        _l("Confidence in the identification"),
        choices=opts(blank_choice(_l("—")) + IdentificationConfidence.choices()), default="")
    identification_basis = SelectField(
        _l("Identified by"), choices=opts(blank_choice(_l("— not identified —")) + IdentificationBasis.choices()),
        default="")
    files = SelectMultipleField(_l("Files that show it"), choices=[], validate_choice=True,
                                widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
