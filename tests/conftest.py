"""Shared fixtures.

By default the suite runs on the embedded default (a SQLite file and kombu's filesystem broker in a
temporary instance folder). With INTAKE_TEST_DATABASE_URL and INTAKE_TEST_BROKER_URL set, the same
tests run on PostgreSQL and Redis. Under CI=true a configured service that cannot be reached fails
the run; elsewhere tests that need it are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import create_engine, select, text, update

from intake import create_app
from intake.accounts import create_organisation, create_token, create_user
from intake.enums import PRIVILEGED_ROLES, Role
from intake.extensions import db
from intake.models import Organisation, User, utcnow

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "correct horse battery staple"
SECRET = "test-secret-" + "k" * 40
# Cheap Argon2 parameters for tests only; production keeps argon2-cffi's defaults.
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
PG_URL = os.environ.get("INTAKE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("INTAKE_TEST_BROKER_URL", "")


def service_missing(what: str) -> None:
    """Fail under CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: a missing service fails the run)", pytrace=False)
    pytest.skip(what)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require_postgres() -> str:
    if not PG_URL:
        service_missing("PostgreSQL not configured: set INTAKE_TEST_DATABASE_URL "
                        "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    if not _reachable(PG_URL, 5432):
        service_missing(f"PostgreSQL at {urlsplit(PG_URL).hostname} is not reachable")
    return PG_URL


def require_redis() -> str:
    if not REDIS_URL:
        service_missing("Redis not configured: set INTAKE_TEST_BROKER_URL (e.g. redis://127.0.0.1:6379/15)")
    if not _reachable(REDIS_URL, 6379):
        service_missing(f"Redis at {urlsplit(REDIS_URL).hostname} is not reachable")
    return REDIS_URL


def reset_postgres(url: str) -> None:
    """An empty public schema: every test session starts from the migrations."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The database and broker this run uses, migrated to head once per session."""
    from intake.cli import upgrade_database

    if PG_URL or REDIS_URL:
        database_url = require_postgres() if PG_URL else ""
        broker_url = require_redis() if REDIS_URL else ""
    else:
        database_url = broker_url = ""
    if database_url:
        reset_postgres(database_url)
    else:
        database_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'intake.sqlite3'}"
    upgrade_database(database_url)
    return {"database_url": database_url, "broker_url": broker_url or "filesystem://"}


def _truncate_all(database_url: str) -> None:
    from intake.db import Base

    engine = create_engine(database_url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (table names are ours)
    engine.dispose()


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


@pytest.fixture
def instance_path(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


@pytest.fixture
def app_config(backend: dict[str, str], instance_path: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "DATABASE_URL": backend["database_url"],
        "BROKER_URL": backend["broker_url"],
        "INSTANCE_PATH": str(instance_path),
        "ARGON2_PARAMS": FAST_ARGON2,
        # The test client speaks plain http.
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
    }


@pytest.fixture
def app(app_config: dict[str, Any], backend: dict[str, str]) -> Iterator[Any]:
    _truncate_all(backend["database_url"])
    if backend["broker_url"].startswith("redis"):
        _flush_redis(backend["broker_url"])
    from intake.dispatch import broker_backoff_reset

    broker_backoff_reset()  # a broker outage simulated by an earlier test is not this test's
    application = create_app(app_config)
    # No app context stays pushed: each test request gets its own, as in production (a pushed
    # context would be shared by every request of the test, and `g` with it).
    yield application
    db.session.remove()
    db.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


# ---- builders ---------------------------------------------------------------------------------

_counter = itertools.count(1)


def make_org(name: str | None = None) -> Organisation:
    org = create_organisation(db.session, name or f"Org {next(_counter)}")
    db.session.commit()
    return org


def make_user(org: Organisation, role: Role = Role.REPORTER, email: str | None = None, *,
              enrolled: bool = True) -> User:
    """A user; verifiers, coordinators and admins come with a second factor set up unless
    `enrolled=False` (the test then walks through enrolment itself)."""
    user = create_user(db.session, email or f"{role.value}{next(_counter)}@example.org", org, role, PASSWORD)
    if enrolled and role in PRIVILEGED_ROLES:
        user.totp_secret = pyotp.random_base32()
        user.totp_confirmed_at = utcnow()
    db.session.commit()
    return user


def make_token(user: User) -> str:
    value = create_token(db.session, user)
    db.session.commit()
    return value


@pytest.fixture
def org(app: Any) -> Organisation:
    return make_org("Relief Monitors")


@pytest.fixture
def reporter(org: Organisation) -> User:
    return make_user(org, Role.REPORTER, "reporter@example.org")


@pytest.fixture
def verifier(org: Organisation) -> User:
    return make_user(org, Role.VERIFIER, "verifier@example.org")


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def password_step(client: Any, email: str, password: str = PASSWORD) -> Any:
    """Only the first step of signing in: e-mail and password."""
    page = client.get("/sign-in")
    return client.post("/sign-in", data={"email": email, "password": password,
                                         "csrf_token": csrf_token(page.get_data(as_text=True))})


def totp_code(email: str, offset_steps: int = 0) -> str:
    """The code the user's authenticator app shows now (or `offset_steps` steps away)."""
    user = db.session.scalar(select(User).where(User.email == email))
    secret = user.totp_secret if user is not None else None
    db.session.rollback()
    assert secret, f"{email} has no TOTP secret"
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(dt.datetime.now(dt.UTC)) + offset_steps)


def enter_code(client: Any, code: str) -> Any:
    page = client.get("/sign-in/code")
    return client.post("/sign-in/code", data={"code": code, "csrf_token": csrf_token(page.get_data(as_text=True))})


def sign_in(client: Any, email: str, password: str = PASSWORD) -> Any:
    """Sign in as a person would: the password, then — for verifiers, coordinators and admins with a
    second factor set up — the code from their app. The last response is returned."""
    response = password_step(client, email, password)
    if response.status_code == 302 and response.headers["Location"].endswith("/sign-in/code"):
        # Tests sign the same person in several times within one 30-second step, which a person
        # cannot: forget the step used last so that the current code is accepted again.
        db.session.execute(update(User).where(User.email == email).values(totp_last_step=None))
        db.session.commit()
        response = enter_code(client, totp_code(email))
    return response


@pytest.fixture
def reporter_client(client: Any, reporter: User) -> Any:
    response = sign_in(client, reporter.email)
    assert response.status_code == 302
    return client


def complete_report(**overrides: Any) -> dict[str, Any]:
    """A complete report as the JSON API takes it."""
    body: dict[str, Any] = {
        "occurred_on": "2026-03-14",
        "occurred_time": "06:40",
        "date_precision": "exact",
        "country": "AM",
        "admin1": "Syunik",
        "admin2": "Goris",
        "locality": "Khndzoresk",
        "latitude": 39.5057,
        "longitude": 46.4362,
        "location_precision": "within_1km",
        "incident_type": "drone_strike",
        "narrative": "At dawn a drone struck the bakery queue on the main street.",
        "narrative_language": "en",
        "killed": {"men": 1, "women": 1},
        "injured": {"boys": 2},
        "victims": [
            {"name": "Anahit Petrosyan", "age": 34, "sex": "female", "harm": "killed",
             "civilian_status": "civilian", "occupation": "teacher"},
            {"name": "Aram Petrosyan", "age_band": "5-11", "sex": "male", "harm": "injured"},
        ],
        "objects_damaged": [{"kind": "market", "extent": "damaged"}],
        "displaced": 12,
        "delivery_platform": "drone",
        "platform_model": "Bayraktar TB2",
        "platform_manufacturer": "Baykar",
        "platform_country": "TR",
        "munition_type": "guided bomb",
        "munition_model": "MAM-L",
        "munition_manufacturer": "Roketsan",
        "munition_country": "TR",
        "remnants_found": "yes",
        "markings": "LOT 0419 ROKETSAN",
        "components": [{"kind": "targeting_sensor", "model": "MX-15D", "manufacturer": "L3Harris Wescam",
                        "country_of_manufacture": "CA", "markings": "MX-15D S/N 1187", "serial_number": "1187",
                        "lot_number": "L20", "part_number": "MX15D-400", "cage_code": "L3C41",
                        "manufactured_on": "2020-06", "manufacture_date_basis": "data_plate",
                        "identification_basis": "remnant_photographed", "identification_confidence": "probable"}],
        "identification_basis": "remnant_photographed",
        "identification_confidence": "probable",
        "used_by": "AZ",
        "source_type": "eyewitness",
        "witnesses": [{"name": "Gor Hakobyan", "phone": "+374 91 234567", "email": "gor@example.org",
                       "relation": "shop owner", "may_contact": True}],
        "links": [{"url": "https://t.me/example/123"}],
        "consent": "share_anonymized",
        "risk_to_source": "medium",
    }
    body.update(overrides)
    return body


def file_accepted(app: Any | None = None) -> list[int]:
    """File every submission the API accepted and no worker filed yet, as a worker's first step
    does (workers.tasks.file_submission, without the pipeline). Returns the new reports' ids."""
    from intake.models import Submission
    from intake.submissions import file_submission

    db.session.rollback()  # a fresh snapshot: what other threads or requests committed
    pending = db.session.scalars(select(Submission).where(Submission.report_id.is_(None))).all()
    deadline = app.config["PIPELINE_DEADLINE_SECONDS"] if app is not None else 300
    ids = [file_submission(db.session, entry, deadline).id for entry in pending]
    db.session.commit()
    return ids


def jpeg_bytes(size: tuple[int, int] = (64, 48), exif: dict[int, Any] | None = None,
               gps: dict[int, Any] | None = None) -> bytes:
    """A small real JPEG, optionally with EXIF and GPS tags."""
    import io

    from PIL import Image

    image = Image.new("RGB", size, (180, 40, 40))
    buffer = io.BytesIO()
    exif_block = image.getexif()
    for tag, value in (exif or {}).items():
        exif_block[tag] = value
    if gps:
        exif_block.get_ifd(0x8825).update(gps)
    image.save(buffer, "JPEG", exif=exif_block.tobytes())
    return buffer.getvalue()


def post_multipart(client: Any, url: str, fields: dict[str, Any], **kwargs: Any) -> Any:
    """POST multipart/form-data encoded in memory; a list value is several parts of one name.
    (Werkzeug's test client spools big bodies to a temporary file it never closes, which
    `filterwarnings = error` turns into a failure.)"""
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart

    def part(value: Any) -> Any:
        return FileStorage(stream=value[0], filename=value[1]) if isinstance(value, tuple) else value

    # A list is several parts under one name (several files chosen in one file input).
    values = MultiDict([(k, part(item)) for k, v in fields.items() for item in (v if isinstance(v, list) else [v])])
    boundary, body = encode_multipart(values)
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}", **kwargs)


def all_at_once(calls: list[Callable[[], Any]], timeout: float = 120.0) -> list[Any]:
    """Run every call in its own thread, released together by a barrier; their results in order.

    A call that raises or hangs fails the test.
    """
    import threading

    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert errors == [], errors
    return results


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


# ---- a real worker process ----------------------------------------------------------------------


def worker_env(app_config: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update({
        "INTAKE_SECRET_KEY": SECRET,
        "INTAKE_DATABASE_URL": app_config["DATABASE_URL"],
        "INTAKE_BROKER_URL": app_config["BROKER_URL"],
        "INTAKE_INSTANCE_PATH": app_config["INSTANCE_PATH"],
        "INTAKE_WORKER_HEARTBEAT_SECONDS": "1",
    })
    return env


@pytest.fixture
def worker(app: Any, app_config: dict[str, Any], instance_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process on the test database and broker (both queues)."""
    with running_worker(app_config, instance_path / "worker.log") as process:
        yield process


@contextlib.contextmanager
def running_worker(app_config: dict[str, Any], log_path: Path, *options: str,
                   hostname: str = "test-worker@%h") -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process, ready; `options` e.g. ("-Q", "text") for one queue only."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.worker", "worker", "--pool", "solo",
             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--hostname", hostname, *options],
            cwd=ROOT, env=worker_env(app_config), stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: b"ready." in log_path.read_bytes() or process.poll() is not None, timeout=120)
        if process.poll() is not None:
            raise AssertionError("worker exited:\n" + log_path.read_text()[-3000:])
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
