"""Designations and countries as the weapon catalogue and the locale data know them.

`MX-15D`, `MX 15D`, `mx15d` and the alias `MX15D` are one entry: names match with case, spaces, hyphens,
dashes, dots and slashes ignored, a catalogue name before an alias where both would match. Countries are
taken as the ISO code or the English name (`CA`, `Canada`), any case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from babel import Locale

from ..anonymize.catalogue import CatalogueEntry, catalogue
from ..schema import country_codes

ITEM_KINDS = ("platform", "munition", "component")
_IGNORED = re.compile(r"[\s\-‐‑‒–—_./]+")


@dataclass(frozen=True)
class CatalogueMatch:
    """The catalogue entry a designation names, with the country of manufacture as a code."""

    name: str
    kind: str  # platform, munition or component
    manufacturer: str
    country: str | None  # ISO code of the country of manufacture; None where the catalogue names several


def normalised(text: str | None) -> str:
    """A designation as it is compared: case-folded, without spaces, hyphens, dashes, dots or slashes."""
    return _IGNORED.sub("", text or "").casefold()


@cache
def _index() -> dict[str, CatalogueEntry]:
    by_key: dict[str, CatalogueEntry] = {}
    entries = [e for e in catalogue() if e.kind in ITEM_KINDS]
    for entry in entries:  # names first: an alias never takes the place of another entry's name
        by_key.setdefault(normalised(entry.name), entry)
    for entry in entries:
        for alias in entry.aliases:
            by_key.setdefault(normalised(alias), entry)
    return by_key


def match_designation(text: str | None) -> CatalogueMatch | None:
    """The catalogue entry (platform, munition or component) that `text` names, if one does."""
    key = normalised(text)
    entry = _index().get(key) if key else None
    if entry is None:
        return None
    return CatalogueMatch(entry.name, entry.kind, entry.manufacturer, country_code(entry.country))


# Names the catalogue and public sources use that CLDR's English names no longer are.
_FORMER_NAMES = {"turkey": "TR", "czech republic": "CZ", "swaziland": "SZ", "macedonia": "MK", "burma": "MM",
                 "ivory coast": "CI", "cape verde": "CV", "east timor": "TL"}


@cache
def _country_keys() -> dict[str, str]:
    english = Locale("en").territories
    keys = dict(_FORMER_NAMES)
    keys.update({str(english[code]).casefold(): code for code in country_codes() if code in english})
    keys.update({code.casefold(): code for code in country_codes()})
    return keys


def country_code(text: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code of a country given by code or English name, any case; None if unknown."""
    return _country_keys().get((text or "").strip().casefold())


@cache
def _maker_countries() -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in catalogue():
        if entry.kind == "manufacturer":
            code = country_code(entry.country)
            if code:
                for term in (entry.name, *entry.aliases):
                    found.setdefault(normalised(term), code)
    return found


def end_user_state_of(end_user: str | None) -> str | None:
    """The state of an end user the catalogue knows as a manufacturer (Baykar: TR), or that is a
    country itself (`Azerbaijan`, `AZ`)."""
    return _maker_countries().get(normalised(end_user)) or country_code(end_user)
