"""The six field languages, each named in itself, with its writing direction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from babel import Locale


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # the language's own name for itself, as the selector shows it
    direction: str  # "ltr" or "rtl"


# Scripts written right to left among the languages Babel knows; only Arabic is served today.
RTL_CODES = frozenset({"ar", "fa", "he", "ps", "ur", "yi", "ckb", "sd", "ug"})


def direction(code: str) -> str:
    """`rtl` for a language written right to left, else `ltr`."""
    return "rtl" if code.split("_")[0].split("-")[0] in RTL_CODES else "ltr"


@lru_cache(maxsize=64)
def language(code: str) -> Language:
    """`code` with its own name (CLDR's, capitalised as a menu item is) and direction."""
    name = Locale.parse(code).get_display_name(code) or code
    return Language(code=code, name=name[:1].upper() + name[1:], direction=direction(code))


def language_name(code: str | None, in_language: str) -> str:
    """The name of language `code` in language `in_language` ("Ukrainian" in English, "украинский"
    in Russian); the code itself when Babel does not know it."""
    if not code:
        return ""
    try:
        return Locale.parse(code).get_display_name(in_language) or code
    except (ValueError, TypeError):
        return code


def languages(codes: list[str]) -> list[Language]:
    """The configured languages, in the configured order."""
    return [language(code) for code in codes]
