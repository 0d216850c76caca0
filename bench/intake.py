"""Load bench for intake on PostgreSQL + Redis, with its ceiling, and a soak mode that kills the worker.

Run from the repository root (PostgreSQL and Redis running locally; nothing else to prepare):

    .venv/bin/python bench/intake.py                      # load run: ceiling + 4 intake scenarios
    .venv/bin/python bench/intake.py --soak               # 10 minutes, the worker SIGKILLed every minute
    .venv/bin/python bench/intake.py --soak --soak-seconds 180
    .venv/bin/python bench/intake.py --help               # every option

The bench sets everything up itself: it EMPTIES the `public` schema of
--database-url (default: database `bench`) and FLUSHES the Redis database of --broker-url (default:
db 12), migrates with `intake db upgrade`, creates an organisation, a reporter (`intake user create
--password-stdin`) and an API token, and uses a temporary instance folder for uploads and logs
(removed at the end unless --keep or the run failed; the database stays as the run left it).

**Load run.** First the ceiling: `bench/ceiling_app.py`, a bare Flask app on gunicorn with the same
worker count and class that parses the same JSON body and inserts one row. Then `intake serve`
(gunicorn + a Celery worker with beat) and four scenarios, each with --clients concurrent clients
(threads with their own HTTP connection, as fast as answers come) for --warmup + --duration seconds:

    api          POST /api/v1/reports, a complete report as JSON (tests.conftest.complete_report)
    api+photo    the same, then POST …/attachments with a small JPEG; accepted when both succeeded
    form         the web form: each client signs in once and opens /reports/new once, then posts the
                 complete form (tests.test_field.form_fields) as multipart with a fresh submission id;
                 accepted = 302 to the receipt
    form+photo   the same with a small JPEG in the first file row

The reports are 512 variants of those complete reports (`report_variants`: date and time within the
last year, one of eight towns with a point within about 5 km, account, victims, witness and counts
drawn at random with a fixed seed), sent in turn, as reports from many field workers differ; the
photo (480×360, EXIF time and GPS) gets a comment segment of random bytes for every upload, so each
upload is a new file as each field worker's photo is. (All-identical reports made every report a
duplicate candidate of every earlier one: the workers' duplicate step read more for each report.)

After each scenario the bench waits until the workers have drained the backlog (no pipeline job
pending, every accepted submission filed) — as long as they keep working it off, up to
--drain-timeout; a backlog that does not shrink for 120 s is given up — and checks in the database
that every report the server acknowledged exists, is in `triage`, went there exactly once, and that
every acknowledged photo was checked by the worker.

How to read the table: `reports/s` counts accepted reports in the measured window (warm-up excluded;
for api+photo one report is two requests, `req/s` counts requests); p50/p95/p99 are per request, in
ms, client side; `errors` are answers other than the expected one, and connection failures,
warm-up included; `drain s` is the time from the last answer until every accepted report is filed
and no job is pending. `intake api /
ceiling` is the api scenario's reports/s over the ceiling's. The `CPU in cores` lines say who used
the machine while each scenario ran (from /proc: web = gunicorn, worker = Celery, postgres = every
PostgreSQL process, other = everything else on the machine): divided by reports/s they give the CPU
each report costs, and a large `other` means something outside the bench disturbed the run.

The workers run beside the load as `intake serve` runs them: at idle CPU priority, and stepping back
while reports arrive faster than INTAKE_PIPELINE_YIELD_ABOVE_PER_SECOND (default 20/s; each task waits
at most INTAKE_PIPELINE_YIELD_MAX_SECONDS), so the scenarios above that rate leave their filing and
pipeline work to the drain, which `drain s` measures.

The target (the issue's): the api scenario at ≥ 50 % of the ceiling's rate with p99 < 250 ms, zero
errors and zero lost reports in every scenario. Load generator and servers share the machine's
cores — the same for the ceiling. A missed target is printed as MISSED and FAIL, never adjusted.

**Soak** (--soak): gunicorn, a Celery worker and Celery beat as separate processes; API clients at
a moderate, fixed rate (--soak-rate, every other report with a photo) for --soak-seconds while the
worker's whole process group is SIGKILLed every --kill-every seconds and started again. The pipeline
pauses --step-delay before each step, so kills land mid-task, and the deadline and sweep are short
(--deadline, --sweep-interval) so the sweep re-dispatches what a dead worker held. At the end it
waits for the drain and checks that every acknowledged report reached triage exactly once.

Exit status: 0 PASS; 1 a correctness check failed (errors, lost or duplicated reports, unchecked
files, no drain) or the run could not be carried out; 2 only the performance target was missed.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Run as `python bench/intake.py`, this folder comes first on sys.path, and this file would shadow
# the `intake` package that the test builders import: look in the repository root instead.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

from intake.cli import GUNICORN_WEB_OPTIONS  # noqa: E402  (the ceiling runs gunicorn as intake serve does)

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/12"
SCENARIOS = ("api", "api+photo", "form", "form+photo")
TARGET_RATIO = 0.5
TARGET_P99_MS = 250.0
ORG = "Bench NGO"
REPORTER = "bench-reporter@example.org"
REQUEST_TIMEOUT = 30.0
RECEIPT_RE = re.compile(r"/reports/([0-9a-f-]{36})/receipt")
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# The sweep's log line, old and new wording: how many overdue reports it dispatched again.
SWEEP_LOG_RE = re.compile(r"sweep: (?:dispatched (\d+) overdue|\d+ overdue report\(s\), (\d+) dispatched again)")
SUBMISSION_RE = re.compile(r'id="submission_id" name="submission_id" type="hidden" value="([^"]+)"')

EXIT_PASS, EXIT_BROKEN, EXIT_SLOW = 0, 1, 2


class BenchError(RuntimeError):
    """The bench could not be carried out (a server did not start, a setup step failed)."""


# ---- what the clients send ----------------------------------------------------------------------


@dataclass
class Payloads:
    """What the clients send: `VARIANTS` different complete reports, each as the API's JSON and as
    the form's fields, and a small photo made unique for every upload (`photo_bytes`)."""

    api_bodies: list[bytes]
    form_overrides: list[dict[str, str]]
    photo: bytes
    form_fields: Callable[..., dict[str, Any]]
    _next: itertools.count = field(default_factory=itertools.count)

    def api_body(self) -> bytes:
        return self.api_bodies[next(self._next) % len(self.api_bodies)]

    def form(self, csrf: str, submission_id: str) -> dict[str, Any]:
        overrides = self.form_overrides[next(self._next) % len(self.form_overrides)]
        return self.form_fields(csrf, submission_id, **overrides)

    def photo_bytes(self) -> bytes:
        """The photo with a comment segment of random bytes after its EXIF: a new file each time (as
        every field worker's photo is), the same picture, metadata and size."""
        at = 2  # after SOI, past the APPn segments (JFIF, EXIF) that readers expect first
        while self.photo[at] == 0xFF and 0xE0 <= self.photo[at + 1] <= 0xEF:
            at += 2 + int.from_bytes(self.photo[at + 2:at + 4])
        comment = b"\xff\xfe" + (2 + 16).to_bytes(2) + secrets.token_bytes(16)
        return self.photo[:at] + comment + self.photo[at:]


VARIANTS = 512
_TOWNS = [("Syunik", "Goris", "Khndzoresk", 39.51, 46.44), ("Syunik", "Kapan", "Kapan", 39.21, 46.41),
          ("Tavush", "Ijevan", "Berkaber", 41.05, 45.26), ("Gegharkunik", "Vardenis", "Sotk", 40.21, 45.98),
          ("Ararat", "Artashat", "Yeraskh", 39.74, 44.73), ("Vayots Dzor", "Yeghegnadzor", "Areni", 39.72, 45.18),
          ("Syunik", "Meghri", "Agarak", 38.87, 46.18), ("Tavush", "Noyemberyan", "Voskepar", 41.14, 45.02)]
_GIVEN = ["Anahit", "Aram", "Lusine", "Tigran", "Mariam", "Davit", "Narine", "Hayk", "Sona", "Levon", "Gayane", "Karen"]
_FAMILY = ["Petrosyan", "Hakobyan", "Sargsyan", "Grigoryan", "Avetisyan", "Harutyunyan", "Mkrtchyan", "Vardanyan"]
_OPENINGS = ["At dawn a drone struck the bakery queue on the main street.",
             "Shells landed near the school while children were arriving.",
             "A loitering munition hit a car on the road out of the village.",
             "Two strikes, ten minutes apart, hit the market square.",
             "Artillery fire reached the houses on the northern edge in the evening."]
_DETAILS = ["Neighbours carried the wounded to the clinic.", "The roof of the community hall collapsed.",
            "Windows were blown out along the whole street.", "Fragments with markings were collected by residents.",
            "The power line was cut and the water pump stopped.", "People sheltered in basements until noon."]


def report_variants(count: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """`count` different complete reports (the suite's complete report with its date, time, place,
    account, people and counts varied, as reports from many field workers are), as the API's JSON
    bodies and as overrides of the form's fields."""
    import datetime as dt
    import random

    from tests.conftest import complete_report

    rng = random.Random(seed)
    today = dt.date.today()
    bodies, forms = [], []
    for _ in range(count):
        admin1, admin2, locality, lat, lon = rng.choice(_TOWNS)
        day = today - dt.timedelta(days=rng.randrange(1, 365))
        time_of_day = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}"
        latitude, longitude = round(lat + rng.uniform(-0.05, 0.05), 5), round(lon + rng.uniform(-0.05, 0.05), 5)
        family = rng.choice(_FAMILY)
        # At least the one killed and the one injured person the report lists (a table below the list
        # makes the form ask the reporter to confirm the figures, intake.casualties).
        killed, injured = rng.randrange(1, 3), rng.randrange(1, 4)
        victim, relative, witness = (f"{rng.choice(_GIVEN)} {family}", f"{rng.choice(_GIVEN)} {family}",
                                     f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}")
        narrative = " ".join([rng.choice(_OPENINGS), *rng.sample(_DETAILS, rng.randrange(1, 4)),
                              f"{victim} was among those hit near {locality}."])
        phone = f"+374 9{rng.randrange(10)} {rng.randrange(100000, 999999)}"
        body = complete_report(occurred_on=day.isoformat(), occurred_time=time_of_day, admin1=admin1, admin2=admin2,
                               locality=locality, latitude=latitude, longitude=longitude, narrative=narrative,
                               killed={"women": killed}, injured={"boys": injured}, displaced=rng.randrange(0, 40))
        body["victims"][0]["name"], body["victims"][1]["name"] = victim, relative
        email = f"{witness.split()[0].lower()}.{rng.randrange(1000)}@example.org"
        body["witnesses"][0].update(name=witness, phone=phone, email=email)
        bodies.append(body)
        forms.append({
            "occurred_on": day.isoformat(), "occurred_time": time_of_day, "admin1": admin1, "admin2": admin2,
            "locality": locality, "latitude": str(latitude), "longitude": str(longitude), "narrative": narrative,
            "narrative_language": "en", "killed_women": str(killed), "injured_boys": str(injured),
            "victims-0-name": victim, "victims-1-name": relative, "witnesses-0-name": witness,
            "witnesses-0-phone": phone, "witnesses-0-email": email, "displaced": str(rng.randrange(0, 40)),
        })
    return bodies, forms


def payloads() -> Payloads:
    """`VARIANTS` complete reports (JSON and form) and a small real photo with EXIF time and GPS."""
    from bench.common import photo
    from tests.test_field import form_fields

    bodies, forms = report_variants(VARIANTS)
    return Payloads([json.dumps(body).encode() for body in bodies], forms, photo(), form_fields)


def multipart(fields: Iterable[tuple[str, str]],
              files: Iterable[tuple[str, str, str, bytes]] = ()) -> tuple[str, bytes]:
    boundary = "bench" + secrets.token_hex(12)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields
    ]
    for name, filename, content_type, content in files:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n")
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


# ---- an HTTP client per simulated field worker --------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float


class Http:
    """One keep-alive connection (reopened when the server closes it) and the cookies it was given."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, body: bytes | str | None = None,
             headers: dict[str, str] | None = None) -> Answer:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except BaseException:
            self.conn.close()
            raise
        seconds = time.perf_counter() - started
        for value in response.headers.get_all("Set-Cookie") or []:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(value)
            for name, morsel in cookie.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        if response.will_close:
            self.conn.close()
        return Answer(response.status, response.headers, data, seconds)

    def close(self) -> None:
        self.conn.close()


@dataclass
class Outcome:
    """One simulated submission: the report the server acknowledged (if any), whether it was accepted
    in full, the files acknowledged with it, the latency of each request, and what went wrong."""

    report_id: str | None
    accepted: bool
    files: int
    latencies: list[float]
    error: str | None = None


def _failure(what: str, answer: Answer) -> str:
    return f"{what}: HTTP {answer.status}"


class Scenario:
    """How one kind of client prepares (once) and submits one report (again and again)."""

    name = ""

    def __init__(self, payloads: Payloads, token: str, password: str) -> None:
        self.p = payloads
        self.token = token
        self.password = password

    def prepare(self, http: Http) -> dict[str, Any]:
        return {}

    def submit(self, http: Http, state: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                "Idempotency-Key": f"bench-{uuid.uuid4().hex}"}


class ApiScenario(Scenario):
    def __init__(self, payloads: Payloads, token: str, password: str, photo: bool) -> None:
        super().__init__(payloads, token, password)
        self.photo = photo
        self.name = "api+photo" if photo else "api"

    def submit(self, http: Http, state: dict[str, Any]) -> Outcome:
        first = http.send("POST", "/api/v1/reports", self.p.api_body(), self.api_headers())
        if first.status != 201:
            return Outcome(None, False, 0, [first.seconds], _failure("report", first))
        report_id = json.loads(first.body)["id"]
        if not self.photo:
            return Outcome(report_id, True, 0, [first.seconds])
        content_type, body = multipart([("captured_at", "2026-03-14T07:05"), ("description", "Crater")],
                                       [("file", "crater.jpg", "image/jpeg", self.p.photo_bytes())])
        second = http.send("POST", f"/api/v1/reports/{report_id}/attachments", body,
                           {"Authorization": f"Bearer {self.token}", "Content-Type": content_type})
        if second.status != 201:
            return Outcome(report_id, False, 0, [first.seconds, second.seconds], _failure("attachment", second))
        return Outcome(report_id, True, 1, [first.seconds, second.seconds])


class FormScenario(Scenario):
    def __init__(self, payloads: Payloads, token: str, password: str, photo: bool) -> None:
        super().__init__(payloads, token, password)
        self.photo = photo
        self.name = "form+photo" if photo else "form"

    def prepare(self, http: Http) -> dict[str, Any]:
        page = http.send("GET", "/sign-in")
        found = CSRF_RE.search(page.body.decode())
        if page.status != 200 or not found:
            raise BenchError(f"sign-in page: HTTP {page.status}")
        signed = http.send("POST", "/sign-in",
                           urlencode({"email": REPORTER, "password": self.password, "csrf_token": found.group(1)}),
                           {"Content-Type": "application/x-www-form-urlencoded"})
        if signed.status != 302:
            raise BenchError(f"sign-in: HTTP {signed.status}")
        form = http.send("GET", "/reports/new")
        html = form.body.decode()
        token, submission = CSRF_RE.search(html), SUBMISSION_RE.search(html)
        if form.status != 200 or not token or not submission:
            raise BenchError(f"/reports/new: HTTP {form.status}, no CSRF token or submission id")
        return {"csrf": token.group(1), "next_submission": submission.group(1)}

    def submit(self, http: Http, state: dict[str, Any]) -> Outcome:
        submission_id = state.pop("next_submission", None) or str(uuid.uuid4())
        fields = self.p.form(state["csrf"], submission_id)
        files = [("attachments-0-file", "crater.jpg", "image/jpeg", self.p.photo_bytes())] if self.photo else []
        content_type, body = multipart(((k, str(v)) for k, v in fields.items()), files)
        answer = http.send("POST", "/reports/new", body, {"Content-Type": content_type})
        found = RECEIPT_RE.search(answer.headers.get("Location", "")) if answer.status == 302 else None
        if found is None:
            return Outcome(None, False, 0, [answer.seconds], _failure("form", answer))
        return Outcome(found.group(1), True, int(self.photo), [answer.seconds])


class CeilingScenario(Scenario):
    name = "ceiling"

    def submit(self, http: Http, state: dict[str, Any]) -> Outcome:
        answer = http.send("POST", "/ceiling", self.p.api_body(), self.api_headers())
        if answer.status != 201:
            return Outcome(None, False, 0, [answer.seconds], _failure("ceiling", answer))
        return Outcome(None, True, 0, [answer.seconds])


class MixedApiScenario(Scenario):
    """The soak's load: API reports, every other one with a photo."""

    name = "soak api"

    def __init__(self, payloads: Payloads, token: str, password: str) -> None:
        super().__init__(payloads, token, password)
        self.plain = ApiScenario(payloads, token, password, photo=False)
        self.photo = ApiScenario(payloads, token, password, photo=True)

    def submit(self, http: Http, state: dict[str, Any]) -> Outcome:
        state["n"] = state.get("n", 0) + 1
        return (self.photo if state["n"] % 2 else self.plain).submit(http, state)


# ---- the load generator -------------------------------------------------------------------------


@dataclass
class LoadResult:
    name: str
    clients: int
    accepted: int = 0  # in the measured window
    requests: int = 0  # in the measured window
    seconds: float = 0.0  # length of the measured window
    latencies: list[float] = field(default_factory=list)  # measured window, per request
    errors: Counter[str] = field(default_factory=Counter)  # warm-up included
    acknowledged: dict[str, int] = field(default_factory=dict)  # report id -> files acknowledged
    cpu: dict[str, float] = field(default_factory=dict)  # cores used by each component, warm-up included
    drain_seconds: float | None = None
    check: Check | None = None

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def request_rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the request latencies, in ms."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


def run_load(scenario: Scenario, host: str, port: int, clients: int, duration: float, warmup: float,
             stop: threading.Event, rate: float | None = None) -> LoadResult:
    """`clients` threads submit reports for `warmup` + `duration` seconds, as fast as answers come
    or, with `rate`, at that many reports per second in all."""
    result = LoadResult(scenario.name, clients)
    lock = threading.Lock()
    times: dict[str, float] = {}
    records: list[list[tuple[float, float, Outcome]]] = [[] for _ in range(clients)]
    failures: list[BaseException] = []

    def start_clock() -> None:
        times["start"] = time.monotonic()
        times["measure"] = times["start"] + warmup
        times["end"] = times["measure"] + duration

    meter: list[CpuMeter] = []
    barrier = threading.Barrier(clients, action=lambda: (start_clock(), meter.append(CpuMeter())))

    def client(index: int) -> None:
        connection = Http(host, port)
        try:
            state = scenario.prepare(connection)
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()
            return
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        interval = clients / rate if rate else 0.0
        next_send = times["start"] + index * interval / clients
        while not stop.is_set():
            if interval:
                pause = next_send - time.monotonic()
                if pause > 0 and stop.wait(pause):
                    break
                next_send += interval
            began = time.monotonic()
            if began >= times["end"]:
                break
            try:
                outcome = scenario.submit(connection, state)
            except Exception as exc:  # a failed request is an error to count, never the end of a client
                outcome = Outcome(None, False, 0, [], type(exc).__name__)
            records[index].append((began, time.monotonic(), outcome))
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True, name=f"client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    if meter:
        result.cpu = meter[0].stop()
    if failures:
        raise BenchError(f"{scenario.name}: a client could not prepare: {failures[0]}")
    last = times.get("measure", 0.0)
    for per_client in records:
        for began, ended, outcome in per_client:
            with lock:
                if outcome.report_id:
                    result.acknowledged[outcome.report_id] = outcome.files
                if outcome.error:
                    result.errors[outcome.error] += 1
                if began < times["measure"]:
                    continue
                last = max(last, ended)
                result.requests += len(outcome.latencies)
                result.latencies.extend(outcome.latencies)
                result.accepted += outcome.accepted
    result.seconds = max(0.0, last - times.get("measure", 0.0))
    return result


CPU_GROUPS = ("web", "worker", "postgres", "redis", "load generator", "kernel irq", "other")


class CpuMeter:
    """CPU time by component over a window, read from /proc: who used the machine's cores.

    `postgres` is every PostgreSQL process (other databases' too); `other` is everything else on the
    machine, including processes that ended during the window (another job's tests, say)."""

    def __init__(self) -> None:
        self.start = self._snapshot()

    @staticmethod
    def _snapshot() -> tuple[float, int, int, dict[int, tuple[int, int, bytes]]]:
        ticks: dict[int, tuple[int, int, bytes]] = {}
        try:
            with open("/proc/stat") as stat:
                values = [int(v) for v in stat.readline().split()[1:9]]
            entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
        except OSError:
            return time.monotonic(), 0, 0, ticks
        for name in entries:
            try:
                fields = Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()
                command = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            # CPU ticks, and the start time that tells a reused pid from the process it had before
            # (not the command line: PostgreSQL backends rewrite theirs with every statement).
            ticks[int(name)] = (int(fields[11]) + int(fields[12]), int(fields[19]), command)
        return time.monotonic(), sum(values) - values[3] - values[4], values[5] + values[6], ticks

    @staticmethod
    def _group(pid: int, command: bytes) -> str:
        if pid == os.getpid():
            return "load generator"
        if b"gunicorn" in command or b"intake\x00serve" in command:
            return "web"
        if b"celery" in command:
            return "worker"
        if command.startswith(b"postgres") or b"/postgres\x00" in command:
            return "postgres"
        if command.startswith(b"redis-server"):
            return "redis"
        return "other"

    def stop(self) -> dict[str, float]:
        """Cores used by each group (1.0 = one core busy all the time), and `busy` for the machine."""
        (t0, busy0, irq0, before), (t1, busy1, irq1, after) = self.start, self._snapshot()
        hz, wall = os.sysconf("SC_CLK_TCK"), max(t1 - t0, 1e-9)
        groups: Counter[str] = Counter()
        for pid, (ticks, started, command) in after.items():
            earlier = before.get(pid)
            groups[self._group(pid, command)] += ticks - (earlier[0] if earlier and earlier[1] == started else 0)
        groups["kernel irq"] = irq1 - irq0
        groups["other"] += max(0, (busy1 - busy0) - sum(groups.values()))
        cores = {name: groups[name] / hz / wall for name in CPU_GROUPS}
        cores["busy"] = (busy1 - busy0) / hz / wall
        return cores


# ---- processes ----------------------------------------------------------------------------------


class Process:
    """A server we started in its own process group, with its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.command, self.env, self.log_path = name, command, env, log_path
        self.popen: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            # Our own tools from this virtualenv, arguments built here: no shell, no user input.
            self.popen = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log,  # noqa: S603
                                          stderr=subprocess.STDOUT, start_new_session=True)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def _signal_group(self, signum: int) -> None:
        if self.popen is not None:
            try:
                os.killpg(self.popen.pid, signum)  # the group this process leads (start_new_session)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would."""
        self._signal_group(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait()

    def stop(self, timeout: float = 30.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # leftovers of the group, if any

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(process: Process, port: int, timeout: float = 240.0) -> None:
    """Wait for /healthz to answer 200: the web app up and the worker seen. The worker imports the
    anonymizer's models at start, which takes minutes on a loaded two-core machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running():
            raise BenchError(f"{process.name} exited:\n{process.tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.3)
    raise BenchError(f"{process.name} not healthy within {timeout:.0f} s:\n{process.tail()}")


def run_tool(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run([str(BIN / "intake"), *args], cwd=ROOT, env=env, input=stdin,  # noqa: S603  (our CLI)
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise BenchError(f"intake {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


# ---- the database side --------------------------------------------------------------------------


@dataclass
class Check:
    acknowledged: int = 0
    missing: int = 0  # acknowledged, not in the database at all
    not_filed: int = 0  # acknowledged, still in the journal: stored, not yet filed by a worker
    not_triaged: int = 0  # filed, not in triage
    duplicate_triage: int = 0  # moved to triage more than once
    dead_jobs: int = 0
    files_missing: int = 0  # acknowledged files that are not on their report
    files_unchecked: int = 0  # files on acknowledged reports that the worker never inspected

    @property
    def lost(self) -> int:
        """Acknowledged and not in triage when the check ran (the bench waits for the drain first)."""
        return self.missing + self.not_filed + self.not_triaged

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicate_triage or self.dead_jobs or self.files_missing
                    or self.files_unchecked)

    def add(self, other: Check) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Database:
    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.url = url
        self.engine = create_engine(url)

    def reset(self) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))

    def create_ceiling_table(self) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS bench_ceiling "
                              "(id bigserial PRIMARY KEY, submission_id varchar(64), body text NOT NULL, "
                              "received_at timestamptz NOT NULL DEFAULT now())"))

    def scalar(self, sql: str) -> Any:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.scalar(text(sql))

    def wait_drained(self, since: float, timeout: float, stall: float = 120.0) -> float | None:
        """Seconds from `since` until no submission waits to be filed and no pipeline job is pending;
        None after `timeout`, or when nothing was worked off for `stall` seconds (stuck, not slow).
        Says every 30 s how much is left, so a long drain shows that it moves."""
        query = ("SELECT (SELECT count(*) FROM pipeline_jobs WHERE state = 'pending') + "
                 "(SELECT count(*) FROM submissions WHERE report_id IS NULL)")
        lowest, progressed, said = None, time.monotonic(), time.monotonic()
        while True:
            left = self.scalar(query)
            now = time.monotonic()
            if not left:
                return now - since
            if lowest is None or left < lowest:
                lowest, progressed = left, now
            if now - since > timeout or now - progressed > stall:
                return None
            if now - said >= 30:
                print(f"    … draining: {left} reports still owed work after {now - since:.0f} s", flush=True)
                said = now
            time.sleep(0.5)

    def check(self, acknowledged: dict[str, int]) -> Check:
        from sqlalchemy import text

        result = Check(acknowledged=len(acknowledged))
        ids = list(acknowledged)
        query = text("""
            SELECT r.public_id, r.state, j.state AS job_state,
                   (SELECT count(*) FROM state_transitions t WHERE t.report_id = r.id AND t.to_state = 'triage'),
                   (SELECT count(*) FROM attachments a WHERE a.report_id = r.id),
                   (SELECT count(*) FROM attachments a WHERE a.report_id = r.id AND a.status = 'stored')
            FROM reports r LEFT JOIN pipeline_jobs j ON j.report_id = r.id
            WHERE r.public_id = ANY(:ids)
        """)
        found = 0
        journal = text("SELECT count(*) FROM submissions WHERE report_id IS NULL AND public_id = ANY(:ids)")
        # One snapshot for both reads: a report filed between them would otherwise be in neither.
        with self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            for start in range(0, len(ids), 5000):
                for public_id, state, job_state, triaged, files, unchecked in conn.execute(
                        query, {"ids": ids[start:start + 5000]}):
                    found += 1
                    result.not_triaged += state != "triage" or triaged == 0
                    result.duplicate_triage += triaged > 1
                    result.dead_jobs += job_state == "dead"
                    result.files_missing += max(0, acknowledged[public_id] - files)
                    result.files_unchecked += unchecked
            for start in range(0, len(ids), 5000):
                result.not_filed += conn.scalar(journal, {"ids": ids[start:start + 5000]}) or 0
        result.missing = len(ids) - found - result.not_filed
        return result

    def dispose(self) -> None:
        self.engine.dispose()


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as psycopg takes it (no `+driver`)."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


# ---- a bench run --------------------------------------------------------------------------------


@dataclass
class Setup:
    env: dict[str, str]
    instance: Path
    token: str
    password: str
    db: Database


def prepare(args: argparse.Namespace, instance: Path, extra_env: dict[str, str]) -> Setup:
    """Fresh schema and broker, accounts through the CLI."""
    if not args.database_url.startswith("postgresql"):
        raise BenchError("--database-url must be a PostgreSQL URL (the bench empties its public schema)")
    if not args.broker_url.startswith("redis"):
        raise BenchError("--broker-url must be a Redis URL (the bench flushes that database)")
    from bench.common import ensure_database

    ensure_database(args.database_url)
    db = Database(args.database_url)
    db.reset()
    flush_redis(args.broker_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update({
        "INTAKE_SECRET_KEY": secrets.token_hex(32),
        "INTAKE_MASTER_KEY": Fernet.generate_key().decode(),
        "INTAKE_DATABASE_URL": args.database_url,
        "INTAKE_BROKER_URL": args.broker_url,
        "INTAKE_INSTANCE_PATH": str(instance),
        "INTAKE_SESSION_COOKIE_SECURE": "false",  # the bench speaks plain http on the loopback
        "INTAKE_REMEMBER_COOKIE_SECURE": "false",
        "INTAKE_WORKER_HEARTBEAT_SECONDS": "2",
        # One token sends hundreds of reports a second here, far past the per-token and per-user
        # limits (intake.quotas): they are raised out of the way, still counted, so the figures
        # include what counting costs.
        "INTAKE_API_REPORTS_PER_TOKEN": "100000000 per hour",
        "INTAKE_REPORTS_PER_USER": "100000000 per hour",
        "INTAKE_UPLOAD_BYTES_PER_USER_PER_DAY": str(2**50),
        **extra_env,
    })
    password = secrets.token_urlsafe(18)
    run_tool(["db", "upgrade"], env)
    run_tool(["org", "create", ORG], env)
    run_tool(["user", "create", REPORTER, "--org", ORG, "--role", "reporter", "--password-stdin",
              "--password-final"], env,
             stdin=password + "\n")
    token = run_tool(["token", "create", REPORTER], env).strip()
    return Setup(env, instance, token, password, db)


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def print_row(result: LoadResult) -> None:
    drain = "-" if result.name == "ceiling" else (
        "timeout" if result.drain_seconds is None else f"{result.drain_seconds:.1f}")
    print(f"  {result.name:<12} {result.accepted:>8} {result.rate:>9.1f} {result.request_rate:>7.1f} "
          f"{ms(result.percentile(50)):>7} {ms(result.percentile(95)):>7} {ms(result.percentile(99)):>7} "
          f"{sum(result.errors.values()):>7} {drain:>8}", flush=True)


def print_cpu(result: LoadResult) -> None:
    if result.cpu:
        print(f"  {result.name:<12} " + ", ".join(f"{name} {result.cpu[name]:.2f}" for name in CPU_GROUPS)
              + f"; machine busy {result.cpu['busy']:.2f}")


def print_header() -> None:
    print(f"  {'scenario':<12} {'accepted':>8} {'reports/s':>9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'errors':>7} {'drain s':>8}", flush=True)


def describe_machine(args: argparse.Namespace, db: Database) -> None:
    load = os.getloadavg()
    version = db.scalar("SHOW server_version")
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before the run; "
          f"Python {sys.version.split()[0]}, PostgreSQL {version}, "
          f"synchronous_commit={db.scalar('SHOW synchronous_commit')}")


def load_run(args: argparse.Namespace, stop: threading.Event, instance: Path) -> int:
    setup = prepare(args, instance, {})
    db = setup.db
    data = payloads()
    describe_machine(args, db)
    print(f"load: {args.clients} concurrent clients, {args.warmup:g} s warm-up + {args.duration:g} s per scenario; "
          f"gunicorn: {args.web_workers} workers ({' '.join(GUNICORN_WEB_OPTIONS)}) for intake and for the ceiling; "
          f"celery worker: prefork, {os.cpu_count()} processes (intake serve's default)")
    sizes = sorted(len(body) for body in data.api_bodies)
    print(f"bodies: {len(sizes)} different complete reports, JSON {sizes[0]}–{sizes[-1]} B (median "
          f"{sizes[len(sizes) // 2]} B); photo JPEG {len(data.photo)} B, unique bytes for every upload\n", flush=True)
    results: list[LoadResult] = []
    processes: list[Process] = []
    print_header()
    try:
        if not args.no_ceiling:
            db.create_ceiling_table()
            port = free_port()
            env = dict(setup.env, BENCH_CEILING_DSN=libpq_url(args.database_url))
            ceiling = Process("ceiling (gunicorn)",
                              [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers",
                               str(args.web_workers), *GUNICORN_WEB_OPTIONS, "--no-control-socket",
                               "bench.ceiling_app:app"], env, instance / "ceiling.log")
            processes.append(ceiling)
            wait_healthy(ceiling, port)
            result = run_load(CeilingScenario(data, setup.token, setup.password), "127.0.0.1", port,
                              args.clients, args.duration, args.warmup, stop)
            ceiling.stop()
            results.append(result)
            print_row(result)
        port = free_port()
        serve = Process("intake serve",
                        [str(BIN / "intake"), "serve", "--host", "127.0.0.1", "--port", str(port),
                         "--web-workers", str(args.web_workers)], setup.env, instance / "serve.log")
        processes.append(serve)
        wait_healthy(serve, port)
        for name in args.scenarios:
            photo = name.endswith("+photo")
            kind = ApiScenario if name.startswith("api") else FormScenario
            result = run_load(kind(data, setup.token, setup.password, photo), "127.0.0.1", port,
                              args.clients, args.duration, args.warmup, stop)
            if stop.is_set():
                raise KeyboardInterrupt
            result.drain_seconds = db.wait_drained(time.monotonic(), args.drain_timeout)
            result.check = db.check(result.acknowledged)
            if not serve.running():
                raise BenchError(f"intake serve stopped during {name}:\n{serve.tail()}")
            results.append(result)
            print_row(result)
        return summarise(args, results, db)
    finally:
        for process in processes:
            process.stop()
        db.dispose()


def summarise(args: argparse.Namespace, results: list[LoadResult], db: Database) -> int:
    by_name = {r.name: r for r in results}
    intake_results = [r for r in results if r.name != "ceiling"]
    total = Check()
    for result in intake_results:
        if result.check:
            total.add(result.check)
    errors = sum(sum(r.errors.values()) for r in results)
    print()
    for result in results:
        for reason, count in result.errors.most_common(5):
            print(f"  errors in {result.name}: {count} × {reason}")
    print(f"CPU in cores (of {os.cpu_count()}) while each scenario ran:")
    for result in results:
        print_cpu(result)
    in_db = db.scalar("SELECT count(*) FROM reports")
    print(f"reports acknowledged: {total.acknowledged}; in the database: {in_db} "
          f"({in_db - total.acknowledged + total.missing} without an acknowledgement: a client error or time-out)")
    print(f"lost reports: {total.lost} (missing {total.missing}, in the journal not filed {total.not_filed}, "
          f"filed not in triage {total.not_triaged}); "
          f"duplicate triage: {total.duplicate_triage}; dead jobs: {total.dead_jobs}; "
          f"files missing: {total.files_missing}; files never checked: {total.files_unchecked}")
    for result in intake_results:
        if result.drain_seconds is not None and result.check:
            print(f"drain after {result.name}: {result.check.acknowledged} reports acknowledged, every one in triage "
                  f"{result.drain_seconds:.1f} s after the last answer")
    drains = [r.drain_seconds for r in intake_results]
    drained = all(d is not None for d in drains)
    if not drained:
        print(f"drain: the workers did not drain within {args.drain_timeout:g} s in "
              + ", ".join(r.name for r in intake_results if r.drain_seconds is None))
    correct = errors == 0 and total.ok and drained and bool(intake_results)

    api, ceiling = by_name.get("api"), by_name.get("ceiling")
    verdicts: list[tuple[str, bool]] = []
    if api and ceiling and ceiling.rate:
        ratio = api.rate / ceiling.rate
        print(f"intake api / ceiling: {api.rate:.1f} / {ceiling.rate:.1f} reports/s = {ratio * 100:.1f} % "
              f"(target ≥ {TARGET_RATIO * 100:.0f} %)")
        verdicts.append((f"api at {ratio * 100:.1f} % of the ceiling (≥ {TARGET_RATIO * 100:.0f} %)",
                         ratio >= TARGET_RATIO))
    else:
        print("intake api / ceiling: not measured (run the api scenario and the ceiling)")
    if api:
        p99 = api.percentile(99)
        verdicts.append((f"api p99 {ms(p99)} ms (< {TARGET_P99_MS:.0f} ms)", p99 < TARGET_P99_MS))
    slow = [f"{r.name} {ms(r.percentile(99))}" for r in intake_results if not r.percentile(99) < TARGET_P99_MS]
    print(f"p99 under {TARGET_P99_MS:.0f} ms in every intake scenario: "
          + ("yes" if not slow else "no (" + ", ".join(slow) + " ms)"))
    verdicts.append((f"{errors} errors", errors == 0))
    verdicts.append((f"{total.lost} lost, {total.duplicate_triage} triaged twice, "
                     f"{total.files_unchecked + total.files_missing} files lost or unchecked",
                     total.ok and drained))
    fast = all(ok for text, ok in verdicts if "ceiling" in text or "p99" in text) and bool(api and ceiling)
    verdict = "PASS" if correct and fast else "FAIL"
    print(f"\n{verdict}: " + "; ".join(f"{text} {'ok' if ok else 'MISSED'}" for text, ok in verdicts))
    if not correct:
        return EXIT_BROKEN
    return EXIT_PASS if fast else EXIT_SLOW


def soak_run(args: argparse.Namespace, stop: threading.Event, instance: Path) -> int:
    setup = prepare(args, instance, {
        "INTAKE_PIPELINE_DEADLINE_SECONDS": str(args.deadline),
        "INTAKE_SWEEP_INTERVAL_SECONDS": str(args.sweep_interval),
        "INTAKE_PIPELINE_STEP_DELAY_SECONDS": str(args.step_delay),
    })
    db = setup.db
    data = payloads()
    describe_machine(args, db)
    port = free_port()
    web = Process("gunicorn", [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers",
                               str(args.web_workers), *GUNICORN_WEB_OPTIONS, "--no-control-socket",
                               "intake.wsgi:app"],
                  setup.env, instance / "web.log")
    worker_log = instance / "worker.log"
    worker_cmd = [str(BIN / "celery"), "-A", "workers.worker", "worker", "--loglevel", "INFO",
                  "--hostname", "bench-soak@%h"]
    processes = [web]
    try:
        processes.append(Process("celery beat", [str(BIN / "celery"), "-A", "workers.worker", "beat", "--loglevel",
                                                 "INFO", "--schedule", str(instance / "celerybeat-schedule")],
                                 setup.env, instance / "beat.log"))
        worker = Process("celery worker", worker_cmd, setup.env, worker_log)
        processes.append(worker)
        wait_healthy(web, port)
        print(f"soak: {args.soak_seconds:g} s of API reports at {args.soak_rate:g}/s from {args.clients} clients "
              f"(every other one with a photo); the worker's process group SIGKILLed every {args.kill_every:g} s "
              f"and restarted; step delay {args.step_delay:g} s, deadline {args.deadline} s, "
              f"sweep every {args.sweep_interval} s\n", flush=True)
        outcome: dict[str, Any] = {}

        def load() -> None:
            try:
                outcome["result"] = run_load(MixedApiScenario(data, setup.token, setup.password), "127.0.0.1",
                                             port, args.clients, args.soak_seconds, 0.0, stop, rate=args.soak_rate)
            except BaseException as exc:
                outcome["error"] = exc

        loader = threading.Thread(target=load, name="soak-load", daemon=True)
        started = time.monotonic()
        loader.start()
        kills = 0
        next_kill = started + args.kill_every
        while loader.is_alive():
            loader.join(0.2)
            if time.monotonic() >= next_kill and loader.is_alive():
                worker.kill()
                kills += 1
                pending = db.scalar("SELECT count(*) FROM pipeline_jobs WHERE state = 'pending'")
                print(f"  {time.monotonic() - started:6.1f} s: worker killed (#{kills}), {pending} job(s) pending; "
                      "restarting it", flush=True)
                worker.start()
                next_kill += args.kill_every
        if "error" in outcome:
            raise outcome["error"]
        if stop.is_set():
            raise KeyboardInterrupt
        result: LoadResult = outcome["result"]
        result.drain_seconds = db.wait_drained(time.monotonic(), args.drain_timeout)
        check = db.check(result.acknowledged)
        redispatched = sum(int(a or b) for a, b in SWEEP_LOG_RE.findall(worker_log.read_text(errors="replace")))
        retried = db.scalar("SELECT count(*) FROM pipeline_jobs WHERE attempts > 1")
        errors = sum(result.errors.values())
        print()
        print_header()
        print_row(result)
        print()
        print(f"CPU in cores (of {os.cpu_count()}; the killed workers' share is under `other`):")
        print_cpu(result)
        for reason, count in result.errors.most_common(5):
            print(f"  errors: {count} × {reason}")
        print(f"worker kills: {kills}; re-dispatched by the sweep: {redispatched}; jobs started more than once: "
              f"{retried}")
        print(f"reports acknowledged: {check.acknowledged}; in triage exactly once: "
              f"{check.acknowledged - check.lost - check.duplicate_triage}; lost: {check.lost} "
              f"(missing {check.missing}, not filed {check.not_filed}, not in triage {check.not_triaged}); "
              "duplicate triage: "
              f"{check.duplicate_triage}; dead jobs: {check.dead_jobs}; files missing: {check.files_missing}; "
              f"files never checked: {check.files_unchecked}")
        drain = "not within " + f"{args.drain_timeout:g} s" if result.drain_seconds is None else \
            f"{result.drain_seconds:.1f} s"
        print(f"drain after the load: {drain}")
        once = check.ok and result.drain_seconds is not None and check.acknowledged > 0
        ok = once and errors == 0 and kills > 0
        print(f"\n{'PASS' if ok else 'FAIL'}: {check.acknowledged} acknowledged reports, "
              + ("each reached triage exactly once" if once else
                 f"{check.lost} lost, {check.duplicate_triage} triaged twice, {check.dead_jobs} dead, "
                 f"{check.files_missing + check.files_unchecked} files lost or unchecked")
              + f"; {errors} errors; {kills} worker kills")
        return EXIT_PASS if ok else EXIT_BROKEN
    finally:
        for process in processes:
            process.stop()
        db.dispose()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        pass

    parser = argparse.ArgumentParser(prog="bench/intake.py", description=__doc__, formatter_class=Formatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="PostgreSQL (SQLAlchemy URL); its public schema is DROPPED and migrated afresh")
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL, help="Redis database; it is FLUSHED")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (threads, one connection each)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before each measured window")
    parser.add_argument("--web-workers", type=int, default=4,
                        help="gunicorn worker processes (threaded, as intake serve runs them), for intake "
                             "(intake serve --web-workers) and the ceiling")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), metavar="NAME",
                        help=f"intake scenarios to run, of: {', '.join(SCENARIOS)}")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the bare Flask ceiling")
    parser.add_argument("--drain-timeout", type=float, default=3600.0,
                        help="seconds to wait for the workers to finish the backlog (a drain that works off "
                             "nothing for 120 s is given up earlier)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance folder (logs, uploads)")
    soak = parser.add_argument_group("soak mode")
    soak.add_argument("--soak", action="store_true", help="run the soak instead of the load run")
    soak.add_argument("--soak-seconds", type=float, default=600.0, help="length of the soak load")
    soak.add_argument("--kill-every", type=float, default=60.0, help="seconds between SIGKILLs of the worker")
    soak.add_argument("--soak-rate", type=float, default=5.0, help="reports per second, all clients together")
    soak.add_argument("--step-delay", type=float, default=0.2,
                      help="INTAKE_PIPELINE_STEP_DELAY_SECONDS: a pause before each pipeline step, "
                           "so that kills land mid-task")
    soak.add_argument("--deadline", type=int, default=20,
                      help="INTAKE_PIPELINE_DEADLINE_SECONDS: a job pending this long is dispatched again")
    soak.add_argument("--sweep-interval", type=int, default=5, help="INTAKE_SWEEP_INTERVAL_SECONDS")
    args = parser.parse_args(argv)
    if args.soak and "--clients" not in (argv if argv is not None else sys.argv):
        args.clients = 4
    if args.clients < 1 or args.duration <= 0 or args.warmup < 0 or args.web_workers < 1:
        parser.error("--clients and --web-workers must be ≥ 1, --duration > 0, --warmup ≥ 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()

    def interrupted(*_args: Any) -> None:
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    instance = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    code = EXIT_BROKEN
    try:
        code = (soak_run if args.soak else load_run)(args, stop, instance)
    except KeyboardInterrupt:
        stop.set()
        print("\ninterrupted; servers stopped", file=sys.stderr)
        code = 130
    except BenchError as exc:
        print(f"\nbench could not run: {exc}", file=sys.stderr)
        code = EXIT_BROKEN
    finally:
        if args.keep or code not in (EXIT_PASS, EXIT_SLOW):
            print(f"instance folder with the server logs: {instance}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(instance, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
