"""Names shown sorted, in the order the reader's language sorts them: ICU's collation for the locale
(CLDR's rules), not Python's code-point order.

Code-point order puts Ukrainian "Єгипет" (U+0404) before every other Cyrillic letter, Azerbaijani "Ə"
after "Z" and Russian "Ё" after "Я"; a raw code such as "CQ", or any Latin name, first in a Cyrillic,
Armenian or Arabic list. ICU orders Є after Е and Ґ after Г in Ukrainian, Ç after C and Ə after E in
Azerbaijani, Ё with Е in Russian, and puts the language's own script first (names left in Latin after).

PyICU comes from the `PyICU-wheels` binary wheels (module `icu`, ICU bundled), so no system ICU is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TypeVar

import icu

T = TypeVar("T")

# A collator is safe to share for comparisons, but nothing here needs to find out: keys are computed
# under a lock, and the sorted lists that need speed are cached by their callers.
_lock = threading.Lock()


@lru_cache(maxsize=32)
def _collator(locale_name: str) -> icu.Collator:
    # "az" is Azerbaijani in Latin script for ICU as for CLDR; an unknown name falls back to the root
    # order (ICU's default), which is still alphabet by alphabet, never code points.
    return icu.Collator.createInstance(icu.Locale(locale_name.replace("-", "_")))


def sort_key(locale_name: str) -> Callable[[str], bytes]:
    """A `key=` for `sorted` that orders strings as `locale_name` ("uk", "az_Latn", "ar") sorts them."""
    collator = _collator(locale_name)

    def key(text: str) -> bytes:
        with _lock:
            return bytes(collator.getSortKey(text))

    return key


def sorted_by_name(items: Iterable[T], locale_name: str, name: Callable[[T], str] = str) -> list[T]:
    """`items` sorted by `name(item)` in `locale_name`'s collation."""
    key = sort_key(locale_name)
    return sorted(items, key=lambda item: key(name(item)))
