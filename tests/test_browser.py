"""The report form in a real browser, at phone size: Debian's Chromium driven through Playwright.

The app runs on a werkzeug server in a background thread of this process, on the same database
as the test (its requests use their own thread-local sessions). Nothing here sleeps for a fixed
time: Playwright waits for elements, navigations and expectations.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from intake.enums import Harm, HarmGroup
from intake.extensions import db
from intake.models import Attachment, Report
from tests.conftest import PASSWORD, ROOT, jpeg_bytes, service_missing

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the test extra is not installed
    expect = sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "en-GB"}
ARTIFACTS = ROOT / "test-artifacts"
RECEIPT_CODE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$")
RECEIPT_URL = re.compile(r"/reports/[^/]+/receipt$")
TIMEOUT_MS = 15_000


# ---- fixtures ---------------------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) as they arrived

    def posts(self, path: str) -> int:
        return sum(1 for method, p in self.requests if method == "POST" and p == path)


@pytest.fixture
def live_server(app: Any) -> Iterator[LiveServer]:
    """The test app on 127.0.0.1 at a free port, served from a background thread."""
    live = LiveServer(url="")

    def recorded(environ: dict[str, Any], start_response: Any) -> Any:
        live.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, recorded, threaded=True)
    live.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield live
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if sync_playwright is None:
        service_missing("Playwright not installed: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        service_missing("Chromium not installed: apt-get install chromium")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def javascript() -> bool:
    return True


@pytest.fixture
def page(browser: Any, live_server: LiveServer, javascript: bool) -> Iterator[Any]:
    """A fresh phone-sized browser context (no cookies), pointed at the live server."""
    context = browser.new_context(base_url=live_server.url, java_script_enabled=javascript, **PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "crater.jpg"
    path.write_bytes(jpeg_bytes((640, 480)))
    return path


# ---- helpers ----------------------------------------------------------------------------------


def sign_in_and_open_form(page: Any, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    new_report = page.get_by_role("navigation", name="Main").get_by_role("link", name="New report")
    expect(new_report).to_be_visible()
    new_report.click()
    expect(page.get_by_role("heading", name="New report", level=1)).to_be_visible()


def event_date() -> str:
    return (dt.date.today() - dt.timedelta(days=3)).isoformat()


def report_values(**overrides: str) -> dict[str, str]:
    """What the tests type, by element id (selects by option value)."""
    values = {
        "occurred_on": event_date(),
        "occurred_time": "06:40",
        "incident_type": "drone_strike",
        "country": "AM",
        "admin1": "Syunik",
        "locality": "Khndzoresk",
        "latitude": "39.5057",
        "longitude": "46.4362",
        "narrative": "At dawn a drone struck the bakery queue on the main street.",
        "killed_men": "1",
        "killed_women": "2",
        "injured_boys": "3",
        "victims-0-name": "Anahit Petrosyan",
        "victims-0-age": "34",
        "victims-0-sex": "female",
        "victims-0-harm": "killed",
        "victims-1-name": "Aram Petrosyan",
        "victims-1-age_band": "5-11",
        "victims-1-sex": "male",
        "victims-1-harm": "injured",
        "delivery_platform": "drone",
        "platform_model": "Bayraktar TB2",
        "munition_type": "guided bomb",
        "remnants_found": "yes",
        "markings": "LOT 0419",
        "source_type": "eyewitness",
        "consent": "share_anonymized",
        "risk_to_source": "medium",
    }
    values.update(overrides)
    return values


def fill_field(page: Any, element_id: str, value: str) -> None:
    control = page.locator(f"#{element_id}")
    if control.evaluate("el => el.tagName") == "SELECT":
        control.select_option(value)
    else:
        control.fill(value)


def add_second_victim(page: Any, javascript: bool = True) -> None:
    """"Add another person": the script adds a row on the page; without it the server does."""
    victims = page.locator('.rows[data-list="victims"] > fieldset.row')
    expect(victims).to_have_count(1)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.method))
    tap(page, page.get_by_role("button", name="Add another person"))
    expect(victims).to_have_count(2)
    if javascript:
        assert requests == [], "with JavaScript, adding a row must not cost a round trip"
        expect(page.locator("#victims-1-name")).to_be_focused()
    else:
        expect(page.get_by_role("heading", name="New report", level=1)).to_be_visible()
    expect(victims.nth(1).get_by_label("Name")).to_be_visible()


def fill_report(page: Any, values: dict[str, str], photo: Path | None, javascript: bool = True) -> None:
    """Fill the form the way a person would, section by section."""
    page.get_by_label("Date", exact=True).fill(values["occurred_on"])
    page.get_by_label("Local time (if known)").fill(values["occurred_time"])
    page.get_by_label("What happened").select_option(values["incident_type"])
    page.get_by_label("Country", exact=True).select_option(values["country"])
    page.get_by_label("Region / province").fill(values["admin1"])
    page.get_by_label("Town, village or neighbourhood").fill(values["locality"])
    page.get_by_label("Latitude").fill(values["latitude"])
    page.get_by_label("Longitude").fill(values["longitude"])
    page.get_by_label("Account of the event").fill(values["narrative"])
    page.get_by_label("Killed — Men").fill(values["killed_men"])
    page.get_by_label("Killed — Women").fill(values["killed_women"])
    page.get_by_label("Injured — Boys").fill(values["injured_boys"])
    add_second_victim(page, javascript)
    for element_id, value in values.items():
        if element_id.startswith("victims-"):
            fill_field(page, element_id, value)
    page.get_by_label("Delivery platform").select_option(values["delivery_platform"])
    page.get_by_label("Platform model").fill(values["platform_model"])
    page.get_by_label("Munition type").fill(values["munition_type"])
    page.get_by_label("Were remnants found?").select_option(values["remnants_found"])
    page.get_by_label("Markings read off remnants").fill(values["markings"])
    page.get_by_label("Source of this account").select_option(values["source_type"])
    page.get_by_label("Consent given by the source").select_option(values["consent"])
    page.get_by_label("Risk to the source if identified").select_option(values["risk_to_source"])
    if photo is not None:
        page.get_by_label("Photo, video, audio or PDF").set_input_files(str(photo))


def assert_values_kept(page: Any, values: dict[str, str]) -> None:
    for element_id, value in values.items():
        expect(page.locator(f"#{element_id}"), f"#{element_id} lost what was typed").to_have_value(value)


def tap(page: Any, target: Any, count: int = 1) -> None:
    """Press `target` where the person sees it: `count` quick presses at its centre.

    Playwright's own click aims at layout-viewport coordinates. On a mobile page whose layout
    viewport is larger than the screen (content wider than the phone) and whose visual viewport
    has moved (the browser scrolled a focused field into view), that point is off by
    `visualViewport.offsetTop` and lands on whatever is above the button. Here the visual
    viewport's offset is taken off, so the press lands where a finger would.
    """
    expect(target).to_be_visible()
    expect(target).to_be_enabled()
    target.scroll_into_view_if_needed()
    x, y = target.evaluate(
        """el => { const r = el.getBoundingClientRect(), v = window.visualViewport;
                   return [r.left + r.width / 2 - v.offsetLeft, r.top + r.height / 2 - v.offsetTop]; }"""
    )
    page.mouse.click(x, y, click_count=count, delay=10)


def send_button(page: Any) -> Any:
    return page.get_by_role("button", name="Send report")


def read_receipt(page: Any) -> str:
    expect(page).to_have_url(RECEIPT_URL)
    expect(page.get_by_role("heading", name="Report received")).to_be_visible()
    code = page.locator(".receipt-code").inner_text().strip()
    assert RECEIPT_CODE.match(code), code
    return code


def send_and_read_receipt(page: Any) -> str:
    tap(page, send_button(page))
    return read_receipt(page)


def fresh_session() -> Any:
    """The test thread's session, emptied: the live server committed from its own threads."""
    db.session.remove()
    return db.session


def reports_with(code: str) -> list[Report]:
    """Reports with this receipt code, read afresh (counts that follow use the same snapshot)."""
    session = fresh_session()
    return list(session.scalars(select(Report).where(Report.receipt_code == code)))


def report_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Report)) or 0


def attachment_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Attachment)) or 0


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def wider_than_screen(page: Any) -> list[str]:
    """The outermost elements that stick out past the right edge of the page's viewport.

    Measured in a context without mobile emulation, where the layout viewport is exactly the
    screen's width and does not grow to fit the content. What scrolls inside its own box (the
    sections bar) does not count.
    """
    return page.evaluate(
        """() => {
             const edge = document.documentElement.clientWidth, found = [];
             const out = el => el.getBoundingClientRect().width > 0 && el.getBoundingClientRect().right > edge + 0.5;
             const clipped = el => {  // inside a box that scrolls or clips sideways itself
               for (let up = el.parentElement; up && up !== document.body; up = up.parentElement)
                 if (getComputedStyle(up).overflowX !== 'visible') return true;
               return false;
             };
             for (const el of document.body.querySelectorAll('*')) {
               if (!out(el) || el.closest('template') || out(el.parentElement) || clipped(el)) continue;
               const classes = typeof el.className === 'string' && el.className.trim()
                 ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
               const text = el.textContent.trim().slice(0, 30);
               found.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${classes} "${text}"`
                          + ` (right edge ${Math.round(el.getBoundingClientRect().right)} > ${edge})`);
             }
             return found;
           }"""
    )


# ---- tests ------------------------------------------------------------------------------------


def test_complete_report_from_a_phone(page: Any, reporter: Any, photo: Path) -> None:
    sign_in_and_open_form(page, reporter.email)
    screenshot(page, "new-report-empty-phone.png")
    values = report_values()
    fill_report(page, values, photo)
    screenshot(page, "new-report-filled-phone.png")

    code = send_and_read_receipt(page)
    expect(page.locator("dl.facts")).to_contain_text("People listed")
    # The report went first; its photo follows over tus (static/outbox.js).
    expect(page.locator("#device-uploads .device-summary")).to_have_text("All files are on the server.")
    screenshot(page, "receipt-phone.png")

    [report] = reports_with(code)
    assert report.reporter_id == reporter.id
    assert report.channel.value == "web"
    assert report.occurred_on.isoformat() == values["occurred_on"]
    assert report.occurred_time == dt.time(6, 40)
    assert (report.incident_type.value, report.country, report.admin1, report.locality) == (
        "drone_strike", "AM", "Syunik", "Khndzoresk")
    assert (report.latitude, report.longitude) == (pytest.approx(39.5057), pytest.approx(46.4362))
    assert report.narrative == values["narrative"]
    counts = {(h.value, g.value): report.count(h, g) for h in Harm for g in HarmGroup if report.count(h, g)}
    assert counts == {("killed", "men"): 1, ("killed", "women"): 2, ("injured", "boys"): 3}
    first, second = report.victims
    assert (first.name, first.age, first.sex.value, first.harm.value) == ("Anahit Petrosyan", 34, "female", "killed")
    assert (second.name, second.age, second.age_band, second.sex.value, second.harm.value) == (
        "Aram Petrosyan", None, "5-11", "male", "injured")
    assert (report.delivery_platform.value, report.platform_model, report.munition_type,
            report.remnants_found.value, report.markings) == (
        "drone", "Bayraktar TB2", "guided bomb", "yes", "LOT 0419")
    assert (report.source_type.value, report.consent.value, report.risk_to_source.value) == (
        "eyewitness", "share_anonymized", "medium")
    [attachment] = report.attachments
    assert (attachment.media_type, attachment.original_filename, attachment.stash_key) == (
        "image/jpeg", "crater.jpg", None)
    assert report_count() == 1


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_refused_field_keeps_everything_typed_and_the_photo(page: Any, reporter: Any, photo: Path,
                                                            javascript: bool) -> None:
    """Without JavaScript the photo went with the form and is kept on the server; with it, the
    report went alone and the photo is still chosen, in its row, to follow the report over tus."""
    sign_in_and_open_form(page, reporter.email)
    values = report_values(latitude="123")
    fill_report(page, values, photo, javascript=javascript)
    tap(page, send_button(page))

    expect(page.get_by_role("alert").filter(has_text="The report was not sent yet.")).to_be_visible()
    latitude = page.locator(".field", has=page.locator("#latitude"))
    expect(latitude).to_have_class(re.compile(r"\bhas-error\b"))
    expect(latitude.locator(".errors")).to_contain_text("90")
    expect(page.locator("#latitude")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field.has-error, td.has-error")).to_have_count(1)  # only the field that is wrong
    assert_values_kept(page, values)
    expect(page.locator('.rows[data-list="victims"] > fieldset.row')).to_have_count(2)
    if javascript:
        expect(page.locator(".attachment .kept")).to_have_count(0)
        chosen = page.locator("#attachments-0-file")
        assert chosen.evaluate("input => input.files.length && input.files[0].name") == "crater.jpg"
    else:
        kept = page.locator(".attachment .kept")
        expect(kept).to_have_count(1)
        expect(kept).to_contain_text("crater.jpg")
        expect(kept).to_contain_text("is safely on the server")
        expect(page.locator("#attachments-0-file")).to_have_count(0)  # nothing to choose again
        screenshot(page, "new-report-error-phone.png")
    fresh_session()
    assert report_count() == 0

    page.get_by_label("Latitude").fill("39.5057")
    code = send_and_read_receipt(page)
    expect(page.locator("dl.facts")).to_contain_text("Files")
    if javascript:
        expect(page.locator("#device-uploads .device-summary")).to_have_text("All files are on the server.")

    [report] = reports_with(code)
    assert report.latitude == pytest.approx(39.5057)
    assert len(report.victims) == 2
    assert [a.media_type for a in report.attachments] == ["image/jpeg"]
    # The file kept from the first try is the one on the report; no copy was left behind.
    assert attachment_count() == 1


@pytest.mark.parametrize("how", ["double-tap", "enter-twice"])
def test_pressing_send_twice_files_one_report(page: Any, live_server: LiveServer, reporter: Any,
                                             how: str) -> None:
    sign_in_and_open_form(page, reporter.email)
    fill_report(page, report_values(), photo=None)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    send = send_button(page)
    if how == "double-tap":
        tap(page, send, count=2)
    else:
        send.focus()
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")
    code = read_receipt(page)
    assert len(posts) == 1, posts  # the script let the second press go nowhere
    assert live_server.posts("/reports/new") == 1
    [report] = reports_with(code)
    assert len(report.victims) == 2
    assert report_count() == 1


@pytest.mark.parametrize("javascript", [False], ids=["without-javascript"])
def test_double_tap_without_javascript_still_files_one_report(page: Any, live_server: LiveServer, reporter: Any,
                                                              photo: Path) -> None:
    """No script to disable the button: both presses reach the server, which keeps one report."""
    sign_in_and_open_form(page, reporter.email)
    fill_report(page, report_values(), photo, javascript=False)
    before = live_server.posts("/reports/new")  # the server added the second victim row
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    tap(page, send_button(page), count=2)
    code = read_receipt(page)
    assert len(posts) == 2, posts
    assert live_server.posts("/reports/new") - before == 2, live_server.requests
    [report] = reports_with(code)
    assert len(report.victims) == 2
    assert report_count() == 1
    assert [a.media_type for a in report.attachments] == ["image/jpeg"]
    assert attachment_count() == 1


# ---- the page on small screens and phone keyboards ------------------------------------------------


@pytest.mark.parametrize("width", [320, 360, 390])
def test_form_fits_a_phone_screen(browser: Any, live_server: LiveServer, reporter: Any, width: int) -> None:
    context = browser.new_context(base_url=live_server.url,
                                  **{**PHONE, "is_mobile": False, "viewport": {"width": width, "height": 800}})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in_and_open_form(page, reporter.email)
        assert wider_than_screen(page) == [], f"wider than a {width}px phone"
    finally:
        context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_enter_in_a_text_field_keeps_the_rows(page: Any, reporter: Any) -> None:
    """The phone keyboard's Go/Enter key, pressed in a field, must not throw away a person."""
    sign_in_and_open_form(page, reporter.email)
    page.locator("#victims-0-name").fill("Anahit Petrosyan")
    town = page.get_by_label("Town, village or neighbourhood")
    town.fill("Khndzoresk")
    town.press("Enter")
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="New report", level=1)).to_be_visible()
    expect(town).to_have_value("Khndzoresk")
    expect(page.locator("#victims-0-name")).to_have_value("Anahit Petrosyan")


# ---- the second factor in a real browser ----------------------------------------------------------


def test_verifier_sets_up_the_second_factor_in_the_browser(page: Any, org: Any) -> None:
    """The QR code shows under the CSP (an image of this site, no inline script), the key can be
    typed into an app instead, and the recovery codes come before the queue."""
    import pyotp

    from intake.enums import Role
    from tests.conftest import make_user

    verifier = make_user(org, Role.VERIFIER, "phone.verifier@example.org", enrolled=False)
    page.goto("/sign-in")
    page.get_by_label("E-mail").fill(verifier.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=qr.element_handle())
    screenshot(page, "second-factor-enrolment-phone.png")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator("ul.recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="I have stored them — continue").click()
    expect(page.get_by_role("heading", name="Queue", level=1)).to_be_visible()


@pytest.mark.parametrize("javascript", [False])
def test_reporter_answers_a_question_from_a_phone(page: Any, app: Any, reporter: Any, verifier: Any,
                                                  photo: Path) -> None:
    """A verifier's question shows under "My reports"; the reporter answers it with text and a photo
    on a phone without JavaScript, and the report goes back to triage."""
    from intake.enums import ReportState
    from intake.review import ask_reporter, claim_report
    from tests.test_verify import triaged_report

    question = "Can you photograph the markings on the other side of the fin?"
    report = triaged_report(app, reporter)
    with app.app_context():
        row = db.session.get(Report, report.id)
        claim_report(db.session, row, db.session.merge(verifier))
        ask_reporter(db.session, row, db.session.merge(verifier), question)
        db.session.commit()
    db.session.remove()

    page.goto("/sign-in")
    page.get_by_label("E-mail").fill(reporter.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My reports").click()
    expect(page.get_by_text(question)).to_be_visible()
    page.get_by_role("link", name="Answer", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(report.receipt_code)
    page.get_by_label("Your answer").fill("Here is the other side: the lot number reads 0419.")
    page.get_by_label("More photos").set_input_files(str(photo))
    screenshot(page, "answer-question-phone.png")
    page.get_by_role("button", name="Send the answer").click()
    expect(page.get_by_text("your answer was sent")).to_be_visible()
    expect(page.get_by_text(question)).to_have_count(0)
    found = fresh_session().get(Report, report.id)
    assert found is not None and found.state == ReportState.TRIAGE and len(found.attachments) == 1
    assert found.info_requests[-1].answer.startswith("Here is the other side")


def test_a_catalogue_designation_suggests_its_maker_and_country_without_overwriting(page: Any,
                                                                                    reporter: Any) -> None:
    """Choosing "Bayraktar TB2" from the suggestions fills Baykar and Türkiye; a sensor whose maker the
    reporter already wrote keeps it and only gets its country."""
    sign_in_and_open_form(page, reporter.email)
    page.locator("#platform_model").fill("Bayraktar TB2")
    page.locator("#platform_model").blur()
    expect(page.locator("#platform_manufacturer")).to_have_value("Baykar")
    expect(page.locator("#platform_country")).to_have_value("Türkiye")
    page.locator("#components-0-manufacturer").fill("Wescam (as the plate says)")
    page.locator("#components-0-model").fill("MX-15D")
    page.locator("#components-0-model").blur()
    expect(page.locator("#components-0-country_of_manufacture")).to_have_value("Canada")
    expect(page.locator("#components-0-manufacturer")).to_have_value("Wescam (as the plate says)")
