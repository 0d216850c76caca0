"""Which language a request is answered in.

In order: `?lang=` on the URL (a link someone shared, and it then stays on this device), the language
chosen on this device (a cookie, set by the selector on every page, or at sign-in from the account),
then the browser's `Accept-Language`, then English. A signed-in user's choice is also kept on their
account, so that the next device they sign in on starts in it (`remember_for_device` at sign-in).
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.wrappers import Response

COOKIE = "lang"
# A choice of language is kept a year on the device; it says nothing about anyone but the language.
COOKIE_MAX_AGE = 365 * 24 * 3600


def supported() -> list[str]:
    """The languages this instance serves (`LANGUAGES`), in its order."""
    return list(current_app.config["LANGUAGES"])


def valid(code: str | None) -> str | None:
    """`code` when it is one of the served languages (compared without case), else None."""
    if not code or len(code) > 16:
        return None
    wanted = code.strip().replace("-", "_").lower()
    return next((served for served in supported() if served.lower() == wanted), None)


def select_locale() -> str:
    """The language of this request (Flask-Babel's locale selector); outside a request (a worker, the
    command line) the default language."""
    if not has_request_context():
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    from_link = valid(request.args.get("lang"))
    if from_link:
        remember_for_device(from_link)
        return from_link
    chosen = valid(request.cookies.get(COOKIE))
    if chosen:
        return chosen
    return request.accept_languages.best_match(supported()) or current_app.config["BABEL_DEFAULT_LOCALE"]


def remember_for_device(code: str | None) -> None:
    """Keep `code` as this device's language with the response (nothing when it is not served)."""
    code = valid(code)
    if code and request.cookies.get(COOKIE) != code:
        g.language_to_remember = code


def this_page_in_any_language() -> str:
    """Where the selector returns to: this page, without a `?lang=` that would undo the new choice
    (after a POST, the page's address alone: its form cannot be sent again by a redirect)."""
    if request.method != "GET":
        return request.path
    query = [(key, value) for key, values in request.args.lists() if key != "lang" for value in values]
    return request.path + ("?" + urlencode(query) if query else "")


def _set_cookie(response: Response) -> Response:
    code = g.pop("language_to_remember", None)
    if code:
        response.set_cookie(COOKIE, code, max_age=COOKIE_MAX_AGE, secure=current_app.config["SESSION_COOKIE_SECURE"],
                            httponly=True, samesite="Lax")
    return response


def init_app(app: Flask) -> None:
    """Write the device's language cookie on the responses that chose one."""
    app.after_request(_set_cookie)
