"""Country names are sorted as the reader's language sorts them (intake/i18n/collation.py), on the
report form as served: Є after Е in Ukrainian, Ç after C and Ə after E in Azerbaijani, each script's
names in its alphabet's order, and never a raw code first."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from intake.i18n.collation import sorted_by_name


def countries_shown(client: Any, language: str) -> list[tuple[str, str]]:
    """(code, name) of each country of the form's country list, in page order."""
    page = client.get("/reports/new", headers={"Accept-Language": language}).get_data(as_text=True)
    assert f'lang="{language}"' in page
    select = re.search(r'<select[^>]*name="country"[^>]*>(.*?)</select>', page, re.S)
    assert select, "the form has its country list"
    options = [(value, html.unescape(label)) for value, label in
               re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1)) if value]
    datalist = re.search(r'<datalist id="countries">(.*?)</datalist>', page, re.S)
    assert datalist, "the component rows' suggestions"
    suggested = [html.unescape(v) for v in re.findall(r'<option value="([^"]*)"', datalist.group(1))]
    assert suggested == [name for _code, name in options], "the suggestions are in the same order"
    return options


def names(pairs: list[tuple[str, str]]) -> list[str]:
    return [name for _code, name in pairs]


def no_code_first(pairs: list[tuple[str, str]]) -> None:
    assert len(pairs) > 240
    first = pairs[0][1]
    assert not re.fullmatch(r"[A-Z]{2}", first), f"a raw code first: {first}"
    assert not any(re.fullmatch(r"[A-Z]{2}", name) for name in names(pairs)), "every country has a name"


def in_order(shown: list[str], alphabet: str, fold: dict[str, str] | None = None) -> None:
    """The names written in `alphabet` go by its letters' order, and come before any name in another script."""
    fold = fold or {}

    def letter(name: str) -> str:
        return fold.get(name[0].upper(), name[0].upper())

    ranks = [alphabet.index(letter(name)) for name in shown if letter(name) in alphabet]
    assert len(ranks) > 200
    assert ranks == sorted(ranks), "names in the alphabet's order"
    own = [i for i, name in enumerate(shown) if letter(name) in alphabet]
    assert own == list(range(len(own))), "the language's own script first, names left in Latin after"


def test_the_ukrainian_list_sorts_ye_after_e(reporter_client: Any) -> None:
    pairs = countries_shown(reporter_client, "uk")
    no_code_first(pairs)
    shown = names(pairs)
    assert shown[0] == "Австралія" and shown[0] != "Єгипет"
    e_last = max(i for i, n in enumerate(shown) if n.startswith("Е"))
    ze_first = min(i for i, n in enumerate(shown) if n.startswith("З"))
    assert e_last < shown.index("Єгипет") < shown.index("Ємен") < ze_first
    in_order(shown, "АБВГҐДЕЄЖЗИІЇЙКЛМНОПРСТУФХЦЧШЩЬЮЯ")
    assert shown[-1] == "Sark", "CLDR names Sark (CQ) in English only: shown so, after the Ukrainian names"
    assert dict(pairs)["CQ"] == "Sark"


def test_ukrainian_ghe_with_upturn_and_russian_yo() -> None:
    assert sorted_by_name(["Ґанок", "Дах", "Гора", "Ганна", "Вікно"], "uk") == \
        ["Вікно", "Ганна", "Гора", "Ґанок", "Дах"]
    # Ё is Е with a secondary difference: with Е, not after Я (where its code point puts it).
    assert sorted_by_name(["Яма", "Ёлка", "Жук", "Ежевика", "Елка"], "ru") == ["Ежевика", "Елка", "Ёлка", "Жук", "Яма"]
    assert sorted(["Яма", "Ёлка", "Ежевика"]) == ["Ёлка", "Ежевика", "Яма"], "code points would not do"


def test_the_russian_list(reporter_client: Any) -> None:
    pairs = countries_shown(reporter_client, "ru")
    no_code_first(pairs)
    shown = names(pairs)
    assert shown[0] == "Австралия"
    in_order(shown, "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ", {"Ё": "Е"})


def test_the_azerbaijani_list_sorts_c_cedilla_after_c_and_schwa_after_e(reporter_client: Any) -> None:
    pairs = countries_shown(reporter_client, "az")
    no_code_first(pairs)
    shown = names(pairs)
    first = {letter: min(i for i, n in enumerate(shown) if n.startswith(letter)) for letter in "CÇDEƏF"}
    last = {letter: max(i for i, n in enumerate(shown) if n.startswith(letter)) for letter in "CÇDEƏF"}
    assert last["C"] < first["Ç"] and last["Ç"] < first["D"], "Ç after C"
    assert last["E"] < first["Ə"] and last["Ə"] < first["F"], "Ə after E"
    assert shown.index("Əfqanıstan") > shown.index("Estoniya")
    in_order(shown, "ABCÇDEƏFGĞHXIİJKQLMNOÖPRSŞTUÜVYZ", {"Å": "A"})
    assert dict(pairs)["CQ"] == "Sark" and shown.index("Sark") > shown.index("Səudiyyə Ərəbistanı") - 30


@pytest.mark.parametrize(("language", "alphabet", "fold", "first"), [
    ("ar", "ابتثجحخدذرزسشصضطظعغفقكلمنهوي", {"آ": "ا", "أ": "ا", "إ": "ا", "ٱ": "ا"}, "آيسلندا"),
    ("hy", "ԱԲԳԴԵԶԷԸԹԺԻԼԽԾԿՀՁՂՃՄՅՆՇՈՉՊՋՌՍՎՏՐՑՒՓՔՕՖ", {}, "Ադրբեջան"),
], ids=["ar", "hy"])
def test_arabic_and_armenian_lists_go_by_their_alphabets(reporter_client: Any, language: str, alphabet: str,
                                                         fold: dict[str, str], first: str) -> None:
    pairs = countries_shown(reporter_client, language)
    no_code_first(pairs)
    shown = names(pairs)
    assert shown[0] == first
    in_order(shown, alphabet, fold)
    assert shown[-1] == "Sark"
    if language == "ar":
        # Hamza on or under the alef is no separate letter: Ethiopia (إثيوبيا) before Azerbaijan (أذربيجان),
        # which code-point order (أ before إ) would reverse.
        assert shown.index("إثيوبيا") < shown.index("أذربيجان") < shown.index("إريتريا")


def test_english_is_alphabetical_too(reporter_client: Any) -> None:
    shown = names(countries_shown(reporter_client, "en"))
    assert shown[:3] == ["Afghanistan", "Åland Islands", "Albania"], "Å with A, not after Z"
    assert shown.index("Sark") < shown.index("Saudi Arabia")
