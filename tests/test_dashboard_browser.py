"""The dashboard in Debian's Chromium: the map draws its Natural Earth outlines and the incidents'
markers and clusters with no tile server, and nothing on the page breaks the Content-Security-Policy
(script-src 'self', no inline style), at desktop and phone size, in English and in Arabic.

A CSP violation is caught two ways: the page's `securitypolicyviolation` events (listened to from
before the first script runs) and Chromium's console messages about refused content. Screenshots go
to test-artifacts/ (dashboard-*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from intake.enums import Role
from tests.conftest import make_user
from tests.test_browser import (  # noqa: F401 (fixtures)
    TIMEOUT_MS,
    LiveServer,
    browser,
    expect,
    live_server,
    screenshot,
)
from tests.test_exports import linked, verified
from tests.test_rtl_browser import sign_in_with_code

pytestmark = pytest.mark.browser

SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "has_touch": True},
}
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""
# Three strikes around Goris (close enough to cluster at the zoom the map opens at) and one in Kharkiv.
PLACES = [
    {"locality": "Khndzoresk", "latitude": 39.5057, "longitude": 46.4362},
    {"locality": "Goris", "latitude": 39.5111, "longitude": 46.3382, "occurred_on": "2026-04-02"},
    {"locality": "Tegh", "latitude": 39.5591, "longitude": 46.5036, "occurred_on": "2026-05-20"},
    {"country": "UA", "admin1": "Kharkiv Oblast", "admin2": "Kharkiv", "locality": "Saltivka", "latitude": 50.03,
     "longitude": 36.34, "platform_model": "Shahed-136", "munition_model": "", "munition_type": "",
     "components": [], "occurred_on": "2026-06-11"},
]


@pytest.fixture
def incidents(app: Any, org: Any, reporter: Any, verifier: Any) -> list[str]:
    return [linked(app, verified(app, reporter, **place), verifier) for place in PLACES]


@pytest.fixture
def tab(browser: Any, live_server: LiveServer, request: Any) -> Iterator[tuple[Any, list[str]]]:  # noqa: F811
    size, language = request.param
    context = browser.new_context(base_url=live_server.url, locale=language,
                                  extra_http_headers={"Accept-Language": language}, **SIZES[size])
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(WATCH_CSP)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"error: {exc}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text or "Refused to" in message.text else None)
    page.on("requestfailed", lambda req: problems.append(f"failed: {req.url}"))
    page.on("request", lambda req: problems.append(f"foreign: {req.url}")
            if not req.url.startswith(live_server.url) else None)
    try:
        yield page, problems
    finally:
        context.close()


@pytest.mark.parametrize("tab", [("desktop", "en"), ("phone", "en"), ("desktop", "ar"), ("phone", "ar")],
                         indirect=True, ids=["desktop-en", "phone-en", "desktop-ar", "phone-ar"])
def test_the_map_draws_outlines_markers_and_clusters_under_the_csp(app: Any, org: Any, incidents: list[str],
                                                                   tab: tuple[Any, list[str]], request: Any) -> None:
    page, problems = tab
    size, language = request.node.callspec.params["tab"]
    coordinator = make_user(org, Role.COORDINATOR)
    sign_in_with_code(page, coordinator.email)
    page.goto("/dashboard/")
    box = page.locator("#incident-map")
    expect(box).to_be_visible()
    expect(box).to_have_attribute("data-ready", "4")  # every incident has a place on the map
    # Natural Earth's countries, drawn as vector outlines: no tile image anywhere.
    assert page.locator("#incident-map path.outline").count() > 150
    assert page.locator("#incident-map img.leaflet-tile").count() == 0
    # The three strikes around Goris are one cluster at the opening zoom; Kharkiv's is a marker of its own.
    cluster = page.locator("#incident-map .marker-cluster")
    expect(cluster.first).to_be_visible()
    assert "3" in cluster.all_inner_texts()
    expect(page.locator("#incident-map .incident-marker").first).to_be_visible()
    expect(page.locator("#map-fallback")).to_be_hidden()
    box.scroll_into_view_if_needed()
    screenshot(page, f"dashboard-{language}-{size}.png")
    # A marker opens a popup linking to its incident, with its figures, as text.
    page.locator("#incident-map .incident-marker").first.click()
    popup = page.locator(".leaflet-popup-content a")
    expect(popup).to_be_visible()
    assert popup.get_attribute("href") == f"/incidents/{incidents[3]}"
    # The charts are there as images with names, and the table lists the same four incidents.
    for name in ("weapons", "months", "countries"):
        expect(page.locator(f"svg#chart-{name}[role=img]")).to_be_visible()
    assert page.locator("table.dashboard-incidents tbody tr").count() == 4
    if language == "ar":
        assert page.evaluate("() => document.documentElement.dir") == "rtl"
        assert page.locator("svg#chart-weapons").get_attribute("direction") == "rtl"
    csp = page.evaluate("() => window.__csp")
    assert csp == [] and problems == [], (csp, problems)


@pytest.mark.parametrize("tab", [("phone", "en")], indirect=True, ids=["phone-en"])
def test_the_one_click_list_reads_without_the_map(app: Any, org: Any, incidents: list[str], verifier: Any,
                                                  tab: tuple[Any, list[str]]) -> None:
    page, problems = tab
    sign_in_with_code(page, verifier.email)
    page.goto("/dashboard/")
    page.locator('a[href="/dashboard/country?country=CA"]').click()
    expect(page.locator("h1")).to_have_text("Verified incidents with an item made in Canada")
    assert page.locator("table.dashboard-incidents tbody tr").count() == 3  # the MX-15D strikes, not Kharkiv
    screenshot(page, "dashboard-country-en-phone.png")
    assert page.evaluate("() => window.__csp") == [] and problems == []
