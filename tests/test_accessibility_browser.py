"""axe-core, Deque's rules engine, run in Debian's Chromium on the pages people work in: the report
form (empty and refused with errors), the verifiers' queue, a report's review page and an incident.

axe is vendored from npm under tests/vendor (test-only: the app never serves it) and injected into
each page after it loaded. The app's CSP allows no inline script, so the test's browser context
bypasses CSP for the injection only; the pages themselves are unchanged. A critical or serious
violation fails the test with its rule, its help text and the elements concerned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intake.extensions import db
from intake.incidents import link_together
from intake.models import Report, User
from intake.review import claim_report
from tests.conftest import PASSWORD, totp_code
from tests.test_browser import PHONE, TIMEOUT_MS, LiveServer, browser, expect, live_server, tap  # noqa: F401 (fixtures)
from tests.test_verify import triaged_report

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
BLOCKING = ("critical", "serious")
# What the pages claim to meet: WCAG 2.1 A and AA, and axe's best practices (landmarks, one h1,
# headings in order).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


@pytest.fixture
def context(browser: Any, live_server: LiveServer) -> Any:  # noqa: F811
    ctx = browser.new_context(base_url=live_server.url, bypass_csp=True, **PHONE)
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def sign_in(page: Any, user: User) -> None:
    page.goto("/sign-in")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if page.url.endswith("/sign-in/code"):
        page.get_by_label("Code").fill(totp_code(user.email))
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def violations(page: Any) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (every impact)."""
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return list(result["violations"])


def summary(found: list[dict[str, Any]]) -> dict[str, int]:
    """Nodes per impact."""
    counts: dict[str, int] = {}
    for v in found:
        counts[v["impact"]] = counts.get(v["impact"], 0) + len(v["nodes"])
    return counts


def assert_no_blocking(page: Any, name: str) -> None:
    found = violations(page)
    print(f"\naxe {name}: {json.dumps(summary(found), sort_keys=True)}")  # the figures the report quotes
    blocking = [v for v in found if v["impact"] in BLOCKING]
    details = [f'{v["impact"]} {v["id"]} ({v["help"]}): ' + "; ".join(
        " ".join(n["target"]) if isinstance(n["target"][0], str) else str(n["target"]) for n in v["nodes"][:5])
        + (f' … {len(v["nodes"])} nodes' if len(v["nodes"]) > 5 else "") for v in blocking]
    assert not blocking, f"axe on {name}: " + "\n".join(details)


def test_report_form_has_no_serious_accessibility_violation(context: Any, reporter: Any) -> None:
    page = context.new_page()
    sign_in(page, reporter)
    page.goto("/reports/new")
    expect(page.get_by_role("heading", name="New report", level=1)).to_be_visible()
    assert_no_blocking(page, "the empty form")

    # Refused: the errors, the summary and every field marked invalid.
    page.get_by_label("Latitude").fill("123")
    tap(page, page.get_by_role("button", name="Send report"))
    expect(page.get_by_role("alert").filter(has_text="The report was not sent yet.")).to_be_visible()
    expect(page.locator("#latitude")).to_have_attribute("aria-invalid", "true")
    assert_no_blocking(page, "the form with errors")

    # Complete, but with more people listed than counted: the question, and the live notice.
    for element_id, value in {"occurred_on": "2026-03-14", "incident_type": "shelling", "country": "AM",
                              "narrative": "Shells hit the courtyard.", "victims-0-harm": "killed",
                              "source_type": "eyewitness", "consent": "share_anonymized",
                              "risk_to_source": "medium", "latitude": ""}.items():
        control = page.locator(f"#{element_id}")
        if control.evaluate("el => el.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    expect(page.locator("#casualty-check")).to_be_visible()
    tap(page, page.get_by_role("button", name="Send report"))
    expect(page.locator("#casualty-warning")).to_contain_text("Killed: 1 listed one by one, 0 in the table.")
    assert_no_blocking(page, "the form asking about the casualty figures")
    tap(page, page.get_by_role("button", name="Send the report as it is"))
    expect(page.get_by_role("heading", name="Report received")).to_be_visible()
    assert_no_blocking(page, "the receipt")
    page.goto("/my-reports")
    assert_no_blocking(page, "My reports")


def test_verifier_pages_have_no_serious_accessibility_violation(app: Any, context: Any, reporter: Any,
                                                                 verifier: Any) -> None:
    near = {"latitude": 39.5057, "longitude": 46.4362}
    first = triaged_report(app, reporter, **near)
    second = triaged_report(app, reporter, latitude=39.5090, longitude=46.4380, occurred_on="2026-03-15",
                            locality="Khndzoresk village")
    third = triaged_report(app, reporter, locality="Goris")
    with app.test_request_context():
        me = db.session.get(User, verifier.id)
        incident = link_together(db.session, me, db.session.get(Report, first.id), db.session.get(Report, second.id))
        claim_report(db.session, db.session.get(Report, third.id), me)
        db.session.commit()
        incident_id = incident.public_id
    db.session.remove()

    page = context.new_page()
    sign_in(page, verifier)
    page.goto("/queue")
    expect(page.get_by_role("heading", name="Queue", level=1)).to_be_visible()
    page.locator("details.filters-panel > summary").click()
    assert_no_blocking(page, "the queue")

    # The review page of a claimed report: the checklist, the grade and every action open.
    page.goto(f"/queue/reports/{third.public_id}")
    expect(page.get_by_role("heading", name="Decision")).to_be_visible()
    for summary_ in page.locator("details > summary").all():
        summary_.click()
    assert_no_blocking(page, "the review page")

    page.goto(f"/incidents/{incident_id}")
    expect(page.get_by_role("heading", name="Casualty figures")).to_be_visible()
    assert_no_blocking(page, "the incident page")
