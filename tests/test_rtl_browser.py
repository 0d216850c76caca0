"""Right to left done properly (issue 14, item 4): the report form, its receipt and *My reports* in
Arabic at phone size, in Debian's Chromium, measured rather than read.

The browser asks for Arabic the way a phone set to Arabic does (`Accept-Language: ar`). Nothing here
depends on the words on the page, which may still be English where the Arabic catalogue is not
compiled: the checks are geometry (which side a label's text, the first menu item, a checkbox, a
row header or a button sits on) and the direction the browser gives each piece of text. Every
layout check runs in English as well and must come out the other way round there, so a page that
stopped mirroring fails. The isolation of codes is checked against a copy of the same code left
un-isolated in the same page: in Arabic that copy is drawn backwards ("ABCD-4821"), so the check
sees a difference that the <bdi>/dir="ltr" makes.

Screenshots go to test-artifacts/ (rtl-*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from intake.extensions import db
from intake.models import Report, Submission
from tests.conftest import PASSWORD, totp_code
from tests.test_browser import (  # noqa: F401 (fixtures)
    PHONE,
    TIMEOUT_MS,
    LiveServer,
    browser,
    expect,
    live_server,
    screenshot,
)
from tests.test_verify import triaged_report

pytestmark = pytest.mark.browser

# A code that the bidirectional algorithm turns around in a right-to-left line when it is not
# isolated: digits, a hyphen, then letters.
CODE = "4821-ABCD"
ARABIC_PLACE = "خان شيخون"
WEAPON = "Bayraktar TB2"
PHONE_NUMBER = "+374 10 123456"

# Which way each measured thing should come out, by the page's language.
SIDE = {"ar": "right", "en": "left"}
DIRECTION = {"ar": "rtl", "en": "ltr"}


@pytest.fixture
def phone_page(browser: Any, live_server: LiveServer, request: Any) -> Iterator[Any]:  # noqa: F811
    """A phone-sized tab whose browser asks for `request.param`'s language.

    Without mobile emulation, so that the layout viewport is exactly the screen's 390 px and does
    not grow to fit content that sticks out (which the overflow check must see).
    """
    language = request.param
    context = browser.new_context(base_url=live_server.url, **{**PHONE, "is_mobile": False, "locale": language},
                                  extra_http_headers={"Accept-Language": language})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def sign_in(page: Any, email: str) -> None:
    """By the fields' ids, not their labels: the labels may be in Arabic."""
    page.goto("/sign-in")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("header.site nav")).to_be_visible()


# Each entry: what is measured → which side it lands on ("left", "right" or "middle").
MEASURE_FORM = """() => {
  const q = s => { const el = document.querySelector(s); if (!el) throw new Error('missing ' + s); return el; };
  const box = el => el.getBoundingClientRect();
  const text = el => { const r = document.createRange(); r.selectNodeContents(el); return r.getBoundingClientRect(); };
  // Where `inner` sits inside `outer`: nearer its left or its right edge.
  const side = (inner, outer) => {
    const left = inner.left - outer.left, right = outer.right - inner.right;
    return Math.abs(left - right) < 2 ? 'middle' : (left < right ? 'left' : 'right');
  };
  const across = (a, b) => (a.left + a.right) / 2 > (b.left + b.right) / 2 ? 'right' : 'left';  // a is b's …
  const shared = (a, b) => Math.abs(a.right - b.right) < 1.5 && Math.abs(a.left - b.left) >= 1.5 ? 'right'
    : (Math.abs(a.left - b.left) < 1.5 && Math.abs(a.right - b.right) >= 1.5 ? 'left' : 'neither');
  const header = q('header.site'), links = [...header.querySelectorAll('nav a')];
  const check = q('#witnesses-0-may_contact');
  const sections = [...q('nav.sections').querySelectorAll('a')];
  const rowHeader = q('table.counts tbody th[scope=row]');
  return {
    // The title's words start at the right edge of the page in Arabic.
    heading: side(text(q('h1')), box(q('main'))),
    // A label's text starts where its input starts: the right edge.
    label: shared(text(q('label[for=admin1]')), box(q('#admin1'))),
    label_in_row: shared(text(q('label[for="victims-0-name"]')), box(q('#victims-0-name'))),
    // The site's name at the start of the header, the first menu item at the start of the menu,
    // the next one after it in reading order.
    brand: side(box(q('header.site .brand')), box(header)),
    first_menu_item: side(box(links[0]), box(q('header.site nav'))),
    menu_order: across(box(links[0]), box(links[1])),
    first_section: side(box(sections[0]), box(q('nav.sections'))),
    // The checkbox before its label in reading order.
    checkbox: across(box(check), box(q('label[for="witnesses-0-may_contact"]'))),
    // The table's row headers in the first column.
    row_header: across(box(rowHeader), box(rowHeader.nextElementSibling)),
    // A button that does not fill the line sits at its start.
    add_button: side(box(q('button.add-row[data-list=victims]')), box(q('#harm'))),
    // Bordered notes take their coloured border on the start side.
    legend: side(box(q('#victims-0 legend')), box(q('#victims-0'))),
  };
}"""

DIRECTIONS = """() => {
  const q = s => document.querySelector(s);
  const dir = el => el.matches(':dir(rtl)') ? 'rtl' : 'ltr';
  return {
    page: getComputedStyle(q('main')).direction,
    html: [document.documentElement.lang, document.documentElement.dir],
    locality: dir(q('#locality')), locality_attr: q('#locality').getAttribute('dir'),
    weapon: dir(q('#platform_model')), weapon_attr: q('#platform_model').getAttribute('dir'),
    phone: dir(q('#witnesses-0-phone')), phone_attr: q('#witnesses-0-phone').getAttribute('dir'),
    phone_align: getComputedStyle(q('#witnesses-0-phone')).textAlign,
    latitude_attr: q('#latitude').getAttribute('dir'),
    narrative_attr: q('#narrative').getAttribute('dir'),
    // An empty field's caret is on the page's side until the first letter is typed.
    empty_narrative: getComputedStyle(q('#narrative')).direction,
  };
}"""

# The page must not scroll sideways, nor anything stick out of the screen on either side.
OVERFLOW = """() => {
  const edge = document.documentElement.clientWidth, found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (!r.width || el.closest('template, .default-action, .visually-hidden')) continue;
    let clipped = false;
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement)
      if (getComputedStyle(up).overflowX !== 'visible') clipped = true;
    if (!clipped && (r.left < -0.5 || r.right > edge + 0.5))
      found.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}`
                 + ` [${Math.round(r.left)}, ${Math.round(r.right)}]`);
  }
  return {scroll: document.documentElement.scrollWidth, width: edge, outside: found.slice(0, 10)};
}"""

# How a code is drawn: the left-to-right order of its first and last characters on the screen, in
# the element given and in an un-isolated copy of the same text put beside it (in its parent).
CODE_ORDER = """selector => {
  const el = document.querySelector(selector);
  const order = node => {
    const text = node.firstChild, r = document.createRange();
    const x = i => { r.setStart(text, i); r.setEnd(text, i + 1); return r.getBoundingClientRect().left; };
    return x(0) < x(text.length - 1) ? 'ltr' : 'rtl';
  };
  const holder = el.parentElement;
  const copy = document.createElement('span');
  copy.style.whiteSpace = 'nowrap';
  copy.textContent = el.textContent.trim();
  holder.appendChild(copy);
  const plain = order(copy);
  copy.remove();
  const target = el.querySelector('bdi') || el;
  return {direction: getComputedStyle(target).direction, drawn: order(target),
          around: getComputedStyle(holder).direction, plain: plain};
}"""


def open_form(page: Any) -> None:
    page.goto("/reports/new")
    expect(page.locator("#report-form")).to_be_visible()


@pytest.mark.parametrize("phone_page", ["ar", "en"], indirect=True)
def test_report_form_mirrors_in_arabic_at_phone_size(phone_page: Any, reporter: Any) -> None:
    page = phone_page
    language = page.evaluate("() => navigator.language").split("-")[0]
    sign_in(page, reporter.email)
    open_form(page)
    screenshot(page, f"rtl-form-empty-{language}-phone.png")

    side = SIDE[language]
    measured = page.evaluate(MEASURE_FORM)
    print(f"\n{language} layout: {measured}")  # the figures the report quotes
    assert measured == {
        "heading": side, "label": side, "label_in_row": side, "brand": side, "first_menu_item": side,
        "menu_order": side, "first_section": side, "checkbox": side, "row_header": side,
        "add_button": side, "legend": side,
    }, f"the form is not laid out {DIRECTION[language]} in {language}"

    # What people type keeps its own direction; what is always Latin digits stays left to right.
    page.locator("#locality").fill(ARABIC_PLACE)
    page.locator("#platform_model").fill(WEAPON)
    page.locator("#witnesses-0-phone").fill(PHONE_NUMBER)
    directions = page.evaluate(DIRECTIONS)
    print(f"{language} directions: {directions}")
    assert directions == {
        "page": DIRECTION[language], "html": [language, DIRECTION[language]],
        "locality": "rtl", "locality_attr": "auto", "weapon": "ltr", "weapon_attr": "auto",
        "phone": "ltr", "phone_attr": "ltr", "phone_align": "right" if language == "ar" else "start",
        "latitude_attr": "ltr", "narrative_attr": "auto", "empty_narrative": DIRECTION[language],
    }
    page.evaluate("() => window.scrollTo(0, 0)")  # the sticky section bar at the top, where it starts
    screenshot(page, f"rtl-form-typed-{language}-phone.png")

    overflow = page.evaluate(OVERFLOW)
    print(f"{language} width: {overflow}")
    assert overflow["scroll"] <= overflow["width"] and overflow["outside"] == [], \
        f"the {language} form is wider than a 390 px phone: {overflow}"


@pytest.mark.parametrize("phone_page", ["ar", "en"], indirect=True)
def test_receipt_code_and_place_read_whole_in_arabic(app: Any, phone_page: Any, reporter: Any) -> None:
    page = phone_page
    language = page.evaluate("() => navigator.language").split("-")[0]
    public_id = triaged_report(app, reporter, locality="Khndzoresk").public_id
    for model in (Report, Submission):  # the receipt code it was given, made one that turns around
        db.session.execute(update(model).where(model.public_id == public_id).values(receipt_code=CODE))
    db.session.commit()
    sign_in(page, reporter.email)

    page.goto(f"/reports/{public_id}/receipt")
    expect(page.locator(".receipt-code")).to_have_text(CODE)
    screenshot(page, f"rtl-receipt-{language}-phone.png")
    code = page.evaluate(CODE_ORDER, ".receipt-code")
    print(f"\n{language} receipt code: {code}")
    # Drawn left to right inside a page of the language's direction; the same text without the
    # isolation is drawn backwards in Arabic (so the isolation is what keeps it whole).
    assert code == {"direction": "ltr", "drawn": "ltr", "around": DIRECTION[language], "plain": DIRECTION[language]}
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    # The tab's title has no markup to isolate the code with: Unicode's left-to-right isolate does it.
    assert page.title().endswith(f" \u2066{CODE}\u2069")

    page.goto("/my-reports")
    link = page.locator(f'a.receipt-link[href$="/reports/{public_id}/receipt"]')
    expect(link).to_have_text(CODE)
    screenshot(page, f"rtl-my-reports-{language}-phone.png")
    code = page.evaluate(CODE_ORDER, f'a.receipt-link[href$="/reports/{public_id}/receipt"]')
    assert code == {"direction": "ltr", "drawn": "ltr", "around": DIRECTION[language], "plain": DIRECTION[language]}
    # The place the reporter typed, in Latin letters, is isolated in the line of facts.
    place = page.locator("ul.cards li bdi", has_text="Khndzoresk")
    expect(place).to_have_count(1)
    assert place.evaluate("el => getComputedStyle(el).direction") == "ltr"
    # The card's layout mirrors too: the code at the start of its line.
    card_side = page.evaluate(f"""() => {{
      const link = document.querySelector('a.receipt-link[href$="/reports/{public_id}/receipt"]');
      const a = link.getBoundingClientRect(), li = link.closest('li').getBoundingClientRect();
      return a.left - li.left < li.right - a.right ? 'left' : 'right';
    }}""")
    assert card_side == SIDE[language]
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.mark.parametrize("phone_page", ["ar", "en"], indirect=True)
def test_review_page_keeps_weapon_names_whole_in_arabic(app: Any, phone_page: Any, reporter: Any,
                                                        verifier: Any) -> None:
    page = phone_page
    language = page.evaluate("() => navigator.language").split("-")[0]
    public_id = triaged_report(app, reporter).public_id  # Bayraktar TB2, MAM-L, an MX-15D sensor
    sign_in_with_code(page, verifier.email)
    page.goto(f"/queue/reports/{public_id}")
    expect(page.locator("h1")).to_be_visible()
    screenshot(page, f"rtl-review-{language}-phone.png")

    found = page.evaluate("""() => {
      const bdi = text => [...document.querySelectorAll('main bdi')].find(el => el.textContent === text);
      const facts = document.querySelector('dl.facts'), dt = facts.querySelector('dt'), dd = facts.querySelector('dd');
      const model = bdi('Bayraktar TB2'), sensor = bdi('MX-15D');
      const a = dt.getBoundingClientRect(), b = dd.getBoundingClientRect();
      return {
        back: document.querySelector('main p a').textContent.trim().slice(0, 1),
        model: [getComputedStyle(model).direction, getComputedStyle(model.parentElement).direction],
        sensor: [getComputedStyle(sensor).direction, getComputedStyle(sensor.parentElement).direction],
        term_side: a.left > b.left ? 'right' : 'left',
      };
    }""")
    print(f"\n{language} review page: {found}")
    assert found == {
        # The way back points to the start of the line: left in English, right in Arabic.
        "back": {"ar": "→", "en": "←"}[language],
        "model": ["ltr", DIRECTION[language]], "sensor": ["ltr", DIRECTION[language]],
        "term_side": SIDE[language],  # each fact's name before its value
    }
    overflow = page.evaluate(OVERFLOW)
    assert overflow["scroll"] <= overflow["width"] and overflow["outside"] == [], overflow


def sign_in_with_code(page: Any, email: str) -> None:
    page.goto("/sign-in")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#code")).to_be_visible()
    page.locator("#code").fill(totp_code(email))
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator("header.site nav")).to_be_visible()
