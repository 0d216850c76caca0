"""The weapon catalogue and place names: public facts that must survive anonymization.

`catalogue()` also feeds the report form's suggestions for platform, munition and component models.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    kind: str  # platform, munition, component, manufacturer
    category: str  # drone/UAV, MLRS, guided bomb, targeting sensor, ...
    country: str  # of manufacture
    manufacturer: str = ""
    aliases: tuple[str, ...] = ()


def _data(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(resources.files("intake").joinpath("data", name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def catalogue() -> tuple[CatalogueEntry, ...]:
    """Every weapon, munition, component and manufacturer in the catalogue."""
    return tuple(
        CatalogueEntry(name=e["name"], kind=e["kind"], category=e["category"], country=e["country"],
                       manufacturer=e.get("manufacturer", ""), aliases=tuple(e.get("aliases", ())))
        for e in _data("weapons.json")["entries"]
    )


@cache
def places() -> tuple[str, ...]:
    """Towns, districts and regions kept in anonymized text."""
    return tuple(_data("places.json")["names"])


def _term_pattern(term: str) -> str:
    # "Shahed-136" also matches "Shahed 136", "Shahed136" and "SHAHED-136".
    parts = [re.escape(p) for p in re.split(r"[\s\-–]+", term.strip()) if p]
    last = parts[-1] if parts else ""
    if re.fullmatch(r"[а-яёіїєґА-ЯЁІЇЄҐ']{4,}", last):
        # A Slavic place declines: Нікополь → Нікополі, Суми → Сумах, Харків → Харкові (і becomes о).
        stem = re.sub(r"[ьйаяоеиіу]$", "", last)
        stem = re.sub(r"і([^аеиіоуяюєї]+)$", r"[іо]\1", stem)
        parts[-1] = stem + r"[ьйаяоеиіу]?"
    return r"[\s\-–]?".join(parts)


# A case ending or possessive may follow a term ("Байрактара", "Bayraktar's", "Շուշիում").
# Case endings that may follow a term ("Байрактара", "Bayraktar's", "Շուշիում", "Tərtərdə"); only these, so
# that a town does not swallow a patronymic (Николаев / Николаевна). None after an Arabic term: "الحلبي" (of
# Aleppo) is a family name, not the town.
_TAIL = ("(?:['’]s|ами|ові|ому|ою|ом|ой|ым|ах|ам|а|у|е|і|ы|и|я|ю|"
         "ում|ից|ով|ին|ի|ը|ն|"
         "dan|dən|nın|nin|da|də|ya|yə|ın|in|un|ün|a|ə|ı|i|u|ü)?")
_ARABIC_PREFIX = r"(?:[وبلف]?(?:ال)?)?"


@cache
def protected_terms() -> re.Pattern[str]:
    """One pattern for every catalogue name, alias and place, case-insensitive, longest first."""
    terms = {e.name for e in catalogue()} | {a for e in catalogue() for a in e.aliases} | set(places())
    alternatives = "|".join(_term_pattern(t) for t in sorted(terms, key=len, reverse=True))
    # Not right after a hyphen: "Al-Halabi" is a family name, not the town Halab.
    return re.compile(rf"(?<![\w-]){_ARABIC_PREFIX}(?:{alternatives}){_TAIL}(?!\w)", re.IGNORECASE)
