"""The catalogues are complete and current: a string added to the code, left untranslated in one
language, left fuzzy, translated with other placeholders or without all its plural forms fails here."""

from __future__ import annotations

import gettext
import shutil
from pathlib import Path

import pytest
from babel import Locale

from intake.i18n import catalogues
from intake.i18n.compile import compile_catalogue, sources, stale

LANGUAGES = ["ru", "uk", "hy", "az", "ar"]


def test_the_template_holds_exactly_the_strings_of_the_code() -> None:
    missing, gone = catalogues.stale_template()
    assert not missing, f"run `intake translations update`: the template lacks {sorted(map(str, missing))[:20]}"
    assert not gone, f"run `intake translations update`: the template still has {sorted(map(str, gone))[:20]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_in(language: str) -> None:
    found = catalogues.problems(language)
    assert not found, (f"{language}: {found.untranslated[:10]} untranslated, {found.fuzzy[:10]} fuzzy, "
                       f"{found.placeholders[:10]} with other placeholders, {found.plural_forms[:10]} without "
                       "all plural forms (`intake translations check`)")


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_forms_follow_cldr_for(language: str) -> None:
    """The catalogue's rule is gettext's usual one for the language, and it gives two counts the same
    form exactly when CLDR puts them in the same category (Russian 1, 21 / 2, 3, 24 / 5, 11, 12 …)."""
    catalog = catalogues.read(catalogues.TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", language)
    assert catalog.plural_forms == catalogues.PLURAL_FORMS[language]
    form = gettext.c2py(catalog.plural_expr)
    category = Locale.parse(language).plural_form
    by_form: dict[int, set[str]] = {}
    by_category: dict[str, set[int]] = {}
    for n in range(0, 1200):
        by_form.setdefault(form(n), set()).add(category(n))
        by_category.setdefault(category(n), set()).add(form(n))
    assert all(len(categories) == 1 for categories in by_form.values()), by_form
    assert all(len(forms) == 1 for forms in by_category.values()), by_category
    assert len(by_form) == catalog.num_plurals, "every plural form is used by some count"


def test_every_catalogue_is_compiled_and_current() -> None:
    """The install compiled every language (buildtools/catalogues.py), and none is older than its source."""
    found = {path.parent.parent.name for path in sources(catalogues.TRANSLATIONS)}
    assert found == set(LANGUAGES)
    for source in sources(catalogues.TRANSLATIONS):
        assert not stale(source), f"{source.parent.parent.name}: messages.mo is missing or older than messages.po"


# The test of the test: each fault a translator or a developer can leave is caught.

@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "translations"
    shutil.copytree(catalogues.TRANSLATIONS, target, ignore=shutil.ignore_patterns("*.mo"))
    return target


def _edit(copy: Path, language: str, kind: str, change) -> list[str]:  # type: ignore[no-untyped-def]
    """The faults of `kind` that `change` added to the copy of `language`'s catalogue."""
    path = copy / language / "LC_MESSAGES" / "messages.po"
    before = getattr(catalogues.problems(language, copy, copy / "messages.pot"), kind)
    catalog = catalogues.read(path, language)
    change(catalog)
    catalogues.write(path, catalog)
    after = getattr(catalogues.problems(language, copy, copy / "messages.pot"), kind)
    return [name for name in after if name not in before]


def _first(catalog, plural: bool = False):  # type: ignore[no-untyped-def]
    """The first translated, not fuzzy message with a placeholder (a plural one if `plural`)."""
    return next(m for m in catalog if m.id and isinstance(m.id, tuple) == plural and "%(" in str(m.id)
                and not m.fuzzy and all(m.string if plural else [m.string]))


def test_one_missing_translation_fails_the_check(copy: Path) -> None:
    def forget(catalog):  # type: ignore[no-untyped-def]
        _first(catalog).string = ""

    assert len(_edit(copy, "ru", "untranslated", forget)) == 1


def test_a_fuzzy_translation_fails_the_check(copy: Path) -> None:
    def doubt(catalog):  # type: ignore[no-untyped-def]
        _first(catalog).flags.add("fuzzy")

    assert len(_edit(copy, "uk", "fuzzy", doubt)) == 1


def test_other_placeholders_fail_the_check(copy: Path) -> None:
    def garble(catalog):  # type: ignore[no-untyped-def]
        message = _first(catalog)
        message.string = message.string.replace("%(", "%(x")

    assert len(_edit(copy, "hy", "placeholders", garble)) == 1


def test_a_missing_plural_form_fails_the_check(copy: Path) -> None:
    def drop(catalog):  # type: ignore[no-untyped-def]
        message = _first(catalog, plural=True)
        message.string = (*message.string[:-1], "")

    assert len(_edit(copy, "ar", "plural_forms", drop)) == 1


def test_a_new_string_in_the_code_fails_the_template_check(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    shutil.copytree(catalogues.ROOT / "intake", root / "intake", ignore=shutil.ignore_patterns("*.mo", "__pycache__"))
    shutil.copytree(catalogues.ROOT / "templates", root / "templates")
    assert catalogues.stale_template(root) == (set(), set())
    (root / "intake" / "new_page.py").write_text(
        'from flask_babel import gettext as _\n\nTITLE = _("A page nobody translated")\n')
    missing, gone = catalogues.stale_template(root)
    assert missing == {("A page nobody translated", None)} and not gone


def test_a_compiled_catalogue_translates(tmp_path: Path, copy: Path) -> None:
    """What the build does, on a copy: the compiled file answers in the language."""
    target = compile_catalogue(copy / "ru" / "LC_MESSAGES" / "messages.po")
    with target.open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    assert translations.gettext("Send report") not in ("", "Send report")
    assert translations.ngettext("%(num)d report", "%(num)d reports", 5) != "%(num)d reports"
