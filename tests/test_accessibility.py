"""What screen readers are told, through real HTTP: no attribute says "None", a field is marked
invalid only when it has an error, and every aria-describedby names elements on the page.

Every page a person works in is fetched as its user sees it (the form empty and refused, the
receipt, My reports, sign-in, the queue, a review page with its forms refused, an incident, the
admin pages), and the HTML is read with the standard library's parser, not with regular expressions.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from intake.enums import Role
from intake.extensions import db
from intake.incidents import link_together
from intake.models import Report, User
from tests.conftest import csrf_token, make_user, sign_in
from tests.test_field import form_fields, page_of
from tests.test_verify import triaged_report


class Attributes(HTMLParser):
    """Every element's attributes, in order, and the ids on the page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.elements.append((tag, found))
        if found.get("id"):
            self.ids.add(str(found["id"]))


def problems(html: str) -> list[str]:
    """What the page tells assistive technology wrongly."""
    parsed = Attributes()
    parsed.feed(html)
    wrong = []
    for tag, attrs in parsed.elements:
        where = f"<{tag} id={attrs.get('id')!r} name={attrs.get('name')!r}>"
        for name, value in attrs.items():
            if value == "None":
                wrong.append(f'{where} has {name}="None"')
        if "aria-invalid" in attrs and attrs["aria-invalid"] != "true":
            wrong.append(f'{where} has aria-invalid="{attrs["aria-invalid"]}"')
        for ref in (attrs.get("aria-describedby") or "").split():
            if ref not in parsed.ids:
                wrong.append(f"{where} is described by #{ref}, which is not on the page")
    return wrong


def fetched(browser: Any, url: str, status: int = 200) -> str:
    response = browser.get(url)
    assert response.status_code == status, (url, response.status_code)
    return str(response.get_data(as_text=True))


def assert_clean(html: str, what: str) -> None:
    assert problems(html) == [], what


def test_the_check_itself_finds_what_it_is_for() -> None:
    """A check that cannot fail is no check: it catches each kind of mistake."""
    assert problems('<input id="a" aria-invalid="None">') == [
        "<input id='a' name=None> has aria-invalid=\"None\"", "<input id='a' name=None> has aria-invalid=\"None\""]
    assert problems('<input id="a" aria-describedby="gone">') == [
        "<input id='a' name=None> is described by #gone, which is not on the page"]
    assert problems('<input id="a" aria-describedby="h"><small id="h"></small>') == []


def test_reporter_pages_and_the_refused_form(reporter_client: Any) -> None:
    html, token, submission_id = page_of(reporter_client)
    assert_clean(html, "the empty form")
    assert 'aria-invalid' not in html, "nothing is invalid on an empty form"

    # Refused: a latitude out of range, a count that is no number, a victim row without its harm.
    refused = reporter_client.post("/reports/new", data=form_fields(
        token, submission_id, latitude="123", killed_men="many", **{"victims-1-harm": ""}))
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert_clean(html, "the refused form")
    parsed = Attributes()
    parsed.feed(html)
    invalid = {attrs.get("id") for _tag, attrs in parsed.elements if attrs.get("aria-invalid") == "true"}
    assert invalid == {"latitude", "killed_men", "victims-1-harm"}
    described = {attrs["id"]: attrs.get("aria-describedby") for _tag, attrs in parsed.elements if attrs.get("id")}
    assert described["latitude"] == "latitude-error"
    assert described["killed_men"] == "killed_men-error"
    assert described["platform_model"] == "platform_model-help", "help text is named, with no error"

    sent = reporter_client.post("/reports/new", data=form_fields(token, submission_id))
    assert sent.status_code == 302
    assert_clean(fetched(reporter_client, sent.headers["Location"]), "the receipt")
    assert_clean(fetched(reporter_client, "/my-reports"), "My reports")
    assert_clean(fetched(reporter_client, "/account"), "the account page")
    assert_clean(fetched(reporter_client, "/account/password"), "the password page")


def test_sign_in_pages(client: Any, org: Any) -> None:
    assert_clean(fetched(client, "/sign-in"), "sign-in")
    refused = client.post("/sign-in", data={"email": "", "password": "",
                                            "csrf_token": csrf_token(fetched(client, "/sign-in"))})
    assert_clean(refused.get_data(as_text=True), "sign-in refused")
    verifier = make_user(org, Role.VERIFIER, "a11y.verifier@example.org")
    from tests.conftest import password_step

    assert password_step(client, verifier.email).status_code == 302
    assert_clean(fetched(client, "/sign-in/code"), "the second-factor page")


def test_verifier_and_admin_pages(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    first = triaged_report(app, reporter)
    second = triaged_report(app, reporter, locality="Khndzoresk village", occurred_on="2026-03-15")
    with app.test_request_context():
        incident = link_together(db.session, db.session.get(User, verifier.id), db.session.get(Report, first.id),
                                 db.session.get(Report, second.id))
        db.session.commit()
        incident_id = incident.public_id
    db.session.remove()
    browser = app.test_client()
    assert sign_in(browser, verifier.email).status_code == 302
    assert_clean(fetched(browser, "/queue/"), "the queue")
    assert_clean(fetched(browser, "/queue/?occurred_from=2026-05-01&occurred_to=2026-04-01", 400), "refused filters")
    assert_clean(fetched(browser, "/incidents/"), "the incidents")
    assert_clean(fetched(browser, f"/incidents/{incident_id}"), "an incident")

    page = fetched(browser, f"/queue/reports/{first.public_id}")
    assert_clean(page, "a report in triage")
    token = csrf_token(page)
    assert browser.post(f"/queue/reports/{first.public_id}/claim", data={"csrf_token": token}).status_code == 302
    assert_clean(fetched(browser, f"/queue/reports/{first.public_id}"), "the review page of a claimed report")
    refused = browser.post(f"/queue/reports/{first.public_id}/assessment",
                           data={"assess-csrf_token": token, "action": "grade", "assess-independent_sources": "x"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert_clean(html, "the review page with a refused grade")
    assert 'aria-describedby="assess-grade-help assess-grade-error"' in html
    refused = browser.post(f"/queue/reports/{first.public_id}/reveal",
                           data={"reveal-csrf_token": token, "reveal-what": "identities", "reveal-reason": "x"})
    assert_clean(refused.get_data(as_text=True), "the review page with a refused reveal")
    assert_clean(fetched(browser, f"/incidents/{incident_id}"), "an incident")

    coordinator = make_user(org, Role.COORDINATOR, "a11y.coordinator@example.org")
    other = app.test_client()
    assert sign_in(other, coordinator.email).status_code == 302
    assert_clean(fetched(other, "/queue/held"), "held by the workers")
    admin = make_user(org, Role.ADMIN, "a11y.admin@example.org")
    other = app.test_client()
    assert sign_in(other, admin.email).status_code == 302
    assert_clean(fetched(other, "/admin/audit"), "the audit log")
    assert_clean(fetched(other, "/admin/users"), "the users")
