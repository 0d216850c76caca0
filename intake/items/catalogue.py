"""The weapon catalogue as suggestions for an item: designation, manufacturer, country of manufacture.

The catalogue (intake/data/weapons.json) names countries in English ("Turkey"); reports store ISO
3166-1 alpha-2 codes. `CATALOGUE_COUNTRIES` maps every name the catalogue uses, once, here; a name
that is no single country today (the Soviet Union, Czechoslovakia, joint programmes of two states)
maps to None: no country is suggested and the person who knows says which it was.

Names match case-, space-, hyphen- and alias-insensitively: "MX 15D", "mx-15d" and "MX15D" are all the
MX-15D; "CA", "ca" and "Canada" are all Canada.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from babel import Locale

from ..anonymize.catalogue import CatalogueEntry, catalogue
from ..enums import ItemRole
from ..schema import country_codes
from . import Identification, Item

CATALOGUE_COUNTRIES: dict[str, str | None] = {
    "Austria": "AT",
    "Belarus": "BY",
    "Canada": "CA",
    "China": "CN",
    "Germany": "DE",
    "Iran": "IR",
    "Israel": "IL",
    "North Korea": "KP",
    "Russia": "RU",
    "Sweden / United Kingdom": None,  # a joint programme: which state made the item depends on the item
    "Switzerland": "CH",
    "Turkey": "TR",
    "United Kingdom / France": None,
    "United States": "US",
    "Yemen": "YE",
    # States that no longer exist: their factories now lie in several countries.
    "Soviet Union": None,
    "Soviet Union/Russia": None,
    "Czechoslovakia": None,
}

# Which catalogue kinds an item of each role is looked up in, in order of preference: a loitering
# munition is a platform in the catalogue but often reported as the munition.
_KINDS = {"platform": ("platform", "munition"), "munition": ("munition", "platform"),
          "component": ("component",), "manufacturer": ("manufacturer",),
          "any": ("platform", "munition", "component")}

# Names of countries people and sources use that CLDR's English spells otherwise.
_COUNTRY_ALIASES = {"Türkiye": "TR", "Turkey": "TR", "USA": "US", "United States": "US", "UK": "GB",
                    "United Kingdom": "GB", "Russia": "RU", "Iran": "IR", "South Korea": "KR", "North Korea": "KP"}


@dataclass(frozen=True)
class Suggestion:
    """What the catalogue says of a designation."""

    designation: str
    manufacturer: str | None
    country: str | None  # ISO 3166-1 alpha-2
    kind: str
    category: str


def match_key(text: str | None) -> str:
    """A name as it is compared: case-folded, without spaces, hyphens, dashes, dots or underscores."""
    return re.sub(r"[\s\-–—_.]+", "", (text or "").casefold())


def catalogue_country(name: str) -> str | None:
    """The ISO code of a country as the catalogue names it (KeyError for a name not mapped here)."""
    return CATALOGUE_COUNTRIES[name]


@cache
def _index() -> dict[str, dict[str, CatalogueEntry]]:
    by_kind: dict[str, dict[str, CatalogueEntry]] = {}
    for entry in catalogue():
        names = by_kind.setdefault(entry.kind, {})
        for name in (entry.name, *entry.aliases):
            names.setdefault(match_key(name), entry)
    return by_kind


def catalogue_entry(name: str | None, role: str = "any") -> CatalogueEntry | None:
    """The catalogue entry a designation names, for an item of `role` (platform, munition, component,
    or manufacturer for a manufacturer's name)."""
    key = match_key(name)
    if not key:
        return None
    for kind in _KINDS.get(role, _KINDS["any"]):
        if (entry := _index().get(kind, {}).get(key)) is not None:
            return entry
    return None


def suggest(name: str | None, role: str = "any") -> Suggestion | None:
    """The catalogue's designation, manufacturer and country for what a person typed, if it knows it."""
    entry = catalogue_entry(name, role)
    if entry is None:
        return None
    country = CATALOGUE_COUNTRIES.get(entry.country)
    return Suggestion(entry.name, entry.manufacturer or None, country, entry.kind, entry.category)


def manufacturer_country(name: str | None) -> str | None:
    """The country of a manufacturer the catalogue lists (by name or alias), as an ISO code."""
    entry = _index().get("manufacturer", {}).get(match_key(name))
    return CATALOGUE_COUNTRIES.get(entry.country) if entry is not None else None


@cache
def _country_names() -> dict[str, str]:
    names = {match_key(code): code for code in country_codes()}
    english = Locale("en").territories
    for code in country_codes():
        if code in english:
            names.setdefault(match_key(english[code]), code)
    for name, mapped in (*CATALOGUE_COUNTRIES.items(), *_COUNTRY_ALIASES.items()):
        if mapped is not None:
            names.setdefault(match_key(name), mapped)
    # The names the interface's languages give them (Канада, Կանադա, كندا), as the help text says.
    from ..i18n.catalogues import languages

    for language in languages():
        territories = Locale.parse(language).territories
        for code in country_codes():
            if code in territories:
                names.setdefault(match_key(territories[code]), code)
    return names


def country_code(text: str | None) -> str | None:
    """An ISO code from a code or a country name in any case, in English or in a language of the
    interface ("CA", "canada", "Turkey", "Канада")."""
    return _country_names().get(match_key(text)) if text else None


def canonical(designation: str, role: str = "any") -> str:
    """The catalogue's name for a designation it knows ("TB2" → "Bayraktar TB2"), else the designation."""
    entry = catalogue_entry(designation, role)
    return entry.name if entry is not None else designation


def looked_up(item: Item) -> str | None:
    """What an item is looked up by in the catalogue: its designation in force, or for a munition
    named only by its type, the type as typed."""
    if item.designation:
        return item.designation
    return (item.kind or None) if item.role == ItemRole.MUNITION else None


def completed(item: Item) -> tuple[Identification, frozenset[str]]:
    """The item's values in force with what they leave blank (designation, manufacturer, country)
    filled from the catalogue where it knows the designation, and the fields the catalogue filled.
    The one place where an item's blanks are completed from the catalogue: the dashboard reads it,
    and so do the evidence packs, for selection."""
    values = item.in_force
    known = suggest(looked_up(item), item.role.value)
    if known is None:
        return values, frozenset()
    filled = {name for name, theirs in (("designation", known.designation), ("manufacturer", known.manufacturer),
                                        ("country", known.country)) if theirs and not getattr(values, name)}
    if not filled:
        return values, frozenset()
    return Identification(values.designation or known.designation, values.manufacturer or known.manufacturer,
                          values.country or known.country, values.confidence, values.basis), frozenset(filled)


def form_suggestions() -> dict[str, dict[str, tuple[str, str]]]:
    """For the web form's suggestion lists: designation → (manufacturer, country code) by role."""
    lists: dict[str, dict[str, tuple[str, str]]] = {"platform": {}, "munition": {}, "component": {}}
    for entry in catalogue():
        if entry.kind in lists:
            lists[entry.kind][entry.name] = (entry.manufacturer, CATALOGUE_COUNTRIES.get(entry.country) or "")
    return lists
