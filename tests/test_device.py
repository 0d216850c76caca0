"""The form on a phone with a bad link: the report first, its files over tus, the outbox on the
device (intake.device, static/outbox.js, static/device-store.js, static/sw.js).

The browser tests drive Debian's Chromium at phone size through Playwright against the live
server of tests/test_browser.py, with the link shaped by Chromium's own network emulation (CDP
`Network.emulateNetworkConditions`). Nothing sleeps a fixed time: they wait for what the page
says or for what the server stored.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.device import device_key
from intake.models import ResumableUpload
from tests import test_browser
from tests.conftest import PASSWORD, sign_in
from tests.test_browser import (
    PHONE,
    TIMEOUT_MS,
    LiveServer,
    attachment_count,
    expect,
    fill_report,
    fresh_session,
    read_receipt,
    report_count,
    report_values,
    reports_with,
    screenshot,
    send_button,
    tap,
)

# The live server, Chromium and the small photo of the form's browser tests.
live_server = test_browser.live_server
browser = test_browser.browser
photo = test_browser.photo

KBIT = 1000 / 8  # bytes per second in one kbit/s
# The 2G link of design/field.md.
TWO_G = {"upload": 50 * KBIT, "download": 250 * KBIT, "latency": 300}
CHUNK = 512 * 1024  # outbox.js's PATCH size


# ---- the key endpoint, through HTTP ---------------------------------------------------------------


def test_device_key_is_the_users_own_and_stable(app: Any, reporter_client: Any, reporter: Any) -> None:
    answer = reporter_client.get("/device/key")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    [current] = body["keys"]
    expected = device_key(app.config["SECRET_KEY"], reporter.public_id)
    assert base64.b64decode(current["key"]) == expected.key and current["id"] == expected.key_id
    assert body["csrf_token"]
    assert reporter_client.get("/device/key").get_json()["keys"] == body["keys"]  # the same on every page
    # Another user's key is another key.
    assert device_key(app.config["SECRET_KEY"], "someone-else").key != expected.key


def test_device_key_needs_a_signed_in_reporter(client: Any) -> None:
    answer = client.get("/device/key")
    assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]


def test_device_key_follows_a_rotated_secret(app: Any, reporter_client: Any, reporter: Any) -> None:
    """Drafts sealed under the previous secret stay readable while it is a fallback."""
    old = app.config["SECRET_KEY"]
    app.config["SECRET_KEY_FALLBACKS"] = [old]
    app.config["SECRET_KEY"] = "n" * 64
    try:
        sign_in(reporter_client, reporter.email)
        keys = reporter_client.get("/device/key").get_json()["keys"]
    finally:
        app.config["SECRET_KEY"], app.config["SECRET_KEY_FALLBACKS"] = old, []
    assert [k["id"] for k in keys] == [device_key("n" * 64, reporter.public_id).key_id,
                                       device_key(old, reporter.public_id).key_id]


def test_service_worker_is_served_from_the_root(client: Any) -> None:
    answer = client.get("/device-sw.js")
    assert answer.status_code == 200
    assert answer.mimetype == "text/javascript"
    text = answer.get_data(as_text=True)
    assert "importScripts(" in text and "/device/key" in text
    assert re.search(r'"/static/sw\.[0-9a-f]{12}\.js"', text), "the worker's script under its hashed name"
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]


# ---- in the browser (marked `browser`; they run in CI, where .ci/run installs Chromium) ---------------


def shape_link(cdp: Any, link: dict[str, float] | None, offline: bool = False) -> None:
    """Chromium's network emulation for the page: a rate and latency, or no link at all."""
    link = link or TWO_G
    cdp.send("Network.emulateNetworkConditions", {
        "offline": offline, "latency": link["latency"],
        "uploadThroughput": link["upload"], "downloadThroughput": link["download"]})


@pytest.fixture
def phone(browser: Any, live_server: LiveServer) -> Iterator[tuple[Any, Any, Any]]:
    """A phone-sized context, its first tab, and a CDP session on that tab for shaping the link."""
    context = browser.new_context(base_url=live_server.url, **PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(60_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    cdp = context.new_cdp_session(tab)
    cdp.send("Network.enable")
    try:
        yield context, tab, cdp
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def sign_in_on(tab: Any, email: str) -> None:
    tab.goto("/sign-in")
    tab.get_by_label("E-mail").fill(email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("navigation", name="Main")).to_be_visible()


def open_form(tab: Any) -> None:
    tab.get_by_role("navigation", name="Main").get_by_role("link", name="New report").click()
    expect(tab.get_by_role("heading", name="New report", level=1)).to_be_visible()
    # The script has its key and keeps drafts: the panel about this phone shows.
    expect(tab.locator("#device-panel")).to_be_visible()


def noise_jpeg(path: Path, at_least: int) -> bytes:
    """A real JPEG of random noise (it does not compress) of at least `at_least` bytes."""
    from PIL import Image

    width = 1000
    while True:
        height = width * 3 // 4
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        if out.tell() >= at_least:
            path.write_bytes(out.getvalue())
            return out.getvalue()
        width += 200


def upload_offset() -> int:
    session = fresh_session()
    return session.scalar(select(ResumableUpload.upload_offset).order_by(ResumableUpload.id.desc()).limit(1)) or 0


def wait_until(tab: Any, condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        tab.wait_for_timeout(200)


def device_entries(tab: Any) -> int:
    """How many entries the phone keeps (drafts, outbox, files to send)."""
    tab.wait_for_function("() => window.IntakeDevice")
    return int(tab.evaluate("() => window.IntakeDevice.allEntries().then(e => e.length)"))


@pytest.mark.browser
@pytest.mark.timeout(1200)  # about 9 minutes of it are the photo's 3 MB at 50 kbit/s
def test_report_with_a_3mb_photo_over_a_2g_link(phone: Any, live_server: LiveServer, reporter: Any,
                                                tmp_path: Path) -> None:
    """The report at 50 kbit/s up, 250 kbit/s down, 300 ms latency is acknowledged within seconds;
    then its 3 MB photo goes in 512 KiB PATCHes, the link is cut in the middle and restored, and the
    stored original's SHA-256 is the file's.

    Every step runs at the 2G rates above, the whole photo included (about 8 minutes for 3 MB);
    the cut (Chromium offline) and the resume (HEAD, then PATCH from the server's offset) are real.
    """
    context, tab, cdp = phone
    original = noise_jpeg(tmp_path / "crater.jpg", 3_000_000)
    shape_link(cdp, TWO_G)
    sign_in_on(tab, reporter.email)
    open_form(tab)
    fill_report(tab, report_values(), tmp_path / "crater.jpg")

    started = time.monotonic()
    tap(tab, send_button(tab))
    code = read_receipt(tab)
    acknowledged = time.monotonic() - started
    assert acknowledged < 20, f"the report took {acknowledged:.1f} s at 50 kbit/s"
    [report] = reports_with(code)
    assert report.attachments == []  # the report did not wait for its photo
    # The report's POST carried no file: the photo goes over tus.
    assert live_server.posts("/reports/new") == 1

    box = tab.locator("#device-uploads")
    expect(box).to_be_visible()
    expect(box.locator("li")).to_contain_text("crater.jpg")
    wait_until(tab, lambda: upload_offset() >= CHUNK, 240, "the first piece of the photo")
    assert upload_offset() < len(original)
    patches_before_cut = sum(1 for m, p in live_server.requests if m == "PATCH")

    shape_link(cdp, TWO_G, offline=True)  # the link is cut mid-photo
    expect(box.locator("li")).to_contain_text("waiting for the link", timeout=30_000)
    screenshot(tab, "receipt-upload-waiting-phone.png")
    stalled = upload_offset()
    assert stalled < len(original)
    heads_before = sum(1 for m, p in live_server.requests if m == "HEAD")

    shape_link(cdp, TWO_G)  # and restored
    expect(box.locator(".device-summary")).to_have_text("All files are on the server.", timeout=900_000)
    expect(box.locator("li")).to_contain_text("crater.jpg: on the server")

    patches = sum(1 for m, p in live_server.requests if m == "PATCH")
    assert patches_before_cut >= 1 and patches >= 4, live_server.requests
    # After the cut the client asked the server where the upload stood, and went on from there.
    assert sum(1 for m, p in live_server.requests if m == "HEAD") > heads_before
    [report] = reports_with(code)
    [attachment] = report.attachments
    assert attachment.sha256 == hashlib.sha256(original).hexdigest()
    assert attachment.size == len(original)
    assert attachment.original_filename == "crater.jpg"
    # Acknowledged, with all its files: nothing of the report is left on the phone.
    assert device_entries(tab) == 0


@pytest.mark.browser
def test_report_cut_at_send_waits_on_the_phone_and_goes_once(phone: Any, live_server: LiveServer, reporter: Any,
                                                             photo: Path) -> None:
    """At 50 kbit/s up, 250 down, 300 ms: the link is cut when Send is pressed. The report and its
    photo wait on the phone (shown in *My reports*, open in another tab), and go once the link is
    back: one POST, one report, one file."""
    context, tab, cdp = phone
    shape_link(cdp, TWO_G)
    sign_in_on(tab, reporter.email)
    reports_tab = context.new_page()
    reports_tab.goto("/my-reports")
    expect(reports_tab.get_by_role("heading", name="My reports")).to_be_visible()
    open_form(tab)
    fill_report(tab, report_values(), photo)

    context.set_offline(True)  # the page and the service worker alike
    shape_link(cdp, TWO_G, offline=True)
    tap(tab, send_button(tab))
    expect(tab.locator("#device-status")).to_contain_text("No connection. The report is kept on this phone")
    waiting = reports_tab.locator("#device-waiting")
    expect(waiting).to_be_visible()
    expect(waiting.locator("li")).to_have_count(1)
    expect(waiting.locator("li")).to_contain_text("Waiting on this phone: not sent yet")
    expect(waiting.locator("li")).to_contain_text("Khndzoresk")
    screenshot(reports_tab, "my-reports-waiting-phone.png")
    fresh_session()
    assert report_count() == 0 and live_server.posts("/reports/new") == 0

    context.set_offline(False)
    shape_link(cdp, TWO_G)
    code = read_receipt(tab)  # the page went on to the receipt by itself
    # The photo follows over tus, from whichever tab took it up first (one at a time: Web Locks).
    wait_until(tab, lambda: attachment_count() == 1, 60, "the photo on the server")
    expect(waiting).to_be_hidden()
    assert live_server.posts("/reports/new") == 1, live_server.requests
    [report] = reports_with(code)
    assert len(report.victims) == 2 and report.locality == "Khndzoresk"
    assert [a.original_filename for a in report.attachments] == ["crater.jpg"]
    assert report_count() == 1 and attachment_count() == 1
    wait_until(tab, lambda: device_entries(tab) == 0, 10, "the phone's copy wiped")


@pytest.mark.browser
def test_draft_comes_back_encrypted_and_the_phone_can_be_wiped(phone: Any, reporter: Any, photo: Path) -> None:
    context, tab, cdp = phone
    sign_in_on(tab, reporter.email)
    open_form(tab)
    fill_report(tab, report_values(), photo)
    expect(tab.locator("#device-status")).to_contain_text("Draft kept on this phone, encrypted")
    wait_until(tab, lambda: tab.evaluate("() => IntakeDevice.allEntries().then(e => e.length && e[0].files.length)"),
               10, "the photo kept with the draft")
    submission_id = tab.locator('input[name="submission_id"]').input_value()
    # What IndexedDB holds names nothing typed: the form and the photo are ciphertext.
    stored = tab.evaluate("""() => window.IntakeDevice.allEntries().then(entries => entries.map(e => {
        const bytes = new Uint8Array(e.form.data); let text = '';
        for (const b of bytes) text += String.fromCharCode(b);
        return {state: e.state, text: text, files: e.files.length};
    }))""")
    [entry] = stored
    assert entry["state"] == "draft" and entry["files"] == 1
    assert "Khndzoresk" not in entry["text"] and "Petrosyan" not in entry["text"]

    tab.goto("/my-reports")
    expect(tab.locator("#device-waiting li")).to_contain_text("A draft, not sent")
    open_form(tab)
    expect(tab.locator("#device-status")).to_contain_text("is back")
    expect(tab.locator("#locality")).to_have_value("Khndzoresk")
    expect(tab.locator("#victims-1-name")).to_have_value("Aram Petrosyan")
    expect(tab.locator('input[name="submission_id"]')).to_have_value(submission_id)
    assert tab.evaluate("() => document.querySelector('#attachments-0-file').files[0].name") == "crater.jpg"

    tab.get_by_role("button", name="Wipe everything this form keeps on this phone").click()
    tab.get_by_role("button", name=re.compile("Yes: wipe")).click()
    expect(tab.locator("#device-status")).to_contain_text("Everything this form kept on this phone is wiped.")
    expect(tab.locator("#locality")).to_have_value("")
    assert device_entries(tab) == 0
    assert tab.evaluate("() => navigator.serviceWorker.getRegistrations().then(r => r.length)") == 0


@pytest.mark.browser
def test_the_service_worker_sends_the_outbox_with_no_page_of_the_form_open(phone: Any, live_server: LiveServer,
                                                                          reporter: Any) -> None:
    """What Background Sync runs when the link is back: the worker alone sends the report (its sync
    and message handlers call the same function; the browser decides when a sync fires, so the test
    asks the worker directly)."""
    context, tab, cdp = phone
    sign_in_on(tab, reporter.email)
    open_form(tab)
    fill_report(tab, report_values(), None)
    # Registered at the first input (not at the first load: it fetches the outbox's scripts).
    tab.wait_for_function("() => navigator.serviceWorker.getRegistrations().then(r => r.length)")
    context.set_offline(True)
    tap(tab, send_button(tab))
    expect(tab.locator("#device-status")).to_contain_text("No connection. The report is kept on this phone")
    # Away from every page that runs the outbox (a JSON answer has no script), then the link is back.
    tab.goto("about:blank")
    fresh_session()
    assert report_count() == 0
    # Back online, Chromium may fire the sync itself before the test asks: either way the worker sends.
    context.set_offline(False)
    tab.goto("/healthz")
    tab.evaluate("() => navigator.serviceWorker.ready.then(r => r.active.postMessage('send-outbox'))")
    wait_until(tab, lambda: report_count() == 1, 30, "the report sent by the service worker")
    assert live_server.posts("/reports/new") == 1
    [report] = fresh_session().scalars(select(test_browser.Report)).all()
    assert report.locality == "Khndzoresk" and len(report.victims) == 2


@pytest.mark.browser
def test_the_first_keystroke_is_kept_though_the_drafts_script_comes_with_it(phone: Any, reporter: Any) -> None:
    """The form's first load carries only outbox.js; the rest comes at the first input, and that
    input is in the draft."""
    context, tab, cdp = phone
    sign_in_on(tab, reporter.email)
    open_form(tab)
    assert not tab.evaluate("() => !!window.IntakeDevice"), "the drafts' scripts are not in the first load"
    tab.locator("#locality").press_sequentially("K")
    expect(tab.locator("#device-status")).to_contain_text("Draft kept on this phone, encrypted")
    tab.reload()
    expect(tab.locator("#device-status")).to_contain_text("is back")
    expect(tab.locator("#locality")).to_have_value("K")


@pytest.mark.browser
def test_send_before_the_drafts_script_could_come_loads_it_and_sends_once(phone: Any, live_server: LiveServer,
                                                                         reporter: Any) -> None:
    """Every input while the rest of the script cannot be fetched tries again; Send fetches it and
    sends through it (the report first, one POST)."""
    context, tab, cdp = phone
    sign_in_on(tab, reporter.email)
    open_form(tab)
    core = "**/static/outbox-core.*"
    tried: list[str] = []
    tab.route(core, lambda route: (tried.append(route.request.url), route.abort()))
    for typed, tries in (("K", 1), ("h", 2)):
        tab.locator("#locality").press_sequentially(typed)
        wait_until(tab, lambda: len(tried) >= tries, 10, "a try at every input")  # noqa: B023
        # The page has seen the fetch fail (it removes the script it added) before the next input: on a
        # busy machine the next key could otherwise come while the first try is still under way.
        wait_until(tab, lambda: tab.evaluate(  # noqa: B023
            "() => !document.querySelector('script[src*=\"outbox-core\"]')"), 10, "the failed fetch seen")
    # The rest of the form set without input events: Send is what has to fetch the script.
    tab.evaluate("""values => {
        document.querySelector('button.add-row[data-list="victims"]').click();
        for (const [id, value] of Object.entries(values)) { document.getElementById(id).value = value; }
    }""", report_values())
    assert not tab.evaluate("() => !!window.IntakeOutbox.done")
    tab.unroute(core)
    tap(tab, send_button(tab))
    code = read_receipt(tab)
    assert live_server.posts("/reports/new") == 1
    [report] = reports_with(code)
    assert report.locality == "Khndzoresk"
    # Sent through the outbox (the script came first), not by the plain post the page falls back to.
    paths = [path for _, path in live_server.requests]
    core_at = next(i for i, path in enumerate(paths) if path.startswith("/static/outbox-core."))
    assert core_at < live_server.requests.index(("POST", "/reports/new"))
