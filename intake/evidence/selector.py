"""What a pack is about: a weapon system, a component, a manufacturer or a country of manufacture,
over a date range (design/evidence.md, The pack).

Names are matched as `intake.items.catalogue` matches them against the weapon catalogue
(intake/data/weapons.json), whatever their case, spacing or hyphens, and through its aliases:
`MX-15D`, `MX 15D` and `mx15d` are one sensor; `CA`, `Canada` and `canada` one country. A name the
catalogue does not know still matches itself.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from ..anonymize.catalogue import CatalogueEntry
from ..items.catalogue import catalogue_entry, country_code, match_key


class SelectorKind(str, enum.Enum):
    PLATFORM = "platform"
    COMPONENT = "component"
    MANUFACTURER = "manufacturer"
    COUNTRY = "country"


class SelectorError(ValueError):
    """A selector that cannot be used as given (the message says what is wrong, in English)."""


def normal(name: str | None) -> str:
    """A name as compared: as the weapon catalogue compares it (`MX-15D` = `mx 15d` = `MX15D`)."""
    return match_key(name)


def _words(name: str | None) -> list[str]:
    return [w for w in re.split(r"[\W_]+", (name or "").casefold()) if w]


def country_name(code: str | None) -> str:
    """The English name of a country code (the dossier is written in English, like its sources)."""
    from babel import Locale

    if not code:
        return ""
    return str(Locale("en").territories.get(code.upper(), code.upper()))


def keys_of(entry: CatalogueEntry | None, name: str) -> frozenset[str]:
    """Every normalised name that stands for the same thing as `name`."""
    found = {normal(name)}
    if entry is not None:
        found |= {normal(entry.name), *(normal(a) for a in entry.aliases)}
    return frozenset(k for k in found if k)


@dataclass(frozen=True)
class Selector:
    kind: SelectorKind
    value: str  # as typed
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @classmethod
    def parse(cls, kind: str, value: str, date_from: str | dt.date | None = None,
              date_to: str | dt.date | None = None) -> Selector:
        """From the words of a form or the command line; SelectorError names what is wrong."""
        try:
            chosen = SelectorKind(kind)
        except ValueError:
            raise SelectorError(f"choose one of {', '.join(k.value for k in SelectorKind)}") from None
        value = " ".join((value or "").split())
        if not value or len(value) > 200:
            raise SelectorError(f"give the {chosen.value} to select (1 to 200 characters)")
        if chosen == SelectorKind.COUNTRY and country_code(value) is None:
            raise SelectorError(f"{value!r} is not a country name or ISO 3166 code")
        start, end = _date(date_from, "from"), _date(date_to, "to")
        if start and end and start > end:
            raise SelectorError("the date range ends before it starts")
        return cls(chosen, value, start, end)

    @property
    def entry(self) -> CatalogueEntry | None:
        role = {SelectorKind.PLATFORM: "platform", SelectorKind.COMPONENT: "component",
                SelectorKind.MANUFACTURER: "manufacturer"}.get(self.kind)
        return catalogue_entry(self.value, role) if role else None

    @property
    def label(self) -> str:
        """How the dossier and bag-info name the selector: the catalogue's name where it has one."""
        if self.kind == SelectorKind.COUNTRY:
            code = country_code(self.value) or self.value
            return f"{country_name(code)} ({code})"
        entry = self.entry
        return entry.name if entry is not None else self.value

    @property
    def slug(self) -> str:
        """For the bag's folder name: `country-CA`, `component-mx-15d`."""
        text = country_code(self.value) if self.kind == SelectorKind.COUNTRY else self.label
        return f"{self.kind.value}-{re.sub(r'[^A-Za-z0-9]+', '-', text or '').strip('-').lower() or 'x'}"

    def describe(self) -> str:
        """One line for bag-info.txt: kind, name, dates."""
        span = f"{self.date_from.isoformat() if self.date_from else '…'} to " \
               f"{self.date_to.isoformat() if self.date_to else '…'}"
        return f"{self.kind.value} = {self.label}; occurred {span}"

    def in_range(self, day: dt.date) -> bool:
        return (self.date_from is None or day >= self.date_from) and (self.date_to is None or day <= self.date_to)

    # ---- matching items (intake.evidence.sources gives them) ----

    def matches(self, designation: str | None, manufacturer: str | None, country: str | None,
                role: str) -> bool:
        """Whether an item — its designation, manufacturer and country of manufacture (reported or
        assessed), and its role (platform, munition, component) — is what the selector names."""
        if self.kind == SelectorKind.COUNTRY:
            return country is not None and country_code(country) == country_code(self.value)
        if self.kind == SelectorKind.MANUFACTURER:
            if not manufacturer:
                return False
            wanted = [_words(k) for k in {self.value, *(self._alias_names())}]
            have = _words(manufacturer)
            # "L3Harris" selects "L3Harris Wescam": the maker's name leads the item's.
            return any(w and have[:len(w)] == w for w in wanted) or normal(manufacturer) in keys_of(self.entry,
                                                                                                   self.value)
        if (self.kind == SelectorKind.PLATFORM) != (role in ("platform", "munition")):
            return False
        return normal(designation) in keys_of(self.entry, self.value)

    def _alias_names(self) -> tuple[str, ...]:
        entry = self.entry
        return (entry.name, *entry.aliases) if entry is not None else ()


def _date(value: str | dt.date | None, which: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise SelectorError(f"the {which} date must be YYYY-MM-DD") from None
