"""Page weight: what the empty new-report form costs on the wire at first load, against its budget.

Run from the repository root (nothing else to prepare: an embedded SQLite database in a temporary
folder, a reporter signed in through the real sign-in page, Debian's Chromium driven by Playwright):

    .venv/bin/python bench/page_weight.py                       # gzip, as Chromium over plain http

First load = Chromium with an empty cache opens /reports/new signed in as a reporter. Counted is
every response the browser received until the network is quiet (HTML, stylesheets, scripts and
whatever those scripts fetch themselves, a service worker included): the body bytes as they came
over the wire (CDP Network.loadingFinished minus the response headers), cross-checked against what
the server sent (a WSGI wrapper counts each response's bytes, so nothing fetched from another
target escapes). Headers are printed beside them. Then the reporter types one character, and then
chooses a photo: what the browser fetches at each of these moments is listed as "on demand" with
the moment, not counted. The same first-load files are fetched again asking for brotli (what
Chromium asks over https) for the second figure. Exit status 1 when over budget.

tests/test_delivery.py runs `measure_in_browser` against the same budget: a byte count is not a
timing, so the budget is a test too. `measure` (no browser: the HTML's own references only) stays
for quick looks and for the brotli figure.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/page_weight.py`, this folder comes first on sys.path, where bench/intake.py
# would shadow the package.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BUDGET_BYTES = 25 * 1000  # HTML + CSS + JS, first load, compressed (issue 13)
FORM_PATH = "/reports/new"
# What Chromium sends to a plain-http origin (br and zstd only go to https ones).
DEFAULT_ENCODING = "gzip, deflate"
ENCODING_HTTP = DEFAULT_ENCODING


@dataclass
class Fetched:
    kind: str  # html, css, js, other
    path: str
    status: int
    encoding: str | None
    body_bytes: int
    header_bytes: int
    plain_bytes: int


@dataclass
class PageWeight:
    files: list[Fetched] = field(default_factory=list)
    on_demand: list[Fetched] = field(default_factory=list)

    def total(self, kind: str | None = None) -> int:
        return sum(f.body_bytes for f in self.files if kind is None or f.kind == kind)


class _References(HTMLParser):
    """Stylesheets, scripts and preloads the HTML makes a browser fetch, and on-demand scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.first_load: list[tuple[str, str]] = []
        self.on_demand: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        rel = set(a.get("rel", "").lower().split())
        if tag == "link" and "stylesheet" in rel and a.get("href"):
            self.first_load.append(("css", a["href"]))
        elif tag == "link" and rel & {"preload", "modulepreload"} and a.get("href"):
            self.first_load.append((_kind(a["href"]), a["href"]))
        elif tag == "script" and a.get("src"):
            self.first_load.append(("js", a["src"]))
        for name, value in a.items():
            if name.startswith("data-") and name.endswith("-src") and value.startswith("/static/"):
                self.on_demand.append((_kind(value), value))


def _kind(path: str) -> str:
    if re.search(r"\.m?js($|\?)", path):
        return "js"
    if re.search(r"\.css($|\?)", path):
        return "css"
    return "other"


def _fetch(client: Any, kind: str, path: str, encoding: str) -> Fetched:
    from flask_compress.flask_compress import _uncompress_data

    response = client.get(path, headers={"Accept-Encoding": encoding})
    body = response.get_data()
    content_encoding = response.headers.get("Content-Encoding")
    plain = _uncompress_data(body, content_encoding) if content_encoding else body
    status_line = f"HTTP/1.1 {response.status}\r\n"
    headers = status_line + "".join(f"{k}: {v}\r\n" for k, v in response.headers.items()) + "\r\n"
    return Fetched(kind, path, response.status_code, content_encoding, len(body), len(headers.encode()), len(plain))


def measure(client: Any, encoding: str = DEFAULT_ENCODING, path: str = FORM_PATH) -> PageWeight:
    """The first load of `path` with `client` (signed in), every referenced file fetched once."""
    weight = PageWeight()
    page = _fetch(client, "html", path, encoding)
    weight.files.append(page)
    html = client.get(path).get_data(as_text=True)  # the same page, uncompressed, to read its references
    parser = _References()
    parser.feed(html)
    seen: set[str] = set()
    for kind, ref in parser.first_load:
        if ref not in seen:
            seen.add(ref)
            weight.files.append(_fetch(client, kind, ref, encoding))
    for kind, ref in parser.on_demand:
        if ref not in seen:
            seen.add(ref)
            weight.on_demand.append(_fetch(client, kind, ref, encoding))
    return weight


def report(weight: PageWeight, budget: int = BUDGET_BYTES) -> str:
    lines = [f"{'kind':<5} {'status':>6} {'encoding':<8} {'on the wire':>11} {'headers':>8} {'plain':>8}  path"]
    for f in weight.files:
        lines.append(f"{f.kind:<5} {f.status:>6} {f.encoding or '-':<8} {f.body_bytes:>11,} {f.header_bytes:>8,} "
                     f"{f.plain_bytes:>8,}  {f.path}")
    for kind in ("html", "css", "js"):
        lines.append(f"{kind} total: {weight.total(kind):,} bytes")
    total = weight.total()
    headers = sum(f.header_bytes for f in weight.files)
    lines.append(f"first load total: {total:,} bytes of {budget:,} budget "
                 f"({'within' if total <= budget else 'OVER'} budget; headers {headers:,} bytes more)")
    for f in weight.on_demand:
        lines.append(f"on demand (not in first load): {f.kind} {f.body_bytes:,} bytes {f.encoding or '-'} {f.path}")
    return "\n".join(lines)


# ---- in a real browser ------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUIET_MS = 1500  # no request for this long: the load (and what its scripts fetch) is over


@dataclass
class Served:
    """What the server sent for one request: the WSGI body bytes (compressed, as on the wire)."""
    method: str
    path: str
    status: int
    encoding: str | None
    body_bytes: int


class _Recording:
    """A WSGI wrapper that notes every response's body size, whoever asked (page or worker)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.served: list[Served] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        seen: dict[str, Any] = {}

        def recording_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = int(status.split()[0])
            seen["encoding"] = next((v for k, v in headers if k.lower() == "content-encoding"), None)
            return start_response(status, headers, exc_info)

        body = self.app(environ, recording_start)
        try:
            chunks = list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        path = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        self.served.append(Served(environ["REQUEST_METHOD"], path, seen.get("status", 0), seen.get("encoding"),
                                  sum(len(c) for c in chunks)))
        return chunks


@contextmanager
def serving(app: Any) -> Iterator[tuple[str, _Recording]]:
    """`app` on 127.0.0.1 at a free port, from a background thread, every response counted."""
    import threading

    from werkzeug.serving import make_server

    recording = _Recording(app)
    server = make_server("127.0.0.1", 0, recording, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="page-weight", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", recording
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@dataclass
class BrowserWeight:
    files: list[Fetched] = field(default_factory=list)  # the first load, in the order they finished
    on_demand: list[tuple[str, Fetched]] = field(default_factory=list)  # (when, what)
    served_bytes: int = 0  # what the server sent for the first load, by its own count
    unseen: list[Served] = field(default_factory=list)  # served, but not seen by the page's CDP session

    def total(self, kind: str | None = None) -> int:
        return sum(f.body_bytes for f in self.files if kind is None or f.kind == kind)


def _kind_of(resource_type: str, path: str, mime: str) -> str:
    if resource_type == "Document" or "html" in mime:
        return "html"
    if resource_type == "Stylesheet" or "css" in mime:
        return "css"
    if resource_type == "Script" or "javascript" in mime:
        return "js"
    return _kind(path)


class _Network:
    """Responses one page received, from Chrome's own network events (CDP)."""

    def __init__(self, cdp: Any) -> None:
        self.pending: dict[str, dict[str, Any]] = {}
        self.done: list[Fetched] = []
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFinished", self._finished)

    def _sent(self, event: dict[str, Any]) -> None:
        self.pending[event["requestId"]] = {"url": event["request"]["url"], "type": event.get("type", "")}

    def _response(self, event: dict[str, Any]) -> None:
        item = self.pending.setdefault(event["requestId"], {"url": event["response"]["url"], "type": ""})
        response = event["response"]
        headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
        item.update(status=response["status"], encoding=headers.get("content-encoding"),
                    header_bytes=int(response.get("encodedDataLength", 0)), mime=response.get("mimeType", ""),
                    cached=bool(response.get("fromDiskCache") or response.get("fromServiceWorker")))

    def _finished(self, event: dict[str, Any]) -> None:
        item = self.pending.pop(event["requestId"], None)
        if not item or "status" not in item or not item["url"].startswith(("http:", "https:")):
            return  # data: URLs (the stylesheet's icons) cost nothing on the wire
        from urllib.parse import urlsplit

        parts = urlsplit(item["url"])
        path = parts.path + ("?" + parts.query if parts.query else "")
        total = int(event.get("encodedDataLength", 0))
        body = 0 if item["cached"] else max(0, total - item["header_bytes"])
        self.done.append(Fetched(_kind_of(item["type"], path, item["mime"]), path, item["status"], item["encoding"],
                                 body, item["header_bytes"], 0))

    def take(self) -> list[Fetched]:
        done, self.done = self.done, []
        return done


def _quiet(page: Any, recording: _Recording) -> None:
    """Wait until neither the browser nor the server has seen a request for QUIET_MS."""
    import time

    count, since = -1, time.monotonic()
    deadline = since + 60
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        if len(recording.served) != count:
            count, since = len(recording.served), time.monotonic()
        elif (time.monotonic() - since) * 1000 >= QUIET_MS:
            return
    raise RuntimeError("the page never went quiet")


def measure_in_browser(browser: Any, app: Any, email: str, password: str, photo: Path | None = None) -> BrowserWeight:
    """The first load of the form in Chromium (empty cache, signed in as `email`), then what the
    first keystroke and a chosen photo fetch on demand."""
    weight = BrowserWeight()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on the bench's output
    with serving(app) as (base, recording):
        # Chromium asks a plain-http origin for gzip only, except localhost, which it trusts like
        # https: asked here as it asks a laptop's LAN address (a phone on the office network).
        context = browser.new_context(base_url=base, viewport={"width": 390, "height": 844}, is_mobile=True,
                                      has_touch=True, locale="en-GB",
                                      extra_http_headers={"Accept-Encoding": ENCODING_HTTP})
        try:
            page = context.new_page()
            page.goto("/sign-in")
            page.get_by_label("E-mail").fill(email)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("navigation", name="Main").wait_for()
            _quiet(page, recording)
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.clearBrowserCache")  # what sign-in put there: an empty cache
            network = _Network(cdp)
            start = len(recording.served)
            page.goto(FORM_PATH)
            _quiet(page, recording)
            weight.files = network.take()
            first = recording.served[start:]
            weight.served_bytes = sum(s.body_bytes for s in first)
            seen = {f.path for f in weight.files}
            weight.unseen = [s for s in first if s.path not in seen]
            for s in weight.unseen:  # fetched by another target (a service worker): counted all the same
                weight.files.append(Fetched(_kind(s.path), s.path, s.status, s.encoding, s.body_bytes, 0, 0))

            moments: list[tuple[str, Any]] = [
                ("first input", lambda: page.locator("#locality").press_sequentially("K")),
            ]
            if photo is not None:
                moments.append(("file chosen", lambda: page.locator("#attachments-0-file").set_input_files(str(photo))))
            for when, action in moments:
                start = len(recording.served)
                action()
                _quiet(page, recording)
                seen_now = network.take()
                paths = {f.path for f in seen_now}
                seen_now += [Fetched(_kind(s.path), s.path, s.status, s.encoding, s.body_bytes, 0, 0)
                             for s in recording.served[start:] if s.path not in paths]
                weight.on_demand += [(when, f) for f in seen_now]
        finally:
            context.close()
    return weight


def browser_report(weight: BrowserWeight, budget: int = BUDGET_BYTES, brotli: dict[str, int] | None = None) -> str:
    lines = [f"{'kind':<5} {'status':>6} {'encoding':<8} {'on the wire':>11} {'headers':>8} {'br':>7}  path"]
    for f in weight.files:
        br = f"{brotli[f.path]:,}" if brotli and f.path in brotli else "-"
        lines.append(f"{f.kind:<5} {f.status:>6} {f.encoding or '-':<8} {f.body_bytes:>11,} {f.header_bytes:>8,} "
                     f"{br:>7}  {f.path}")
    for kind in ("html", "css", "js"):
        lines.append(f"{kind} total: {weight.total(kind):,} bytes")
    total = weight.total()
    headers = sum(f.header_bytes for f in weight.files)
    lines.append(f"first load total: {total:,} bytes of {budget:,} budget "
                 f"({'within' if total <= budget else 'OVER'} budget; headers {headers:,} bytes more; "
                 f"the server's own count of what it sent: {weight.served_bytes:,} bytes)")
    if brotli:
        lines.append(f"first load with brotli (the same files, Accept-Encoding: br): {sum(brotli.values()):,} bytes")
    for when, f in weight.on_demand:
        lines.append(f"on demand, at {when}: {f.kind} {f.status} {f.body_bytes:,} bytes {f.encoding or '-'} {f.path}")
    return "\n".join(lines)


def brotli_sizes(app: Any, email: str, paths: list[str]) -> dict[str, int]:
    """The same files, signed in through the test client, asking for brotli."""
    from tests.conftest import sign_in

    client = app.test_client()
    sign_in(client, email)
    sizes = {}
    for path in paths:
        sizes[path] = len(client.get(path, headers={"Accept-Encoding": "gzip, deflate, br, zstd"}).get_data())
    return sizes


def _app_and_reporter(folder: Path) -> tuple[Any, str]:
    from intake import create_app
    from intake.cli import upgrade_database
    from intake.enums import Role
    from tests.conftest import FAST_ARGON2, SECRET, make_org, make_user

    url = f"sqlite:///{folder / 'intake.sqlite3'}"
    upgrade_database(url)
    app = create_app({"SECRET_KEY": SECRET, "DATABASE_URL": url, "BROKER_URL": "filesystem://",
                      "INSTANCE_PATH": str(folder / "instance"), "ARGON2_PARAMS": FAST_ARGON2,
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False, "TESTING": True})
    with app.app_context():
        email = make_user(make_org("Bench"), Role.REPORTER).email
    return app, email


def _signed_in_client(folder: Path) -> Any:
    from tests.conftest import sign_in

    app, email = _app_and_reporter(folder)
    client = app.test_client()
    response = sign_in(client, email)
    if response.status_code != 302:
        raise SystemExit(f"sign-in failed: {response.status_code}")
    return client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=BUDGET_BYTES, help="bytes (default: %(default)s)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from tests.conftest import PASSWORD, jpeg_bytes

    with tempfile.TemporaryDirectory(prefix="page-weight-") as folder:
        app, email = _app_and_reporter(Path(folder))
        photo = Path(folder) / "crater.jpg"
        photo.write_bytes(jpeg_bytes((640, 480)))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                weight = measure_in_browser(browser, app, email, PASSWORD, photo)
            finally:
                browser.close()
        brotli = brotli_sizes(app, email, [f.path for f in weight.files if f.status == 200])
    print(f"page weight of {FORM_PATH}, first load in Chromium (empty cache, Accept-Encoding: gzip, deflate)")
    print(browser_report(weight, args.budget, brotli))
    return 0 if weight.total() <= args.budget else 1


if __name__ == "__main__":
    raise SystemExit(main())
