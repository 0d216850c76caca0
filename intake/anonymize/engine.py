"""The text anonymizer: Presidio with an explicit offline configuration, regional recognizers, the report's
own names as a deny-list, NER routed by language, and typed numbered placeholders.

Built once per process (`get_engine()`); a warm worker reuses it for every report.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, IbanRecognizer
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig
from presidio_anonymizer.entities import RecognizerResult as Replacement

from .catalogue import protected_terms
from .context import Context
from .gazetteer import find_places
from .names import normalise_contact, phonetic, script_of
from .ner import EnglishPersons, RussianPersons
from .patterns import FINDERS, Found, protected_spans
from .people import (
    Token,
    find_known_contacts,
    find_known_people,
    find_name_shapes,
    known_people,
    marking_context,
    skip_name_parts,
    tokens,
)
from .pseudonym import person_key

log = logging.getLogger(__name__)
# Presidio logs at INFO on every call ("Fetching all recognizers for language en"): noise in a worker's log.
logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)

LANGUAGES = ("en", "ru", "uk", "hy", "az", "ar")
NER_LANGUAGES = {"en": "spaCy en_core_web_sm", "ru": "natasha", "uk": "natasha (Russian model)"}
KNOWN_PERSON = "KNOWN_PERSON"
# When spans of two types overlap, the merged span keeps the type of the longer one; on a tie, the first in
# this order (a pattern's type beats a model's guess: an e-mail address NER took for a name stays EMAIL).
PRIORITY = ("EMAIL", "PHONE", "URL", "COORDINATE", "IBAN", "CARD", "ID", "ADDRESS", "PERSON")
LOW_CONFIDENCE = 0.7

Pseudonymizer = Callable[[str, str], str]


@dataclass(frozen=True)
class Known:
    """The report's own identifying fields (victims', witnesses' names and contacts), used as a deny-list."""

    persons: Sequence[str] = ()
    phones: Sequence[str] = ()
    emails: Sequence[str] = ()


@dataclass(frozen=True)
class Entity:
    """A redacted span of the ORIGINAL text (offsets only, never its content) and what replaced it."""

    start: int
    end: int
    type: str
    placeholder: str


@dataclass
class Result:
    text: str
    entities: list[Entity]
    # placeholder -> keyed pseudonym (only with a pseudonymizer); never the original value.
    pseudonyms: dict[str, str]
    needs_review: bool
    review_reasons: list[str]


@dataclass
class _Identity:
    keys: set[str]
    placeholder: str


@dataclass
class Numbering:
    """Placeholder numbers shared by all texts of one report (narrative, answers, descriptions), so that
    [PERSON-2] is the same person everywhere in it. Holds only normalised keys, in memory."""

    counters: dict[str, int] = field(default_factory=dict)
    people: list[_Identity] = field(default_factory=list)
    known: dict[int, _Identity] = field(default_factory=dict)
    others: dict[tuple[str, str], str] = field(default_factory=dict)

    def _new(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"[{kind}-{self.counters[kind]}]"

    def person(self, surface: str, known_index: int | None, known_name: str | None) -> str:
        keys = set(person_key(surface).split())
        if known_index is not None and known_name is not None:
            identity = self.known.get(known_index)
            if identity is None:
                full = set(person_key(known_name).split())
                identity = self._match(full) or _Identity(full, "")
                if not identity.placeholder:
                    identity.placeholder = self._new("PERSON")
                    self.people.append(identity)
                self.known[known_index] = identity
            return identity.placeholder
        found = self._match(keys)
        if found is not None:
            if keys > found.keys:
                found.keys |= keys
            return found.placeholder
        identity = _Identity(keys, self._new("PERSON"))
        self.people.append(identity)
        return identity.placeholder

    def _match(self, keys: set[str]) -> _Identity | None:
        if not keys:
            return None
        # The same name, or a part of it (Petrosyan for Armen Petrosyan); two people sharing only a family
        # name (Armen and Karen Petrosyan) stay two.
        for identity in self.people:
            if keys <= identity.keys or identity.keys <= keys:
                return identity
        return None

    def other(self, kind: str, surface: str) -> str:
        key = (kind, normalise_contact(kind, surface))
        if key not in self.others:
            self.others[key] = self._new(kind)
        return self.others[key]


class _FinderRecognizer(EntityRecognizer):  # type: ignore[misc]
    """A Presidio recognizer around one of our finders (pattern sets, lexicons, NER models)."""

    def __init__(self, name: str, entities: list[str], language: str,
                 finder: Callable[[str], Iterable[Found]]) -> None:
        self.finder = finder
        super().__init__(supported_entities=entities, name=name, supported_language=language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        return [RecognizerResult(f.type, f.start, f.end, f.score) for f in self.finder(text)]


class _KnownRecognizer(EntityRecognizer):  # type: ignore[misc]
    """The report's own names, phones and e-mails.

    One per language, registered with the others when the engine is built: `Engine.anonymize` hands it
    the report's values (under the engine's lock) for one call and takes them back afterwards. (Made
    for each call as an ad-hoc recognizer, Presidio logged and set it up again for every text.)
    """

    def __init__(self, language: str) -> None:
        self.forget()
        super().__init__(supported_entities=[KNOWN_PERSON, "PHONE", "EMAIL"], name="known",
                         supported_language=language)

    def use(self, known: Known, toks: Sequence[Token], protected: list[tuple[int, int]]) -> None:
        self.known = known
        self.people = known_people(known.persons)
        self.toks = toks
        self.protected = protected
        self.person_at: dict[tuple[int, int], int] = {}

    def forget(self) -> None:
        """Nothing of the last report stays in the engine."""
        self.use(Known(), [], [])

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        results = []
        for found, index in find_known_people(text, self.people, self.toks, self.protected):
            self.person_at[(found.start, found.end)] = index
            results.append(RecognizerResult(KNOWN_PERSON, found.start, found.end, 1.0))
        for found in find_known_contacts(text, self.known.phones, self.known.emails):
            results.append(RecognizerResult(found.type, found.start, found.end, 1.0))
        return results


class _NoContextEnhancer(ContextAwareEnhancer):  # type: ignore[misc]
    """Presidio's context step, left out: its default (lemma-based) enhancer reads the words around a match off
    the NLP engine's tokens, and the no-op engine has none, so it changed no score here; it only deep-copied
    every result of every call. Our recognizers weigh their own context words (phone words, ID words, cues)."""

    def __init__(self) -> None:
        super().__init__(context_similarity_factor=0.0, min_score_with_context_similarity=0.0,
                         context_prefix_count=0, context_suffix_count=0)

    def enhance_using_context(self, text: str, raw_results: list[RecognizerResult], nlp_artifacts: NlpArtifacts,
                              recognizers: list[EntityRecognizer],
                              context: list[str] | None = None) -> list[RecognizerResult]:
        return raw_results


def detect_language(text: str) -> str:
    """The language to route by, from the script: hy, ar, uk/ru (Ukrainian letters), az (ə), else en."""
    script = script_of(text)
    if script == "armenian":
        return "hy"
    if script == "arabic":
        return "ar"
    if script == "cyrillic":
        return "uk" if re.search(r"[іїєґІЇЄҐ]", text) else "ru"
    return "az" if re.search(r"[əƏ]", text) else "en"


_SCRIPT_OF_LANGUAGE = {"en": "latin", "az": "latin", "ru": "cyrillic", "uk": "cyrillic", "hy": "armenian",
                       "ar": "arabic"}


class Engine:
    """Loaded once per process; `anonymize` is safe to call from one thread at a time per engine."""

    def __init__(self) -> None:
        english = EnglishPersons()
        russian = RussianPersons()
        self._terms = protected_terms()
        recognizers: list[EntityRecognizer] = []
        for lang in LANGUAGES:
            for kind, finder in FINDERS.items():
                recognizers.append(_FinderRecognizer(kind.lower(), [kind, "COORDINATE"], lang, finder))
            recognizers.append(IbanRecognizer(supported_language=lang, supported_entity="IBAN"))
            recognizers.append(CreditCardRecognizer(supported_language=lang, supported_entity="CARD"))
            recognizers.append(_FinderRecognizer("name_shapes", ["PERSON"], lang,
                                                 lambda text: find_name_shapes(text, self._tokens_of(text))))
        recognizers.append(_FinderRecognizer("spacy_en", ["PERSON"], "en", english))
        recognizers.append(_FinderRecognizer("natasha_ru", ["PERSON"], "ru", russian))
        recognizers.append(_FinderRecognizer("natasha_uk", ["PERSON"], "uk", russian))
        # Last, as Presidio put ad-hoc recognizers: the report's own values.
        self._known = {lang: _KnownRecognizer(lang) for lang in LANGUAGES}
        recognizers.extend(self._known.values())
        registry = RecognizerRegistry(recognizers=recognizers, supported_languages=list(LANGUAGES))
        # An explicit no-op NLP engine: Presidio's default would try to download a spaCy model, and our NER
        # runs inside the recognizers above, routed by language. The e-mail recognizer (which fetches the
        # list of top-level domains on first use) is not used: patterns.EMAIL needs no list.
        nlp_engine = NoOpNlpEngine(models=[{"lang_code": lang, "model_name": "none"} for lang in LANGUAGES])
        self.analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine,
                                       supported_languages=list(LANGUAGES), default_score_threshold=0.3,
                                       context_aware_enhancer=_NoContextEnhancer())
        self.anonymizer = AnonymizerEngine()
        self._lock = threading.Lock()
        self._tokens: tuple[str, list[Token]] = ("", [])
        self._context = Context("", [], "en", [], [])
        # Load the name dictionary and the gazetteer now, not inside the first report's call.
        Context.warm()
        find_places("Warm", tokens("Warm"))

    def _tokens_of(self, text: str) -> list[Token]:
        # Tokens of the text being analyzed, shared by the recognizers of one call (under the lock).
        if self._tokens[0] is not text:
            self._tokens = (text, tokens(text))
        return self._tokens[1]

    def anonymize(self, text: str, *, lang: str | None, known: Known, pseudonymizer: Pseudonymizer | None = None,
                  numbering: Numbering | None = None) -> Result:
        """Replace the people, contacts, documents, places-as-points and accounts in `text` with typed
        numbered placeholders; keep towns, dates, times, counts, weapons and institutions."""
        numbering = numbering if numbering is not None else Numbering()
        reasons: list[str] = []
        detected = detect_language(text)
        if lang not in LANGUAGES:
            if lang:
                reasons.append(f"language {lang!r} has no rules; handled as {detected}")
            lang = detected
        elif _SCRIPT_OF_LANGUAGE[lang] != script_of(text) and text.strip():
            reasons.append(f"text is not in the script of {lang}; handled as {detected}")
            lang = detected
        if lang not in NER_LANGUAGES:
            reasons.append(f"no NER model for {lang}: names found by lexicons, name shapes and context words only")
        with self._lock:
            toks = self._tokens_of(text)
            # Strong: catalogue, hand-listed places, institutions, dates. Weak: the gazetteer's villages, which a
            # name found by its context may override (a family name Hamdan is also a village Hamdan).
            strong = protected_spans(text, self._terms, skip_name_parts)
            weak = list(find_places(text, toks))
            protected = sorted(strong + weak)
            context = self._context = Context(text, toks, lang, strong, weak)
            known_recognizer = self._known[lang]
            known_recognizer.use(known, toks, protected)
            try:
                raw = self.analyzer.analyze(text, language=lang)
                # Names read off their context are added after Presidio's analysis: its de-duplication drops a
                # span inside a longer one of the same type, and a model's longer span may yet be cut by a town.
                raw += [RecognizerResult("PERSON", f.start, f.end, f.score) for f in context.find()]
                person_at = known_recognizer.person_at
            finally:
                known_recognizer.forget()
                self._context = Context("", [], "en", [], [])
        spans = self._resolve(text, raw, person_at, protected, sorted(strong), context)
        # A name goes whole: the parts beside any part that was found go with it.
        for span in spans:
            if span.type == "PERSON":
                span.start, span.end = context.complete(span.start, span.end)
        spans = _merge(text, spans)
        low = sum(1 for s in spans if s.score < LOW_CONFIDENCE)
        if low:
            reasons.append(f"{low} low-confidence detection(s)")
        entities: list[Entity] = []
        pseudonyms: dict[str, str] = {}
        for span in spans:
            surface = text[span.start:span.end]
            name = known.persons[span.known] if span.type == "PERSON" and span.known is not None else None
            if name is not None and set(person_key(surface).split()) - set(person_key(name).split()):
                # Only a part matched (the same first name, another family name): someone else.
                name = None
            if span.type == "PERSON":
                placeholder = numbering.person(surface, span.known if name else None, name)
            else:
                placeholder = numbering.other(span.type, surface)
            entities.append(Entity(span.start, span.end, span.type, placeholder))
            if pseudonymizer is not None and placeholder not in pseudonyms:
                pseudonyms[placeholder] = pseudonymizer(span.type, name or surface)
        anonymized = self.anonymizer.anonymize(
            text=text,
            analyzer_results=[Replacement(e.placeholder, e.start, e.end, 1.0) for e in entities],
            operators={e.placeholder: OperatorConfig("replace", {"new_value": e.placeholder}) for e in entities},
        )
        return Result(text=anonymized.text, entities=entities, pseudonyms=pseudonyms, needs_review=bool(reasons),
                      review_reasons=reasons)

    def _resolve(self, text: str, raw: list[RecognizerResult], person_at: dict[tuple[int, int], int],
                 protected: list[tuple[int, int]], strong: list[tuple[int, int]],
                 context: Context) -> list[_Span]:
        by_context = context.found
        spans: list[_Span] = []
        for r in raw:
            kind = "PERSON" if r.entity_type == KNOWN_PERSON else r.entity_type
            if r.entity_type == "PHONE" and r.score < 1.0 and marking_context(text, r.start):
                continue
            if r.entity_type == "PERSON" and any(ch.isdigit() for ch in text[r.start:r.end]):
                continue  # a model's "person" with a digit in it is a designation (Элерон-3, Orlan-10)
            if r.entity_type == "PERSON":
                # Only guessed names yield to the catalogue, places and institutions; the report's own
                # names and every pattern match do not.
                shield = strong if (r.start, r.end) in by_context else protected
                pieces = _subtract(r.start, r.end, sorted(shield + _designations(text, r.start, r.end)))
                broken = pieces != [(r.start, r.end)]
                for start, end in pieces:
                    start, end = _trim(text, start, end)
                    if broken and not context.has_evidence(start, end):
                        continue  # what a model's span leaves beside a town or a weapon needs a name's evidence
                    if end - start >= 2 and any(ch.isalpha() for ch in text[start:end]):
                        spans.append(_Span(start, end, kind, r.score, None))
            else:
                spans.append(_Span(r.start, r.end, kind, r.score, person_at.get((r.start, r.end))))
        return _merge(text, spans)


_DESIGNATION = re.compile(r"(?<![\w-])(?=[A-Z0-9-]*[A-Z])[A-Z0-9][A-Z0-9-]{1,15}(?![\w-])")


def _designations(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Words in capitals (and digits) inside a guessed name that are no name: GMLRS, ATACMS, M30, HIMARS. A name
    written in capitals counts only with evidence of a name (a given name of the lexicons, a surname shape)."""
    found = []
    for m in _DESIGNATION.finditer(text, start, end):
        word = m.group()
        if any(ch.isdigit() for ch in word) or not _looks_like_name(word):
            found.append((m.start(), m.end()))
    return found


def _looks_like_name(word: str) -> bool:
    from .context import is_published_name
    from .people import _surname_strength

    return is_published_name(word) or _surname_strength(Token(0, 0, word, phonetic(word))) > 0


@dataclass
class _Span:
    start: int
    end: int
    type: str
    score: float
    known: int | None


def _subtract(start: int, end: int, protected: list[tuple[int, int]]) -> list[tuple[int, int]]:
    pieces = [(start, end)]
    for p_start, p_end in protected:
        if p_start >= end:
            break
        if p_end <= start:
            continue
        next_pieces = []
        for s, e in pieces:
            if p_end <= s or p_start >= e:
                next_pieces.append((s, e))
                continue
            if s < p_start:
                next_pieces.append((s, p_start))
            if p_end < e:
                next_pieces.append((p_end, e))
        pieces = next_pieces
    return pieces


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end


_NAME_GAP = re.compile(r"[ \u00a0]?[-–]?[ \u00a0]?|[ \u00a0]?(?:[Aa]l|[Ee]l)-")


def _merge(text: str, spans: list[_Span]) -> list[_Span]:
    """Overlapping spans become one: no character of either is left in the text."""
    spans.sort(key=lambda s: (s.start, -s.end))
    merged: list[_Span] = []
    for span in spans:
        # Two parts of one name found separately (Fatima | Al-Halabi) are one person.
        joined = (merged and span.type == merged[-1].type == "PERSON"
                  and _NAME_GAP.fullmatch(text[merged[-1].end:span.start]) is not None)
        if merged and (span.start < merged[-1].end or joined):
            last = merged[-1]
            longer = max((last, span), key=lambda s: (s.end - s.start, -PRIORITY.index(s.type)))
            last.type = longer.type
            last.known = last.known if last.known is not None else span.known
            last.end = max(last.end, span.end)
            last.score = max(last.score, span.score)
        else:
            merged.append(_Span(span.start, span.end, span.type, span.score, span.known))
    return merged


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process's engine, built on first use (a few seconds: spaCy and natasha weights, the name dictionary)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Engine()
        return _engine
