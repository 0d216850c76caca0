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
    return r"[\s\-–]?".join(parts)


# A case ending or possessive may follow a term ("Байрактара", "Bayraktar's", "Շուշիում").
# Not after an Arabic term: "الحلبي" (of Aleppo) is a family name, not the town.
_TAIL = r"(?:['’]s|[^\W\d_\u0600-\u06ff]{0,4})?"
_ARABIC_PREFIX = r"(?:[وبلف]?(?:ال)?)?"


@cache
def protected_terms() -> re.Pattern[str]:
    """One pattern for every catalogue name, alias and place, case-insensitive, longest first."""
    terms = {e.name for e in catalogue()} | {a for e in catalogue() for a in e.aliases} | set(places())
    alternatives = "|".join(_term_pattern(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![\w]){_ARABIC_PREFIX}(?:{alternatives}){_TAIL}(?!\w)", re.IGNORECASE)
