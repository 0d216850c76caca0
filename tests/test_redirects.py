"""`next` sends the browser only to paths of this site, read as a browser reads them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import pyotp
import pytest

from intake.enums import Role
from intake.web.redirects import same_site_path
from tests.conftest import PASSWORD, csrf_token, make_user
from tests.test_second_factor import shown_secret

OFF_SITE = [
    "/\\evil.example/phish", "\\\\evil.example", "/\\/evil.example", "//evil.example", "///evil.example",
    "https://evil.example/", "javascript:alert(1)", "evil.example", "/\t/evil.example", "/\n/evil.example",
    " //evil.example", "/%0d%0aX\r\nSet-Cookie: x=1", "/\r\nX", "/\x00", "\x01/queue/", "/queue/\x7f",
    "http:/evil.example", "https:\\\\evil.example", "",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_what_a_browser_would_take_off_site_is_refused(target: str) -> None:
    assert same_site_path(target) is None


@pytest.mark.parametrize(("target", "path"), [
    ("/queue/", "/queue/"), ("/queue/reports/abc?tab=2#x", "/queue/reports/abc?tab=2#x"),
    ("/my-reports", "/my-reports"), ("/a\\b", "/a/b"), ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
])
def test_same_site_paths_are_kept(target: str, path: str) -> None:
    assert same_site_path(target) == path


def _browser_resolves_on_site(location: str) -> bool:
    resolved = urljoin("http://localhost/sign-in", location.replace("\\", "/"))
    return urlsplit(resolved).netloc == "localhost"


def test_the_link_after_enrolment_stays_on_the_site(app: Any, client: Any, org: Any) -> None:
    verifier = make_user(org, Role.VERIFIER, enrolled=False)
    page = client.get("/sign-in")
    client.post("/sign-in?next=/%5Cevil.example/phish", data={
        "email": verifier.email, "password": PASSWORD, "csrf_token": csrf_token(page.get_data(as_text=True))})
    html = client.get("/sign-in/enrol").get_data(as_text=True)
    done = client.post("/sign-in/enrol", data={"code": pyotp.TOTP(shown_secret(html)).now(),
                                               "csrf_token": csrf_token(html)})
    assert done.status_code == 200
    links = re.findall(r'href="([^"]+)"', done.get_data(as_text=True))
    assert links and all(_browser_resolves_on_site(href.replace("&#92;", "\\")) for href in links), links
    assert "evil.example" not in done.get_data(as_text=True)


@pytest.mark.parametrize("query", ["next=/%5Cevil.example/phish", "next=//evil.example", "next=/%0d%0aX",
                                   "next=/%09/evil.example", "next=https://evil.example"])
def test_a_reporter_is_never_sent_off_site_and_never_gets_a_500(client: Any, reporter: Any, query: str) -> None:
    page = client.get("/sign-in")
    response = client.post(f"/sign-in?{query}", data={
        "email": reporter.email, "password": PASSWORD, "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert _browser_resolves_on_site(response.headers["Location"])
    assert response.headers["Location"].endswith("/my-reports")


def test_a_same_site_next_is_followed(client: Any, reporter: Any) -> None:
    page = client.get("/sign-in")
    response = client.post("/sign-in?next=/reports/new", data={
        "email": reporter.email, "password": PASSWORD, "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302 and response.headers["Location"].endswith("/reports/new")


def test_a_privileged_sign_in_with_a_crlf_next_does_not_500(client: Any, verifier: Any) -> None:
    from tests.conftest import enter_code, totp_code

    page = client.get("/sign-in")
    response = client.post("/sign-in?next=/%0d%0aX", data={
        "email": verifier.email, "password": PASSWORD, "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302
    done = enter_code(client, totp_code(verifier.email))
    assert done.status_code == 302 and done.headers["Location"].endswith("/queue/")
