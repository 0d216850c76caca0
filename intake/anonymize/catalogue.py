"""The weapon catalogue and place names: public facts that must survive anonymization.

`catalogue()` also feeds the report form's suggestions for platform, munition and component models.
"""

from __future__ import annotations

import _sre
import json
import re
import re._casefix
import re._parser
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
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


@lru_cache(maxsize=4096)
def _fold(code: int) -> int:
    """One representative of the characters the regular-expression engine takes for one another when it
    ignores case: its lower case, and the few extra pairs it knows (ı and i, ſ and s, µ and μ…)."""
    lower: int = _sre.unicode_tolower(code)
    return min((lower, *re._casefix._EXTRA_CASES.get(lower, ())))


def _first_chars(item: tuple[object, object]) -> set[int] | None:
    """The folded characters a parsed item can match first, or None when it is not a plain letter or class."""
    op, arg = item
    if op is re._parser.LITERAL:
        return {_fold(arg)}  # type: ignore[arg-type]
    if op is re._parser.IN:
        out: set[int] = set()
        for sub_op, sub_arg in arg:  # type: ignore[attr-defined]
            if sub_op is re._parser.LITERAL:
                out.add(_fold(sub_arg))
            elif sub_op is re._parser.RANGE and sub_arg[1] - sub_arg[0] < 512:
                out.update(_fold(c) for c in range(sub_arg[0], sub_arg[1] + 1))
            else:
                return None
        return out
    return None


class Terms:
    """The catalogue's and the places' pattern, tried only where one of its terms can begin.

    One alternation of some 800 terms is slow to try at every word of a text (a millisecond per narrative,
    about a tenth of the engine's time). The terms' first three letters (case folded as the regular expression
    folds them) are indexed; a word start whose first letters begin no term is skipped, and at every other
    the one pattern is matched, so the matches are exactly those of `pattern.finditer`.
    """

    _WORD_START = re.compile(r"(?<![\w-])\w")
    KEY = 3

    def __init__(self, pattern: re.Pattern[str], alternatives: list[str]) -> None:
        self.pattern = pattern
        # keys[n - 1]: the folded first n characters of the terms whose pattern starts with exactly n plain
        # letters or classes before anything else (an optional separator, a repeat) or the KEY-th letter.
        self._keys: list[set[tuple[int, ...]]] = [set() for _ in range(self.KEY)]
        self._always = False
        for alternative in alternatives:
            prefixes: list[tuple[int, ...]] = [()]
            for item in list(re._parser.parse(alternative, pattern.flags))[:self.KEY]:
                chars = _first_chars(item)
                if chars is None:
                    break
                prefixes = [(*p, c) for p in prefixes for c in chars]
            if not prefixes[0]:
                self._always = True
            else:
                self._keys[len(prefixes[0]) - 1].update(prefixes)

    def _may_start(self, text: str, at: int) -> bool:
        key = tuple(_fold(ord(ch)) for ch in text[at:at + self.KEY])
        return any(key[:n] in self._keys[n - 1] for n in range(1, len(key) + 1))

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        if self._always:
            yield from self.pattern.finditer(text)
            return
        after = 0
        for word in self._WORD_START.finditer(text):
            at = word.start()
            if at < after:
                continue
            # An Arabic term may follow a proclitic and the article (والرقة، بحلب): see _ARABIC_PREFIX.
            starts = [at]
            if text[at] in "وبلف":
                starts.append(at + 1)
            for s in list(starts):
                if text.startswith("ال", s):
                    starts.append(s + 2)
            if not any(self._may_start(text, s) for s in starts):
                continue
            match = self.pattern.match(text, at)
            if match is not None:
                yield match
                after = match.end()


@cache
def protected_terms() -> Terms:
    """One pattern for every catalogue name, alias and place, case-insensitive, longest first."""
    terms = {e.name for e in catalogue()} | {a for e in catalogue() for a in e.aliases} | set(places())
    alternatives = [_term_pattern(t) for t in sorted(terms, key=len, reverse=True)]
    # Not right after a hyphen: "Al-Halabi" is a family name, not the town Halab.
    pattern = re.compile(rf"(?<![\w-]){_ARABIC_PREFIX}(?:{'|'.join(alternatives)}){_TAIL}(?!\w)", re.IGNORECASE)
    return Terms(pattern, alternatives)
