"""Every page a field worker or a verifier meets is in their language: no English interface text.

Each page is rendered twice with the same data, in English and in one of the five field languages;
every piece of interface text in the second (text nodes, and the attributes people read or hear:
placeholder, title, aria-label, alt, the texts scripts show) that is also in the English rendering
is English left untranslated. In the languages not written in Latin letters, any Latin word at all
is. Only what stays as it is in every language passes: the data the test itself put in (names,
places, weapon designations, codes), names and codes of formats and standards, and what the page
marks as not for translation (`translate="no"`, `<bdi>`, `dir="auto"`, `<code>`, another `lang`).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from babel import Locale

from intake.enums import Role
from intake.extensions import db
from intake.incidents import link_together
from intake.models import Report, User
from tests.conftest import csrf_token, make_user, password_step, sign_in
from tests.test_field import form_fields, page_of
from tests.test_verify import triaged_report

LANGUAGES = ["ru", "uk", "hy", "az", "ar"]
LATIN_SCRIPT = {"az"}

# Names, codes and designations that every language writes as English does.
KEPT_AS_THEY_ARE = {
    "SHA-256", "UTC", "CSV", "GeoJSON", "HXL", "ACLED", "JSON", "API", "URL", "HTTPS", "QR", "TOTP", "MB", "KB",
    "GB", "JPEG", "PNG", "HEIC", "PDF", "MP4", "ODK", "Collect", "KoboCollect", "OpenRosa", "Intake", "OK",
    "English", "GPS", "ISO", "ID", "IDs", "e-mail", "SMS", "Wi-Fi", "WhatsApp", "Telegram", "Signal",
    "FreeOTP", "Aegis", "Google", "Authenticator", "JavaScript", "BagIt", "Natural", "Earth", "world-atlas",
    "Baykar",  # the end user of the example, in the transfer form's help
    "Sark",  # CQ: CLDR names it in English only, so every language shows that name
}
# Words that are the same in Azerbaijani as in English (a Latin script): the comparison with the English
# page would take them for English left untranslated.
SAME_WORDS = {"az": {"Model", "Status"}}
# What the test's own reports hold (tests/conftest.py complete_report, tests/test_field.py form_fields).
TEST_DATA = {
    "Khndzoresk", "Syunik", "Goris", "Bayraktar", "TB2", "MAM-L", "MX-15D", "L3Harris", "Wescam", "ROKETSAN",
    "LOT", "Anahit", "Aram", "Petrosyan", "Gor", "Hakobyan", "Kharkiv", "Oblast", "Izium", "Kapytolivka",
    "Olena", "Kovalenko", "t.me", "example", "village", "guided", "bomb", "Relief", "Monitors",
}
ALLOWED_WORDS = {word.casefold() for word in KEPT_AS_THEY_ARE | TEST_DATA}

SKIPPED_ELEMENTS = {"script", "style", "code", "bdi", "textarea", "time", "pre", "kbd", "samp"}
READ_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class InterfaceText(HTMLParser):
    """The interface text of a page, piece by piece, without what is not for translation."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.page_lang = ""
        self._stack: list[bool] = []  # per open element: is its content out of the interface text?

    def _skipped(self) -> bool:
        return any(self._stack)

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {name: value or "" for name, value in attrs_list}
        if tag == "html":
            self.page_lang = attrs.get("lang", "")
        out = (tag in SKIPPED_ELEMENTS or attrs.get("translate") == "no" or attrs.get("dir") == "auto"
               or ("lang" in attrs and tag != "html" and attrs["lang"] != self.page_lang))
        if not self._skipped() and not out:
            for name in READ_ATTRIBUTES:
                if attrs.get(name):
                    self.pieces.append(attrs[name])
            for name, value in attrs.items():
                # Texts that scripts show (data-sending="Sending… please wait"); keys have no space.
                if name.startswith("data-") and " " in value.strip():
                    self.pieces.append(value)
            if tag == "input" and attrs.get("type") in ("submit", "button", "reset") and attrs.get("value"):
                self.pieces.append(attrs["value"])
        if tag not in VOID:
            self._stack.append(out)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self._stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._skipped():
            self.pieces.append(data)


def interface_text(html: str) -> list[str]:
    parser = InterfaceText()
    parser.feed(html)
    pieces = (" ".join(piece.split()) for piece in parser.pieces)
    return [piece for piece in pieces if re.search(r"[^\W\d_]", piece)]


WORD = re.compile(r"[A-Za-z][A-Za-z0-9.'’-]*[A-Za-z0-9]|[A-Za-z]")


NOT_WORDS = re.compile(r"\{[a-z_]*\}|%\([a-z_]+\)[sd]|[\w.+-]+@[\w.-]+|\S*\d\S*")


def english_words(piece: str) -> list[str]:
    """The Latin words of `piece` that are not names or codes kept as they are (nor placeholders
    a script fills in, e-mail addresses or anything with a digit in it: cells, dates, sizes)."""
    return [word for word in WORD.findall(NOT_WORDS.sub(" ", piece)) if word.casefold() not in ALLOWED_WORDS
            and not re.fullmatch(r"[A-Z0-9-]{2,}", word)  # codes: receipt codes, ISO codes, designations
            and len(word) > 1]


def untranslated(english_html: str, translated_html: str, language: str) -> list[str]:
    """The pieces of interface text in `translated_html` that are still English."""
    english = set(interface_text(english_html))
    # Country names are CLDR's, in the reader's language: some are written as in English (Peru).
    same = SAME_WORDS.get(language, set()) | {str(name) for name in Locale.parse(language).territories.values()}
    found = []
    for piece in interface_text(translated_html):
        words = english_words(piece)
        if not words or piece in same:
            continue
        if piece in english or language not in LATIN_SCRIPT:
            found.append(piece)
    return sorted(set(found))


def test_the_comparison_finds_english_left_in_a_page() -> None:
    """The check itself: a page with one string left in English fails it, in every script, and names,
    codes and marked user text do not."""
    english = ('<html lang="en"><p>Send report</p><p>Killed</p><button title="Wipe the drafts">x</button>'
               '<p>MX-15D</p><bdi>Anahit Petrosyan wrote this</bdi></html>')
    arabic = ('<html lang="ar"><p>إرسال البلاغ</p><p>Killed</p><button title="Wipe the drafts">x</button>'
              '<p>MX-15D</p><bdi>Anahit Petrosyan wrote this</bdi></html>')
    assert untranslated(english, arabic, "ar") == ["Killed", "Wipe the drafts"]
    azerbaijani = arabic.replace('lang="ar"', 'lang="az"').replace("إرسال البلاغ", "Hesabatı göndər")
    assert untranslated(english, azerbaijani, "az") == ["Killed", "Wipe the drafts"]
    done = azerbaijani.replace("<p>Killed", "<p>Öldürülüb").replace("Wipe the drafts", "Qaralamaları sil")
    assert untranslated(english, done, "az") == []


def _in(client: Any, language: str) -> Any:
    client.set_cookie("lang", language)
    return client


def _pages(app: Any, org: Any, reporter: Any, verifier: Any, language: str) -> dict[str, str]:
    """Every page the issue names, rendered in `language`, keyed by what it is."""
    pages: dict[str, str] = {}

    def keep(name: str, response: Any, status: int = 200) -> str:
        assert response.status_code == status, (name, response.status_code)
        pages[name] = response.get_data(as_text=True)
        return pages[name]

    anonymous = _in(app.test_client(), language)
    keep("sign-in", anonymous.get("/sign-in"))
    keep("sign-in refused", anonymous.post("/sign-in", data={
        "email": "nobody@example.org", "password": "wrong", "csrf_token": csrf_token(pages["sign-in"])}), 401)
    keep("a page that does not exist", anonymous.get("/no-such-page"), 404)

    # The second factor: the code step, and setting it up for a new verifier.
    coded = _in(app.test_client(), language)
    assert password_step(coded, verifier.email).status_code == 302
    keep("second factor", coded.get("/sign-in/code"))
    keep("second factor refused", coded.post("/sign-in/code", data={
        "code": "000000", "csrf_token": csrf_token(pages["second factor"])}), 401)
    newcomer = make_user(org, Role.VERIFIER, f"new.{language}@example.org", enrolled=False)
    enrolling = _in(app.test_client(), language)
    assert password_step(enrolling, newcomer.email).status_code == 302
    keep("second factor set-up", enrolling.get("/sign-in/enrol"))

    field = _in(app.test_client(), language)
    assert sign_in(field, reporter.email).status_code == 302
    html, token, submission_id = page_of(field)
    pages["the form"] = html
    keep("the refused form", field.post("/reports/new", data=form_fields(
        token, submission_id, latitude="123", killed_men="many", occurred_on="2999-01-01",
        **{"victims-1-harm": ""})), 422)
    sent = field.post("/reports/new", data=form_fields(token, submission_id))
    assert sent.status_code == 302
    keep("the receipt", field.get(sent.headers["Location"]))
    keep("my reports", field.get("/my-reports"))
    keep("the account", field.get("/account"))
    keep("a page the reporter may not see", field.get("/queue/"), 404)

    first = triaged_report(app, reporter)
    second = triaged_report(app, reporter, locality="Khndzoresk village", occurred_on="2026-03-15")
    # An incident is titled in the language of the verifier who made it.
    with app.test_request_context(headers={"Accept-Language": language}):
        incident = link_together(db.session, db.session.get(User, verifier.id), db.session.get(Report, first.id),
                                 db.session.get(Report, second.id))
        db.session.commit()
        incident_id = incident.public_id
    db.session.remove()
    desk = _in(app.test_client(), language)
    assert sign_in(desk, verifier.email).status_code == 302
    keep("the queue", desk.get("/queue/"))
    keep("the queue's refused filters", desk.get("/queue/?occurred_from=2026-05-01&occurred_to=2026-04-01"), 400)
    keep("the incidents", desk.get("/incidents/"))
    keep("an incident", desk.get(f"/incidents/{incident_id}"))
    page = keep("a report in triage", desk.get(f"/queue/reports/{first.public_id}"))
    claimed = desk.post(f"/queue/reports/{first.public_id}/claim", data={"csrf_token": csrf_token(page)})
    assert claimed.status_code == 302
    keep("the review page", desk.get(f"/queue/reports/{first.public_id}"))
    keep("a refused CSRF token", desk.post(f"/queue/reports/{first.public_id}/release", data={}), 400)
    keep("the dashboard", desk.get("/dashboard/"))
    keep("the dashboard's list for a country", desk.get("/dashboard/country?country=CA"))
    keep("the transfer records", desk.get("/transfers/"))
    office = _in(app.test_client(), language)
    coordinator = make_user(org, Role.COORDINATOR, f"coordinator.{language}@example.org")
    assert sign_in(office, coordinator.email).status_code == 302
    keep("a new transfer record", office.get("/transfers/new"))
    keep("a refused transfer record", office.post("/transfers/new", data={
        "csrf_token": csrf_token(pages["a new transfer record"]), "designation": "MX-15D", "date": "2020-13"}), 422)
    keep("a new evidence pack", office.get("/packs/new?country=CA"))
    return pages


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_page_is_left_in_english(app: Any, org: Any, reporter: Any, verifier: Any, language: str) -> None:
    translated = _pages(app, org, reporter, verifier, language)
    english = _pages(app, org, reporter, verifier, "en")
    problems = {}
    for name, html in translated.items():
        assert f'<html lang="{language}"' in html, f"{name}: the page does not say its language"
        left = untranslated(english[name], html, language)
        if left:
            problems[name] = left
    assert not problems, "\n".join(f"{name}: {left}" for name, left in problems.items())
