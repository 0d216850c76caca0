"""Forms whose own messages (WTForms' "Not a valid integer value." and the like) are in the
interface's language too.

WTForms ships catalogues for some languages and not others (not Armenian, not Azerbaijani), so its
messages are in this project's catalogues as well (`catalogues.extract` takes them from WTForms'
template): a form looks a message up there first, then in WTForms' own catalogues.
"""

from __future__ import annotations

from typing import Any

from flask_babel import get_translations
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations as wtforms_translations
from wtforms import Form


class _Translations:
    """Ours, then WTForms' (whose catalogues cover what a newer WTForms may add before we do)."""

    def gettext(self, string: str) -> str:
        ours = get_translations().gettext(string)
        return ours if ours != string else wtforms_translations.gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        ours = get_translations().ngettext(singular, plural, n)
        return ours if ours not in (singular, plural) else wtforms_translations.ngettext(singular, plural, n)


TRANSLATIONS = _Translations()


class _TranslatedMeta:
    def get_translations(self, form: Any) -> _Translations:
        return TRANSLATIONS


class TranslatedForm(FlaskForm):
    """A form of the app (Flask-WTF's: CSRF), its messages translated as above."""

    class Meta(_TranslatedMeta):
        pass


class TranslatedPlainForm(Form):
    """A form without CSRF of its own (a row inside a form, the queue's GET filters), translated too."""

    class Meta(_TranslatedMeta):
        pass
