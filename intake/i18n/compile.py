"""Compiled catalogues (`messages.mo`) from the translators' sources (`messages.po`).

Nothing compiled is committed: `pip install` builds them (buildtools/catalogues.py loads this file
by path, before any of the app can be imported), and the app compiles any that is missing or older
than its source when it starts, so a checkout that pulled new translations shows them at once.
This module imports only Babel: the build runs it with nothing else installed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def sources(translations: Path) -> list[Path]:
    """Every catalogue source under `translations` (`<lang>/LC_MESSAGES/messages.po`)."""
    return sorted(translations.glob("*/LC_MESSAGES/messages.po"))


def stale(source: Path) -> bool:
    """True when `source` has no compiled catalogue or one older than itself."""
    target = source.with_suffix(".mo")
    return not target.exists() or target.stat().st_mtime < source.stat().st_mtime


def compile_catalogue(source: Path) -> Path:
    """Compile one source beside itself, atomically: a server reading the old file never sees half
    a new one. Fuzzy entries are left out, as gettext's msgfmt leaves them."""
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=source.parent.parent.name)
    target = source.with_suffix(".mo")
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.chmod(partial, 0o644)  # mkstemp makes it private; a server running as another user reads it
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def compile_all(translations: Path, only_stale: bool = True) -> list[Path]:
    """Compile every catalogue (only the stale ones unless `only_stale` is false); the files written."""
    return [compile_catalogue(source) for source in sources(translations) if not only_stale or stale(source)]
