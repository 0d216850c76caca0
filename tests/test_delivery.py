"""Page weight through real HTTP: the form's first load within its budget, compression only where it
cannot leak a secret (BREACH), CSRF tokens that differ in every response, static files under hashed
names cached for a year, and rows without JavaScript that come back to the row with a file chosen
before kept, not sent again. Browser checks (Playwright + Debian's Chromium) at the end."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bench.page_weight import BUDGET_BYTES, browser_report, measure, measure_in_browser, report
from intake import create_app
from intake.extensions import db
from intake.media import stored_path
from intake.models import Attachment, Report
from tests.conftest import PASSWORD, ROOT, csrf_token, jpeg_bytes, post_multipart
from tests.test_field import form_fields, page_of, photo

STATIC = ROOT / "intake" / "static"
GZIP = {"Accept-Encoding": "gzip, deflate, br"}
YEAR = "max-age=31536000"


def tokens_in(html: str) -> set[str]:
    return set(re.findall(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', html))


def static_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


# ---- budget and compression ---------------------------------------------------------------------


def test_the_empty_form_first_load_fits_the_budget_compressed(reporter_client: Any) -> None:
    """HTML + CSS + JS the empty form's HTML names, compressed. A lower bound: what its scripts fetch
    by themselves is counted by the browser test below, which is the budget's real check."""
    weight = measure(reporter_client)
    print(report(weight))
    kinds = [f.kind for f in weight.files]
    assert kinds.count("html") == 1 and "css" in kinds and "js" in kinds
    assert all(f.status == 200 and f.encoding == "gzip" for f in weight.files), report(weight)
    assert weight.total() <= BUDGET_BYTES, report(weight)
    # The country list is on the page once as a <select> and once as suggestions, not once per row.
    html = reporter_client.get("/reports/new").get_data(as_text=True)
    assert html.count(">Armenia</option>") == 1 and html.count('<option value="Armenia">') == 1
    assert "data-row-template" not in html, "the empty form carries no copy of a row"


def test_the_form_page_decompresses_to_the_page(reporter_client: Any) -> None:
    response = reporter_client.get("/reports/new", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    html = gzip.decompress(response.get_data()).decode()
    assert "Send report" in html and tokens_in(html)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_form_shown_again_with_what_was_typed_is_never_compressed(reporter_client: Any) -> None:
    """BREACH: a page that echoes posted text beside the CSRF token and names goes uncompressed,
    whether re-shown for a row, for errors, or for an expired token."""
    _, token, submission_id = page_of(reporter_client)
    probe = "csrf_token value probe 4f1c"
    for status, data in (
        (200, form_fields(token, submission_id, narrative=probe, row_action="add:victims")),
        (422, form_fields(token, submission_id, narrative=probe, latitude="123")),
        (400, form_fields("forged", submission_id, narrative=probe)),
    ):
        response = reporter_client.post("/reports/new", data=data, headers=GZIP)
        assert response.status_code == status
        assert "Content-Encoding" not in response.headers, status
        html = response.get_data(as_text=True)
        assert probe in html and tokens_in(html), "echoes the typed text beside a token"
    assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_pages_that_echo_the_request_or_show_reports_are_not_compressed(reporter_client: Any) -> None:
    response = reporter_client.get("/my-reports?answered=" + "A" * 600, headers=GZIP)
    assert response.status_code == 200 and "Content-Encoding" not in response.headers


def test_the_sign_in_page_is_compressed(client: Any) -> None:
    response = client.get("/sign-in", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"


# ---- CSRF tokens spelt anew in every response ----------------------------------------------------


def test_the_csrf_token_differs_in_every_response_and_each_is_accepted(reporter_client: Any) -> None:
    pages = [page_of(reporter_client) for _ in range(4)]
    tokens = [token for _, token, _ in pages]
    assert len(set(tokens)) == 4
    # Not only the timestamp: the signed part and the signature differ every time.
    payloads = {t.split(".")[0] for t in tokens}
    signatures = {t.split(".")[-1] for t in tokens}
    assert len(payloads) == 4 and len(signatures) == 4
    # Within one response, the form's token and the sign-out form's are the same one.
    assert len(tokens_in(pages[0][0])) == 1
    # Flask-WTF's own check accepts each: a report filed with the first page's token …
    _, token, submission_id = pages[0]
    response = reporter_client.post("/reports/new", data=form_fields(token, submission_id))
    assert response.status_code == 302 and "/receipt" in response.headers["Location"]
    # … and the sign-out form (checked by CSRFProtect) with the last one.
    response = reporter_client.post("/sign-out", data={"csrf_token": tokens[-1]})
    assert response.status_code == 302
    assert reporter_client.get("/reports/new").status_code == 302  # signed out


def test_a_session_ended_while_away_still_gets_a_working_sign_in_form(client: Any, reporter: Any) -> None:
    """The session check signs an idle browser out (its CSRF value goes with the session) before the
    page's token is spelt: the sign-in form then shown carries a token for the new value."""
    from tests.conftest import PASSWORD, sign_in
    from tests.test_second_factor import age_session

    assert sign_in(client, reporter.email).status_code == 302
    client.get("/reports/new")  # the session now holds a CSRF value
    age_session(client, 3 * 24 * 3600 + 60)
    page = client.get("/sign-in", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and "signed out" in page.get_data(as_text=True)
    assert "Content-Encoding" not in page.headers, "a page with a flashed message is not compressed"
    response = client.post("/sign-in", data={"email": reporter.email, "password": PASSWORD,
                                             "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


def test_a_token_with_a_forged_signature_is_refused(reporter_client: Any) -> None:
    _, token, submission_id = page_of(reporter_client)
    head, _, signature = token.rpartition(".")
    forged = head + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    response = reporter_client.post("/reports/new", data=form_fields(forged, submission_id))
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Report)) == 0


# ---- static files --------------------------------------------------------------------------------


def test_static_files_are_served_under_hashed_names_cached_for_a_year(reporter_client: Any) -> None:
    html = reporter_client.get("/reports/new").get_data(as_text=True)
    urls = static_urls(html)
    assert any(re.fullmatch(r"/static/intake\.[0-9a-f]{12}\.css", u) for u in urls), urls
    assert any(re.fullmatch(r"/static/intake\.[0-9a-f]{12}\.js", u) for u in urls), urls
    for url in urls:
        plain_name = re.sub(r"\.[0-9a-f]{12}(\.\w+)$", r"\1", url.removeprefix("/static/"))
        on_disk = (STATIC / plain_name).read_bytes()
        response = reporter_client.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(response.get_data()) == on_disk
        cache = response.headers["Cache-Control"]
        assert "public" in cache and YEAR in cache and "immutable" in cache
        assert len(response.get_data()) < len(on_disk)
        again = reporter_client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304
        brotli = reporter_client.get(url, headers={"Accept-Encoding": "gzip, br"})
        assert brotli.headers["Content-Encoding"] == "br" and brotli.headers["ETag"] != response.headers["ETag"]
        identity = reporter_client.get(url)
        assert "Content-Encoding" not in identity.headers and identity.get_data() == on_disk
        # The plain name still works, cached briefly (it changes with the next release).
        plain = reporter_client.get("/static/" + plain_name)
        assert plain.status_code == 200 and plain.get_data() == on_disk
        assert "max-age=300" in plain.headers["Cache-Control"] and "immutable" not in plain.headers["Cache-Control"]


def test_unknown_and_outside_static_names_are_not_found(client: Any) -> None:
    for path in ("/static/intake.000000000000.css", "/static/nothing.js", "/static/../app.py",
                 "/static/%2e%2e/app.py", "/static/.hidden"):
        assert client.get(path).status_code == 404, path


def test_vendored_files_get_hashed_names_and_a_new_name_when_they_change(app_config: dict[str, Any], app: Any,
                                                                          tmp_path: Path) -> None:
    folder = tmp_path / "static"
    shutil.copytree(STATIC, folder)
    library = folder / "vendor" / "tiny-lib-1.0.0" / "tiny.min.js"
    library.parent.mkdir(parents=True, exist_ok=True)
    library.write_text("window.tiny = function () { return 'tiny 1.0.0'; };\n" * 20)

    def url_of_library() -> tuple[Any, str]:
        application = create_app({**app_config, "STATIC_PATH": str(folder)})
        with application.test_request_context():
            from flask import url_for

            return application, url_for("static", filename="vendor/tiny-lib-1.0.0/tiny.min.js")

    application, url = url_of_library()
    assert re.fullmatch(r"/static/vendor/tiny-lib-1\.0\.0/tiny\.min\.[0-9a-f]{12}\.js", url), url
    response = application.test_client().get(url, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and gzip.decompress(response.get_data()) == library.read_bytes()
    assert "immutable" in response.headers["Cache-Control"]
    assert response.mimetype == "text/javascript"

    library.write_text("window.tiny = function () { return 'tiny 1.0.1'; };\n")
    _, new_url = url_of_library()
    assert new_url != url, "new content, new name"


# ---- rows without JavaScript ---------------------------------------------------------------------


def button_formaction(html: str, value: str) -> str:
    match = re.search(r'<button[^>]*value="' + re.escape(value) + r'"[^>]*>', html)
    assert match, value
    action = re.search(r'formaction="([^"]+)"', match.group(0))
    assert action, f"{value} has no formaction"
    return action.group(1)


def test_add_and_remove_without_javascript_come_back_to_the_row(reporter_client: Any) -> None:
    html, token, submission_id = page_of(reporter_client)
    assert re.search(r'<form method="post" action="/reports/new"[^>]*id="report-form"', html), \
        "Send goes to the form's own address, not to a row's"
    assert button_formaction(html, "add:victims") == "/reports/new#victims-1"
    assert button_formaction(html, "add:witnesses") == "/reports/new#witnesses-1"

    # Two people typed; "Add another person" is sent to …#victims-2, and the page has that row.
    response = reporter_client.post("/reports/new", data=form_fields(token, submission_id, row_action="add:victims"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<fieldset class="row" id="victims-2" data-index="2">' in html
    assert button_formaction(html, "add:victims") == "/reports/new#victims-3"
    # "Remove" comes back to the row before, or the top of the list.
    assert button_formaction(html, "remove:victims:1") == "/reports/new#victims-0"
    assert button_formaction(html, "remove:victims:0") == "/reports/new#victims-rows"
    assert 'id="victims-rows"' in html

    # Removing the first person: the one left keeps its own anchor and what was typed.
    response = reporter_client.post("/reports/new", data=form_fields(token, submission_id,
                                                                     row_action="remove:victims:0"))
    html = response.get_data(as_text=True)
    assert "Olena Kovalenko" not in html and "Taras Kovalenko" in html
    assert '<fieldset class="row" id="victims-1" data-index="1">' in html
    assert button_formaction(html, "add:victims") == "/reports/new#victims-2"


def test_a_file_chosen_before_adding_a_row_is_kept_sealed_and_not_asked_for_again(reporter_client: Any,
                                                                                   app: Any) -> None:
    _, token, submission_id = page_of(reporter_client)
    picture = jpeg_bytes((120, 90))
    data = form_fields(token, submission_id, row_action="add:victims",
                       **{"attachments-0-file": photo("crater.jpg", picture)})
    response = post_multipart(reporter_client, "/reports/new", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "crater.jpg" in html and "is safely on the server" in html
    assert 'name="attachments-0-remove"' in html, "a kept file can be removed"
    assert 'name="attachments-0-file"' not in html, "a kept file is not asked for again"
    upload_id = re.search(r'name="attachments-0-upload_id" type="hidden" value="([^"]+)"', html).group(1)

    stored = db.session.scalar(select(Attachment))
    assert stored is not None and stored.report_id is None and stored.stash_key == submission_id
    sealed = stored_path(app.config, stored).read_bytes()
    assert picture[:64] not in sealed and picture[-64:] not in sealed, "kept files are sealed at rest"
    db.session.rollback()

    # Another row added: the file is not posted again and stays kept.
    again = form_fields(token, submission_id, row_action="add:witnesses", **{"attachments-0-upload_id": upload_id})
    html = reporter_client.post("/reports/new", data=again).get_data(as_text=True)
    assert "crater.jpg" in html and 'name="attachments-0-file"' not in html
    assert button_formaction(html, "add:witnesses") == "/reports/new#witnesses-2"

    # Send: the report takes the kept file, once.
    sent = form_fields(token, submission_id, **{"attachments-0-upload_id": upload_id})
    assert reporter_client.post("/reports/new", data=sent).status_code == 302
    report = db.session.scalar(select(Report))
    assert report is not None and [a.original_filename for a in report.attachments] == ["crater.jpg"]
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 1


def test_a_kept_file_that_expired_is_asked_for_again(reporter_client: Any, app: Any) -> None:
    """Kept files expire with the form's stash (STASH_MAX_AGE_SECONDS, removed by the sweep); a form
    that comes back after that asks for the file again instead of sending a report without it."""
    import datetime as dt

    from workers.tasks import sweep

    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, row_action="add:links", **{"attachments-0-file": photo()})
    html = post_multipart(reporter_client, "/reports/new", data).get_data(as_text=True)
    upload_id = re.search(r'name="attachments-0-upload_id" type="hidden" value="([^"]+)"', html).group(1)
    with app.app_context():
        stored = db.session.scalar(select(Attachment))
        stored.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=app.config["STASH_MAX_AGE_SECONDS"] + 60)
        db.session.commit()
        path = stored_path(app.config, stored)
        sweep.run()
        db.session.remove()
    assert not path.exists()
    again = form_fields(token, submission_id, row_action="add:links", **{"attachments-0-upload_id": upload_id})
    html = reporter_client.post("/reports/new", data=again).get_data(as_text=True)
    assert 'name="attachments-0-file"' in html and "is safely on the server" not in html


def test_country_of_manufacture_is_typed_with_suggestions(reporter_client: Any) -> None:
    html, token, submission_id = page_of(reporter_client)
    assert re.search(r'<input[^>]*id="components-0-country_of_manufacture"[^>]*list="countries"', html)
    bad = form_fields(token, submission_id, **{"components-0-country_of_manufacture": "Atlantis"})
    response = reporter_client.post("/reports/new", data=bad)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Choose a country from the suggestions" in page and 'value="Atlantis"' in page
    good = form_fields(token, submission_id, **{"components-0-country_of_manufacture": "  canada "})
    assert reporter_client.post("/reports/new", data=good).status_code == 302
    report = db.session.scalar(select(Report))
    assert report is not None and [c.country_of_manufacture for c in report.components] == ["CA"]


def test_a_country_code_is_taken_and_shown_back_as_its_name(reporter_client: Any) -> None:
    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, row_action="add:components",
                       **{"components-0-country_of_manufacture": "ir"})
    html = reporter_client.post("/reports/new", data=data).get_data(as_text=True)
    assert re.search(r'id="components-0-country_of_manufacture"[^>]*value="ir"', html), "kept as typed"
    # The page for a form shown again carries the row template (its first row is no longer blank).
    assert '<template data-row-template="components">' in html
    assert csrf_token(html)


# ---- in the browser ------------------------------------------------------------------------------

try:
    from tests.test_browser import browser, javascript, live_server, page, sign_in_and_open_form  # noqa: F401
    from tests.test_browser import expect as _expect
    from tests.test_browser import tap as _tap
except ImportError:  # pragma: no cover
    pass


@pytest.mark.browser
def test_the_first_load_in_chromium_fits_the_budget_and_the_drafts_come_on_demand(browser: Any, app: Any,
                                                                                   reporter: Any,
                                                                                   tmp_path: Path) -> None:
    """Every byte Chromium receives opening the empty form with an empty cache (whatever fetched
    it: the HTML, a script loading another, a service worker), against the budget; the drafts'
    scripts come at the first keystroke, not before."""
    picture = tmp_path / "crater.jpg"
    picture.write_bytes(jpeg_bytes((320, 240)))
    weight = measure_in_browser(browser, app, reporter.email, PASSWORD, picture)
    text = browser_report(weight)
    print(text)
    first = [f.path for f in weight.files]
    assert first.count("/reports/new") == 1 and any(p.endswith(".css") for p in first), text
    assert all(f.status == 200 and f.encoding == "gzip" for f in weight.files), text
    # What the page's CDP session saw is all the server sent, byte for byte.
    assert not weight.unseen and weight.total() == weight.served_bytes, text
    assert weight.total() <= BUDGET_BYTES, text
    later = ("outbox-core.", "device-store.", "/vendor/idb-", "/vendor/tus-js-client-", "/device/key", "/device-sw.js")
    assert not [p for p in first if any(name in p for name in later)], text
    at_input = [f.path for when, f in weight.on_demand if when == "first input"]
    for name in ("outbox-core.", "device-store.", "/vendor/idb-", "/device/key"):
        assert any(name in p for p in at_input), (name, text)
    # A chosen photo is kept on the device with the draft: no upload client before Send.
    assert not [f for when, f in weight.on_demand if "tus-js-client" in f.path], text


def in_viewport(page: Any, selector: str) -> bool:
    return bool(page.locator(selector).evaluate(
        "el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight; }"))


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [False], ids=["without-javascript"])
def test_without_javascript_add_opens_at_the_new_row_and_keeps_the_photo(page: Any, reporter: Any,
                                                                        tmp_path: Path) -> None:
    picture = tmp_path / "crater.jpg"
    picture.write_bytes(jpeg_bytes((320, 240)))
    sign_in_and_open_form(page, reporter.email)
    page.locator("#victims-0-name").fill("Anahit Petrosyan")
    page.get_by_label("Photo, video, audio or PDF").set_input_files(str(picture))
    _tap(page, page.get_by_role("button", name="Add another person"))
    _expect(page.locator("#victims-1")).to_be_visible()
    assert page.url.endswith("/reports/new#victims-1")
    assert in_viewport(page, "#victims-1"), "the page opens at the new row, not at the top"
    _expect(page.locator("#victims-0-name")).to_have_value("Anahit Petrosyan")
    _expect(page.locator("#attachments-0")).to_contain_text("crater.jpg")
    _expect(page.locator("#attachments-0-file")).to_have_count(0)
    _expect(page.get_by_label("Remove this file")).to_be_visible()

    # Removing the second person comes back to the first.
    _tap(page, page.locator("#victims-1").get_by_role("button", name="Remove this row"))
    _expect(page.locator("#victims-1")).to_have_count(0)
    assert page.url.endswith("/reports/new#victims-0") and in_viewport(page, "#victims-0")


@pytest.mark.browser
def test_with_javascript_a_row_is_added_blank_from_the_first_row(page: Any, live_server: Any,
                                                                  reporter: Any) -> None:
    sign_in_and_open_form(page, reporter.email)
    page.locator("#victims-0-name").fill("Anahit Petrosyan")
    page.locator("#victims-0-sex").select_option("female")
    page.locator("#components-0-country_of_manufacture").fill("Canada")
    # What a script adds to a row (a message, a progress bar) is marked "client" and not copied.
    page.locator("#victims-0").evaluate("el => el.insertAdjacentHTML('beforeend', '<p class=\"client\">note</p>')")
    posts = live_server.posts("/reports/new")
    for name, list_name in (("Add another person", "victims"), ("Add another component", "components"),
                            ("Add another file", "attachments")):
        _tap(page, page.get_by_role("button", name=name))
        _expect(page.locator(f"#{list_name}-1")).to_be_visible()
    assert live_server.posts("/reports/new") == posts, "adding rows costs no round trip"
    _expect(page.locator("#victims-1-name")).to_have_value("")
    _expect(page.locator("#victims-1-sex")).to_have_value("unknown")
    _expect(page.locator("#victims-1 .row-number")).to_have_text("2")
    _expect(page.locator("#victims-1 .client")).to_have_count(0)
    _expect(page.locator("#victims-0 .client")).to_have_count(1)
    _expect(page.locator("#components-1-country_of_manufacture")).to_have_value("")
    _expect(page.locator("#components-1-country_of_manufacture")).to_have_attribute("list", "countries")
    _expect(page.locator("#attachments-1-file")).to_have_count(1)
    assert page.locator("[id='victims-1-name']").count() == 1 and page.locator("[id='victims-0-name']").count() == 1
    _expect(page.locator("#victims-0-name")).to_have_value("Anahit Petrosyan")
