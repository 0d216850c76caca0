# mypy: disable-error-code="list-item,assignment,union-attr,arg-type,index,return-value"
# (Babel annotates a location line as an int and a message id as one string: catalogues hold None lines
# and (singular, plural) ids, which is what this module reads.)
"""The translation catalogues: the template extracted from the code, and each language's state.

`intake translations update` extracts every user-facing string of the code and templates into
`intake/translations/messages.pot` and merges it into each language's `messages.po` (new and changed
strings arrive untranslated: no guessed starting point from a similar string; gone ones are kept
obsolete, `#~`, for the translator to consult); `intake translations check` says what
a language still lacks. tests/test_translations.py fails on anything a translator has left to do.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po
from babel.plural import to_gettext
from wtforms.i18n import messages_path

ROOT = Path(__file__).resolve().parent.parent.parent
TRANSLATIONS = ROOT / "intake" / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"

# The marking functions of the code (Flask-Babel's) as Babel's extractor names them.
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}
METHODS = [
    ("intake/**.py", "python"),
    ("templates/**.html", "jinja2"),
]
COMMENT_TAGS = ["TRANSLATORS:"]

# Gettext's plural rules for integer counts, as translators' tools know them. Each is checked against
# CLDR's rules (by Babel) in tests/test_translations.py: the same numbers take the same form.
PLURAL_FORMS = {
    "ru": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
    "uk": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
    "hy": "nplurals=2; plural=(n > 1);",
    "az": "nplurals=2; plural=(n != 1);",
    "ar": "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);",
}

PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sdif]|%[sdif]|\{[A-Za-z_0-9]*\}")


def extract(root: Path = ROOT) -> Catalog:
    """Every user-facing string the code and templates hold now, as a template catalogue."""
    catalog = Catalog(project="Intake", version="1", msgid_bugs_address="", fuzzy=False, charset="utf-8")
    options = {"**.html": {"extensions": "jinja2.ext.do"}}
    for filename, _line, message, comments, context in extract_from_dir(
            str(root), METHODS, options_map=options, keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
            strip_comment_tags=True):
        catalog.add(message, None, [(filename, None)], auto_comments=comments, context=context)
    # WTForms' own messages ("Not a valid integer value."), which the forms show under a field: its
    # catalogues lack some of the field languages (intake/i18n/forms.py).
    with (Path(messages_path()) / "wtforms.pot").open("rb") as handle:
        for message in read_po(handle):
            if message.id:
                catalog.add(message.id, None, [("wtforms", None)], flags=message.flags,
                            auto_comments=["WTForms' own message, shown under a form field."])
    return catalog


def template_text(catalog: Catalog) -> bytes:
    """The `.pot` file for `catalog`: locations by file only, so moving a line changes nothing."""
    out = io.BytesIO()
    write_po(out, catalog, width=100, omit_header=False, include_lineno=False, sort_output=False)
    return re.sub(rb'"POT-Creation-Date: [^"]*\\n"\n', b"", out.getvalue())


def keys(catalog: Catalog) -> set[tuple[object, str | None]]:
    """What identifies each message: its id (with the plural id) and its context."""
    return {(message.id, message.context) for message in catalog if message.id}


def read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def write(path: Path, catalog: Catalog, include_lineno: bool = False) -> None:
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, include_lineno=include_lineno, ignore_obsolete=False)


def languages() -> list[str]:
    return sorted(path.name for path in TRANSLATIONS.iterdir() if (path / "LC_MESSAGES" / "messages.po").exists())


def update() -> dict[str, int]:
    """Extract the template anew and merge it into every language; untranslated count per language."""
    template = extract()
    TEMPLATE.write_bytes(template_text(template))
    left = {}
    for code in languages():
        path = TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"
        catalog = read(path, code)
        catalog.update(read(TEMPLATE), update_header_comment=False, no_fuzzy_matching=True)
        if code in PLURAL_FORMS:
            # Babel's Catalog has no setter for its plural rule; these are the attributes read_po fills
            # from the header, and write_po writes the header from.
            catalog._num_plurals, catalog._plural_expr = _parse_plural_forms(PLURAL_FORMS[code])
        write(path, catalog)
        left[code] = len(problems(code))
    return left


def _parse_plural_forms(header: str) -> tuple[int, str]:
    number = int(re.search(r"nplurals=(\d+)", header).group(1))  # type: ignore[union-attr]
    expression = re.search(r"plural=(.*?);?$", header).group(1)  # type: ignore[union-attr]
    return number, expression


@dataclass
class Problems:
    untranslated: list[str] = field(default_factory=list)
    fuzzy: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    plural_forms: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.untranslated) + len(self.fuzzy) + len(self.placeholders) + len(self.plural_forms)


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def message_problems(message: Message, num_plurals: int) -> Problems:
    """What is wrong with one translated message: left out, fuzzy, placeholders not the English ones,
    or plural forms missing."""
    found = Problems()
    ids = message.id if isinstance(message.id, tuple) else (message.id,)
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    name = str(ids[0])[:80]
    if message.fuzzy:
        found.fuzzy.append(name)
    if isinstance(message.id, tuple) and len([s for s in strings if s]) != num_plurals:
        found.plural_forms.append(name)
    if not any(strings) or not all(strings):
        found.untranslated.append(name)
        return found
    for index, text in enumerate(strings):
        wanted = set(_placeholders(ids[-1] if index else ids[0])) | set(_placeholders(ids[-1]))
        got = set(_placeholders(text))
        # A form may leave the number out where the language says "one" without it ("одна"),
        # never put in a placeholder the English does not have.
        named = {p for p in wanted if p != "%(num)d"} if isinstance(message.id, tuple) else wanted
        if not got <= wanted or not named <= got:
            found.placeholders.append(f"{name} → {text[:80]}")
            break
    return found


def stale_template(root: Path = ROOT, template: Path = TEMPLATE) -> tuple[set[object], set[object]]:
    """What the template lacks that the code has, and what it holds that the code no longer has."""
    in_code, in_template = keys(extract(root)), keys(read(template))
    return in_code - in_template, in_template - in_code


def problems(code: str, translations: Path = TRANSLATIONS, template_path: Path = TEMPLATE) -> Problems:
    """Everything a translator still has to do in language `code`."""
    catalog = read(translations / code / "LC_MESSAGES" / "messages.po", code)
    template = keys(read(template_path))
    found = Problems()
    for message in catalog:
        if not message.id:
            continue
        if (message.id, message.context) not in template:
            continue
        one = message_problems(message, catalog.num_plurals)
        for name in ("untranslated", "fuzzy", "placeholders", "plural_forms"):
            getattr(found, name).extend(getattr(one, name))
    for key in template - keys(catalog):
        found.untranslated.append(str(key[0] if not isinstance(key[0], tuple) else key[0][0])[:80])
    return found


def cldr_plural_forms(code: str) -> str:
    """CLDR's rule for `code` in gettext's notation (Babel's), for the check against PLURAL_FORMS."""
    return to_gettext(Locale.parse(code).plural_form)
