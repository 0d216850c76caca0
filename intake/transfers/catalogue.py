"""Designations and countries for transfer records, as the weapon catalogue and the locale data know them.

One matcher serves items, packs, the dashboard and transfers (`intake.items.catalogue`): `MX-15D`,
`MX 15D`, `mx15d` and the alias `MX15D` are one entry, and a country is its ISO code or its name in
English or any interface language (`CA`, `Canada`, `Канада`). This module only shapes what transfer
records need of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..items.catalogue import catalogue_entry, country_code, manufacturer_country, match_key, suggest

__all__ = ["CatalogueMatch", "country_code", "end_user_state_of", "match_designation", "normalised"]


@dataclass(frozen=True)
class CatalogueMatch:
    """The catalogue entry a designation names, with the country of manufacture as a code."""

    name: str
    kind: str  # platform, munition or component
    manufacturer: str
    country: str | None  # ISO code of the country of manufacture; None where the catalogue names several


def normalised(text: str | None) -> str:
    """A designation as it is compared (`intake.items.catalogue.match_key`)."""
    return match_key(text)


def match_designation(text: str | None) -> CatalogueMatch | None:
    """The catalogue entry (platform, munition or component) that `text` names, if one does."""
    found = suggest(text)
    if found is None or found.kind not in ("platform", "munition", "component"):
        return None
    return CatalogueMatch(found.designation, found.kind, found.manufacturer or "", found.country)


def end_user_state_of(end_user: str | None) -> str | None:
    """The state of an end user the catalogue knows as a manufacturer (Baykar: TR), or that is a
    country itself (`Azerbaijan`, `AZ`)."""
    if catalogue_entry(end_user, "manufacturer") is not None:
        return manufacturer_country(end_user)
    return country_code(end_user)
