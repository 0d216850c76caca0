"""Keyed pseudonyms: the same person or contact gets the same pseudonym across one organisation's reports."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from .lexicon import GIVEN_KEYS
from .names import (
    PARTICLES,
    WORD,
    is_patronymic,
    normalise_arabic,
    normalise_contact,
    phonetic,
    script_of,
    skeleton,
    stem,
)

ARABIC_ARTICLES = ("وال", "بال", "لل", "ال")


def name_part_key(token: str) -> str:
    """One part of a name as compared across reports and scripts ('' for particles and patronymics)."""
    if script_of(token) == "arabic":
        token = normalise_arabic(token)
        for prefix in ARABIC_ARTICLES:
            if token.startswith(prefix) and len(token) - len(prefix) >= 3:
                token = token[len(prefix):]
                break
    key = phonetic(token)
    if not key or key in PARTICLES or is_patronymic(key):
        return ""
    return skeleton(stem(key, GIVEN_KEYS))


def person_key(surface: str) -> str:
    """A person's name as a stable key: each part phonetic, stemmed and reduced to its consonants, particles
    and patronymics dropped, parts sorted ('Petrosyan Armen' and 'Армену Петросяну' agree)."""
    parts = {name_part_key(m.group()) for m in WORD.finditer(surface)}
    return " ".join(sorted(p for p in parts if p))


def hmac_pseudonymizer(key: bytes) -> Callable[[str, str], str]:
    """A pseudonymizer for one organisation, keyed by a secret the caller keeps.

    The value is normalised first (casefold, diacritics stripped, transliterated to Latin, case endings
    dropped), so 'Армену Петросяну' and 'Armen Petrosyan' agree. Without the key nobody can test a guessed
    name against a pseudonym.
    """
    if len(key) < 16:
        raise ValueError("the pseudonym key must be at least 16 bytes")

    def pseudonym(kind: str, value: str) -> str:
        normal = person_key(value) if kind == "PERSON" else normalise_contact(kind, value)
        digest = hmac.new(key, f"{kind}\x1f{normal}".encode(), hashlib.sha256).hexdigest()
        return f"{kind}-{digest[:12]}"

    return pseudonym
