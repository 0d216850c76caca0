"""Names across scripts: transliteration, phonetic keys, case endings, and the keyed pseudonymizer.

A name written in a report's form field ("Armen Petrosyan") must be found in a narrative that writes it in
another script and case ("Պետրոսյանին", "Петросяна", "ARMEN PETROSIAN"). Every token is reduced to a
phonetic Latin key (transliteration tables below, then digraphs folded: kh/x/g/h/gh one class, ch/ts/ц one
class, sh/ş/ш one class, y→i…) and further to a consonant skeleton, which survives the vowel choices of
different transliteration systems (Mammadov / Məmmədov / Мамедов → "mmdv").
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Single characters of each script to a phonetic Latin string. Upper case letters fold through casefold().
_CYRILLIC = dict(zip(
    "абвгґдеєёжзиіїйклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "H", "H", "d", "e", "ie", "io", "J", "z", "i", "i", "ii", "i", "k", "l", "m", "n", "o", "p",
     "r", "s", "t", "u", "f", "H", "C", "C", "S", "S", "", "i", "", "e", "iu", "ia"], strict=True))
_ARMENIAN = dict(zip(
    "աբգդեզէըթժիլխծկհձղճմյնշոչպջռսվտրցւփքօֆ",
    ["a", "b", "H", "d", "e", "z", "e", "e", "t", "J", "i", "l", "H", "C", "k", "H", "C", "H", "C", "m", "i",
     "n", "S", "o", "C", "p", "J", "r", "s", "v", "t", "r", "C", "v", "p", "k", "o", "f"], strict=True))
_ARMENIAN["և"] = "ev"
_ARABIC = {
    "ا": "a", "أ": "a", "إ": "i", "آ": "a", "ٱ": "a", "ء": "", "ؤ": "u", "ئ": "i", "ب": "b", "ت": "t", "ة": "a",
    "ث": "t", "ج": "J", "ح": "H", "خ": "H", "د": "d", "ذ": "d", "ر": "r", "ز": "z", "س": "s", "ش": "S", "ص": "s",
    "ض": "d", "ط": "t", "ظ": "z", "ع": "a", "غ": "H", "ف": "f", "ق": "k", "ك": "k", "ل": "l", "م": "m", "ن": "n",
    "ه": "H", "و": "u", "ى": "a", "ي": "i", "پ": "p", "چ": "C", "ژ": "J", "گ": "H", "ک": "k", "ی": "i",
}
# Latin letters after diacritics are stripped, plus the letters NFKD does not decompose.
_LATIN_SPECIAL = {"ə": "a", "ı": "i", "ş": "S", "ç": "C", "ğ": "H", "ß": "s", "ø": "o", "æ": "a", "đ": "d",
                  "ł": "l", "ð": "d", "þ": "t", "œ": "e"}
_DIGRAPHS = [("shch", "S"), ("sch", "S"), ("tch", "C"), ("dzh", "J"), ("sh", "S"), ("ch", "C"), ("zh", "J"),
             ("dj", "J"), ("kh", "H"), ("gh", "H"), ("ts", "C"), ("tz", "C"), ("ph", "f"), ("th", "t"),
             ("dh", "d"), ("ou", "u"), ("oo", "u"), ("ee", "i"), ("ck", "k")]
_LATIN_SINGLE = {"g": "H", "h": "H", "x": "H", "q": "k", "w": "v", "y": "i", "j": "J", "c": "k", "'": "", "’": ""}
_AZ_LETTERS = set("əğışçöüƏĞIŞÇÖÜ")
VOWELS = set("aeiou")
_ARABIC_DIACRITICS = re.compile("[\u064b-\u0652\u0670\u0640]")

WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|[\u0300-\u036f\u064b-\u0652\u0670\u0640'’])*", re.UNICODE)


def script_of(text: str) -> str:
    if len(text) <= 40:
        return _script_of_word(text)
    return _script_of(text)


@lru_cache(maxsize=65536)
def _script_of_word(text: str) -> str:
    return _script_of(text)


def _ranges(chars: list[str]) -> str:
    """A character class for `chars` (sorted), written as ranges."""
    out, i = [], 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1:
            j += 1
        out.append(re.escape(chars[i]) + ("-" + re.escape(chars[j]) if j > i else ""))
        i = j + 1
    return "[" + "".join(out) + "]"


# Counted by the regular-expression engine, run by run, rather than by a Python loop over every character (a
# narrative's script is asked for several times per call). Latin: the letters below U+0250, as str.isalpha()
# has them.
_SCRIPT_CHARS = (("armenian", re.compile("[\u0530-\u058f]+")), ("arabic", re.compile("[\u0600-\u06ff]+")),
                 ("cyrillic", re.compile("[\u0400-\u04ff]+")),
                 ("latin", re.compile(_ranges([chr(o) for o in range(0x250) if chr(o).isalpha()]) + "+")))


def _script_of(text: str) -> str:
    """The dominant script of a text: 'armenian', 'arabic', 'cyrillic' or 'latin' (the first of these on a tie;
    'latin' when there is no letter)."""
    best, most = "latin", 0
    for script, chars in _SCRIPT_CHARS:
        count = sum(map(len, chars.findall(text)))
        if count > most:
            best, most = script, count
    return best


def strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_ARABIC_FOLD = str.maketrans("أإآٱىةیک", "اااايهيك")


def normalise_arabic(token: str) -> str:
    """Arabic spelling variants folded: diacritics and tatweel dropped, alef/ya/ta-marbuta forms unified."""
    token = _ARABIC_DIACRITICS.sub("", token)
    return token.translate(_ARABIC_FOLD)





@lru_cache(maxsize=65536)
def phonetic(token: str) -> str:
    """A token as a phonetic Latin key: 'Петросяну' → 'peCrosianu'-like; equal for common transliterations."""
    token = token.casefold()
    if token.endswith(("'s", "’s")):
        token = token[:-2]  # English possessive: Miller's
    azeri = any(ch in _AZ_LETTERS for ch in token)
    out: list[str] = []
    for i, ch in enumerate(token):
        if ch in _CYRILLIC:
            out.append(_CYRILLIC[ch])
        elif ch in _ARMENIAN:
            # Armenian "ու" is one vowel u; a word-initial "ո" is pronounced "vo".
            if ch == "ւ" and out and out[-1] == "o":
                out[-1] = "u"
            elif ch == "ո" and i == 0:
                out.append("vo")
            else:
                out.append(_ARMENIAN[ch])
        elif ch in _ARABIC:
            # A word-initial waw is the consonant w (Walid), elsewhere a long vowel.
            if ch == "و" and i == 0:
                out.append("v")
            elif ch in "هة" and i == len(token) - 1:
                out.append("a")  # final ta marbuta, often written as ha: فاطمة / فاطمه = Fatima
            else:
                out.append(_ARABIC[ch])
        elif ch in _LATIN_SPECIAL:
            out.append(_LATIN_SPECIAL[ch])
        else:
            base = strip_diacritics(ch)
            if base.isascii() and base.isalpha():
                out.append("\x00" + base)  # plain Latin, folded below with digraphs
            elif base in ("'", "’"):
                continue
            else:
                out.append(base)
    text = "".join(out)
    if "\x00" in text:
        latin = text.replace("\x00", "")
        if azeri:
            latin = latin.replace("c", "J")  # Azerbaijani c is the sound j (Cavid = Javid)
        for a, b in _DIGRAPHS:
            latin = latin.replace(a, b)
        latin = "".join(_LATIN_SINGLE.get(ch, ch) for ch in latin)
        text = latin
    # Doubled letters are a spelling choice (Mammadov / Mamedov, Hassan / Hasan).
    return re.sub(r"(.)\1+", r"\1", text)


@lru_cache(maxsize=65536)
def skeleton(key: str) -> str:
    """Consonant skeleton of a phonetic key; a leading vowel is kept as 'V'."""
    if not key:
        return ""
    head = "V" if key[0] in VOWELS else key[0]
    return head + "".join(ch for ch in key[1:] if ch not in VOWELS)


# Case endings in phonetic form (Russian, Ukrainian, Armenian, Azerbaijani; Arabic has none on names).
# Longest first. Used for matching a known name's inflected forms and for pseudonym keys.
ENDINGS = sorted({
    # Russian / Ukrainian
    "a", "u", "e", "i", "o", "om", "oi", "ei", "im", "em", "ovi", "evi", "ami", "aH", "iH", "am", "oiu",
    "eiu", "ui", "oHo", "omu", "ia", "iu", "ie", "ii", "iei", "iam",
    # Armenian (genitive/dative -i, -in, article -e/-n, ablative -iC, locative -um; not the instrumental -ov,
    # which would cut the surname ending -ov)
    "in", "iC", "um", "n", "ner", "neri", "nerin", "iCi",
    # Azerbaijani (genitive -in/-un/-nin/-nun, dative -a/-ia, accusative -ni/-nu, loc./abl. -da/-dan, -la)
    "un", "nin", "nun", "ni", "nu", "da", "de", "dan", "den", "la", "le", "iaH", "dir",
}, key=len, reverse=True)
# Tokens that join name parts and are never a name on their own.
PARTICLES = {phonetic(w) for w in (
    "al", "el", "ad", "ar", "as", "ash", "an", "bin", "ibn", "bint", "abu", "umm", "oglu", "oğlu", "qizi", "qızı",
    "ogly", "kyzy", "gizi", "de", "van", "von", "ибн", "бин", "оглы", "кызы", "оглу", "гызы", "بن", "ابن", "بنت",
    "ال", "أبو", "ابو", "أم",
)}


def split_ending(key: str) -> tuple[tuple[str, str], ...]:
    """(stem, ending) candidates of a phonetic key, with the bare key first."""
    return _split_ending(key)


@lru_cache(maxsize=65536)
def _split_ending(key: str) -> tuple[tuple[str, str], ...]:
    return ((key, ""), *((key[: -len(e)], e) for e in ENDINGS if key.endswith(e) and len(key) - len(e) >= 3))


def given_forms(key: str) -> set[str]:
    """The forms of a name's key that an inflected token may reduce to: itself and, for a name ending in a
    vowel (Olga, Anna), the stem without it (Ольгой → olH + oi)."""
    forms = {key}
    if len(key) >= 4 and key[-1] in VOWELS:
        forms.add(key[:-1])
    return forms


def stem(key: str, given: frozenset[str] | set[str] = frozenset()) -> str:
    """A key with its case ending removed: the form compared across reports. A known given name guides the
    cut (Əlinin → Əli + nin); otherwise only an ending that starts with a vowel, and a final vowel, go."""
    for candidate, _ending in split_ending(key):
        if candidate in given:
            return candidate
    for candidate, ending in split_ending(key):
        if ending and ending[0] in VOWELS:
            key = candidate
            break
    if len(key) > 3 and key[-1] in VOWELS:
        key = key[:-1]
    return key


PATRONYMIC = re.compile(r"(oviC|eviC|ovna|evna|ivna|oHlu|kizi|oHli|kiz)$")


def is_patronymic(key: str) -> bool:
    return bool(PATRONYMIC.search(key)) and len(key) > 5


_ARABIC_INDIC = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def digits_only(text: str) -> str:
    return re.sub(r"\D", "", text.translate(_ARABIC_INDIC))


def normalise_contact(kind: str, value: str) -> str:
    """Phones compared by their last nine digits (country code and trunk zero differ); others casefolded."""
    if kind == "PHONE":
        return digits_only(value)[-9:]
    return strip_diacritics(value).casefold().strip()
