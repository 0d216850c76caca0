"""The report as a client sends it: one schema for the JSON API, the web form and the OpenAPI document.

Rules that a person can break (a date in the future, latitude 123) live here once; the web form
checks the same functions so both channels say the same thing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from babel import Locale
from flask_babel import gettext as _
from flask_babel import ngettext
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

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

MAX_ROWS = 200  # per repeatable list: a mass-casualty event still fits, a runaway client does not
# What one report may ask the anonymizer to do (issue 12, item 14): its work grows with the account's
# length and with the names, phones and e-mails it looks for in it (every named victim and witness).
MAX_NARRATIVE_CHARS = 50_000
MAX_WITNESSES = 50  # more is a survey, not one report
MAX_KNOWN_IDENTIFIERS = 250  # named victims + named witnesses + witnesses' phones and e-mails
MAX_COUNT = 100_000
SUBMISSION_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# CLDR's territory list also names groupings and placeholders that are no country or place:
# the EU, the eurozone, the UN, "Outlying Oceania", two pseudo-locales and "Unknown Region" (ZZ).
_NOT_COUNTRIES = frozenset({"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"})
_COUNTRY_CODES: frozenset[str] = frozenset(
    code for code in map(str, Locale("en").territories)
    if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
)
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
HTTP_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/$.?#][^\s]*$"


def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes known to the locale data."""
    return _COUNTRY_CODES


def latest_local_date(now: dt.datetime | None = None) -> dt.date:
    """Today's date somewhere on Earth: the latest time zone is UTC+14."""
    now = now or dt.datetime.now(dt.UTC)
    return (now + dt.timedelta(hours=14)).date()


def check_not_future(value: dt.date) -> dt.date:
    if value > latest_local_date():
        raise ValueError(_("The date cannot be in the future."))
    return value


def check_not_ancient(value: dt.date) -> dt.date:
    if value < dt.date(1900, 1, 1):
        raise ValueError(_("The date must be after 1900."))
    return value


def check_country(value: str) -> str:
    value = value.upper()
    if value not in _COUNTRY_CODES:
        raise ValueError(_("Unknown country code: use the two-letter ISO 3166 code."))
    return value


CAGE_CODE_PATTERN = r"^[A-Z0-9]{5}$"
PARTIAL_DATE_PATTERN = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$"


def check_cage_code(value: str) -> str:
    value = value.upper()
    if not re.fullmatch(CAGE_CODE_PATTERN, value):
        raise ValueError(_("A CAGE code is five letters and digits, like 1VFM4."))
    return value


def check_partial_date(value: str) -> str:
    """A date of manufacture to the precision the evidence gives: YYYY, YYYY-MM or YYYY-MM-DD."""
    message = _("Give the date as YYYY, YYYY-MM or YYYY-MM-DD, as far as the markings show it.")
    if not re.fullmatch(PARTIAL_DATE_PATTERN, value):
        raise ValueError(message)
    parts = [int(p) for p in value.split("-")]
    try:
        first = dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        raise ValueError(message) from None
    check_not_ancient(first)
    check_not_future(first)
    return value


def check_http_url(value: str) -> str:
    if not re.fullmatch(HTTP_URL_PATTERN, value):
        raise ValueError(_("Enter a full web address starting with http:// or https://."))
    return value


def check_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if not re.fullmatch(r"[+\d()\s.\-/]{5,40}", value) or len(digits) < 5:
        raise ValueError(_("Enter a phone number: digits, spaces and + ( ) - only."))
    return value


def check_email(value: str) -> str:
    if not re.fullmatch(EMAIL_PATTERN, value):
        raise ValueError(_("Enter an e-mail address like name@example.org."))
    return value


def blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def reject_bool(value: Any) -> Any:
    # JSON `true` is no number: pydantic's lax mode would store it as 1 (one person killed).
    if isinstance(value, bool):
        raise ValueError(_("Enter a number."))
    return value


NotBool = BeforeValidator(reject_bool)
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Text300 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Markings = Annotated[str, StringConstraints(max_length=5000)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT), NotBool]
Country = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2),
                    AfterValidator(check_country)]


def unstorable_text(value: str) -> bool:
    """Text with a NUL character, which PostgreSQL's text columns refuse (a lone surrogate, the other
    text no column holds, pydantic already refuses as `string_unicode`)."""
    return "\x00" in value


def _unstorable_paths(data: Any, path: tuple[int | str, ...] = ()) -> list[tuple[int | str, ...]]:
    """Where, in a report as sent (objects and lists, at any depth), a text is `unstorable_text`."""
    if isinstance(data, str):
        return [path] if unstorable_text(data) else []
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in _unstorable_paths(value, (*path, str(key)))]
    if isinstance(data, (list, tuple)):
        return [p for index, value in enumerate(data) for p in _unstorable_paths(value, (*path, index))]
    return []


def check_storable_text(value: str | None) -> str | None:
    """For text outside the report's schema (a file's description): ValueError if `unstorable_text`."""
    if value is not None and unstorable_text(value):
        raise ValueError(_unstorable_message())
    return value


def _unstorable_message() -> str:
    return str(_("This text contains a character that cannot be stored (a NUL character, U+0000): "
                 "remove it and send again."))


class _Strict(BaseModel):
    # Unknown keys are an error: a typo in a partner's integration must not silently drop data.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, use_enum_values=False)

    @model_validator(mode="before")
    @classmethod
    def _storable_text_only(cls, data: Any) -> Any:
        # Refused before anything is acknowledged, at the field that holds it (nested lists too):
        # accepted, such a text would fail its filing or every pipeline run, on every attempt.
        # The outermost model walks everything it was given, so every such field is named at once.
        paths = _unstorable_paths(data) if isinstance(data, dict) else []
        if paths:
            message = _unstorable_message()
            raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                type=PydanticCustomError("unstorable_text", message), loc=path, input=None,
            ) for path in paths])
        return data

    @model_validator(mode="before")
    @classmethod
    def _blank_strings_are_absent(cls, data: Any) -> Any:
        # An empty or null value is the same as leaving the key out: defaults apply, and a
        # required field says it is required.
        if isinstance(data, dict):
            cleaned = {k: blank_to_none(v) for k, v in data.items()}
            return {k: v for k, v in cleaned.items() if v is not None}
        return data


class CountsIn(_Strict):
    """People harmed, split by group. Absent groups count as zero."""

    men: Count = 0
    women: Count = 0
    boys: Count = 0
    girls: Count = 0
    unknown: Count = 0


class VictimIn(_Strict):
    name: Text300 | None = Field(None, description="Identifying: stored encrypted, never exported.")
    age: Annotated[int, Field(ge=0, le=120), NotBool] | None = None
    age_band: AgeBand | None = None
    sex: Sex = Sex.UNKNOWN
    harm: Harm
    civilian_status: CivilianStatus = CivilianStatus.UNKNOWN
    occupation: Occupation = Occupation.NONE_GIVEN

    @model_validator(mode="after")
    def _band_from_age(self) -> VictimIn:
        if self.age is not None:
            band = AgeBand.for_age(self.age)
            if self.age_band is not None and self.age_band not in (band, AgeBand.UNKNOWN):
                raise ValueError(_("The age band does not match the age."))
            self.age_band = band
        return self


class DamagedObjectIn(_Strict):
    kind: ObjectKind
    extent: DamageExtent


class ComponentIn(_Strict):
    kind: ComponentKind
    model: Text200 | None = None
    manufacturer: Text200 | None = None
    country_of_manufacture: Country | None = None
    markings: Markings | None = Field(None, description="Everything written on the item, verbatim.")
    serial_number: Text100 | None = None
    lot_number: Text100 | None = None
    part_number: Text100 | None = None
    cage_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5),
                         AfterValidator(check_cage_code)] | None = Field(
        None, description="The manufacturer's CAGE (or NCAGE) code: five letters and digits.",
        json_schema_extra={"pattern": CAGE_CODE_PATTERN})
    manufactured_on: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10),
                               AfterValidator(check_partial_date)] | None = Field(
        None, description="Date of manufacture as far as known: YYYY, YYYY-MM or YYYY-MM-DD.",
        json_schema_extra={"pattern": PARTIAL_DATE_PATTERN})
    manufacture_date_basis: ManufactureDateBasis | None = None
    identification_basis: IdentificationBasis | None = None
    identification_confidence: IdentificationConfidence | None = None


class WitnessIn(_Strict):
    name: Text300 | None = None
    phone: Annotated[str, StringConstraints(max_length=64), AfterValidator(check_phone)] | None = None
    email: Annotated[str, StringConstraints(max_length=320), AfterValidator(check_email)] | None = Field(
        None, json_schema_extra={"pattern": EMAIL_PATTERN})
    relation: Text200 | None = None
    may_contact: bool = False

    @model_validator(mode="after")
    def _not_empty(self) -> WitnessIn:
        if not (self.name or self.phone or self.email or self.relation):
            raise ValueError(_("Give at least a name, a phone, an e-mail or the relation."))
        return self


class LinkIn(_Strict):
    url: Annotated[str, StringConstraints(max_length=2000), AfterValidator(check_http_url)] = Field(
        json_schema_extra={"pattern": HTTP_URL_PATTERN})


class ReportIn(_Strict):
    """Everything a field worker can tell about one event (design/report.md)."""

    # The OpenAPI document says what `_coordinates_in_pairs` checks.
    model_config = ConfigDict(
        json_schema_extra={"dependentRequired": {"latitude": ["longitude"], "longitude": ["latitude"]}}
    )

    submission_id: Annotated[str, StringConstraints(pattern=SUBMISSION_ID_RE.pattern)] | None = Field(
        None,
        description="Client-chosen idempotency key; the Idempotency-Key header takes precedence.",
    )
    # Event
    occurred_on: Annotated[dt.date, AfterValidator(check_not_ancient), AfterValidator(check_not_future)]
    occurred_time: dt.time | None = None
    date_precision: DatePrecision = DatePrecision.EXACT
    country: Country
    admin1: Text200 | None = None
    admin2: Text200 | None = None
    locality: Text200 | None = None
    latitude: Annotated[float, Field(ge=-90, le=90), NotBool] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180), NotBool] | None = None
    location_precision: LocationPrecision = LocationPrecision.TOWN
    incident_type: IncidentType
    narrative: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NARRATIVE_CHARS)]
    narrative_language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] | None = None
    # Harm
    killed: CountsIn = Field(default_factory=CountsIn)
    injured: CountsIn = Field(default_factory=CountsIn)
    missing: CountsIn = Field(default_factory=CountsIn)
    victims: Annotated[list[VictimIn], Field(max_length=MAX_ROWS)] = Field(default_factory=list)
    objects_damaged: Annotated[list[DamagedObjectIn], Field(max_length=MAX_ROWS)] = Field(
        default_factory=list
    )
    displaced: Count | None = None
    # Weapon
    delivery_platform: DeliveryPlatform = DeliveryPlatform.UNKNOWN
    platform_model: Text200 | None = None
    platform_manufacturer: Text200 | None = None
    platform_country: Country | None = Field(None, description="Country of manufacture of the platform.")
    munition_type: Text200 | None = None
    munition_model: Text200 | None = None
    munition_manufacturer: Text200 | None = None
    munition_country: Country | None = Field(None, description="Country of manufacture of the munition.")
    remnants_found: YesNoUnknown = YesNoUnknown.UNKNOWN
    markings: Markings | None = None
    components: Annotated[list[ComponentIn], Field(max_length=MAX_ROWS)] = Field(default_factory=list)
    identification_basis: IdentificationBasis | None = None
    identification_confidence: IdentificationConfidence | None = None
    used_by: Country | None = Field(None, description="The state whose forces used the weapon, as reported "
                                                      "(ISO 3166-1 alpha-2), e.g. AZ.")
    # Sources and consent
    source_type: SourceType
    witnesses: Annotated[list[WitnessIn], Field(max_length=MAX_WITNESSES)] = Field(default_factory=list)
    links: Annotated[list[LinkIn], Field(max_length=MAX_ROWS)] = Field(default_factory=list)
    consent: Consent
    risk_to_source: Risk

    @field_validator("narrative_language", mode="before")
    @classmethod
    def _lower_language(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _coordinates_in_pairs(self) -> ReportIn:
        if (self.latitude is None) != (self.longitude is None):
            # Reported at the coordinate that is missing, so a client can show it at that field.
            missing = "latitude" if self.latitude is None else "longitude"
            message = _("Give both latitude and longitude, or neither.")
            raise ValidationError.from_exception_data(type(self).__name__, [InitErrorDetails(
                type=PydanticCustomError("coordinates_in_pairs", message), loc=(missing,), input=None,
            )])
        return self

    @model_validator(mode="after")
    def _known_identifiers_bounded(self) -> ReportIn:
        # Every named person, phone and e-mail is looked for in the account and the files'
        # descriptions by the anonymizer: bounded, so one report cannot keep a worker for minutes.
        if known_identifiers(self) > MAX_KNOWN_IDENTIFIERS:
            message = ngettext("At most %(num)d name, phone number or e-mail of victims and witnesses in one "
                               "report; file the others in a further report.",
                               "At most %(num)d names, phone numbers and e-mails of victims and witnesses together "
                               "in one report; file the others in a further report.", MAX_KNOWN_IDENTIFIERS)
            raise ValidationError.from_exception_data(type(self).__name__, [InitErrorDetails(
                type=PydanticCustomError("too_many_known_identifiers", message), loc=("victims",), input=None,
            )])
        return self

    def counts(self) -> dict[str, int]:
        """Count columns (`killed_men` …) with their values."""
        return {
            f"{harm.value}_{group.value}": getattr(getattr(self, harm.value), group.value)
            for harm in Harm
            for group in HarmGroup
        }


def known_identifiers(report: Any) -> int:
    """Names of victims and witnesses and witnesses' phones and e-mails: the anonymizer's deny-list."""
    return (sum(1 for v in report.victims if v.name) + sum(1 for w in report.witnesses if w.name)
            + sum(1 for w in report.witnesses if w.phone) + sum(1 for w in report.witnesses if w.email))


class AttachmentOut(BaseModel):
    id: str
    media_type: str
    size: int
    sha256: str
    status: str
    captured_at: dt.datetime | None = None


def error_key(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted field path (`victims.0.age`)."""
    return ".".join(str(part) for part in loc) or "__root__"


def human_message(err: Mapping[str, Any]) -> str:
    """A translated message for one pydantic error; never quotes the submitted value."""
    kind = err.get("type", "")
    # 90.0 reads as 90 to people.
    ctx = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in (err.get("ctx") or {}).items()}
    if kind == "value_error":
        # Our own validators raise ValueError with a translated message already.
        return str(err["msg"]).removeprefix("Value error, ")
    messages: dict[str, Any] = {
        "missing": lambda: _("This field is required."),
        "extra_forbidden": lambda: _("This field is not part of a report."),
        "less_than_equal": lambda: _("Must be %(limit)s or less.", limit=ctx.get("le")),
        "less_than": lambda: _("Must be less than %(limit)s.", limit=ctx.get("lt")),
        "greater_than_equal": lambda: _("Must be %(limit)s or more.", limit=ctx.get("ge")),
        "greater_than": lambda: _("Must be more than %(limit)s.", limit=ctx.get("gt")),
        "string_too_long": lambda: ngettext("Too long: at most %(num)d character.",
                                            "Too long: at most %(num)d characters.", int(ctx.get("max_length") or 0)),
        "string_too_short": lambda: ngettext("Too short: at least %(num)d character.",
                                             "Too short: at least %(num)d characters.",
                                             int(ctx.get("min_length") or 0)),
        "too_long": lambda: _("Too many entries: at most %(count)s.", count=ctx.get("max_length")),
        "string_pattern_mismatch": lambda: _("This is not in the expected form."),
        "enum": lambda: _("Choose one of: %(options)s.", options=ctx.get("expected", "")),
        "int_parsing": lambda: _("Enter a whole number."),
        "int_type": lambda: _("Enter a whole number."),
        "int_from_float": lambda: _("Enter a whole number."),
        "float_parsing": lambda: _("Enter a number."),
        "float_type": lambda: _("Enter a number."),
        "bool_parsing": lambda: _("Enter true or false."),
        "bool_type": lambda: _("Enter true or false."),
        "date_parsing": lambda: _("Enter a date as YYYY-MM-DD."),
        "date_from_datetime_parsing": lambda: _("Enter a date as YYYY-MM-DD."),
        "date_type": lambda: _("Enter a date as YYYY-MM-DD."),
        "time_parsing": lambda: _("Enter a time as HH:MM."),
        "time_type": lambda: _("Enter a time as HH:MM."),
        "string_type": lambda: _("Enter text."),
        "list_type": lambda: _("Give a list."),
        "model_type": lambda: _("Give an object with the fields of this part of the report."),
        "dict_type": lambda: _("Give an object with the fields of this part of the report."),
    }
    make = messages.get(kind)
    # Other kinds: our own PydanticCustomErrors (already translated) or pydantic's English text,
    # which names the rule, never the submitted value.
    return str(make()) if make else str(err["msg"])


def errors_by_field(errors: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Validation errors grouped per field path, with translated messages."""
    result: dict[str, list[str]] = {}
    for err in errors:
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        result.setdefault(error_key(loc), []).append(human_message(err))
    return result
