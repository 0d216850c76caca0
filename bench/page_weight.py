"""Page weight: what the empty new-report form costs on the wire at first load, against its budget.

Run from the repository root (nothing else to prepare: an embedded SQLite database in a temporary
folder, a reporter signed in through the real sign-in page):

    .venv/bin/python bench/page_weight.py                       # gzip, as Chromium over plain http
    .venv/bin/python bench/page_weight.py --encoding "gzip, deflate, br, zstd"   # as over https

First load = a browser with an empty cache opens /reports/new signed in as a reporter: the HTML,
then every stylesheet, script (deferred and async included) and preload the HTML names. Counted
are the body bytes as sent (compressed), the figure the budget is about; the headers are printed
beside them. Scripts the page only fetches when needed (named in a `data-…-src` attribute of a
static URL, such as the resumable-upload client loaded when a file is chosen) are listed as "on
demand" and not counted; docs/page-weight.md says why. Exit status 1 when over budget.

tests/test_delivery.py runs `measure` against the same budget: a byte count is not a timing, so
the budget is a test too.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
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


def _signed_in_client(folder: Path) -> Any:
    from intake import create_app
    from intake.cli import upgrade_database
    from intake.enums import Role
    from tests.conftest import FAST_ARGON2, SECRET, make_org, make_user, sign_in

    url = f"sqlite:///{folder / 'intake.sqlite3'}"
    upgrade_database(url)
    app = create_app({"SECRET_KEY": SECRET, "DATABASE_URL": url, "BROKER_URL": "filesystem://",
                      "INSTANCE_PATH": str(folder / "instance"), "ARGON2_PARAMS": FAST_ARGON2,
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False, "TESTING": True})
    with app.app_context():
        reporter = make_user(make_org("Bench"), Role.REPORTER)
        email = reporter.email
    client = app.test_client()
    response = sign_in(client, email)
    if response.status_code != 302:
        raise SystemExit(f"sign-in failed: {response.status_code}")
    return client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoding", default=DEFAULT_ENCODING, help="Accept-Encoding sent (default: %(default)s)")
    parser.add_argument("--budget", type=int, default=BUDGET_BYTES, help="bytes (default: %(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="page-weight-") as folder:
        weight = measure(_signed_in_client(Path(folder)), args.encoding)
    print(f"page weight of {FORM_PATH}, first load, Accept-Encoding: {args.encoding}")
    print(report(weight, args.budget))
    return 0 if weight.total() <= args.budget else 1


if __name__ == "__main__":
    raise SystemExit(main())
