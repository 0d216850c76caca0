"""The browser is locked down (security.md, invariant 7): security headers on every page, cookie flags,
and script typed into any field shown as text wherever it appears."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from intake import create_app
from intake.enums import Role
from intake.extensions import db
from intake.models import Report
from intake.pipeline import process_report, start_job
from tests.conftest import make_user, sign_in
from tests.test_field import form_fields, page_of

PAYLOAD = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_every_page_sends_the_security_headers(client: Any, reporter: Any) -> None:
    """CSP without inline script, no framing, no referrer, no sniffing, no caching of pages."""
    sign_in(client, reporter.email)
    for url in ("/sign-in", "/reports/new", "/my-reports", "/healthz", "/api/v1/openapi.json", "/nowhere"):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp, url
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cache-Control"] == "no-store", url


def test_the_api_sends_the_same_headers_and_never_a_cookie(client: Any, reporter: Any) -> None:
    """A report submitted through the API is answered with the pages' security headers; the API has
    no session: a signed-in browser's cookie neither authenticates an API call nor is rewritten by one."""
    from tests.conftest import complete_report, make_token

    token = make_token(reporter)
    created = client.post("/api/v1/reports", json=complete_report(),
                          headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-headers-1"})
    assert created.status_code == 201
    headers = created.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in headers and "Strict-Transport-Security" not in headers  # plain http here

    sign_in(client, reporter.email)
    assert client.get("/my-reports").status_code == 200
    answer = client.get(f"/api/v1/reports/{created.get_json()['id']}")
    assert answer.status_code == 401  # the session cookie is no credential for the API
    assert "Set-Cookie" not in answer.headers
    assert client.get("/my-reports").status_code == 200  # and the browser is still signed in


def test_https_answers_carry_hsts(client: Any, reporter: Any) -> None:
    """Over https (directly or behind a proxy that says so) every answer asks the browser to stay on https."""
    for response in (client.get("/sign-in", base_url="https://localhost"),
                     client.get("/api/v1/openapi.json", headers={"X-Forwarded-Proto": "https"})):
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in client.get("/sign-in").headers


def test_pages_carry_no_inline_script_or_style(client: Any, reporter: Any) -> None:
    """Nothing on the pages needs 'unsafe-inline': no <script> body, no on… handlers, no style attributes."""
    sign_in(client, reporter.email)
    for url in ("/sign-in", "/reports/new", "/my-reports"):
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        assert " style=" not in html and "<style" not in html, url


def test_session_cookie_is_httponly_strict_and_secure_outside_local_development(
    app_config: dict[str, Any], reporter: Any
) -> None:
    """With the production default (Secure on), the session cookie is Secure, HttpOnly and SameSite=Strict."""
    app = create_app({**app_config, "SESSION_COOKIE_SECURE": True, "REMEMBER_COOKIE_SECURE": True})
    client = app.test_client()
    page = client.get("/sign-in", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    # Over https Flask-WTF also wants a same-site Referer; without it the sign-in is a 400.
    response = client.post("/sign-in", data={"email": reporter.email, "password": "correct horse battery staple",
                                             "csrf_token": token}, base_url="https://localhost",
                           headers={"Referer": "https://localhost/sign-in"})
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    session = next(c for c in cookies if c.startswith("session="))
    assert "Secure" in session and "HttpOnly" in session and "SameSite=Strict" in session


def test_every_post_form_carries_a_csrf_token(client: Any, reporter: Any) -> None:
    """Every form that changes something carries a CSRF token."""
    sign_in(client, reporter.email)
    for url in ("/sign-in", "/reports/new", "/my-reports"):
        html = client.get(url).get_data(as_text=True)
        for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", html, re.S):
            assert 'name="csrf_token"' in form, url


@pytest.fixture
def scripted_report(app: Any, org: Any, reporter: Any) -> tuple[Any, Report]:
    """A report filed through the form with a script payload in every free-text field."""
    browser = app.test_client()
    sign_in(browser, reporter.email)
    _, token, submission_id = page_of(browser)
    texts = {name: PAYLOAD for name in (
        "admin1", "admin2", "locality", "narrative", "platform_model", "munition_type", "munition_model",
        "markings", "victims-0-name", "victims-1-name", "components-0-model", "components-0-manufacturer",
        "witnesses-0-name", "witnesses-0-relation", "attachments-0-description")}
    response = browser.post("/reports/new", data=form_fields(token, submission_id, **texts))
    assert response.status_code == 302
    report = db.session.scalar(select(Report))
    assert report is not None and report.locality == PAYLOAD
    with app.app_context():
        start_job(db.session, report.id, 8, 300)
        process_report(db.session, app.config, report.id)
        db.session.commit()
    return browser, report


def test_script_in_any_field_is_shown_as_text_to_the_reporter(scripted_report: tuple[Any, Report]) -> None:
    """The receipt and My reports show typed markup as text."""
    browser, report = scripted_report
    for url in (f"/reports/{report.public_id}/receipt", "/my-reports"):
        html = browser.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in html and "<img src=x" not in html
    html = browser.get("/my-reports").get_data(as_text=True)
    assert ESCAPED in html


def test_script_in_any_field_is_shown_as_text_to_the_verifier(app: Any, org: Any,
                                                               scripted_report: tuple[Any, Report]) -> None:
    """The queue and the report page show typed markup as text."""
    _, report = scripted_report
    verifier = app.test_client()
    sign_in(verifier, make_user(org, Role.VERIFIER).email)
    for url in ("/queue/", f"/queue/reports/{report.public_id}"):
        html = verifier.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in html and "<img src=x" not in html, url
        assert ESCAPED in html, url


def test_script_in_any_field_is_kept_as_text_when_the_form_comes_back(reporter_client: Any) -> None:
    """A form re-shown with an error holds the payloads as escaped values, never as markup."""
    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, latitude="123", locality=PAYLOAD, narrative=PAYLOAD,
                       **{"victims-0-name": PAYLOAD, "witnesses-0-name": PAYLOAD})
    html = reporter_client.post("/reports/new", data=data).get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
