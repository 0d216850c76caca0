"""Choosing the interface's language: the selector on every page (no JavaScript needed), the device's
cookie, the account, `?lang=` for links, and the browser's Accept-Language when nothing was chosen."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from intake.extensions import db
from intake.models import User
from tests.conftest import csrf_token, sign_in


def lang_of(response: Any) -> tuple[str, str]:
    html = response.get_data(as_text=True)
    match = re.search(r'<html lang="([^"]+)" dir="([^"]+)">', html)
    assert match, "every page says its language and direction"
    return match.group(1), match.group(2)


def choose(client: Any, language: str, back: str = "/sign-in") -> Any:
    page = client.get(back).get_data(as_text=True)
    return client.post("/language", data={"lang": language, "next": back, "csrf_token": csrf_token(page)})


def test_the_browser_language_is_used_when_nothing_was_chosen(client: Any) -> None:
    assert lang_of(client.get("/sign-in")) == ("en", "ltr")
    assert lang_of(client.get("/sign-in", headers={"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"})) == ("uk", "ltr")
    assert lang_of(client.get("/sign-in", headers={"Accept-Language": "ar-SY"})) == ("ar", "rtl")
    assert lang_of(client.get("/sign-in", headers={"Accept-Language": "fr, de"})) == ("en", "ltr")


def test_every_page_offers_each_language_in_its_own_name_without_javascript(client: Any) -> None:
    html = client.get("/sign-in", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    selector = re.search(r'<form method="post" action="/language" class="language">(.*?)</form>', html, re.S)
    assert selector, "a plain form, posted by its own button"
    options = dict(re.findall(r'<option value="([a-z]+)" lang="[a-z]+" dir="[a-z]+"[^>]*>([^<]+)</option>',
                              selector.group(1)))
    assert options == {"en": "English", "ru": "Русский", "uk": "Українська", "hy": "Հայերեն",
                       "az": "Azərbaycan", "ar": "العربية"}
    assert 'type="submit"' in selector.group(1)
    assert re.search(r'<option value="ru"[^>]* selected>', selector.group(1)), "the page's language is selected"
    assert lang_of(client.get("/no-such-page", headers={"Accept-Language": "hy"})) == ("hy", "ltr"), \
        "error pages too"


def test_the_choice_is_kept_on_the_device_over_the_browser_language(client: Any) -> None:
    answer = choose(client, "ar", back="/sign-in?next=%2Fmy-reports")
    assert answer.status_code == 303 and answer.headers["Location"] == "/sign-in?next=%2Fmy-reports"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("lang=ar;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert lang_of(client.get("/sign-in", headers={"Accept-Language": "ru"})) == ("ar", "rtl")
    assert lang_of(client.get("/sign-in")) == ("ar", "rtl")


def test_a_link_with_lang_opens_in_that_language_and_stays_in_it(client: Any) -> None:
    first = client.get("/sign-in?lang=hy")
    assert lang_of(first) == ("hy", "ltr") and first.headers["Set-Cookie"].startswith("lang=hy;")
    assert lang_of(client.get("/sign-in")) == ("hy", "ltr")
    # The selector's way back leaves out ?lang=, which would undo the new choice.
    html = client.get("/sign-in?lang=hy&next=%2Fqueue%2F").get_data(as_text=True)
    assert 'name="next" value="/sign-in?next=%2Fqueue%2F"' in html
    assert lang_of(client.get("/sign-in?lang=xx")) == ("hy", "ltr"), "an unknown language changes nothing"


def test_the_selector_refuses_what_it_must(client: Any) -> None:
    page = client.get("/sign-in").get_data(as_text=True)
    assert client.post("/language", data={"lang": "ru", "next": "/sign-in"}).status_code == 400, "CSRF"
    away = client.post("/language", data={"lang": "ru", "next": "https://evil.example/",
                                          "csrf_token": csrf_token(page)})
    assert away.status_code == 303 and away.headers["Location"] == "/"
    unknown = client.post("/language", data={"lang": "xx", "next": "/sign-in", "csrf_token": csrf_token(page)})
    assert unknown.status_code == 303 and "lang=" not in unknown.headers.get("Set-Cookie", "")


def test_a_signed_in_choice_follows_the_account_to_another_device(app: Any, reporter: Any) -> None:
    phone = app.test_client()
    assert sign_in(phone, reporter.email).status_code == 302
    assert choose(phone, "uk", back="/my-reports").status_code == 303
    assert lang_of(phone.get("/my-reports")) == ("uk", "ltr")
    db.session.expire_all()
    assert db.session.scalar(select(User.language).where(User.id == reporter.id)) == "uk"

    laptop = app.test_client()
    assert lang_of(laptop.get("/sign-in", headers={"Accept-Language": "en"})) == ("en", "ltr")
    signed = sign_in(laptop, reporter.email)
    assert "lang=uk" in signed.headers.get("Set-Cookie", "")
    assert lang_of(laptop.get("/my-reports", headers={"Accept-Language": "en"})) == ("uk", "ltr")


def test_pages_are_translated(client: Any) -> None:
    """The compiled catalogues are what the pages are written from."""
    english = client.get("/sign-in?lang=en").get_data(as_text=True)
    russian = client.get("/sign-in?lang=ru").get_data(as_text=True)
    assert "Sign in" in english and "Sign in" not in russian
