"""Finding people: the report's own names (a deny-list tolerant of inflection and transliteration) and, where
no NER model exists, name lexicons and name-shape rules."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .lexicon import (
    ARABIC_GIVEN,
    ARABIC_GIVEN_WEAK,
    ARABIC_JOINERS,
    ARMENIAN_SURNAME_ENDINGS,
    GIVEN_KEYS,
    SURNAME_ENDINGS,
    WEAK_SURNAME_ENDINGS,
)
from .names import (
    PARTICLES,
    WORD,
    digits_only,
    given_forms,
    is_patronymic,
    normalise_arabic,
    phonetic,
    script_of,
    skeleton,
    split_ending,
)
from .patterns import D, Found

CASED = ("latin", "cyrillic", "armenian")
_ARABIC_DIACRITICS_RE = re.compile("[\u064b-\u0652\u0670\u0640]")
# Words with the article that follow a name without being a family name (time words, roles, states).
ARABIC_NOT_FAMILY = frozenset(normalise_arabic(w) for w in """
الذي التي الذين الليلة اليوم الصباح المساء الظهر العصر الفجر الأول الثاني الثالث الأخير الجريح المصاب
الشهيد الطفل الطفلة الأم الأب الأخ الأخت الزوج الزوجة الابن الابنة الجار الجارة الطبيب الممرض المسعف
المدني المدنية المدنيين الصحفي المعلم المعلمة السائق المزارع الشاب الشابة العجوز المسن أيضا الآن
""".split())
_ARABIC_PROCLITICS = ("وب", "ول", "فب", "و", "ف", "ب", "ل", "ك")
_SENTENCE_END = re.compile(r"[.!?؟։:\n]\s*$")
MARKING_WORDS = re.compile(r"(?:lot|serial|s/n|batch|marking|партия|партії|серийн\w+|серійн\w+|заводск\w+|"
                           r"маркировк\w+|маркуванн\w+|խմբաքանակ|սերիական|seriya|partiya|الدفعة|الرقم\s+التسلسلي)",
                           re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    surface: str
    key: str  # phonetic

    @property
    def capitalised(self) -> bool:
        return self.surface[:1].isupper()


def tokens(text: str) -> list[Token]:
    return [Token(m.start(), m.end(), m.group(), phonetic(m.group())) for m in WORD.finditer(text)]


def _adjacent(text: str, left: Token, right: Token) -> bool:
    """Two tokens belong to one name only when separated by a space or a hyphen (no punctuation, no line)."""
    gap = text[left.end:right.start]
    return 0 < len(gap) <= 2 and bool(re.fullmatch(r"[ \u00a0\-–]|[ \u00a0]-|-[ \u00a0]", gap)) or gap == "-"


def _arabic_forms(surface: str) -> Iterator[str]:
    token = normalise_arabic(surface)
    yield token
    for prefix in _ARABIC_PROCLITICS:
        if token.startswith(prefix) and len(token) - len(prefix) >= 2:
            yield token[len(prefix):]


def _arabic_bare(surface: str, proclitics: bool = True) -> list[str]:
    """An Arabic token's readings without proclitics and article, for comparison with a name in any script.
    A name from a form field is written clean: only its article is dropped."""
    token = normalise_arabic(surface)
    prefixes = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ل", "ف") if proclitics else ("ال",)
    readings = [token]
    for prefix in prefixes:
        if token.startswith(prefix) and len(token) - len(prefix) >= 3:
            readings.append(token[len(prefix):])
    return readings


# --- The report's own names ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KnownPart:
    key: str
    skeleton: str
    forms: frozenset[str]


@dataclass(frozen=True)
class KnownPerson:
    index: int
    parts: tuple[KnownPart, ...]


def known_people(persons: Sequence[str]) -> list[KnownPerson]:
    people = []
    for index, name in enumerate(persons):
        parts = []
        for m in WORD.finditer(name):
            surface = _arabic_bare(m.group(), proclitics=False)[-1] if script_of(m.group()) == "arabic" \
                else m.group()
            key = phonetic(surface)
            if len(key) < 2 or key in PARTICLES:
                continue
            parts.append(KnownPart(key, skeleton(key), frozenset(given_forms(key))))
        if parts:
            people.append(KnownPerson(index, tuple(parts)))
    return people


def _part_matches(part: KnownPart, token: Token, text_script: str) -> bool:
    if text_script != "arabic":
        return _key_matches(part, token.key)
    readings = _arabic_bare(token.surface)
    if any(_key_matches(part, phonetic(r)) for r in readings):
        return True
    # Arabic script writes no short vowels and ع has no fixed Latin vowel (الزعبي / Al-Zoubi): a family name
    # with the article is compared on consonants even when they are only two.
    with_article = normalise_arabic(token.surface).startswith(("ال", "وال", "بال", "لل"))
    return with_article and len(part.skeleton) >= 2 and skeleton(phonetic(readings[-1])) == part.skeleton


def _key_matches(part: KnownPart, key: str) -> bool:
    for candidate, ending in split_ending(key):
        if candidate in part.forms:
            return True
        # Transliteration variants agree on consonants (Petrosyan / Petrosian / Петросян); only for parts
        # long enough that a skeleton is not a common word.
        if len(part.skeleton) >= 3 and skeleton(candidate) == part.skeleton and (not ending or len(candidate) >= 4):
            return True
    return False


def find_known_people(text: str, people: Sequence[KnownPerson], toks: Sequence[Token],
                      protected: Sequence[tuple[int, int]] = ()) -> Iterator[tuple[Found, int]]:
    """Spans naming one of the report's own people, with that person's index. A token that is a place or a
    weapon is taken only when it is exactly a part of the name (a town Halab is not Al-Halabi)."""
    if not people:
        return
    text_script = script_of(text)
    exact = {part.key for person in people for part in person.parts}
    hits: list[tuple[Token, int]] = []
    for token in toks:
        if token.key not in exact and any(s <= token.start and token.end <= e for s, e in protected):
            continue
        if text_script in CASED and script_of(token.surface) != "arabic" and not token.capitalised \
                and len(token.key) < 6:
            continue  # a short lower-case word is a word, not the name (Vera / вера)
        for person in people:
            if any(_part_matches(part, token, script_of(token.surface)) for part in person.parts):
                hits.append((token, person.index))
                break
    # Join neighbouring parts of one name, with particles and patronymics between them.
    i = 0
    while i < len(hits):
        token, index = hits[i]
        start, end = token.start, token.end
        j = i + 1
        while j < len(hits) and hits[j][1] == index and _joinable(text, end, hits[j][0].start):
            end = hits[j][0].end
            j += 1
        yield Found(start, end, "PERSON", 1.0), index
        i = j


def _joinable(text: str, end: int, start: int) -> bool:
    gap = text[end:start]
    if len(gap) > 24 or re.search(r"[.,;:!?()\n]", gap):
        return False
    words = gap.split()
    return all(phonetic(w.strip("-")) in PARTICLES or is_patronymic(phonetic(w)) or w[:1].isupper()
               for w in words)


def find_known_contacts(text: str, phones: Sequence[str], emails: Sequence[str]) -> Iterator[Found]:
    """The report's own phone numbers in any formatting, and its e-mail addresses."""
    wanted = {digits_only(p)[-9:] for p in phones if len(digits_only(p)) >= 6}
    if wanted:
        for m in re.finditer(rf"\+?{D}[{D[1:-1]}\s\-–().]{{5,22}}{D}", text):
            digits = digits_only(m.group())
            if any(w in digits for w in wanted):
                yield Found(m.start(), m.end(), "PHONE", 1.0)
    for email in emails:
        email = email.strip()
        if "@" in email:
            for m in re.finditer(re.escape(email), text, re.IGNORECASE):
                yield Found(m.start(), m.end(), "EMAIL", 1.0)


# --- Names nobody told us about -------------------------------------------------------------------------------

def skip_name_parts(text: str, start: int, end: int) -> int:
    """The first position in text[start:end] after leading words that are name parts (given names, surname
    shapes, patronymics, particles)."""
    after_name = start
    words = [Token(m.start(), m.end(), m.group(), phonetic(m.group())) for m in WORD.finditer(text, start, end)]
    for k, token in enumerate(words):
        if token.key in PARTICLES:
            continue  # a particle belongs to the name only if a name part follows it
        # A given name of the published dictionary counts only before a family name's shape ("Fərhad Bağırov
        # Gəncə tibb mərkəzi"): alone it may be the institution's own name (Bab al-Hawa Hospital).
        published = k + 1 < len(words) and _surname_strength(words[k + 1]) > 0 and _is_any_given(token)
        if not token.capitalised or not (_is_given(token) or published or _surname_strength(token)
                                         or is_patronymic(token.key)):
            break
        after_name = token.end
    # the institution starts at the first word after the last name part
    following = WORD.search(text, after_name, end)
    return following.start() if following and after_name > start else start


def _is_given(token: Token) -> bool:
    return any(candidate in GIVEN_KEYS for candidate, _ in split_ending(token.key))


def _is_any_given(token: Token) -> bool:
    """A given name of the hand lexicon or of the published name dictionary."""
    from .context import is_published_name

    return _is_given(token) or is_published_name(token.surface)


def _surname_strength(token: Token) -> int:
    """2: a surname shape that stands alone; 1: one that needs a given name beside it; 0: none."""
    best = 0
    endings = ARMENIAN_SURNAME_ENDINGS if script_of(token.surface) == "armenian" else SURNAME_ENDINGS
    for candidate, _ in split_ending(token.key):
        if len(candidate) < 5:
            continue
        for ending in endings:
            if candidate.endswith(ending):
                best = max(best, 1 if ending in WEAK_SURNAME_ENDINGS else 2)
    return best


def _sentence_start(text: str, token: Token) -> bool:
    before = text[max(0, token.start - 3): token.start]
    return token.start == 0 or bool(_SENTENCE_END.search(before)) or not text[:token.start].strip()


def find_name_shapes(text: str, toks: Sequence[Token]) -> Iterator[Found]:
    """Names by lexicon and shape: given names, surname endings (-yan, -ov, -enko…), patronymics and particles
    (oğlu, qızı, bin, ibn). Scores below 0.7 are weak evidence and flag the report for review."""
    if script_of(text) == "arabic":
        yield from _arabic_names(text, toks)
        return
    n = len(toks)
    strength = [0] * n  # 3 given name, 2 surname/patronymic, 1 weak, 0 none
    for i, t in enumerate(toks):
        if script_of(t.surface) == "arabic":
            continue
        cased = t.capitalised
        if not cased:
            continue
        if _is_given(t):
            strength[i] = 3
        elif t.key in ("al", "el") and i + 1 < n and text[t.end:t.end + 1] == "-" and toks[i + 1].capitalised:
            strength[i] = 2  # Arabic family name in Latin letters: Al-Najjar, El-Masri
        elif len(t.surface) >= 5 and t.surface.isupper():
            # ALL-CAPS word: a name written as on a form only with a name's shape (GMLRS, ATACMS are not)
            strength[i] = 2 if _surname_strength(t) else 0
        elif is_patronymic(t.key) and len(t.key) > 6:
            strength[i] = 2
        else:
            strength[i] = _surname_strength(t)
    i = 0
    while i < n:
        if strength[i] < 2 and not (strength[i] == 1 and toks[i].surface.isupper()):
            i += 1
            continue
        lo = hi = i
        # Grow left and right over name parts, particles and (next to a given name) plain capitalised words.
        while lo > 0 and _adjacent(text, toks[lo - 1], toks[lo]) and _may_join(text, toks, strength, lo - 1, lo):
            lo -= 1
        while hi + 1 < n and _adjacent(text, toks[hi], toks[hi + 1]) and _may_join(text, toks, strength, hi + 1, hi):
            hi += 1
        while hi > lo and toks[hi].key in PARTICLES:
            hi -= 1
        parts = hi - lo + 1
        best = max(strength[lo: hi + 1])
        score = 0.85 if parts >= 2 and best >= 2 else (0.7 if best == 3 else 0.6)
        if best >= 2 or any(t.surface.isupper() and len(t.surface) >= 5 for t in toks[lo: hi + 1]):
            yield Found(toks[lo].start, toks[hi].end, "PERSON", score)
        i = max(i, hi) + 1


def _may_join(text: str, toks: Sequence[Token], strength: list[int], j: int, anchor: int) -> bool:
    t = toks[j]
    if strength[j] >= 1 or t.key in PARTICLES:
        return True
    if not t.capitalised or len(t.surface) < 2:
        return False
    # A plain capitalised word joins a name part (John Smith, Al-Najjar, Петрович Мельник), never as a
    # sentence's first word.
    return strength[anchor] >= 2 and not (j < anchor and _sentence_start(text, t))


# Prepositions and particles that fold into a name's spelling (على "on" → علي Ali): never a name by themselves.
ARABIC_FUNCTION_WORDS = frozenset(
    "على إلى الى عن من في مع بعد قبل عند حتى ثم أو أن إن لا ما هذا هذه ذلك تلك كان".split())


def _arabic_kind(surface: str) -> str:
    if _ARABIC_DIACRITICS_RE.sub("", surface) in ARABIC_FUNCTION_WORDS:
        return ""
    forms = list(_arabic_forms(surface))
    if any(f in ARABIC_GIVEN for f in forms):
        return "given"
    if any(f in ARABIC_JOINERS for f in forms):
        return "joiner"
    if any(f in ARABIC_GIVEN_WEAK for f in forms):
        return "weak"
    bare = normalise_arabic(surface)
    if bare.startswith("ال") and len(bare) >= 4 and bare not in ARABIC_NOT_FAMILY:
        return "family"  # after a given name: الخطيب, النجار, الحلبي (checked where it is used)
    return ""


def _arabic_names(text: str, toks: Sequence[Token]) -> Iterator[Found]:
    kinds = [_arabic_kind(t.surface) for t in toks]
    n = len(toks)
    i = 0
    while i < n:
        if kinds[i] not in ("given", "joiner"):
            i += 1
            continue
        lo = hi = i
        if kinds[i] == "joiner":
            # أبو محمد, بن علي, عبد الرحمن: the joiner needs a following part.
            if i + 1 >= n or not _adjacent(text, toks[i], toks[i + 1]):
                i += 1
                continue
            hi = i + 1
        while hi + 1 < n and _adjacent(text, toks[hi], toks[hi + 1]) and (
                kinds[hi + 1] in ("given", "weak", "joiner") or kinds[hi] == "joiner"
                or (kinds[hi + 1] == "family" and kinds[hi] != "family")):
            hi += 1
        while lo > 0 and _adjacent(text, toks[lo - 1], toks[lo]) and kinds[lo - 1] in ("joiner", "weak"):
            lo -= 1
        if kinds[hi] == "joiner" and hi > lo:
            hi -= 1
        score = 0.85 if hi > lo else 0.7
        first = toks[lo].surface
        # A glued "and" (وخالد) stays in the text: only the name goes.
        start = toks[lo].start + 1 if first.startswith("و") and len(first) > 3 and _arabic_kind(first[1:]) else \
            toks[lo].start
        yield Found(start, toks[hi].end, "PERSON", score)
        i = hi + 1


def marking_context(text: str, start: int) -> bool:
    """A number right after 'lot', 'serial', 'партия'… is a marking read off a remnant: evidence, not a phone."""
    return bool(MARKING_WORDS.search(text, max(0, start - 25), start))
