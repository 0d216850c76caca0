"""The intake form: every field of a report on one page, in sections, with repeatable rows.

WTForms parses and renders; the rules a report must satisfy are the schema's (`schema.ReportIn`),
so the web form and the JSON API accept and refuse exactly the same reports. Schema errors are put
back on the fields they concern, and everything typed is re-rendered.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from babel import Locale
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from pydantic import ValidationError
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    FieldList,
    FileField,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
    TimeField,
)
from wtforms import URLField as _URLField
from wtforms.fields import DecimalField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, StopValidation

from .enums import (
    AgeBand,
    CivilianStatus,
    ComponentKind,
    Consent,
    DamageExtent,
    DatePrecision,
    DeliveryPlatform,
    Harm,
    HarmGroup,
    IdentificationBasis,
    IdentificationConfidence,
    IncidentType,
    LocationPrecision,
    ManufactureDateBasis,
    ObjectKind,
    Occupation,
    Risk,
    Sex,
    SourceType,
    YesNoUnknown,
)
from .i18n.collation import sorted_by_name
from .i18n.forms import TranslatedForm, TranslatedPlainForm
from .items.catalogue import country_code
from .schema import ReportIn, check_storable_text, country_codes, errors_by_field

NARRATIVE_LANGUAGES = ["en", "ru", "uk", "hy", "az", "ar", "ka", "tr", "fa", "ku", "he", "fr", "es", "de",
                       "so", "sw", "am", "ti", "my", "ur", "ps"]
REPEATABLE = ("victims", "objects_damaged", "components", "witnesses", "links", "attachments")
ROW_LABELS = {"victims": _l("Person"), "objects_damaged": _l("Damaged object"), "components": _l("Component"),
              "witnesses": _l("Witness"), "links": _l("Link"), "attachments": _l("File")}
ROW_LIMIT = 50  # rows a form can grow to without JavaScript; the API takes more


def storable_text(_form: Any, field: Any) -> None:
    """A field outside the report's schema refuses what the schema refuses (`schema.unstorable_text`)."""
    try:
        check_storable_text(field.data if isinstance(field.data, str) else None)
    except ValueError as exc:
        raise StopValidation(str(exc)) from None


def opts(pairs: list[tuple[str, Any]]) -> list[SelectChoice]:
    """(value, label) pairs as WTForms options."""
    return [SelectChoice(value, label) for value, label in pairs]


def blank_choice(label: Any = None) -> list[tuple[str, Any]]:
    return [("", label or _l("— choose —"))]


def country_choices() -> list[tuple[str, str]]:
    """Countries named in the reader's language, sorted by name."""
    return _countries_in(str(get_locale() or "en"))


@lru_cache(maxsize=32)
def _countries_in(locale_name: str) -> list[tuple[str, str]]:
    # Built once per language: sorting ~250 localised names on every form was measurable under load.
    # Sorted with the language's collation (Є after Е in Ukrainian, Ə after E in Azerbaijani), not by code
    # point. A territory the locale has no name for (CLDR names Sark, CQ, in English only) is shown by its
    # English name, never as a raw code: it is a place a report may be about, so it stays a choice.
    locale = Locale.parse(locale_name)
    english = Locale("en").territories
    names = [(code, str(locale.territories.get(code) or english.get(code) or code)) for code in country_codes()]
    return sorted_by_name(names, locale_name, name=lambda pair: pair[1])


def interface_language() -> str:
    """The language the page is shown in, as a narrative language ("" if it is none of them): what the
    form's "Language of the account" starts at, so a report filed from a Ukrainian page is anonymized
    with the Ukrainian rules unless the reporter says the account is in another language."""
    locale = get_locale()
    language = locale.language if locale is not None else ""
    return language if language in NARRATIVE_LANGUAGES else ""


def language_choices() -> list[tuple[str, str]]:
    locale = Locale.parse(str(get_locale() or "en"))
    return [(code, locale.languages.get(code, code)) for code in NARRATIVE_LANGUAGES]


@lru_cache(maxsize=1)
def weapon_suggestions() -> dict[str, list[str]]:
    """The weapon catalogue's names by kind (platform, munition, component, manufacturer), for the
    form's suggestion lists: read from the same data file the anonymizer keeps these names by."""
    import json
    from importlib.resources import files

    entries = json.loads(files("intake").joinpath("data/weapons.json").read_text(encoding="utf-8"))["entries"]
    by_kind: dict[str, set[str]] = {}
    for entry in entries:
        by_kind.setdefault(entry["kind"], set()).add(entry["name"])
        if entry.get("manufacturer"):
            by_kind.setdefault("manufacturer", set()).add(entry["manufacturer"])
    return {kind: sorted(names, key=str.casefold) for kind, names in by_kind.items()}


def weapon_facts() -> dict[str, tuple[str, str]]:
    """Catalogue designation → (manufacturer, country of manufacture named in the reader's language),
    carried on the suggestion lists' options so the form's script can fill in an empty manufacturer
    and country when a catalogue designation is chosen (intake/items/catalogue.py)."""
    from .items.catalogue import form_suggestions

    names = dict(_countries_in(str(get_locale() or "en")))
    return {name: (maker, names.get(code, code)) for kind in form_suggestions().values()
            for name, (maker, code) in kind.items()}


@lru_cache(maxsize=32)
def _country_keys(locale_name: str) -> dict[str, str]:
    """Every way the country field takes a country (code, name in the reader's language or in
    English, any case) → its code."""
    keys: dict[str, str] = {}
    for names in (_countries_in("en"), _countries_in(locale_name)):
        for code, name in names:
            keys[name.casefold()] = code
    for code in country_codes():
        keys[code.casefold()] = code
    return keys


class CountryNameField(StringField):
    """A country typed with suggestions (`<datalist id="countries">`, one for all rows) instead of a
    <select> of 258 names in every row: the name in the reader's language, in English, or the ISO
    code is taken; the data is the code, shown back as the name."""

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("render_kw", {"list": "countries", "autocomplete": "off"})
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]).strip() if valuelist else ""
        if not text:
            self.data = ""
            return
        # The reader's names first, then any language's and the common English ones ("Turkey", "USA").
        self.data = _country_keys(str(get_locale() or "en")).get(text.casefold()) or country_code(text) or text

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        names = dict(_countries_in(str(get_locale() or "en")))
        return names.get(self.data or "", self.data or "")

    def pre_validate(self, form: Any) -> None:
        if self.data and self.data not in country_codes():
            raise StopValidation(str(_l("Choose a country from the suggestions, or write its two-letter code.")))


class Row(TranslatedPlainForm):
    """A repeatable row. A row left entirely at its defaults is ignored, not an error."""

    defaults: dict[str, Any] = {}

    def is_blank(self) -> bool:
        for name, field in self._fields.items():
            if isinstance(field, FileField):
                if getattr(field.data, "filename", None):
                    return False
                continue
            if name in ("upload_id", "remove"):
                continue
            value = field.data
            if value in (None, "", False) or value == self.defaults.get(name):
                continue
            return False
        return True

    def payload(self) -> dict[str, Any]:
        return {name: _plain(field.data) for name, field in self._fields.items()}


class VictimRow(Row):
    defaults = {"sex": Sex.UNKNOWN.value, "civilian_status": CivilianStatus.UNKNOWN.value,
                "occupation": Occupation.NONE_GIVEN.value}
    name = StringField(_l("Name"), [Optional(), Length(max=300)],
                       description=_l("Kept encrypted and never published."))
    age = IntegerField(_l("Age"), [Optional()], render_kw={"inputmode": "numeric", "min": 0, "max": 120})
    age_band = SelectField(_l("Age band (if the age is not known)"),
                           choices=opts(blank_choice(_l("—")) + AgeBand.choices()), default="")
    sex = SelectField(_l("Sex"), choices=opts(Sex.choices()), default=Sex.UNKNOWN.value)
    harm = SelectField(_l("Harm"), choices=opts(blank_choice() + Harm.choices()), default="")
    civilian_status = SelectField(_l("Civilian status"), choices=opts(CivilianStatus.choices()),
                                  default=CivilianStatus.UNKNOWN.value)
    occupation = SelectField(_l("Occupation"), choices=opts(Occupation.choices()),
                             default=Occupation.NONE_GIVEN.value)


class DamagedObjectRow(Row):
    kind = SelectField(_l("What was damaged"), choices=opts(blank_choice() + ObjectKind.choices()), default="")
    extent = SelectField(_l("Extent"), choices=opts(blank_choice() + DamageExtent.choices()), default="")


def _suggesting(datalist: str, country_field: str) -> dict[str, str]:
    """A designation field with catalogue suggestions that also fill its item's manufacturer and
    country (`<prefix>manufacturer`, `<prefix><country_field>`; see intake.js)."""
    return {"list": datalist, "data-suggests": "manufacturer " + country_field, "autocomplete": "off"}


class ComponentRow(Row):
    kind = SelectField(_l("Kind of component"), choices=opts(blank_choice() + ComponentKind.choices()), default="")
    model = StringField(_l("Model"), [Optional(), Length(max=200)],
                        render_kw=_suggesting("catalogue-component", "country_of_manufacture"))
    manufacturer = StringField(_l("Manufacturer"), [Optional(), Length(max=200)],
                               render_kw={"list": "catalogue-manufacturer"})
    country_of_manufacture = CountryNameField(_l("Country of manufacture"), default="")
    markings = TextAreaField(_l("Markings, exactly as written"), [Optional(), Length(max=5000)],
                             description=_l("Everything on the data plate or the casing, line by line, "
                                            "including what you cannot read (write [?])."), render_kw={"rows": 2})
    serial_number = StringField(_l("Serial number"), [Optional(), Length(max=100)])
    lot_number = StringField(_l("Lot number"), [Optional(), Length(max=100)])
    part_number = StringField(_l("Part number"), [Optional(), Length(max=100)])
    cage_code = StringField(_l("CAGE code"), [Optional(), Length(max=5)],
                            description=_l("Five letters and digits naming the manufacturer, often after "
                                           "\"CAGE\" or \"FSCM\"."),
                            render_kw={"autocapitalize": "characters", "spellcheck": "false"})
    manufactured_on = StringField(_l("Date of manufacture"), [Optional(), Length(max=10)],
                                  description=_l("YYYY, YYYY-MM or YYYY-MM-DD: as far as the markings show it."),
                                  render_kw={"placeholder": "2020-06", "inputmode": "numeric"})
    manufacture_date_basis = SelectField(_l("The date comes from"),
                                         choices=opts(blank_choice(_l("—")) + ManufactureDateBasis.choices()),
                                         default="")
    identification_basis = SelectField(
        _l("How was it identified?"),
        choices=opts(blank_choice(_l("— not identified —")) + IdentificationBasis.choices()), default="")
    identification_confidence = SelectField(
        _l("Confidence in the identification"),
        choices=opts(blank_choice(_l("—")) + IdentificationConfidence.choices()), default="")


class WitnessRow(Row):
    name = StringField(_l("Name"), [Optional(), Length(max=300)])
    phone = TelField(_l("Phone"), [Optional(), Length(max=64)])
    email = EmailField(_l("E-mail"), [Optional(), Length(max=320)])
    relation = StringField(_l("Relation to the event"), [Optional(), Length(max=200)],
                           description=_l("For example: neighbour, nurse on duty, brother of a victim."))
    may_contact = BooleanField(_l("The witness agrees to be contacted"))


class LinkRow(Row):
    url = _URLField(_l("Web address of an open-source post"), [Optional(), Length(max=2000)])


class AttachmentRow(Row):
    """A file to send. Once accepted it is kept on the server (upload_id) until the report is sent."""

    file = FileField(_l("Photo, video, audio or PDF"),
                     render_kw={"accept": "image/*,video/*,audio/*,application/pdf"})
    upload_id = HiddenField()
    captured_at = DateTimeLocalField(_l("When it was taken (local time)"), [Optional()],
                                     format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
    description = TextAreaField(_l("What it shows"), [Optional(), Length(max=2000), storable_text],
                                render_kw={"rows": 2})
    remove = BooleanField(_l("Remove this file"))


def _counts_fields() -> dict[str, Any]:
    fields = {}
    for harm in Harm:
        for group in HarmGroup:
            fields[f"{harm.value}_{group.value}"] = IntegerField(
                group.label, [Optional()], default=None,
                render_kw={"inputmode": "numeric", "min": 0, "placeholder": "0"},
            )
    return fields


class ReportForm(TranslatedForm):
    """One report, in the sections of design/report.md."""

    # Checked exactly (fullmatch) by the view before anything else happens.
    submission_id = HiddenField(validators=[DataRequired()])

    # Event
    occurred_on = DateField(_l("Date"), [InputRequired(message=_l("Give the date of the event."))])
    occurred_time = TimeField(_l("Local time (if known)"), [Optional()])
    date_precision = SelectField(_l("How exact is the date?"), choices=opts(DatePrecision.choices()),
                                 default=DatePrecision.EXACT.value)
    country = SelectField(_l("Country"), [InputRequired(message=_l("Choose the country."))], default="")
    admin1 = StringField(_l("Region / province"), [Optional(), Length(max=200)])
    admin2 = StringField(_l("District"), [Optional(), Length(max=200)])
    locality = StringField(_l("Town, village or neighbourhood"), [Optional(), Length(max=200)])
    latitude = DecimalField(_l("Latitude"), [Optional()], places=None,
                            render_kw={"inputmode": "decimal", "placeholder": "40.1772"})
    longitude = DecimalField(_l("Longitude"), [Optional()], places=None,
                             render_kw={"inputmode": "decimal", "placeholder": "44.5035"})
    location_precision = SelectField(_l("How exact is the place?"), choices=opts(LocationPrecision.choices()),
                                     default=LocationPrecision.TOWN.value)
    incident_type = SelectField(_l("What happened"), [InputRequired(message=_l("Choose the kind of attack."))],
                                choices=opts(blank_choice() + IncidentType.choices()), default="")
    narrative = TextAreaField(_l("Account of the event"),
                              [InputRequired(message=_l("Describe what happened.")), Length(max=50_000)],
                              render_kw={"rows": 8})
    # Starts at the interface language; the reporter may choose another, or automatic detection. A form
    # sent without the field takes the interface language too. (The API keeps its own explicit field.)
    narrative_language = SelectField(_l("Language of the account"), default=interface_language)

    # Harm: killed_men … missing_unknown are added below.
    victims = FieldList(FormField(VictimRow), min_entries=1, max_entries=ROW_LIMIT)
    objects_damaged = FieldList(FormField(DamagedObjectRow), min_entries=1, max_entries=ROW_LIMIT)
    displaced = IntegerField(_l("People displaced (if known)"), [Optional()],
                             render_kw={"inputmode": "numeric", "min": 0})

    # Weapon
    delivery_platform = SelectField(_l("Delivery platform"), choices=opts(DeliveryPlatform.choices()),
                                    default=DeliveryPlatform.UNKNOWN.value)
    platform_model = StringField(_l("Platform model"), [Optional(), Length(max=200)],
                                 description=_l("For example: Bayraktar TB2, Shahed-136, Su-34."),
                                 render_kw=_suggesting("catalogue-platform", "country"))
    platform_manufacturer = StringField(_l("Platform manufacturer"), [Optional(), Length(max=200)],
                                        description=_l("Filled in from the catalogue when it knows the model; "
                                                       "change it if the evidence says otherwise."),
                                        render_kw={"list": "catalogue-manufacturer"})
    platform_country = CountryNameField(_l("Platform: country of manufacture"), default="")
    munition_type = StringField(_l("Munition type"), [Optional(), Length(max=200)],
                                description=_l("For example: guided bomb, cluster rocket, 152 mm shell."))
    munition_model = StringField(_l("Munition model"), [Optional(), Length(max=200)],
                                 render_kw=_suggesting("catalogue-munition", "country"))
    munition_manufacturer = StringField(_l("Munition manufacturer"), [Optional(), Length(max=200)],
                                        render_kw={"list": "catalogue-manufacturer"})
    munition_country = CountryNameField(_l("Munition: country of manufacture"), default="")
    remnants_found = SelectField(_l("Were remnants found?"), choices=opts(YesNoUnknown.choices()),
                                 default=YesNoUnknown.UNKNOWN.value)
    markings = TextAreaField(_l("Markings read off remnants"), [Optional(), Length(max=5000)],
                             description=_l("Inscriptions, lot and serial numbers, manufacturer codes, exactly "
                                            "as written."), render_kw={"rows": 3})
    components = FieldList(FormField(ComponentRow), min_entries=1, max_entries=ROW_LIMIT)
    identification_basis = SelectField(
        _l("How was the weapon identified?"),
        choices=opts(blank_choice(_l("— not identified —")) + IdentificationBasis.choices()),
        default="",
    )
    identification_confidence = SelectField(_l("Confidence in the identification"),
                                            choices=opts(blank_choice(_l("—")) + IdentificationConfidence.choices()),
                                            default="")
    used_by = CountryNameField(_l("Used by"), default="",
                               description=_l("The state whose forces used the weapon, as far as is known, "
                                              "e.g. Azerbaijan or AZ."))

    # Sources and consent
    source_type = SelectField(_l("Source of this account"),
                              [InputRequired(message=_l("Choose where this account comes from."))],
                              choices=opts(blank_choice() + SourceType.choices()), default="")
    witnesses = FieldList(FormField(WitnessRow), min_entries=1, max_entries=ROW_LIMIT)
    links = FieldList(FormField(LinkRow), min_entries=1, max_entries=ROW_LIMIT)
    consent = SelectField(_l("Consent given by the source"),
                          [InputRequired(message=_l("Record what the source agreed to."))],
                          choices=opts(blank_choice() + Consent.choices()), default="")
    risk_to_source = SelectField(_l("Risk to the source if identified"),
                                 [InputRequired(message=_l("Assess the risk to the source."))],
                                 choices=opts(blank_choice() + Risk.choices()), default="")

    # Attachments
    attachments = FieldList(FormField(AttachmentRow), min_entries=1, max_entries=ROW_LIMIT)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        countries = country_choices()
        self.country.choices = opts(blank_choice() + countries)
        self.narrative_language.choices = opts(blank_choice(_l("— detect automatically —")) + language_choices())

    def error_summary(self) -> list[tuple[str, str, str]]:
        """(field id, label, first message) of every field with an error, in page order."""
        counts = {f"{h.value}_{g.value}": f"{h.label} — {g.label}" for h in Harm for g in HarmGroup}
        summary = []
        for field in self:
            if isinstance(field, FieldList):
                for number, entry in enumerate(field.entries, start=1):
                    for sub in entry.form:
                        if sub.errors:
                            label = f"{ROW_LABELS[field.name]} {number} — {sub.label.text}"
                            summary.append((sub.id, label, str(sub.errors[0])))
            elif field.errors and field.name != "csrf_token":
                label = counts.get(field.name) or str(field.label.text)
                summary.append((field.id, label, str(field.errors[0])))
        return summary

    def add_row(self, list_name: str) -> None:
        field = getattr(self, list_name)
        if len(field.entries) < ROW_LIMIT:
            field.append_entry()

    def remove_row(self, list_name: str, index: int) -> None:
        field = getattr(self, list_name)
        field.entries = [e for i, e in enumerate(field.entries) if i != index]
        if not field.entries:
            field.append_entry()

    def row_template(self, list_name: str) -> Row:
        """A blank row with `__INDEX__` in its names, for the script that adds rows in the browser."""
        row_class = self[list_name].unbound_field.args[0]
        return row_class(prefix=f"{list_name}-__INDEX__-")

    def needs_row_template(self, list_name: str) -> bool:
        """Whether the page must carry a blank row for the script to copy: not when the list's first
        row is blank as sent (the script copies that one), as on every empty form."""
        first = self[list_name].entries[0].form
        kept = "upload_id" in first._fields and bool(first.upload_id.data)
        return kept or not first.is_blank() or any(sub.errors for sub in first)

    def filled_rows(self, list_name: str) -> list[Any]:
        return [entry for entry in getattr(self, list_name) if not entry.form.is_blank()]

    def report_in(self) -> ReportIn | None:
        """The schema's reading of what was typed, or None with the errors put on the fields."""
        data: dict[str, Any] = {"submission_id": self.submission_id.data}
        for name in ("occurred_on", "occurred_time", "date_precision", "country", "admin1", "admin2",
                     "locality", "latitude", "longitude", "location_precision", "incident_type",
                     "narrative", "narrative_language", "displaced", "delivery_platform", "platform_model",
                     "platform_manufacturer", "platform_country", "munition_type", "munition_model",
                     "munition_manufacturer", "munition_country", "remnants_found", "markings",
                     "identification_basis", "identification_confidence", "used_by", "source_type", "consent",
                     "risk_to_source"):
            data[name] = _plain(self[name].data)
        for harm in Harm:
            data[harm.value] = {g.value: self[f"{harm.value}_{g.value}"].data or 0 for g in HarmGroup}
        rows: dict[str, list[Any]] = {}
        for list_name in ("victims", "objects_damaged", "components", "witnesses", "links"):
            rows[list_name] = self.filled_rows(list_name)
            data[list_name] = [entry.form.payload() for entry in rows[list_name]]
        try:
            return ReportIn.model_validate(data)
        except ValidationError as exc:
            self._place_errors(errors_by_field(exc.errors()), rows)
            return None

    def _place_errors(self, errors: dict[str, list[str]], rows: dict[str, list[Any]]) -> None:
        for path, messages in errors.items():
            field = self._field_for(path.split("."), rows)
            if not isinstance(field.errors, list):
                field.errors = []
            if not field.errors:  # a field that failed to parse already says why
                field.errors.extend(messages)

    def _field_for(self, parts: list[str], rows: dict[str, list[Any]]) -> Any:
        head = parts[0]
        if head in rows and len(parts) >= 2 and parts[1].isdigit():
            entry = rows[head][int(parts[1])]
            sub = parts[2] if len(parts) > 2 else None
            if sub and sub in entry.form._fields:
                return entry.form[sub]
            # A rule over the whole row: show it at the row's first field.
            return next(iter(entry.form._fields.values()))
        if head in ("killed", "injured", "missing") and len(parts) >= 2:
            return self[f"{head}_{parts[1]}"]
        if head in self._fields:
            return self[head]
        # Rules spanning several fields (latitude with longitude) show at the first of them.
        return self.latitude

    @staticmethod
    def new_submission_id() -> str:
        return str(uuid.uuid4())


for _name, _field in _counts_fields().items():
    setattr(ReportForm, _name, _field)  # WTForms' form metaclass picks up fields added this way


def _plain(value: Any) -> Any:
    """Form data as the schema reads it: Decimals to floats, empty strings to None."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    if value == "":
        return None
    return value


class SignInForm(TranslatedForm):
    email = EmailField(_l("E-mail"), [DataRequired(), Length(max=320)], render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), [DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})


class ReceiptLookupForm(TranslatedForm):
    receipt_code = StringField(_l("Receipt code"), [DataRequired(), Length(max=20)])


class SecondFactorForm(TranslatedForm):
    code = StringField(_l("Code"), [DataRequired(), Length(max=32)],
                       description=_l("The 6-digit code your authenticator app shows now, "
                                      "or one of your recovery codes."),
                       render_kw={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"})


class EnrolmentForm(TranslatedForm):
    code = StringField(_l("Code from the app"), [DataRequired(), Length(max=16)],
                       description=_l("The 6-digit code the app shows after you added the account."),
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class ChangePasswordForm(TranslatedForm):
    """A user replaces their own password; the rules (length, differs) live in accounts.change_password."""

    current_password = PasswordField(_l("Current password"), [DataRequired(), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"), [DataRequired(), Length(min=12, max=1024)],
                                 description=_l("At least 12 characters. A few unrelated words are easy to "
                                                "remember and hard to guess."),
                                 render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("New password again"), [DataRequired()], render_kw={"autocomplete": "new-password"})

    def validate_confirm(self, field: Any) -> None:
        if field.data != self.new_password.data:
            raise StopValidation(str(_l("The two new passwords are not the same.")))


REVEAL_REASON_HELP = _l("Why you need to see it, e.g. \"to call the witness back about the time of the strike\". "
                        "Do not write names, numbers or addresses here: the reason is kept in the audit log.")


class RevealForm(TranslatedForm):
    """Asks why before an original (identities, exact place, account, links, a file) is shown."""

    what = SelectField(_l("What to reveal"), choices=opts([
        ("identities", _l("Names and contacts (victims, witnesses)")),
        ("location", _l("Exact coordinates")),
        ("account", _l("The original account, answers, comments and reasons")),
        ("links", _l("Links to posts")),
        ("files", _l("File names, descriptions and the metadata read from them")),
    ]))
    reason = TextAreaField(_l("Reason"), [DataRequired(), Length(min=10, max=500)], description=REVEAL_REASON_HELP)


class OriginalFileForm(TranslatedForm):
    """Asks why before an original file is downloaded."""

    reason = StringField(_l("Reason"), [DataRequired(), Length(min=10, max=500)], description=REVEAL_REASON_HELP)


class HideMoreForm(TranslatedForm):
    """A verifier hides words the anonymizer left in the account (applied to every occurrence)."""

    surface = StringField(_l("Words to hide"), [DataRequired(), Length(min=2, max=200)],
                          description=_l("Exactly as they appear in the account above."))
    entity_type = SelectField(_l("What they are"), choices=opts([
        ("PERSON", _l("A person's name")), ("PHONE", _l("A phone number")), ("EMAIL", _l("An e-mail address")),
        ("ID", _l("An ID or document number")), ("ADDRESS", _l("A street address")),
        ("COORDINATE", _l("A position")), ("URL", _l("A link or profile")), ("OTHER", _l("Something else")),
    ]))
