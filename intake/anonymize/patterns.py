"""Regional patterns for contacts, identity documents, places and accounts, and for facts that must survive.

Digits may be ASCII or Arabic-Indic ("٠٩٣٢١٢٣٤٥٦٧"): every digit class below accepts both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from .names import digits_only

D = r"[0-9٠-٩۰-۹]"
DEC = r"[.,٫]"  # decimal separators, including the Arabic one

# Country codes of the regions served. An international number with another code is still a phone.
COUNTRY_CODES = ("374", "994", "380", "963", "970", "967", "249", "7", "972", "90", "98", "961", "962", "964")
PHONE_WORDS = r"(?:tel|phone|mob|cell|whatsapp|viber|signal|telegram|тел|моб|номер|телефон|հեռ|հեռախոս|telefon|" \
              r"mobil|əlaqə|هاتف|جوال|موبايل|رقم|تلفون|واتساب)"

_GROUP = rf"(?:\(\s?{D}+\s?\)|{D}+)"
_SEP = r"[ \u00a0\-–]{1,2}"
# Digit groups always separated (by a separator, or by a parenthesis), so the pattern cannot backtrack
# through the ways of splitting one digit run.
PHONE = re.compile(
    rf"(?<![\w+/=.,٫-])(?:(?:\+|00)\s?)?{_GROUP}(?:{_SEP}{_GROUP}|\s?\(\s?{D}+\s?\)|(?<=\))\s?{D}+)*(?!\w)"
)
PHONE_CONTEXT = re.compile(PHONE_WORDS, re.IGNORECASE)


def valid_phone(text: str, match: re.Match[str]) -> float:
    """Score a phone-shaped match: 0 rejects it."""
    surface = match.group()
    digits = digits_only(surface)
    international = surface.lstrip("(").startswith(("+", "00"))
    if international:
        rest = digits[2:] if surface.startswith("00") else digits
        if 8 <= len(rest) <= 15 and rest.startswith(COUNTRY_CODES):
            return 0.95
        return 0.6 if 8 <= len(rest) <= 15 else 0.0
    if digits.startswith("0") and 9 <= len(digits) <= 11:
        return 0.9
    if digits.startswith("8") and len(digits) == 11:
        return 0.85  # Russian trunk prefix: 8 (9xx) xxx-xx-xx
    window = text[max(0, match.start() - 40): match.start()]
    if PHONE_CONTEXT.search(window) and 7 <= len(digits) <= 12:
        return 0.8
    if len(digits) == 9 and digits[0] == "7" and re.search(r"\s|-", surface):
        return 0.6  # Yemeni mobile without its trunk prefix: 7xx xxx xxx
    return 0.0


EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,24}(?![\w@])", re.UNICODE)

URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]]+|"
                 r"(?<![\w@.])(?:t\.me|vk\.com|ok\.ru|fb\.com|facebook\.com|instagram\.com|twitter\.com|x\.com|"
                 r"tiktok\.com|youtube\.com|youtu\.be|telegram\.me|goo\.gl|maps\.app\.goo\.gl)/[^\s<>\"'()\[\]]+",
                 re.IGNORECASE)
MAP_LINK = re.compile(r"maps\.|/maps|goo\.gl/maps|maps\.app\.goo\.gl|openstreetmap\.org|osm\.org|yandex\.\w+/maps|"
                      r"2gis\.|wikimapia|[?&#](?:ll|q|query|center|mlat|map)=", re.IGNORECASE)
HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z][A-Za-z0-9_]{3,31}(?![\w@])")

# Identity documents: a context word, a few words of filler, then the number. The span is the number only.
ID_WORDS = (r"passport|ID(?:\s+card|\s+number|\s+no\.?)?|identity\s+card|national\s+(?:ID|number)|"
            r"паспорт\w*|серия|удостоверени\w+|посвідченн\w+|ІПН|РНОКПП|ИНН|СНИЛС|ID-картк\w*|"
            r"անձնագ\w*|նույնականացման|ՀԾՀ|şəxsiyyət\s+vəsiqəsi\w*|pasport\w*|FİN|FIN|"
            r"جواز\s+(?:ال)?سفر|هوية|الهوية|الرقم\s+الوطني|البطاقة\s+الشخصية|بطاقة|رقم\s+وطني|الرقم\s+القومي")
# Series and number may be apart: "4512 № 345678".
ID_VALUE = (rf"(?:(?<![^\W\d_])(?-i:[A-ZА-ЯЁІЇЄԱ-Ֆ]{{1,3}})[\s№#-]?)?{D}(?:[{D[1:-1]}\s-]|\s?№\s?){{3,16}}{D}"
            # Azerbaijani FİN: seven capitals and digits, at least one digit (case-sensitive inside the
            # case-insensitive ID pattern, or "assport" would be an ID)
            rf"|(?-i:(?=[A-Z]*\d)[A-Z0-9]{{7}})(?=\W|$)")
ID = re.compile(rf"(?:{ID_WORDS})[^\n.;!?]{{0,30}}?(?:№|#|No\.?|N|nömrə\w*|թիվ|رقم)?\s*[:.]?\s*(?P<value>{ID_VALUE})",
                re.IGNORECASE)
# Passport-shaped without context: two capitals and 6–8 digits (AN1234567, FA123456, ЕК123456).
ID_SHAPE = re.compile(rf"(?<![\w-])[A-ZА-ЯЁІЇЄ]{{2}}\s?{D}{{6,8}}(?![\w-])")

# Coordinates.
_LAT = rf"[-+]?{D}{{1,2}}{DEC}{D}{{3,}}"
_LON = rf"[-+]?{D}{{1,3}}{DEC}{D}{{3,}}"
COORD_DECIMAL = re.compile(rf"(?<![\w.]){_LAT}°?\s*[,;،]?\s*{_LON}°?(?!\w|[.,]{D})")
_HEMI_NS = r"[NSСЮ]|с\.\s?ш\.|ю\.\s?ш\.|пн\.\s?ш\.|пд\.\s?ш\."
_HEMI_EW = r"[EWВЗ]|в\.\s?д\.|з\.\s?д\.|сх\.\s?д\."
_NUM = rf"{D}{{1,3}}(?:{DEC}{D}+)?°?"
COORD_HEMI = re.compile(
    rf"(?<!\w)(?:(?:{_HEMI_NS})\s?{_NUM}\s*[,;]?\s*(?:{_HEMI_EW})\s?{_NUM}|"
    rf"{_NUM}\s?(?:{_HEMI_NS})\s*[,;]?\s*{_NUM}\s?(?:{_HEMI_EW}))(?!\w)"
)
_DMS_ONE = rf"{D}{{1,3}}°\s?{D}{{1,2}}['′’]\s?(?:{D}{{1,2}}(?:{DEC}{D}+)?(?:\"|″|''|”)?)?\s?(?:[NSEWСЮВЗ](?!\w))?"
COORD_DMS = re.compile(rf"(?<!\w){_DMS_ONE}(?:\s*[,;]?\s*{_DMS_ONE})?")

# Street addresses with a house number, in the six languages.
# A capitalised word of at most 41 letters, starting a word: bounded so a pathological input (one word of
# 20,000 letters) costs linear, not quadratic, time.
_CAP = r"(?<![\w'’.-])[A-ZА-ЯЁІЇЄƏÜÖĞIŞÇ][\w'’.-]{0,40}"
ADDRESS = re.compile("|".join([
    # English: "12 Tigran Mets Street", "Tumanyan Street 12", "Street 5, house 7"
    rf"(?<!\w)(?:(?:flat|apt\.?|apartment|house|building|block|entrance)\s*{D}{{1,4}}[A-Za-z]?,?\s*)?"
    rf"{D}{{1,4}}[A-Za-z]?,?\s+(?:{_CAP}\s+){{1,3}}(?:Street|St\.|Avenue|Ave\.|Road|Rd\.|Lane|Boulevard|Blvd\.?|Square|Highway)",
    rf"(?:{_CAP}\s+){{1,3}}(?:Street|Avenue|Road|Lane|Boulevard)\s*,?\s*(?:No\.?\s*|house\s+|building\s+)?{D}{{1,4}}[A-Za-z]?"
    rf"(?:\s*,?\s*(?:apt\.?|apartment|flat)\s*{D}{{1,4}})?",
    # Russian, Ukrainian
    rf"(?:ул\.|улиц\w+|вул\.|вулиц\w+|пр\.|просп\.|проспект\w*|пер\.|переул\w+|провул\w+|бульв\.|бульвар\w*|шоссе|"
    rf"пл\.|площ\w+|мкр\.|микрорайон\w*)\s*(?:[А-ЯЁІЇЄA-Z0-9][\w'’.-]{{0,40}}\s*){{1,3}},?\s*(?:д\.|дом\w*|буд\.|будин\w+|№)?\s*"
    rf"{D}{{1,4}}[а-яА-Яa-z]?(?:/{D}+)?(?:\s*,?\s*(?:кв\.|квартир\w+|корп\.)\s*{D}{{1,4}})?",
    # Armenian: "Թումանյան փողոց 12", "Թումանյանի փողոցի 12 տանը"
    rf"(?<!\w)[Ա-Ֆ][\u0561-\u0587]{{0,40}}\s+(?:փողոց\w*|փ\.|պողոտա\w*|պող\.|նրբանցք\w*|թաղամաս\w*)\s*,?\s*(?:տուն\s*|շենք\s*)?"
    rf"{D}{{1,4}}[\u0561-\u0587]?(?:/{D}+)?(?:\s*(?:տ\w*|բն\.?\s*{D}+))?",
    # Azerbaijani: "Nizami küçəsi 12", "Nizami küçəsi, ev 12", "Azadlıq prospekti 45"
    rf"(?:{_CAP}\s+){{1,2}}(?:küçəsi\w*|küç\.|prospekti\w*|pr\.|döngəsi\w*|dalanı\w*|məhəlləsi\w*)\s*,?\s*"
    rf"(?:ev\s*|bina\s*|№\s*)?{D}{{1,4}}[a-z]?(?:\s*(?:saylı|nömrəli)\s+ev\w*)?",
    # Arabic: "شارع بغداد، بناء 12", "حي الزهراء مبنى ٧"
    rf"(?:شارع|حي|طريق|حارة|زقاق)\s+\S+(?:\s+\S+)?\s*[،,]?\s*(?:بناء|مبنى|منزل|بيت|رقم|عمارة)\s*(?:رقم\s*)?{D}{{1,4}}",
]), re.IGNORECASE)


# --- Facts that must survive ---------------------------------------------------------------------------------
_MONTHS = [
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?",
    r"(?:январ|феврал|март|апрел|ма|июн|июл|август|сентябр|октябр|ноябр|декабр)[ьяеай]?",
    r"(?:січ|лют|берез|квіт|травн|червн|липн|серпн|верес|жовтн|листопад|груд)(?:ень|ня|ні|ий|ого|ому|а|і|ень)?",
    r"(?:հունվար|փետրվար|մարտ|ապրիլ|մայիս|հունիս|հուլիս|օգոստոս|սեպտեմբեր|հոկտեմբեր|նոյեմբեր|դեկտեմբեր)"
    r"(?:ի|ին|ից|ում)?",
    r"(?:yanvar|fevral|mart|aprel|may|iyun|iyul|avqust|sentyabr|oktyabr|noyabr|dekabr)(?:ın|in|un|da|də|dan|dən)?",
    r"(?:كانون\s+(?:الثاني|الأول)|تشرين\s+(?:الثاني|الأول)|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|"
    r"يناير|فبراير|مارس|أبريل|مايو|يونيو|يوليو|أغسطس|سبتمبر|أكتوبر|نوفمبر|ديسمبر)",
]
# Months are capitalised only in English: in Russian, Ukrainian, Armenian and Azerbaijani they are written in lower
# case, and a capitalised "Martin", "Мая" or "Август" is a person (Azerbaijani "martın" is "of March").
MONTHS = re.compile(r"(?<![^\W\d_])(?:(?i:" + _MONTHS[0] + ")|" + "|".join(_MONTHS[1:]) + r")(?![^\W\d_])")
PROTECTED = re.compile("|".join([
    rf"(?<!\w){D}{{1,2}}[:.]{D}{{2}}(?::{D}{{2}})?(?!{D})",  # times 07:30, 7.30
    rf"(?<!\w){D}{{1,4}}(?:{DEC}{D}+)?\s?[-–]?\s?(?:mm|мм|մմ|ملم|مم|ملي|cm|см)(?![^\W\d_])",  # calibres
    rf"(?<!\w){D}{{1,2}}[./-]{D}{{1,2}}[./-]{D}{{2,4}}(?!\w)",  # dates 14.03.2026
    rf"(?<!\w){D}{{4}}-{D}{{2}}-{D}{{2}}(?!\w)",
]), re.IGNORECASE)
# Institutions kept by name: hospitals, clinics, NGOs and UN bodies, in the six languages.
INSTITUTION = re.compile("|".join([
    r"(?<![\w'’-])(?:(?:[A-Z][\w'’-]{1,40}|[ae]l-[\w'’-]{1,40}|of|de|the)\s+){0,4}(?:Hospital|Clinic|Medical\s+Cent(?:er|re)|Health\s+Cent(?:er|re)|Polyclinic|"
    r"Red\s+Cross|Red\s+Crescent|Sans\s+Frontières|Without\s+Borders|Foundation|Committee)\b",
    r"(?:больниц\w+|лікарн\w+|госпитал\w+|госпітал\w+|поликлиник\w+|полікліні\w+|клиник\w+|клінік\w+|"
    r"медцентр\w*|санчаст\w+)(?:\s+(?:им\.|имени|імені|№\s*\d+|[А-ЯЁІЇЄ\d][\w.-]*)){0,3}",
    r"(?<![\w-])(?:[А-ЯЁІЇЄ][\w-]{1,40}\s+){1,3}(?:больниц\w+|лікарн\w+|госпитал\w+|госпітал\w+)",
    r"(?:Красн\w+\s+Крест\w*|Червон\w+\s+Хрест\w*|Врачи\s+без\s+границ|Лікарі\s+без\s+кордонів)",
    r"(?<!\w)(?:[Ա-Ֆ][\u0561-\u0587]{1,40}\s+){0,3}(?:հիվանդանոց\w*|բժշկական\s+կենտրոն\w*|պոլիկլինիկա\w*|Կարմիր\s+Խաչ\w*)",
    r"(?<![\w-])(?:[A-ZƏÜÖĞIŞÇ][\wəüöğışç-]{1,40}\s+){0,3}(?:xəstəxana\w*|Xəstəxana\w*|tibb\s+mərkəz\w*|poliklinika\w*|"
    r"Qırmızı\s+Aypara\w*|Qızıl\s+Aypara\w*)",
    r"(?:مستشفى|المستشفى|مشفى|المشفى|مستوصف|عيادة|مركز\s+صحي|الهلال\s+الأحمر|الصليب\s+الأحمر|أطباء\s+بلا\s+حدود|"
    r"الدفاع\s+المدني|الخوذ\s+البيضاء)(?:\s+(?!في|من|على|إلى|الى|عند|بعد|قبل|و)\S+){0,2}",
]))


# Institutions known by name: never shortened.
NAMED_INSTITUTION = re.compile("|".join([
    r"\b(?:ICRC|UNICEF|UNHCR|OCHA|OHCHR|WHO|MSF|HRW|UNRWA|OSCE|ANAMA|UNDP|UNFPA|UNMAS|WFP|IOM|NRC|IRC|CARE|"
    r"HALO\s+Trust|Amnesty\s+International|"
    r"Human\s+Rights\s+Watch|Airwars|Bellingcat|Mnemonic|Syrian\s+Archive|White\s+Helmets|Save\s+the\s+Children)\b",
    r"(?:Красн\w+\s+Крест\w*|Червон\w+\s+Хрест\w*|Врачи\s+без\s+границ|Лікарі\s+без\s+кордонів)",
    r"(?:Կարմիր\s+Խաչ\w*|Qırmızı\s+Aypara\w*|Qızıl\s+Aypara\w*|الهلال\s+الأحمر|الصليب\s+الأحمر|"
    r"أطباء\s+بلا\s+حدود|الدفاع\s+المدني|الخوذ\s+البيضاء)",
]))


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    type: str
    score: float


Finder = Callable[[str], Iterator[Found]]


def find_phones(text: str) -> Iterator[Found]:
    for m in PHONE.finditer(text):
        surface = m.group()
        # Trim a trailing separator, or a ")" that closes a parenthesis opened before the number.
        end = m.end() - (len(surface) - len(surface.rstrip(" -–(")))
        if text[end - 1] == ")" and "(" not in text[m.start():end]:
            end -= 1
        score = valid_phone(text, m)
        if score:
            yield Found(m.start(), end, "PHONE", score)


def find_emails(text: str) -> Iterator[Found]:
    for m in EMAIL.finditer(text):
        yield Found(m.start(), m.end(), "EMAIL", 0.95)


def find_urls(text: str) -> Iterator[Found]:
    for m in URL.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?»”’'":
            end -= 1
        kind = "COORDINATE" if MAP_LINK.search(text, m.start(), end) else "URL"
        yield Found(m.start(), end, kind, 0.95)
    for m in HANDLE.finditer(text):
        yield Found(m.start(), m.end(), "URL", 0.7)


def find_ids(text: str) -> Iterator[Found]:
    for m in ID.finditer(text):
        yield Found(m.start("value"), m.end("value"), "ID", 0.9)
    for m in ID_SHAPE.finditer(text):
        yield Found(m.start(), m.end(), "ID", 0.6)


def find_coordinates(text: str) -> Iterator[Found]:
    for pattern in (COORD_DECIMAL, COORD_HEMI, COORD_DMS):
        for m in pattern.finditer(text):
            yield Found(m.start(), m.end(), "COORDINATE", 0.95)


def find_addresses(text: str) -> Iterator[Found]:
    for m in ADDRESS.finditer(text):
        yield Found(m.start(), m.end(), "ADDRESS", 0.8)


FINDERS: dict[str, Finder] = {
    "PHONE": find_phones, "EMAIL": find_emails, "URL": find_urls, "ID": find_ids,
    "COORDINATE": find_coordinates, "ADDRESS": find_addresses,
}


class TermFinder(Protocol):
    def finditer(self, text: str) -> Iterator[re.Match[str]]: ...


def protected_spans(text: str, terms: TermFinder,
                    name_part: Callable[[str, int, int], int] | None = None) -> list[tuple[int, int]]:
    """Spans of times, dates, calibres, catalogue terms, places and institutions.

    An institution's name is found by the capitalised words before "Hospital", "xəstəxanası"…; `name_part`
    moves its start past words that are a person's name ("… her brother Kənan Bağırov Gəncə tibb mərkəzi"),
    so a person standing next to a hospital is not kept as part of it.
    """
    spans = [(m.start(), m.end()) for p in (PROTECTED, MONTHS, NAMED_INSTITUTION, terms) for m in p.finditer(text)]
    for m in INSTITUTION.finditer(text):
        start = name_part(text, m.start(), m.end()) if name_part else m.start()
        if start < m.end():
            spans.append((start, m.end()))
    return sorted(spans)
