"""No route answers 500, whatever is put in its path, query string or form (issue 12, item 19).

A property-based test: for every rule of the app's URL map and every method it takes, hypothesis
draws path values (real ids of this organisation's report, incident and people, and arbitrary text),
a query string and form fields (the names every form and view reads, and arbitrary ones; values from
arbitrary text to 30-digit integers, dates at the end of the calendar and cursor-shaped tokens), and
sends them through the Flask test client — anonymous, and signed in as each role. Any 5xx, or an
exception the app did not turn into a page, fails the test with the request that caused it.

The number of examples is bounded so that the whole file runs in well under a minute; set
INTAKE_FUZZ_EXAMPLES for a longer run. Examples are derandomized so that CI is repeatable.
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from intake.enums import Role
from intake.extensions import db
from intake.models import Incident
from tests.conftest import csrf_token, make_token, make_user, sign_in
from tests.test_verify import triaged_report

EXAMPLES = int(os.environ.get("INTAKE_FUZZ_EXAMPLES", "3"))
ROLES = [None, Role.REPORTER, Role.VERIFIER, Role.COORDINATOR, Role.ADMIN]
# Signing out, signing in again and the second-factor steps would end or lock the session the rest of
# the run uses (six wrong codes lock the account): they are tried by the anonymous client.
SIGNED_IN_ONLY_AUTH = {"auth.index", "auth.account"}


def _form_field_names() -> list[str]:
    """Every field name of every form the app defines, and every argument a view reads itself."""
    from wtforms import Form

    import intake.forms
    import intake.review_forms
    import intake.web.incidents  # noqa: F401  (its forms)

    names: set[str] = {"action", "after", "answered", "before", "captured_at", "description", "file", "next",
                       "person", "row_action", "state", "tab", "since", "until", "sort", "page", "cursor",
                       "reason", "q"}
    pending = list(Form.__subclasses__())
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        names.update(name for name in dir(form) if not name.startswith("_")
                     and getattr(getattr(form, name), "field_class", None) is not None)
    return sorted(names)


# What the views read from the query string (request.args and the queue's filter form).
QUERY_NAMES = ["action", "after", "before", "person", "since", "until", "tab", "sort", "incident_type",
               "occurred_from", "occurred_to", "admin1", "delivery_platform", "munition", "grade", "has_media",
               "claimed_by", "next", "file", "state"]


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


HUGE = st.one_of(st.integers(min_value=-(2**80), max_value=2**80),
                 st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**24, 2**31]))
SPECIAL = st.sampled_from([
    "", " ", "0", "-1", "1", "9" * 30, "-" + "9" * 30, "999999999999999999999999", "1e400", "NaN", "inf",
    "9999-12-31", "0001-01-01", "2026-02-30", "2026-13-01", "10000-01-01", "2026-03-14T06:40:00+14:00",
    "true", "null", "[]", "{}", "\x00", "nul\x00byte", "%00", "\r\nX: y", "../../etc/passwd", "/\\evil.example",
    "<script>", "' OR 1=1 --", "\ud7ff" * 3, "x" * 5000,
])
CURSORS = st.one_of(
    st.builds(lambda n, m: _cursor(["priority", n, "2026-01-01T00:00:00+00:00", m]), HUGE, HUGE),
    st.builds(lambda n: _cursor(["newest", "9999-12-31T23:59:59+00:00", n]), HUGE),
    st.builds(lambda n: _cursor(["occurred", "9999-12-31", n]), HUGE),
    st.builds(lambda n: base64.urlsafe_b64encode(f"9999-12-31T23:59:59|{n}".encode()).decode(), HUGE),
    st.builds(lambda t: base64.urlsafe_b64encode(t.encode()).decode(), st.text(max_size=40)),
)
NASTY = st.one_of(SPECIAL, HUGE.map(str), CURSORS, st.text(max_size=40))
# Values a view takes, so that one nasty value is not hidden behind another parameter's 400.
PLAIN = st.sampled_from(["", "1", "2", "2026-03-14", "yes", "no", "newest", "oldest", "triage", "mine"])
VALUES = st.one_of(NASTY, PLAIN)


def _names_read_by(view: Any, known: set[str], method: str) -> list[str]:
    """The parameter names a view's code mentions (quoted names the app knows, and the fields of the
    forms it makes — for GET, of the forms it fills from the query string): what that route's query
    string or form is drawn from."""
    import inspect

    from wtforms import Form

    try:
        source = inspect.getsource(view)
    except (OSError, TypeError):
        return []
    names = set(re.findall(r'"([a-z_]+)"', source)) & known
    module = inspect.getmodule(view)
    pattern = r"([A-Z][A-Za-z]+Form)\(request\.args" if method == "GET" else r"([A-Z][A-Za-z]+Form)\("
    for form_name in re.findall(pattern, source):
        form = getattr(module, form_name, None)
        if isinstance(form, type) and issubclass(form, Form):
            names |= {n for n in dir(form) if getattr(getattr(form, n), "field_class", None) is not None}
    return sorted(names)


DATE_EDGES = st.sampled_from(["9999-12-31", "0001-01-01", "10000-01-01", "2026-02-30", "9999-12-31T23:59:59-14:00"])


def _plain_for(name: str) -> st.SearchStrategy[str]:
    """A value the view takes for `name`: empty (what most views read as absent), or a date or a
    small number where the name says so."""
    if re.search(r"since|until|_on$|_from$|_to$|date", name):
        return st.sampled_from(["", "2026-03-14"])
    if re.search(r"before|killed|injured|missing|displaced|age|number", name):
        return st.sampled_from(["", "1"])
    return st.just("")


def _parameters(names: list[str], others: st.SearchStrategy[dict[str, str]]) -> st.SearchStrategy[dict[str, str]]:
    """A view's parameters: each present with a value it takes or absent, and one of them nasty, so that
    a nasty value is not hidden behind another parameter's 400; and maybe another name."""
    if not names:
        return others
    nasty = st.one_of(HUGE.map(str), DATE_EDGES, NASTY)

    def build(plain: dict[str, str], target: str, value: str, other: dict[str, str]) -> dict[str, str]:
        return {**other, **plain, target: value}

    plain = {name: _plain_for(name) for name in names}
    return st.builds(build, st.fixed_dictionaries({}, optional=plain), st.sampled_from(names), nasty, others)


def _strip_surrogates(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


@pytest.fixture
def world(app: Any, org: Any, reporter: Any) -> dict[str, Any]:
    """One organisation with a user of each role, a triaged report and an incident."""
    app.config["RATELIMIT_ENABLED"] = False
    users = {Role.REPORTER: reporter}
    for role in (Role.VERIFIER, Role.COORDINATOR, Role.ADMIN):
        users[role] = make_user(org, role)
    report = triaged_report(app, reporter)
    ids = [report.public_id, users[Role.ADMIN].public_id, users[Role.REPORTER].public_id]
    ids += [a.public_id for a in report.attachments]
    incident = db.session.query(Incident).first()
    if incident is not None:
        ids.append(incident.public_id)
    token = make_token(reporter)
    db.session.rollback()
    return {"users": users, "ids": ids, "token": token}


def _client(app: Any, world: dict[str, Any], role: Role | None) -> tuple[Any, str]:
    """A client signed in as `role` (or anonymous), and a CSRF token of its session: every form is
    sent with it, so that the fields behind the token are what is fuzzed."""
    client = app.test_client()
    if role is not None:
        response = sign_in(client, world["users"][role].email)
        assert response.status_code == 302, response.status_code
    page = client.get("/account" if role is not None else "/sign-in").get_data(as_text=True)
    return client, csrf_token(page)


# Values at the edges a view must refuse or take, tried in every parameter every view reads, one at a
# time, before the random draws: integers beyond 64 bits, the calendar's edges, a Unicode digit, a NUL
# and cursors that decode to such values.
# Forms get the first few (a form's fields are many, and none of them is a cursor).
EDGES = ["9" * 24, "9999-12-31", "a\x00b", str(2**63), str(-(2**63) - 1), "0001-01-01", "10000-01-01", "\u00b2",
         _cursor(["priority", 2**70, "2026-01-01T00:00:00+00:00", 1]),
         _cursor(["newest", "9999-12-31T23:59:59-14:00", 1]), _cursor(["occurred", "2026-01-01", -(2**70)]),
         base64.urlsafe_b64encode(f"2026-01-01T00:00:00|{2**70}".encode()).decode()]
FORM_EDGES = EDGES[:3]


def _rules(app: Any, role: Role | None) -> list[tuple[Any, str]]:
    """Every rule and method of the URL map the client of `role` tries."""
    rules = sorted(((rule, method) for rule in app.url_map.iter_rules()
                    for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})),
                   key=lambda item: (item[0].rule, item[1]))
    return [(rule, method) for rule, method in rules
            if role is None or not (rule.endpoint.startswith("auth.") and rule.endpoint not in SIGNED_IN_ONLY_AUTH)]


def _path(rule: Any, values: dict[str, str]) -> str:
    path = rule.rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", quote(value, safe="")).replace(f"<path:{name}>", quote(value, safe="/"))
    return path


def _send(client: Any, token: str, world: dict[str, Any], rule: Any, method: str, path: str,
          query: dict[str, str], form: dict[str, str]) -> Any:
    """The request; what went wrong, if it answered 5xx or raised (None when it did not)."""
    headers = {"Authorization": f"Bearer {world['token']}"} if rule.rule.startswith("/api/") else {}
    kwargs: dict[str, Any] = {"query_string": query, "headers": headers}
    if method == "POST":
        if rule.rule.startswith("/api/"):
            kwargs["json"] = form
        else:
            kwargs["data"] = {**form, "csrf_token": token}
    sent = (method, path, query, kwargs.get("data") or kwargs.get("json"))
    try:
        response = client.open(path, method=method, **kwargs)
    except Exception as exc:  # an error no handler turned into a page: the 500 of production
        return (*sent, type(exc).__name__, str(exc)[:200])
    # /healthz answers 503 when the broker or a worker is missing, as here: that is its job.
    if response.status_code >= 500 and not (rule.endpoint == "health.healthz" and response.status_code == 503):
        return (*sent, response.status_code)
    return None


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value if role else "anonymous")
def test_no_route_answers_500(app: Any, world: dict[str, Any], role: Role | None) -> None:
    client, token = _client(app, world, role)
    rules = _rules(app, role)
    names = _form_field_names()
    known = set(names) | set(QUERY_NAMES)
    read = {(rule.endpoint, method): _names_read_by(app.view_functions[rule.endpoint], known, method)
            for rule, method in rules}

    # The edges, one parameter at a time, on this organisation's report (or file, or incident).
    failures: list[Any] = []
    for rule, method in rules:
        path = _path(rule, dict.fromkeys(rule.arguments, world["ids"][0]))
        for name in read[(rule.endpoint, method)]:
            for edge in EDGES if method == "GET" else FORM_EDGES:
                query, form = ({name: edge}, {}) if method == "GET" else ({}, {name: edge})
                if (failure := _send(client, token, world, rule, method, path, query, form)) is not None:
                    failures.append(failure)
    assert not failures, "\n".join(repr(f) for f in failures)

    # Then random draws: path values from real ids and arbitrary text; query strings and forms from
    # the names the route's view reads, each present or not, and maybe another one (a name any form of
    # the app has, or an arbitrary one).
    path_values = st.one_of(st.sampled_from(world["ids"]), st.text(min_size=1, max_size=30), SPECIAL,
                            HUGE.map(str))
    others = st.dictionaries(st.one_of(st.sampled_from(names), st.text(max_size=12)), VALUES, max_size=2)
    per_route = {key: _parameters(route_names, others) for key, route_names in read.items()}

    # No shrinking: a failure already names the request, and shrinking a whole tour of the routes
    # takes minutes.
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def every_route(data: st.DataObject) -> None:
        failures: list[Any] = []
        for rule, method in rules:
            path = _path(rule, {name: _strip_surrogates(data.draw(path_values, label=f"{rule.rule} <{name}>")) or "x"
                                for name in rule.arguments})
            query = {_strip_surrogates(k): _strip_surrogates(v)
                     for k, v in data.draw(per_route[(rule.endpoint, "GET")] if method == "GET" else others,
                                           label=f"{method} {rule.rule} query").items()}
            drawn = data.draw(per_route[(rule.endpoint, method)], label=f"{method} {rule.rule} form")
            form = {_strip_surrogates(k): _strip_surrogates(v) for k, v in drawn.items()} if method == "POST" else {}
            if (failure := _send(client, token, world, rule, method, path, query, form)) is not None:
                failures.append(failure)
        assert not failures, "\n".join(repr(f) for f in failures)
        if role is not None:  # still signed in: the next example reaches what this role may see
            assert client.get("/account").status_code == 200, "the fuzzed requests ended the session"

    every_route()
