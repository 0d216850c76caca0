"""The report form as an XForm, from the definitions the web form and the API use.

An XLSForm-shaped definition (the `survey`, `choices` and `settings` sheets as lists of rows) is
built in code from `schema.ReportIn`'s fields, the enumerations, the web form's labels and hints
(`forms.ReportForm`, so the same gettext catalogues translate both) and the weapon catalogue, and
pyxform turns it into XForm XML. Nothing here is a hand-kept copy of the form: a new enumeration
value, label or catalogue entry is in the next XForm, whose version (a hash of the definition)
changes with it, so Collect downloads it again.

`QUESTIONS` also tells `instance` where each answer is in a submitted instance and which key of the
report it fills.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from babel import Locale
from flask_babel import force_locale, lazy_ngettext
from flask_babel import lazy_gettext as _l

from .. import enums, forms
from ..schema import EMAIL_PATTERN, HTTP_URL_PATTERN, MAX_COUNT, MAX_NARRATIVE_CHARS, PARTIAL_DATE_PATTERN

FORM_ID = "intake_report"
ROOT = "data"
# Above this many choices a list is searched (Collect's autocomplete), not scrolled.
SEARCH_ABOVE = 30

OTHER = "other"  # the choice that opens a free-text question beside a catalogue list
TEXT_LIMIT = 200


def _at_most(limit: int) -> Any:
    """The constraint message of a text limited to `limit` characters."""
    return lazy_ngettext("At most %(num)d character.", "At most %(num)d characters.", limit)


@dataclass(frozen=True)
class Question:
    """One question of the XForm: its XLSForm type and name, and the report key it fills."""

    type: str
    name: str
    label: Any
    key: str | None = None  # the ReportIn field; None for questions the server reads otherwise
    hint: Any = None
    required: bool = False
    constraint: str | None = None
    constraint_message: Any = None
    relevant: str | None = None
    appearance: str | None = None
    choice_filter: str | None = None
    parameters: str | None = None
    default: str | None = None


@dataclass(frozen=True)
class Group:
    """A group (`repeat` False) or repeat group of questions; a repeat fills a list of the report."""

    name: str
    label: Any
    children: list[Question | Group] = field(default_factory=list)
    repeat: bool = False
    key: str | None = None  # the ReportIn list a repeat fills, or the nested object a group fills


def _label(form_class: type, name: str) -> Any:
    """A field's label as the web form has it (a lazy gettext string)."""
    unbound = getattr(form_class, name)
    return unbound.args[0] if unbound.args else unbound.kwargs["label"]


def _hint(form_class: type, name: str) -> Any:
    return getattr(form_class, name).kwargs.get("description")


def _text(name: str, form_class: type = forms.ReportForm, limit: int = TEXT_LIMIT, prefix: str = "",
          **kw: Any) -> Question:
    kw.setdefault("hint", _hint(form_class, name))
    return Question("text", prefix + name, _label(form_class, name), key=name,
                    constraint=f"string-length(.) <= {limit}",
                    constraint_message=_at_most(limit), **kw)


def _select(name: str, list_name: str, form_class: type = forms.ReportForm, prefix: str = "",
            **kw: Any) -> Question:
    kw.setdefault("hint", _hint(form_class, name))
    return Question(f"select_one {list_name}", prefix + name, _label(form_class, name), key=name, **kw)


NOT_FUTURE = _l("The date cannot be in the future.")
COUNT_CONSTRAINT = f". >= 0 and . <= {MAX_COUNT}"


def _counts(harm: enums.Harm) -> Group:
    return Group(harm.value, harm.label, key=harm.value, children=[
        Question("integer", group.value, group.label, key=group.value, constraint=COUNT_CONSTRAINT,
                 constraint_message=_l("Enter a number between 0 and %(max)d.", max=MAX_COUNT))
        for group in enums.HarmGroup
    ])


def _catalogue(name: str, list_name: str, prefix: str = "", **kw: Any) -> list[Question]:
    """A catalogue list searched by name, with "other" opening a text question for anything else."""
    return [
        _select(name, list_name, prefix=prefix, appearance="autocomplete", **kw),
        Question("text", f"{prefix}{name}_{OTHER}", _l("Other: type it"),
                 relevant=f"${{{prefix}{name}}} = '{OTHER}'",
                 constraint=f"string-length(.) <= {TEXT_LIMIT}",
                 constraint_message=_at_most(TEXT_LIMIT)),
    ]


# The web form's classes, whose labels and hints the questions take.
F: type = forms.ReportForm
V: type = forms.VictimRow
D: type = forms.DamagedObjectRow
C: type = forms.ComponentRow
W: type = forms.WitnessRow
L: type = forms.LinkRow
A: type = forms.AttachmentRow


def questions() -> list[Question | Group]:
    """The whole form, in the web form's sections (design/report.md)."""
    return [
        Group("event", _l("Event"), [
            Question("date", "occurred_on", _label(F, "occurred_on"), key="occurred_on", required=True,
                     constraint=". <= today() and . >= date('1900-01-01')", constraint_message=NOT_FUTURE),
            Question("time", "occurred_time", _label(F, "occurred_time"), key="occurred_time"),
            _select("date_precision", "date_precision", default=enums.DatePrecision.EXACT.value),
            _select("country", "country", required=True, appearance="autocomplete"),
            _text("admin1"), _text("admin2"), _text("locality"),
            # Latitude and longitude come from one point, with the accuracy the phone reached.
            Question("geopoint", "place", _l("Map point (if known)"), parameters="capture-accuracy=20 "
                     "warning-accuracy=100", hint=_l("Stand at the place, or leave empty. Kept encrypted.")),
            _select("location_precision", "location_precision", default=enums.LocationPrecision.TOWN.value,
                    constraint="not(. = 'exact' and ${place} != '' and selected-at(${place}, 3) > 100)",
                    constraint_message=_l("The phone's position is not accurate enough for an exact point.")),
            _select("incident_type", "incident_type", required=True),
            Question("text", "narrative", _label(F, "narrative"), key="narrative", required=True,
                     appearance="multiline", constraint=f"string-length(.) <= {MAX_NARRATIVE_CHARS}",
                     constraint_message=_at_most(MAX_NARRATIVE_CHARS)),
            _select("narrative_language", "narrative_language"),
        ]),
        Group("harm", _l("Harm"), [
            *(_counts(harm) for harm in enums.Harm),
            Group("victims", forms.ROW_LABELS["victims"], repeat=True, key="victims", children=[
                _text("name", V, limit=300, prefix="victim_"),
                Question("integer", "victim_age", _label(V, "age"), key="age", constraint=". >= 0 and . <= 120",
                         constraint_message=_l("Enter an age between 0 and 120.")),
                _select("age_band", "age_band", V, prefix="victim_", relevant="${victim_age} = ''"),
                _select("sex", "sex", V, prefix="victim_", default=enums.Sex.UNKNOWN.value),
                _select("harm", "harm", V, prefix="victim_", required=True),
                _select("civilian_status", "civilian_status", V, prefix="victim_",
                        default=enums.CivilianStatus.UNKNOWN.value),
                _select("occupation", "occupation", V, prefix="victim_", default=enums.Occupation.NONE_GIVEN.value),
            ]),
            Group("objects_damaged", forms.ROW_LABELS["objects_damaged"], repeat=True, key="objects_damaged",
                  children=[_select("kind", "object_kind", D, prefix="object_", required=True),
                            _select("extent", "damage_extent", D, prefix="object_", required=True)]),
            Question("integer", "displaced", _label(F, "displaced"), key="displaced", constraint=COUNT_CONSTRAINT,
                     constraint_message=_l("Enter a number between 0 and %(max)d.", max=MAX_COUNT)),
        ]),
        Group("weapon", _l("Weapon"), [
            _select("delivery_platform", "delivery_platform", default=enums.DeliveryPlatform.UNKNOWN.value),
            *_catalogue("platform_model", "platform_model",
                        choice_filter="platform = ${delivery_platform} or ${delivery_platform} = 'unknown' "
                                      "or platform = 'any'"),
            *_catalogue("platform_manufacturer", "manufacturer"),
            _select("platform_country", "country", appearance="autocomplete"),
            _text("munition_type"),
            *_catalogue("munition_model", "munition_model"),
            *_catalogue("munition_manufacturer", "manufacturer"),
            _select("munition_country", "country", appearance="autocomplete"),
            _select("remnants_found", "yes_no_unknown", default=enums.YesNoUnknown.UNKNOWN.value),
            _text("markings", limit=5000, appearance="multiline"),
            Group("components", forms.ROW_LABELS["components"], repeat=True, key="components", children=[
                _select("kind", "component_kind", C, prefix="component_", required=True),
                *_catalogue("model", "component_model", form_class=C, prefix="component_",
                            choice_filter="kind = ${component_kind} or kind = 'any'"),
                *_catalogue("manufacturer", "manufacturer", form_class=C, prefix="component_"),
                _select("country_of_manufacture", "country", C, prefix="component_", appearance="autocomplete"),
                _text("markings", C, limit=5000, prefix="component_", appearance="multiline"),
                _text("serial_number", C, limit=100, prefix="component_"),
                _text("lot_number", C, limit=100, prefix="component_"),
                _text("part_number", C, limit=100, prefix="component_"),
                Question("text", "component_cage_code", _label(C, "cage_code"), key="cage_code",
                         hint=_hint(C, "cage_code"), constraint=r"regex(., '^[A-Za-z0-9]{5}$')",
                         constraint_message=_l("A CAGE code is five letters and digits, like 1VFM4.")),
                Question("text", "component_manufactured_on", _label(C, "manufactured_on"), key="manufactured_on",
                         hint=_hint(C, "manufactured_on"), constraint=f"regex(., '{PARTIAL_DATE_PATTERN}')",
                         constraint_message=_l("Give the date as YYYY, YYYY-MM or YYYY-MM-DD, as far as the "
                                               "markings show it.")),
                _select("manufacture_date_basis", "manufacture_date_basis", C, prefix="component_"),
                _select("identification_basis", "identification_basis", C, prefix="component_"),
                _select("identification_confidence", "identification_confidence", C, prefix="component_"),
            ]),
            _select("identification_basis", "identification_basis"),
            _select("identification_confidence", "identification_confidence"),
            _select("used_by", "country", appearance="autocomplete"),
        ]),
        Group("source", _l("Sources and consent"), [
            _select("source_type", "source_type", required=True),
            Group("witnesses", forms.ROW_LABELS["witnesses"], repeat=True, key="witnesses", children=[
                _text("name", W, limit=300, prefix="witness_"),
                Question("text", "witness_phone", _label(W, "phone"), key="phone", appearance="numbers",
                         constraint=r"regex(., '^[+0-9()\s./-]{5,40}$')",
                         constraint_message=_l("Enter a phone number: digits, spaces and + ( ) - only.")),
                Question("text", "witness_email", _label(W, "email"), key="email",
                         constraint=f"regex(., '{EMAIL_PATTERN}') and string-length(.) <= 320",
                         constraint_message=_l("Enter an e-mail address like name@example.org.")),
                _text("relation", W, prefix="witness_"),
                _select("may_contact", "yes_no", W, prefix="witness_", required=True),
            ]),
            Group("links", forms.ROW_LABELS["links"], repeat=True, key="links", children=[
                Question("text", "link_url", _label(L, "url"), key="url", required=True,
                         constraint=f"regex(., '{HTTP_URL_PATTERN}') and string-length(.) <= 2000",
                         constraint_message=_l("Enter a full web address starting with http:// or https://.")),
            ]),
            _select("consent", "consent", required=True),
            _select("risk_to_source", "risk", required=True),
        ]),
        Group("files", _l("Photos, video, audio and documents"), repeat=True, children=[
            # No `max-pixels`, which pyxform advises: Collect would scale the photo down on the phone,
            # and the original, not a re-encoded copy, is the evidence (the server takes 50 megapixels).
            Question("image", "file_photo", _l("Photo")),
            Question("video", "file_video", _l("Video")),
            Question("audio", "file_audio", _l("Audio recording")),
            Question("text", "file_description", _label(A, "description"), constraint="string-length(.) <= 2000",
                     constraint_message=_at_most(2000),
                     relevant="${file_photo} != '' or ${file_video} != '' or ${file_audio} != ''"),
        ]),
    ]


MEDIA_QUESTIONS = ("file_photo", "file_video", "file_audio")

_PLATFORM_CATEGORY = {"drone/UAV": "drone", "loitering munition": "drone", "aircraft": "aircraft",
                      "MLRS": "mlrs", "artillery": "artillery"}
_COMPONENT_CATEGORY = {"targeting sensor": "targeting_sensor", "engine": "engine", "guidance kit": "guidance_kit",
                       "guidance": "guidance_kit", "fuze": "fuze", "satellite navigation receiver": "navigation",
                       "GNSS module": "navigation"}


def choice_name(text: str) -> str:
    """A catalogue name as an XForm choice value: ASCII letters, digits and underscores."""
    return "w_" + (re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "x")


def _catalogue_entries() -> list[dict[str, Any]]:
    from importlib.resources import files

    data = json.loads(files("intake").joinpath("data/weapons.json").read_text(encoding="utf-8"))
    return list(data["entries"])


def catalogue_choices() -> dict[str, list[tuple[str, str, dict[str, str]]]]:
    """The weapon catalogue as choice lists: (value, name, filter columns) by list name."""
    lists: dict[str, dict[str, tuple[str, str, dict[str, str]]]] = {
        "platform_model": {}, "munition_model": {}, "component_model": {}, "manufacturer": {}}
    for entry in _catalogue_entries():
        name = entry["name"]
        if entry["kind"] == "platform":
            lists["platform_model"].setdefault(
                choice_name(name), (choice_name(name), name,
                                    {"platform": _PLATFORM_CATEGORY.get(entry.get("category", ""), "any")}))
        elif entry["kind"] == "munition":
            lists["munition_model"].setdefault(choice_name(name), (choice_name(name), name, {}))
        elif entry["kind"] == "component":
            lists["component_model"].setdefault(
                choice_name(name), (choice_name(name), name,
                                    {"kind": _COMPONENT_CATEGORY.get(entry.get("category", ""), "any")}))
        if entry.get("manufacturer"):
            maker = entry["manufacturer"]
            lists["manufacturer"].setdefault(choice_name(maker), (choice_name(maker), maker, {}))
        if entry["kind"] == "manufacturer":
            lists["manufacturer"].setdefault(choice_name(name), (choice_name(name), name, {}))
    return {key: sorted(values.values(), key=lambda item: item[1].casefold()) for key, values in lists.items()}


def catalogue_names() -> dict[str, dict[str, str]]:
    """Choice value → catalogue name, per catalogue list (to read an instance back)."""
    return {key: {value: name for value, name, _ in items} for key, items in catalogue_choices().items()}


def _enum_lists() -> dict[str, type[enums.LabelledEnum]]:
    return {
        "date_precision": enums.DatePrecision, "location_precision": enums.LocationPrecision,
        "incident_type": enums.IncidentType, "age_band": enums.AgeBand, "sex": enums.Sex, "harm": enums.Harm,
        "civilian_status": enums.CivilianStatus, "occupation": enums.Occupation, "object_kind": enums.ObjectKind,
        "damage_extent": enums.DamageExtent, "delivery_platform": enums.DeliveryPlatform,
        "yes_no_unknown": enums.YesNoUnknown, "component_kind": enums.ComponentKind,
        "identification_basis": enums.IdentificationBasis,
        "identification_confidence": enums.IdentificationConfidence, "source_type": enums.SourceType,
        "manufacture_date_basis": enums.ManufactureDateBasis,
        "consent": enums.Consent, "risk": enums.Risk,
    }


def column(language: str) -> str:
    """The XLSForm language suffix, e.g. `English (en)`, as ODK asks (a name and its code)."""
    return f"{Locale.parse(language).english_name} ({language})"


def definition(languages: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """The XLSForm sheets, every label and hint in every language (gettext per language; the
    English text where a language has no catalogue yet). The version is added by `build`."""
    languages = list(languages)
    survey: list[dict[str, str]] = []
    choices: list[dict[str, str]] = []

    def translated(prefix: str, text: Any) -> dict[str, str]:
        row = {}
        for language in languages:
            with force_locale(language):
                row[f"{prefix}::{column(language)}"] = str(text)
        return row

    def add(item: Question | Group) -> None:
        if isinstance(item, Group):
            kind = "repeat" if item.repeat else "group"
            survey.append({"type": f"begin_{kind}", "name": item.name, **translated("label", item.label)})
            for child in item.children:
                add(child)
            survey.append({"type": f"end_{kind}"})
            return
        row: dict[str, str] = {"type": item.type, "name": item.name, **translated("label", item.label)}
        if item.hint is not None:
            row.update(translated("hint", item.hint))
        if item.required:
            row["required"] = "yes"
            row.update(translated("required_message", _l("This question is required.")))
        if item.constraint:
            row["constraint"] = item.constraint
            row.update(translated("constraint_message", item.constraint_message))
        for attribute in ("relevant", "appearance", "choice_filter", "parameters", "default"):
            if (value := getattr(item, attribute)) is not None:
                row[attribute] = value
        survey.append(row)

    for item in questions():
        add(item)
    survey.append({"type": "start", "name": "started_at"})
    survey.append({"type": "end", "name": "finished_at"})

    for list_name, enum_class in _enum_lists().items():
        for member in enum_class:
            choices.append({"list_name": list_name, "name": member.value, **translated("label", member.label)})
    for answer, label in (("yes", _l("Yes")), ("no", _l("No"))):
        choices.append({"list_name": "yes_no", "name": answer, **translated("label", label)})
    # One order for every language of the form (ODK lists share it): English collation. Labels as the web
    # form names them, a territory without a name in a language by its English name (forms._countries_in).
    named = {language: dict(forms._countries_in(language)) for language in languages}
    for code, _name in forms._countries_in("en"):
        row = {"list_name": "country", "name": code}
        for language in languages:
            row[f"label::{column(language)}"] = named[language][code]
        choices.append(row)
    english_languages = Locale.parse("en").languages
    for code in forms.NARRATIVE_LANGUAGES:
        row = {"list_name": "narrative_language", "name": code}
        for language in languages:
            row[f"label::{column(language)}"] = str(Locale.parse(language).languages.get(
                code, english_languages.get(code, code)))
        choices.append(row)
    for list_name, items in catalogue_choices().items():
        for choice, name, filters in items:
            choices.append({"list_name": list_name, "name": choice,
                            **{f"label::{column(language)}": name for language in languages}, **filters})
        if list_name == "platform_model":
            extra: dict[str, str] = {"platform": "any"}
        elif list_name == "component_model":
            extra = {"kind": "any"}
        else:
            extra = {}
        choices.append({"list_name": list_name, "name": OTHER, **translated("label", _l("Other")), **extra})

    with force_locale(languages[0]):
        title = str(_l("Report of civilian harm"))
    settings = [{"form_title": title, "form_id": FORM_ID, "default_language": column(languages[0]),
                 "instance_name": "concat(${occurred_on}, ' ', ${incident_type})"}]
    return {"survey": survey, "choices": choices, "settings": settings}


@dataclass(frozen=True)
class XForm:
    xml: str
    version: str
    md5: str  # of the XML: formList's `hash`, as "md5:<hex>"


def key_mark(public_key: str) -> str:
    """What an encrypted form's version ends with: names the key it was encrypted for (a submission's
    manifest repeats the version, so the server knows which of its keys the phone used)."""
    return "e" + hashlib.sha256(public_key.encode()).hexdigest()[:10]


def build(languages: Iterable[str], public_key: str | None = None) -> XForm:
    """The XForm XML; its version is a hash of the definition, so any change of content changes it.

    With `public_key` (base64 of an RSA key's DER SubjectPublicKeyInfo) the form is encrypted:
    pyxform writes `<submission base64RsaPublicKey="…"/>`, Collect encrypts every finished instance
    for that key, and the version, which then ends with `key_mark`, changes with the key."""
    from pyxform.xls2xform import convert

    sheets = definition(languages)
    if public_key is not None:
        sheets["settings"][0]["public_key"] = public_key
    version = hashlib.sha256(json.dumps(sheets, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    if public_key is not None:
        version += key_mark(public_key)
    sheets["settings"][0]["version"] = version
    # Headers: every column that appears in any row (pyxform reads them as the sheet's first row).
    headers = {name: [{key: None for row in rows for key in row}] for name, rows in sheets.items()}
    workbook = {**sheets, **{f"{name}_header": header for name, header in headers.items()},
                "fallback_form_name": ROOT}
    result = convert(workbook, form_name=ROOT, pretty_print=False)
    warnings = [w for w in result.warnings if "max-pixels" not in w]
    if warnings:
        raise ValueError("pyxform warns about the generated form: " + "; ".join(warnings))
    return XForm(xml=result.xform, version=version, md5=hashlib.md5(result.xform.encode()).hexdigest())  # noqa: S324 (OpenRosa's own hash of a public form)
