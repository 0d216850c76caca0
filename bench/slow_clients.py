"""Slow-client bench: phones trickling a report at 2G speed must not hold up anyone else.

Run from the repository root (PostgreSQL and Redis running locally; nothing else to prepare):

    .venv/bin/python bench/slow_clients.py                 # 8 clients, 2 KB/s each, 60 s
    .venv/bin/python bench/slow_clients.py --web-workers 2 --clients 16
    .venv/bin/python bench/slow_clients.py --help          # every option

What it does. It EMPTIES the `public` schema of --database-url and FLUSHES the Redis database of
--broker-url (as bench/intake.py does, whose setup it shares), migrates, creates a reporter through the
CLI and starts `intake serve` itself — the real gunicorn with the project's worker class and options
(intake.cli.GUNICORN_WEB_OPTIONS), a Celery worker and beat, on PostgreSQL and Redis.

Then --clients slow clients each sign in as the reporter, open the form (/reports/new: its CSRF token
and submission id) and post the complete report (tests.test_field.form_fields) as multipart with a
photo, the whole body sized to last --seconds at --rate bytes per second, and sent at that rate in
small pieces (every 1/8 s), as a phone on a 2G link sends it. The request's headers go at once; the
body trickles. Every slow POST must end in the receipt (302), and every one of the reports must then
be stored, filed and in triage with its photo checked by the worker (the same check as bench/intake.py).

Meanwhile two probes, each on its own kept-alive connection, ask every --probe-interval seconds:
`GET /healthz` (no session) and `GET /my-reports` (signed in as the reporter, a page that reads the
database). Their latency is measured from the moment the first slow client starts sending its body
until the last one got its answer; a probe that gets no answer within 10 s counts as an error.

Target (issue 13): p99 of both probes < 1 s throughout, no probe error, every slow POST completed
and stored. The per-read timeout (INTAKE_WEB_READ_TIMEOUT_SECONDS, --read-timeout) ends a request
only when the client stalls: a slow client that keeps sending is never cut off, however long its
body takes — run it with --read-timeout shorter than --seconds to see that.

Exit status: 0 PASS; 1 a slow POST failed, a report is missing, or the run could not be carried
out; 2 only the latency target was missed.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/slow_clients.py`, this folder comes first on sys.path: look in the root instead.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

from bench.intake import (  # noqa: E402
    BIN,
    CSRF_RE,
    RECEIPT_RE,
    REPORTER,
    SUBMISSION_RE,
    BenchError,
    Http,
    Process,
    free_port,
    multipart,
    prepare,
    wait_healthy,
)
from intake.cli import GUNICORN_WEB_OPTIONS  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_slow"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/13"
TARGET_P99_S = 1.0
PIECES_PER_SECOND = 8
PROBE_TIMEOUT = 10.0
EXIT_PASS, EXIT_BROKEN, EXIT_SLOW = 0, 1, 2


# ---- what a slow client sends ---------------------------------------------------------------------


def padded_photo(size: int) -> bytes:
    """A real JPEG (a small noise picture) grown to about `size` bytes with comment segments of
    random bytes, so the body lasts as long as asked; image readers skip comments."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(buffer, "JPEG", quality=80)
    image = buffer.getvalue()
    at = 2  # after SOI, past the APPn segments (JFIF, EXIF) that readers expect first
    while image[at] == 0xFF and 0xE0 <= image[at + 1] <= 0xEF:
        at += 2 + int.from_bytes(image[at + 2:at + 4])
    segments = []
    missing = size - len(image)
    while missing > 4:
        length = min(missing - 2, 65535)
        segments.append(b"\xff\xfe" + length.to_bytes(2) + os.urandom(length - 2))
        missing -= length + 2
    return image[:at] + b"".join(segments) + image[at:]


def sign_in(port: int, password: str) -> Http:
    """A kept-alive connection signed in as the reporter (cookies kept by `Http`)."""
    http = Http("127.0.0.1", port)
    page = http.send("GET", "/sign-in")
    found = CSRF_RE.search(page.body.decode())
    if page.status != 200 or not found:
        raise BenchError(f"sign-in page: HTTP {page.status}")
    signed = http.send("POST", "/sign-in",
                       urlencode({"email": REPORTER, "password": password, "csrf_token": found.group(1)}),
                       {"Content-Type": "application/x-www-form-urlencoded"})
    if signed.status != 302:
        raise BenchError(f"sign-in: HTTP {signed.status}")
    return http


@dataclass
class SlowPost:
    """One slow client's submission: what it sent, how long it took, and what came back."""

    index: int
    body_bytes: int = 0
    started: float = 0.0
    finished: float = 0.0
    status: int | None = None
    public_id: str | None = None
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def slow_client(index: int, port: int, password: str, rate: int, seconds: float, go: threading.Barrier,
                result: SlowPost) -> None:
    """Sign in, open the form, then post it with its body trickled at `rate` bytes/s."""
    from tests.test_field import form_fields

    try:
        http = sign_in(port, password)
        form = http.send("GET", "/reports/new")
        html = form.body.decode()
        token, submission = CSRF_RE.search(html), SUBMISSION_RE.search(html)
        if form.status != 200 or not token or not submission:
            raise BenchError(f"/reports/new: HTTP {form.status}")
        fields = form_fields(token.group(1), submission.group(1),
                             narrative=f"Slow client {index}: shells hit the courtyard at dawn.")
        _, bare = multipart(((k, str(v)) for k, v in fields.items()))
        photo = padded_photo(max(2048, int(rate * seconds) - len(bare) - 300))
        content_type, body = multipart(((k, str(v)) for k, v in fields.items()),
                                       [("attachments-0-file", "crater.jpg", "image/jpeg", photo)])
        cookies = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        http.close()
        head = (f"POST /reports/new HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nCookie: {cookies}\r\nConnection: close\r\n\r\n").encode()
        result.body_bytes = len(body)
        piece = max(1, rate // PIECES_PER_SECOND)
        go.wait()
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
            result.started = time.monotonic()
            sock.sendall(head)
            for offset in range(0, len(body), piece):
                # Paced against the clock, so the average rate holds whatever each send costs.
                due = result.started + offset / rate
                time.sleep(max(0.0, due - time.monotonic()))
                sock.sendall(body[offset:offset + piece])
            answer = b""
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        result.finished = time.monotonic()
        status_line, _, rest = answer.partition(b"\r\n")
        result.status = int(status_line.split()[1]) if status_line.startswith(b"HTTP/") else None
        location = next((line.split(b":", 1)[1].strip().decode() for line in rest.split(b"\r\n")
                         if line.lower().startswith(b"location:")), "")
        found = RECEIPT_RE.search(location)
        if result.status != 302 or not found:
            result.error = f"HTTP {result.status}" if result.status else "no answer"
        else:
            result.public_id = found.group(1)
    except (OSError, BenchError, ValueError) as exc:
        result.finished = result.finished or time.monotonic()
        result.error = f"{type(exc).__name__}: {exc}"


# ---- the probes -----------------------------------------------------------------------------------


@dataclass
class Probe:
    """Latencies (s) of one probe, each with the time it was sent, and its failures."""

    name: str
    path: str
    samples: list[tuple[float, float]] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)

    def window(self, start: float, end: float) -> list[float]:
        return sorted(latency for at, latency in self.samples if start <= at <= end)

    def errors_in(self, start: float, end: float) -> list[str]:
        return [what for at, what in self.errors if start <= at <= end]


def run_probe(probe: Probe, http: Http, interval: float, stop: threading.Event) -> None:
    """Ask `probe.path` every `interval` seconds until `stop`; a 200 is a sample, anything else an error."""
    http.conn.timeout = PROBE_TIMEOUT
    next_at = time.monotonic()
    while not stop.is_set():
        sent = time.monotonic()
        try:
            answer = http.send("GET", probe.path)
            if answer.status == 200:
                probe.samples.append((sent, answer.seconds))
            else:
                probe.errors.append((sent, f"HTTP {answer.status}"))
        except (OSError, http_client_errors()) as exc:
            # No answer (within PROBE_TIMEOUT): an error, and a latency of at least that long.
            probe.errors.append((sent, type(exc).__name__))
            probe.samples.append((sent, time.monotonic() - sent))
        next_at = max(next_at + interval, time.monotonic())
        stop.wait(max(0.0, next_at - time.monotonic()))


def http_client_errors() -> type[Exception]:
    import http.client

    return http.client.HTTPException


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted `values` (nan when empty)."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), round(p / 100 * len(values) + 0.5)))
    return values[rank - 1]


# ---- a run ----------------------------------------------------------------------------------------


def run(args: argparse.Namespace, stop: threading.Event, instance: Path) -> int:
    extra = {"INTAKE_WEB_READ_TIMEOUT_SECONDS": f"{args.read_timeout:g}"}
    setup = prepare(args, instance, extra)
    db = setup.db
    port = free_port()
    serve = Process("intake serve", [str(BIN / "intake"), "serve", "--host", "127.0.0.1", "--port", str(port),
                                     "--web-workers", str(args.web_workers)], setup.env, instance / "serve.log")
    try:
        wait_healthy(serve, port, timeout=300)  # a busy machine starves the idle-priority worker for a while
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the run")
        print(f"intake serve: {args.web_workers} web workers "
              f"(gunicorn {' '.join(GUNICORN_WEB_OPTIONS)}); per-read timeout {args.read_timeout:g} s")
        print(f"slow clients: {args.clients}, each a form POST with a photo trickled at {args.rate} B/s "
              f"for {args.seconds:g} s; probes every {args.probe_interval:g} s: /healthz and /my-reports "
              f"(signed in)", flush=True)
        probes = [Probe("/healthz", "/healthz"), Probe("/my-reports", "/my-reports")]
        connections = [Http("127.0.0.1", port), sign_in(port, setup.password)]
        probes_stop = threading.Event()
        probe_threads = [threading.Thread(target=run_probe, args=(p, c, args.probe_interval, probes_stop),
                                          daemon=True) for p, c in zip(probes, connections, strict=True)]
        for thread in probe_threads:
            thread.start()
        go = threading.Barrier(args.clients + 1)
        posts = [SlowPost(i) for i in range(args.clients)]
        clients = [threading.Thread(target=slow_client, args=(i, port, setup.password, args.rate, args.seconds,
                                                              go, posts[i]), daemon=True)
                   for i in range(args.clients)]
        for thread in clients:
            thread.start()
        try:
            go.wait(timeout=120)
        except threading.BrokenBarrierError:
            raise BenchError("the slow clients could not get ready (sign-in or form failed)") from None
        start = time.monotonic()
        for thread in clients:
            while thread.is_alive() and not stop.is_set():
                thread.join(timeout=0.5)
        end = time.monotonic()
        if stop.is_set():
            raise KeyboardInterrupt
        probes_stop.set()
        for thread in probe_threads:
            thread.join(timeout=PROBE_TIMEOUT + 5)
        for connection in connections:
            connection.close()
        return summarise(args, posts, probes, start, end, db, serve)
    finally:
        serve.stop()
        db.dispose()


def summarise(args: argparse.Namespace, posts: list[SlowPost], probes: list[Probe], start: float, end: float,
              db: Any, serve: Process) -> int:
    print(f"\nwindow: {end - start:.1f} s (first slow body byte to last slow answer)")
    print(f"  {'probe':<12} {'answers':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    slow = False
    probe_errors = 0
    for probe in probes:
        values = probe.window(start, end)
        errors = probe.errors_in(start, end)
        probe_errors += len(errors)
        p50, p99 = percentile(values, 50), percentile(values, 99)
        top = values[-1] if values else float("nan")
        print(f"  {probe.name:<12} {len(values):>7} {p50 * 1000:>8.1f} {p99 * 1000:>8.1f} {top * 1000:>8.1f} "
              f"{len(errors):>7}" + (f"  ({', '.join(sorted(set(errors)))})" if errors else ""))
        slow = slow or not values or not p99 < TARGET_P99_S
    print(f"\n  {'slow POST':<12} {'bytes':>7} {'seconds':>8} {'B/s':>8}  answer")
    for post in posts:
        rate = post.body_bytes / post.seconds if post.seconds > 0 else float("nan")
        print(f"  {post.index:<12} {post.body_bytes:>7} {post.seconds:>8.1f} {rate:>8.0f}  "
              + (f"302 receipt {post.public_id}" if post.public_id else f"FAILED ({post.error})"))
    completed = [p for p in posts if p.public_id]
    print(f"slow POSTs completed: {len(completed)} of {len(posts)}")
    acknowledged = {post.public_id: 1 for post in completed if post.public_id}
    drained = db.wait_drained(time.monotonic(), args.drain_timeout)
    check = db.check(acknowledged)
    print(f"stored: {check.acknowledged - check.lost} of {len(posts)} reports in triage, "
          f"{check.files_missing} photos missing, {check.files_unchecked} never checked"
          + ("" if drained is not None else "; the workers did not drain in time"))
    broken = (len(completed) != len(posts) or not check.ok or drained is None or probe_errors > 0
              or not serve.running())
    verdict = "met" if not slow else "MISSED"
    print(f"target: p99 of /healthz and /my-reports < {TARGET_P99_S * 1000:.0f} ms with {args.clients} slow "
          f"clients: {verdict}")
    if broken:
        print("FAIL: " + ("a slow POST did not complete, " if len(completed) != len(posts) else "")
              + ("a report is not stored, " if not check.ok or drained is None else "")
              + ("probe errors, " if probe_errors else "") + ("intake serve stopped" if not serve.running() else ""))
        return EXIT_BROKEN
    print("PASS" if not slow else "FAIL: only the latency target was missed")
    return EXIT_SLOW if slow else EXIT_PASS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        pass

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL; its public schema is emptied")
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL, help="Redis; this database is flushed")
    parser.add_argument("--clients", type=int, default=8, help="slow clients, all at once")
    parser.add_argument("--rate", type=int, default=2048, help="bytes per second each slow client sends")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each slow body lasts")
    parser.add_argument("--probe-interval", type=float, default=0.2, help="seconds between two asks of a probe")
    parser.add_argument("--web-workers", type=int, default=2, help="intake serve --web-workers")
    parser.add_argument("--read-timeout", type=float, default=15.0, help="INTAKE_WEB_READ_TIMEOUT_SECONDS")
    parser.add_argument("--drain-timeout", type=float, default=300.0,
                        help="seconds to wait for the workers to file and check the reports")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  (figures show as they come)
    args = parse_args(argv)
    stop = threading.Event()

    def interrupted(*_args: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, interrupted)
    instance = Path(tempfile.mkdtemp(prefix="intake-slow-"))
    code = EXIT_BROKEN
    try:
        code = run(args, stop, instance)
    except BenchError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        log = instance / "serve.log"
        if code == EXIT_BROKEN and log.exists():
            print("--- intake serve (last lines) ---\n" + "\n".join(
                log.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
        if args.keep or code == EXIT_BROKEN:
            print(f"instance folder kept: {instance}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(instance, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
