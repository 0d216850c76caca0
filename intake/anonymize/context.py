"""Names by their context, with the same rules in every language: the words around a person in a report
("witness", "her son", "the martyr", "Dr", "was killed", ", 34,") mark the words next to them as a name,
whatever lexicon they are in. And a name is replaced whole: when any part of it is found, the parts beside it
go too ("Witness Martin [PERSON-1]" and "Калашникова [PERSON-1]" never happen).

Cue words are listed here by hand, per language; the given names that support weak evidence come from a
published name dictionary (lexicon.published_given_names) and spaCy's stop-word lists tell ordinary words
from names. Nothing here knows any particular report.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
from typing import Protocol

from .lexicon import ARABIC_GIVEN, ARABIC_GIVEN_WEAK, ARABIC_JOINERS, GIVEN_KEYS, published_given_names
from .names import PARTICLES, is_patronymic, normalise_arabic, phonetic, script_of, skeleton, split_ending
from .patterns import Found


class Tok(Protocol):
    """A word of the text (people.Token): its offsets and surface."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def surface(self) -> str: ...

# Words right BEFORE a name: roles, kinship, honorifics, "the martyr". Matched on the word's start (stem) with
# up to three more letters, so inflected forms count ("соседа", "свидетеля", "Հարևանը", "qonşusu").
BEFORE = {
    "en": """witness witnesses eyewitness neighbour neighbor neighbours neighbors survivor victim
        volunteer volunteers nurse teacher doctor dr dr. mr mr. mrs mrs. ms ms. miss paramedic medic driver farmer
        journalist photographer shepherd engineer student pupil boy girl martyr son daughter brother sister husband
        wife mother father cousin uncle aunt nephew niece grandson granddaughter grandmother grandfather grandma
        grandpa sergeant private mayor imam priest father-in-law mother-in-law brother-in-law sister-in-law
        including named identified interviewee speaker contact casualties victims dead injured wounded""",
    "ru": """свидетел очевид сосед соседк волонтер волонтёр медсестр медбрат учител учительниц врач доктор
        фельдшер водител фермер журналист фотограф пастух инженер студент школьни мальчик девочк сын дочь дочер
        брат сестр муж жена жены жену женой мать матер отец отца отцу дяд тёт тет племянни внук внучк бабушк
        дедушк господин госпож гражданин гражданк погибш ранен пострадавш раненая погибшая опрошенн контакт
        семья семьи""",
    "uk": """свідок свідк очевид сусід сусідк волонтер медсестр учител учительк вчител вчительк лікар
        фельдшер водій водія фермер журналіст фотограф пастух інженер студент школяр хлопчик дівчинк син сина
        сину донька доньк дочк брат сестр чоловік чоловіка дружин мати матір батько батька дядько тітк племінни
        онук онучк бабус дідус пан пані громадянин громадянк загибл поранен постраждал опитан контакт
        родина родини""",
    "hy": """ականատես վկա հարևան կամավոր բուժքույր ուսուցիչ ուսուցչուհի բժիշկ վարորդ ֆերմեր լրագրող
        հովիվ ուսանող տղա աղջիկ որդի դուստր եղբայր քույր ամուսին կինը մայր հայր զարմիկ զարմուհի հորեղբայր
        մորեղբայր թոռ տատիկ պապիկ պարոն տիկին զոհված վիրավոր նահատակ զրուցակից կապ տուժածներ
        բուժաշխատող""",
    "az": """şahid qonşu könüllü tibb bacısı müəllim müəllimə həkim sürücü fermer jurnalist çoban tələbə
        oğlan qız oğlu qızı qardaş bacı əri arvad həyat yoldaşı ana anası ata atası əmi dayı xala bibi nəvə nənə
        baba cənab xanım şəhid yaralı yoldaşı həmsöhbət əlaqə zərərçəkənlər feldşer""",
    "ar": """الشاهد الشاهدة شاهد شاهدة الجار الجارة جار جاره جارها جارته المواطن المواطنة المتطوع المتطوعة الممرض
        الممرضة الممرضه المعلم المعلمة الطبيب الطبيبة الدكتور الدكتورة المسعف السائق المزارع الصحفي الصحفية المصور
        الراعي المهندس الطالب الطالبة الطفل الطفلة الفتى الفتاة الشاب الشابة الشهيد الشهيدة الجريح الجريحة المصاب
        المصابة القتيل الضحية السيد السيدة الحاج الحاجة الشيخ ابن ابنه ابنها ابنته ابنتها بنت شقيق شقيقه شقيقها
        شقيقة شقيقته شقيقتها أخ أخيه أخوه أخاه أخت أخته أختها زوج زوجها زوجة زوجته والد والده والدها والدة والدته
        والدتها عم عمه عمها خال خاله خالها جد جده جدها جدة جدته حفيد حفيده حفيدها ابن عم ابن عمه ابن عمها قريب
        قريبه قريبها قال قالت أفاد أفادت أكد أكدت روى روت استشهد استشهدت قتل قتلت أصيب أصيبت توفي توفيت نجا نجت
        أخبر أخبرت ذكر ذكرت بينهم منهم واسمه واسمها يدعى تدعى المتحدث المتحدثة للتواصل الضحايا عائلة منزل بيت
        جثة جثمان قتيل جريح جريحة مصاب مصابة شهيد شهيدة""",
}
# Two-word cues before a name: "according to", "по словам", "تحدثنا مع" (the last word alone is too common).
PHRASES_BEFORE = {
    "en": ["family of", "home of", "house of", "body of", "funeral of", "according to", "spoke to", "spoke with",
           "talked to", "identified as", "named as", "victims as",
           "victim as", "among them", "survived by"],
    "ru": ["дома у", "по словам", "поговорили с", "поговорил с", "говорили с", "том числе", "среди них", "слов"],
    "uk": ["за словами", "поговорили з", "поговорив з", "поговорили із", "тому числі", "серед них", "числі"],
    "hy": ["այդ թվում", "խոսել է", "զրուցեցինք"],
    "az": ["o cümlədən", "ilə danışdıq", "onların arasında"],
    "ar": ["تحدثنا مع", "تحدثت مع", "بحسب", "وفق", "حسب", "مثل"],
}
# Words right AFTER a name (cased scripts: the verbs and honorifics that follow the subject).
AFTER = {
    "en": """was were said says told recalled survived died testified confirmed added explained described,
        recounted reported""",
    "ru": """погиб погибла погибли ранен ранена рассказал рассказала сообщил сообщила заявил заявила выжил выжила
        скончался скончалась получил получила подтвердил подтвердила вспоминает""",
    "uk": """загинув загинула загинули поранений поранена розповів розповіла повідомив повідомила заявив заявила
        вижив вижила помер померла дістав дістала отримав отримала підтвердив підтвердила""",
    "hy": """ընտանիքը տան տունը զոհվել զոհվեց վիրավորվել վիրավորվեց պատմել պատմեց հայտնել հայտնեց մահացել մահացավ
        ասաց ասել
        հաստատել հաստատեց խոսքով խոսքերով""",
    "az": """bəy xanım müəllim həlak yaralanıb yaralandı dedi deyib bildirib bildirdi öldü vəfat sağ təsdiqləyib
        sözlərinə dediyinə ailəsi evinin evi""",
    "ar": "",
}
# Words that are never a name part, whatever their case: the cue words themselves, months and weekdays.
_NEVER = """monday tuesday wednesday thursday friday saturday sunday january february march april june july
    august september october november december reuters afp ap ukrinform interfax tass sana wafa apa armenpress
    understanding according""".split()
_STOP_LANGS = {"en": "en", "ru": "ru", "uk": "uk", "hy": "hy", "az": "az", "ar": "ar"}
# Arabic words that follow a name (verbs, prepositions, report vocabulary): the name ends before them.
ARABIC_NOT_NAME = frozenset(normalise_arabic(w) for w in """
قال قالت إن أن إنه أنه بأن كان كانت بقي بقيت قتل قتلت أصيب أصيبت توفي توفيت نجا نجت استشهد استشهدت عندما حين
بعد قبل خلال أثناء تحت فوق داخل خارج قرب بين على إلى الى في من عن مع و أو ثم حتى الذي التي الذين منزل منزله منزلها
عاما عاماً سنة سنوات البالغ البالغة العمر ابن ابنة والد والدة بحسب وفق حسب أيضا كما وقد لقد وقع سقط سقطت أكد أكدت
أفاد أفادت الانفجار القصف الغارة الصاروخ المنزل المدرسة المستشفى الأنقاض فناء الساعة يوم اليوم أمس الليلة صباح مساء
مصادر مصدر محلية محلي طبية طبي رسمية رسمي مسؤول مسؤولون مسؤولين شهود سكان الأهالي الأهل العائلة عائلة الوزارة وزارة
الصحة الدفاع المدني الأمم المتحدة منظمة فريق الفريق الجيش القوات قوات الشرطة الحكومة السلطات المحلية وكالة الأنباء
مراسل مراسلنا مصادرنا ناشطون ناشطين متطوعون متطوعين الجرحى جرحى القتلى قتلى الضحايا ضحايا المدنيين مدنيين
""".split())


@cache
def _stop_words(lang: str) -> frozenset[str]:
    import importlib

    module = importlib.import_module(f"spacy.lang.{_STOP_LANGS[lang]}.stop_words")
    words = {w.casefold() for w in module.STOP_WORDS}
    if lang == "ar":
        words = {normalise_arabic(w) for w in words}
    return frozenset(words)


@cache
def _names() -> tuple[frozenset[str], frozenset[str]]:
    published, arab = published_given_names()
    return published | GIVEN_KEYS, arab


def _cue_set(table: dict[str, str], lang: str) -> frozenset[str]:
    words = table.get(lang, "").split()
    if lang == "ar":
        return frozenset(normalise_arabic(w) for w in words)
    return frozenset(w.casefold().rstrip(".,") for w in words)


_BEFORE = {lang: _cue_set(BEFORE, lang) for lang in BEFORE}
_PHRASES = {lang: [tuple((normalise_arabic(w) if lang == "ar" else w.casefold()) for w in p.split())
                   for p in phrases] for lang, phrases in PHRASES_BEFORE.items()}
_AFTER = {lang: _cue_set(AFTER, lang) for lang in AFTER}
_ALL_CUES = frozenset().union(*_BEFORE.values(), *_AFTER.values())
_PATRONYMIC_PARTICLES = frozenset(phonetic(w) for w in "oğlu qızı oglu qizi ogly kyzy оглы кызы".split())
_GROW = 3
_AND = frozenset("and & и й і та և ու və ilə".split())
_SENTENCE_END = re.compile(r"(?:^|[.!?؟։:;\n«»\"“”()\[\]]\s*|\s[-–—]\s)$")
_AGE = re.compile(r"\s*,\s*\d{1,3}\s*(?:,|\(|years?\b|лет|рок|տարեկան|yaşlı|yaş)|\s*\(\s*\d{1,3}\s*\)"
                  r"|\s*،\s*\d{1,3}\s*(?:عام|سن|،)")


def _glued_and(word: str) -> bool:
    """An Arabic word with a glued "and" before a name (وأنور), not a name that starts with waw (وليد)."""
    bare = normalise_arabic(word)
    return bare.startswith("و") and len(bare) >= 4 and bare not in ARABIC_GIVEN and bare not in ARABIC_GIVEN_WEAK \
        and not _ordinary(word[1:], "ar") and not _ordinary(word, "ar")


@lru_cache(maxsize=131072)
def _cue_matches(cues: frozenset[str], word: str, lang: str) -> bool:
    folded = normalise_arabic(word) if lang == "ar" else word.casefold().rstrip(".")
    if folded in cues:
        return True
    if lang == "ar":
        return folded[:1] in "وف" and folded[1:] in cues  # a glued "and": وقال، فالشهيد
    if lang == "en":
        return False
    # A stem of at least three letters followed by at most three more (an inflection).
    return any(folded[:k] in cues for k in range(max(3, len(folded) - 3), len(folded)))


def is_cue(word: str) -> bool:
    folded = word.casefold()
    return folded in _ALL_CUES or normalise_arabic(word) in _ALL_CUES


@lru_cache(maxsize=65536)
def _ordinary(word: str, lang: str) -> bool:
    """A common word of the language (or any cue word): never a name part."""
    folded = word.casefold()
    if folded in _NEVER:
        return True
    if lang == "ar":
        bare = normalise_arabic(word)
        return bare in _stop_words("ar") or bare in ARABIC_NOT_NAME or (bare[:1] in "وبلف" and bare[1:] in
                                                                       ARABIC_NOT_NAME) \
            or _cue_matches(_BEFORE["ar"], word, "ar") and bare not in ARABIC_JOINERS
    return folded in _stop_words(lang) or folded in _stop_words("en") \
        or _cue_matches(_BEFORE.get(lang, frozenset()), word, lang) \
        or _cue_matches(_AFTER.get(lang, frozenset()), word, lang)


@lru_cache(maxsize=65536)
def is_published_name(word: str) -> bool:
    """A given name of the name lexicons (any script but Arabic), in any case form."""
    names, arab = _names()
    if script_of(word) == "arabic":
        bare = normalise_arabic(word)
        return bare in ARABIC_GIVEN or bare in ARABIC_GIVEN_WEAK or skeleton(phonetic(bare)) in arab
    return any(candidate in names for candidate, _ in split_ending(phonetic(word)))


def _adjacent(text: str, left_end: int, right_start: int) -> bool:
    gap = text[left_end:right_start]
    return 0 < len(gap) <= 3 and re.fullmatch(r"[ \u00a0]|[ \u00a0]?[-–][ \u00a0]?|-", gap) is not None


def _IN_PARENS(text: str, tok: Tok) -> bool:  # noqa: N802
    """Whether the word stands alone in parentheses right after something: "X (killed)", "X (قتيل)"."""
    start, end = tok.start, tok.end
    return text[max(0, start - 2):start] == " (" and text[end:end + 1] == ")"


def _cue_gap(text: str, end: int, start: int) -> bool:
    """Between a cue and the name: a space, or a colon, comma or Armenian apostrophe-like mark and a space."""
    gap = text[end:start]
    return 0 < len(gap) <= 3 and re.fullmatch(r"[ \u00a0]|[՝:,—–][ \u00a0]?|[ \u00a0][—–][ \u00a0]", gap) is not None


def _sentence_start(text: str, start: int) -> bool:
    return bool(_SENTENCE_END.search(text[max(0, start - 4):start])) or not text[:start].strip()


def _covered(toks: Sequence[Tok], spans: Sequence[tuple[int, int]]) -> list[bool]:
    """For each token, whether one of `spans` covers its start."""
    spans = sorted(spans)
    out = []
    k = 0
    for t in toks:
        start = t.start
        while k < len(spans) and spans[k][1] <= start:
            k += 1
        out.append(any(s <= start < e for s, e in spans[k:k + 8]))
    return out


class Context:
    """One text's tokens and protected spans, and the rules that read names off them."""

    def __init__(self, text: str, toks: Sequence[Tok], lang: str, strong: Sequence[tuple[int, int]],
                 weak: Sequence[tuple[int, int]]) -> None:
        self.text = text
        self.toks = toks
        self.lang = lang
        self.arabic = lang == "ar" or script_of(text) == "arabic"
        self.strong_shield = _covered(toks, strong)
        self.protected = [a or b for a, b in zip(self.strong_shield, _covered(toks, weak), strict=True)]
        self.found: set[tuple[int, int]] = set()
        self.starts = [t.start for t in toks]

    def name_like(self, i: int, first: bool = False) -> bool:
        """Could token i be part of a name here (capitalised in a cased script, no ordinary word, no fact)?"""
        tok = self.toks[i]
        surface: str = tok.surface
        if (self.protected[i] if first else self.strong_shield[i]) or len(surface) < 2:
            return False
        if self.arabic:
            if script_of(surface) != "arabic":
                return False
            bare = normalise_arabic(surface)
            if bare in ARABIC_JOINERS:
                return True
            return not _ordinary(surface, "ar")
        if phonetic(surface) in PARTICLES and not first:
            return True
        return surface[:1].isupper() and not _ordinary(surface, self.lang)

    @staticmethod
    def warm() -> None:
        """Load the published name dictionary and the stop-word lists (once per process)."""
        _names()
        for lang in _STOP_LANGS:
            _stop_words(lang)

    def has_evidence(self, start: int, end: int) -> bool:
        """Whether a token in [start, end) is a name by itself (a given name, a family name's shape)."""
        return any(self.strong(i) for i in self._inside(start, end)
                   if self.toks[i].start >= start and self.toks[i].end <= end and self.name_like(i))

    def _inside(self, start: int, end: int) -> list[int]:
        """Indexes of the tokens overlapping [start, end), found by bisection."""
        i = bisect.bisect_right(self.starts, start) - 1
        i = max(i, 0)
        out = []
        while i < len(self.toks) and self.toks[i].start < end:
            if self.toks[i].end > start:
                out.append(i)
            i += 1
        return out

    def strong(self, i: int) -> bool:
        """Evidence of a name by itself: a published given name, a surname or patronymic shape."""
        surface: str = self.toks[i].surface
        if is_published_name(surface):
            return True
        key = phonetic(surface)
        if is_patronymic(key):
            return True
        if self.arabic:
            bare = normalise_arabic(surface)
            return bare.startswith("ال") and len(bare) >= 5
        from .people import Token, _surname_strength

        return _surname_strength(Token(0, 0, surface, key)) > 0

    def _run_right(self, i: int) -> int:
        """The last token of the name that starts at token i (inclusive): at most three parts besides
        particles and joiners (given name, father's name, family name)."""
        toks = self.toks
        hi, parts = i, 1
        while hi + 1 < len(toks) and _adjacent(self.text, toks[hi].end, toks[hi + 1].start) \
                and self.name_like(hi + 1):
            surface = toks[hi + 1].surface
            if self.arabic and _glued_and(surface):
                break  # "X وY": a second person
            joiner = phonetic(surface) in PARTICLES or normalise_arabic(surface) in ARABIC_JOINERS
            if not joiner:
                if parts >= 3:
                    break
                # Arabic has no capitals: a third word joins only with a name's evidence (a family name with
                # the article, a known given name), or the verb after the name would go with it.
                if self.arabic and parts >= 2 and not self.strong(hi + 1) \
                        and normalise_arabic(toks[hi].surface) not in ARABIC_JOINERS:
                    break
                parts += 1
            hi += 1
        # A name does not end on a particle or a joiner.
        while hi > i and (phonetic(toks[hi].surface) in PARTICLES
                          or normalise_arabic(toks[hi].surface) in ARABIC_JOINERS):
            hi -= 1
        return hi

    def find(self) -> Iterator[Found]:
        """Every name `_find` reads off the text, remembered so the engine can tell them from guesses."""
        for found in self._find():
            self.found.add((found.start, found.end))
            yield found

    def _find(self) -> Iterator[Found]:
        """Names marked by a cue word before them, an age or a verb after them, and the names joined to those
        by "and"."""
        toks, text, lang = self.toks, self.text, self.lang
        before = _BEFORE.get(lang, frozenset())
        after = _AFTER.get(lang, frozenset())
        n = len(toks)
        for i, tok in enumerate(toks):
            surface: str = tok.surface
            j = i + 1
            if (_cue_matches(before, surface, lang) or self._phrase_ends(i)) and j < n \
                    and _cue_gap(text, tok.end, toks[j].start) and self._first(j):
                yield from self._names_from(j)
            if phonetic(surface) in _PATRONYMIC_PARTICLES and 0 < i < n - 1:
                yield from self._around_particle(i)
            if not self.arabic and i > 0 and (_cue_matches(after, surface, lang) or surface.casefold() in after
                                              or _cue_matches(before, surface, lang) and _IN_PARENS(text, tok)) \
                    and (_adjacent(text, toks[i - 1].end, tok.start) or _IN_PARENS(text, tok)):
                yield from self._name_ending_at(i - 1)
            if self.arabic and _IN_PARENS(text, tok) and i > 0 and _cue_matches(before, surface, lang):
                yield from self._arabic_name_ending_at(i - 1)  # "X (قتيل)"
            if self._given_pair(i):
                yield Found(tok.start, toks[i + 1].end, "PERSON", 0.7)
            if surface[:1].isupper() and _AGE.match(text, tok.end):
                yield from self._name_ending_at(i, aged=True)

    def _phrase_ends(self, i: int) -> bool:
        """Whether token i ends a two-word cue ("according to", "по словам")."""
        word = self._fold(i)
        for phrase in _PHRASES.get(self.lang, ()):
            if phrase[-1] == word and (len(phrase) == 1 or i >= len(phrase) - 1 and all(
                    self._fold(i - len(phrase) + 1 + k) == w for k, w in enumerate(phrase[:-1]))):
                return True
        return False

    def _fold(self, i: int) -> str:
        surface: str = self.toks[i].surface
        return normalise_arabic(surface) if self.arabic else surface.casefold()

    def _first(self, j: int) -> bool:
        """Can token j start a name after a cue? A village of the gazetteer can, when it is also a given name
        (Jasim is a town and a man) or in Arabic, whose cue words are about people only."""
        if self.name_like(j, first=True):
            return True
        return self.name_like(j) and (self.arabic or is_published_name(self.toks[j].surface))

    def _around_particle(self, i: int) -> Iterator[Found]:
        """Given name, father's name, oğlu/qızı, family name: "Rasim Namiq oğlu Cəfərov"."""
        toks, text = self.toks, self.text
        if not (_adjacent(text, toks[i - 1].end, toks[i].start) and _adjacent(text, toks[i].end, toks[i + 1].start)
                and self.name_like(i - 1, first=True) and self.name_like(i + 1, first=True)):
            return
        lo = i - 1
        if lo > 0 and _adjacent(text, toks[lo - 1].end, toks[lo].start) and self.name_like(lo - 1, first=True):
            lo -= 1
        yield Found(toks[lo].start, toks[i + 1].end, "PERSON", 0.85)

    def _given_pair(self, i: int) -> bool:
        """A given name of the published dictionary and a capitalised word right after it, in the middle of a
        sentence (Ottilie Mbeki): a person. At a sentence's start the pair needs more (a cue, a verb)."""
        toks = self.toks
        if self.arabic or i + 1 >= len(toks) or not _adjacent(self.text, toks[i].end, toks[i + 1].start):
            return False
        if _sentence_start(self.text, toks[i].start) or not self.name_like(i, first=True) \
                or not self.name_like(i + 1, first=True):
            return False
        return is_published_name(toks[i].surface) and not toks[i].surface.isupper()

    def _arabic_name_ending_at(self, k: int) -> Iterator[Found]:
        """The Arabic name of one to three words ending at token k (before a parenthesis)."""
        toks, text = self.toks, self.text
        if k < 0 or not self.name_like(k, first=True) or text[toks[k].end:toks[k].end + 2].strip() != "(":
            return
        lo = k
        while lo > 0 and k - lo < 2 and _adjacent(text, toks[lo - 1].end, toks[lo].start) \
                and self.name_like(lo - 1, first=True):
            lo -= 1
        yield Found(toks[lo].start, toks[k].end, "PERSON", 0.75)

    def _names_from(self, j: int) -> Iterator[Found]:
        """The name starting at token j, and the next one after "and" (X and Y, X و Y)."""
        toks, text = self.toks, self.text
        while True:
            hi = self._run_right(j)
            start = toks[j].start
            if hi == j and (phonetic(toks[j].surface) in PARTICLES
                            or normalise_arabic(toks[j].surface) in ARABIC_JOINERS):
                return  # a joiner alone ("ابن" of "ابن عمها") is no name
            yield Found(start, toks[hi].end, "PERSON", 0.8)
            k = hi + 1
            if k >= len(toks):
                return
            word = toks[k].surface
            if self.arabic and _glued_and(word) and _adjacent(text, toks[hi].end, toks[k].start):
                # "X وY": the glued "and" stays in the text, the name after it goes.
                run_end = toks[self._run_right(k)].end
                yield Found(toks[k].start + 1, run_end, "PERSON", 0.8)
                return
            if word.casefold() in _AND and k + 1 < len(toks) and _adjacent(text, toks[hi].end, toks[k].start) \
                    and _adjacent(text, toks[k].end, toks[k + 1].start) and self.name_like(k + 1, first=True):
                j = k + 1
                continue
            return

    def _name_ending_at(self, k: int, aged: bool = False) -> Iterator[Found]:
        """The capitalised words ending at token k, if they are a name ("X was killed", "X, 61,")."""
        toks, text = self.toks, self.text
        if k < 0 or self.arabic or not self.name_like(k, first=True):
            return
        lo = k
        while lo > 0 and k - lo < 2 and not _sentence_start(text, toks[lo].start) \
                and _adjacent(text, toks[lo - 1].end, toks[lo].start) and self.name_like(lo - 1, first=True):
            lo -= 1
        if lo == k and _sentence_start(text, toks[lo].start) and not self.strong(lo):
            return  # "Officials said": one sentence-initial word is a name only with evidence of its own
        if lo < k and not aged and _sentence_start(text, toks[lo].start) \
                and not (self.strong(lo) or self.strong(k)):
            return  # two capitalised words followed by an age (", 61,") are a name even at a sentence's start
        yield Found(toks[lo].start, toks[k].end, "PERSON", 0.75)

    def complete(self, start: int, end: int) -> tuple[int, int]:
        """A person's span grown over the name parts beside it (given name, surname, patronymic)."""
        toks, text = self.toks, self.text
        inside = self._inside(start, end)
        if not inside:
            return start, end
        lo, hi = inside[0], inside[-1]
        start, end = min(start, toks[lo].start), max(end, toks[hi].end)
        # A name has a few parts: growing is bounded, so a run of thousands of capitalised words costs linear time.
        while hi + 1 < len(toks) and hi - inside[-1] < _GROW and _adjacent(text, toks[hi].end, toks[hi + 1].start) \
                and self._joins(hi + 1, hi, right=True):
            hi += 1
        while lo > 0 and inside[0] - lo < _GROW and _adjacent(text, toks[lo - 1].end, toks[lo].start) \
                and self._joins(lo - 1, lo, right=False):
            lo -= 1
        while hi > inside[-1] and phonetic(toks[hi].surface) in PARTICLES:
            hi -= 1
        while lo < inside[0] and phonetic(toks[lo].surface) in PARTICLES:
            lo += 1
        return min(start, toks[lo].start), max(end, toks[hi].end)

    def _joins(self, j: int, anchor: int, right: bool) -> bool:
        toks = self.toks
        surface: str = toks[j].surface
        if self.arabic:
            if not self.name_like(j):
                return False
            bare = normalise_arabic(surface)
            if right:
                return bare in ARABIC_JOINERS or normalise_arabic(toks[anchor].surface) in ARABIC_JOINERS \
                    or self.strong(j)
            return bare in ARABIC_JOINERS or self.strong(j)
        if phonetic(surface) in PARTICLES:
            return j + 1 < len(toks) if right else True
        if not self._first(j):
            # A village's name beside a name part is part of that name: a family name after a given name
            # (Панас Білик), a given name before a family name (Շողակաթ Գալստյան; Shoghakat is also a village).
            return self.name_like(j) and self.strong(anchor)
        if not right and _sentence_start(self.text, toks[j].start):
            # A sentence's first word before a family name ("Serob Danielyan's …") is its given name unless it
            # is an ordinary word (name_like above).
            return self.strong(j) or self.strong(anchor)
        return True
