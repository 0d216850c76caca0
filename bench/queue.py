"""How fast verifiers' queue pages and duplicate suggestions are with a million reports on PostgreSQL.

Run from the repository root (PostgreSQL running locally; nothing else to prepare):

    .venv/bin/python bench/queue.py                       # 1,000,000 reports (seeding takes a few minutes)
    .venv/bin/python bench/queue.py --reports 200000 --samples 100
    .venv/bin/python bench/queue.py --reuse               # measure again on the database the last run seeded

**Setup.** The bench EMPTIES the `public` schema of --database-url (default: database `bench_queue`,
created if missing), migrates it with intake's migrations (`intake db upgrade`) and seeds --reports
reports with COPY: five organisations of different sizes (40 %, 25 %, 15 %, 12 %, 8 % of the reports),
each working in one or two of six countries, about 35 towns. Reports come from events: an event has a
date (three years), a point near a town, an incident type and the weapons that go with it (platform,
munition, a component); 1 to 4 reports describe it, with their own date precision (mostly exact day,
some within a week or a month), location precision, a point a few hundred metres off (15 % with none,
so no cell), casualty counts that disagree a little, an anonymized account written from a few
templates, and for a quarter of them a photo (sometimes the same photo for two reports of one event).
States: 12 % in triage, the rest received, in review, needs info, verified, rejected or duplicate.
Every report of an organisation shares one data key (under a fixed bench master key); a report's sealed
document holds only its anonymized account (sealed as the app seals it: the duplicate finder opens it),
other sealed columns random bytes: the bench measures queries, not encryption. Secondary indexes are
dropped during the COPY and made again from their own definitions afterwards (the schema ends exactly as
the migrations left it), then VACUUM ANALYZE. --reuse skips all of this and measures the database as it is.

**What it prints.** For each measurement, --samples timed calls (after a few warm-up calls), in this
process, through the app's own functions and a SQLAlchemy session, ORM objects built included:

- `queue first page`: `intake.queue.queue_page` for the triage tab of a random organisation (weighted
  by size), sorted by priority (the default), page size 25, every tab's count included (the function
  counts the tabs on every page).
- `queue page 10,000 deep`: the same with the keyset cursor of the row 10,000 rows down the triage tab
  of an organisation that has that many (random depth between 10,000 and 10,500). With small --reports
  no organisation has 10,000 reports in triage; the line then says how deep it went.
- `queue filtered page`: the same with filters — an incident type and a 90-day range of event dates.
- `duplicate suggestions`: `intake.duplicates.suggest_duplicates` — the pipeline step — for a random
  report, as for a new one: it looks for candidates among every other report of its organisation,
  scores them, replaces the report's stored suggestions (flushed, then rolled back). Its files are loaded
  before the clock starts, as the pipeline's earlier steps have them loaded. `candidates` is the mean
  number of reports read per call, `suggested` the mean number kept.

p50 and p95 in milliseconds (and max). Targets: p95 < 50 ms for each queue page and < 100 ms for
duplicate suggestions, at 1,000,000 reports. A missed target is printed as MISSED, never adjusted;
the exit status is then 2 (0 when every target is met, 1 when the bench could not run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_queue"
# The bench's own master key (fake data, a fixed key so that --reuse opens what an earlier run sealed).
BENCH_MASTER_KEY = "aW50YWtlIGJlbmNoIG1hc3RlciBrZXkgMzIgYnl0ZXM="
TARGET_PAGE_MS = 50.0
TARGET_DUPLICATES_MS = 100.0
PAGE_SIZE = 25
DEEP = 10_000
EXIT_PASS, EXIT_BROKEN, EXIT_SLOW = 0, 1, 2

ORGANISATION_SHARES = (0.40, 0.25, 0.15, 0.12, 0.08)
# (country, admin1, admin2, locality, latitude, longitude)
TOWNS: dict[str, list[tuple[str, str, str, float, float]]] = {
    "UA": [("Kharkivska", "Kharkivskyi", "Kharkiv", 49.9935, 36.2304),
           ("Kharkivska", "Iziumskyi", "Izium", 49.2128, 37.2569),
           ("Kharkivska", "Kupianskyi", "Kupiansk", 49.7106, 37.6156),
           ("Khersonska", "Khersonskyi", "Kherson", 46.6354, 32.6169),
           ("Zaporizka", "Zaporizkyi", "Zaporizhzhia", 47.8388, 35.1396),
           ("Donetska", "Kramatorskyi", "Kramatorsk", 48.7305, 37.5879),
           ("Donetska", "Kramatorskyi", "Sloviansk", 48.8533, 37.6050),
           ("Donetska", "Bakhmutskyi", "Kostiantynivka", 48.5277, 37.7069),
           ("Mykolaivska", "Mykolaivskyi", "Mykolaiv", 46.9750, 31.9946),
           ("Odeska", "Odeskyi", "Odesa", 46.4825, 30.7233),
           ("Sumska", "Sumskyi", "Sumy", 50.9077, 34.7981)],
    "SY": [("Idlib", "Idlib", "Idlib", 35.9306, 36.6339),
           ("Idlib", "Maarrat al-Numan", "Maarrat al-Numan", 35.6484, 36.6739),
           ("Idlib", "Ariha", "Ariha", 35.8137, 36.6086),
           ("Idlib", "Jisr al-Shughur", "Jisr al-Shughur", 35.8126, 36.3176),
           ("Aleppo", "Jebel Saman", "Atarib", 36.1389, 36.8300),
           ("Aleppo", "Jebel Saman", "Aleppo", 36.2021, 37.1343)],
    "YE": [("Sanaa", "Old City", "Sanaa", 15.3694, 44.1910),
           ("Saada", "Saada", "Saada", 16.9402, 43.7639),
           ("Al Hudaydah", "Al Hawak", "Hodeidah", 14.7978, 42.9545),
           ("Taiz", "Al Qahirah", "Taiz", 13.5795, 44.0209),
           ("Marib", "Marib City", "Marib", 15.4591, 45.3253)],
    "SD": [("Khartoum", "Khartoum", "Khartoum", 15.5007, 32.5599),
           ("Khartoum", "Omdurman", "Omdurman", 15.6445, 32.4777),
           ("North Darfur", "El Fasher", "El Fasher", 13.6279, 25.3494),
           ("South Darfur", "Nyala", "Nyala", 12.0489, 24.8807),
           ("West Darfur", "El Geneina", "El Geneina", 13.4500, 22.4500)],
    "PS": [("Gaza", "Gaza City", "Gaza", 31.5017, 34.4668),
           ("North Gaza", "Jabalia", "Jabalia", 31.5272, 34.4835),
           ("Deir al-Balah", "Deir al-Balah", "Deir al-Balah", 31.4181, 34.3517),
           ("Khan Younis", "Khan Younis", "Khan Younis", 31.3462, 34.3063),
           ("Rafah", "Rafah", "Rafah", 31.2969, 34.2455)],
    "MM": [("Sagaing", "Shwebo", "Shwebo", 22.5667, 95.7000),
           ("Sagaing", "Monywa", "Monywa", 22.1083, 95.1358),
           ("Rakhine", "Kyauktaw", "Kyauktaw", 20.8400, 92.9800),
           ("Kayah", "Loikaw", "Loikaw", 19.6742, 97.2092)],
}
ORGANISATION_COUNTRIES = (("UA",), ("SY", "YE"), ("SD",), ("PS",), ("MM", "UA"))

# incident type → (delivery platform, [(platform model, munition type, munition model)], component)
WEAPONS: dict[str, tuple[str, list[tuple[str | None, str | None, str | None]], tuple[str, str, str, str] | None]] = {
    "airstrike": ("aircraft", [("Su-34", "guided bomb", "KAB-500L"), ("Su-25", "unguided bomb", "FAB-250"),
                               (None, "glide bomb", "UMPK FAB-500")], ("guidance_kit", "UMPK", None, "RU")),
    "drone_strike": ("drone", [("Bayraktar TB2", "guided bomb", "MAM-L"), ("Orion", "guided missile", "Kh-BPLA"),
                               ("Wing Loong II", "guided missile", "Blue Arrow 7")],
                     ("targeting_sensor", "MX-15D", "L3Harris Wescam", "CA")),
    "loitering_munition": ("drone", [("Shahed-136", None, None), ("Lancet-3", None, None),
                                     ("Geran-2", None, None)], ("navigation", "NV08C-CSM", "NVS Technologies", "CH")),
    "shelling": ("artillery", [(None, "artillery shell", "152 mm OF-540"), (None, "mortar bomb", "120 mm"),
                               ("2S19 Msta-S", "artillery shell", "152 mm")], ("fuze", "V-90", None, "RU")),
    "rocket": ("mlrs", [("BM-21 Grad", "rocket", "9M22U"), ("BM-27 Uragan", "cluster rocket", "9M27K"),
                        ("TOS-1A", "thermobaric rocket", "MO.1.01.04")], None),
    "missile": ("aircraft", [(None, "cruise missile", "Kh-101"), (None, "ballistic missile", "9M723"),
                             ("S-300", "surface-to-air missile", "5V55")],
                ("electronics", "TMS320", "Texas Instruments", "US")),
    "cluster_munition": ("mlrs", [("BM-27 Uragan", "cluster rocket", "9M27K1"),
                                  (None, "cluster bomb", "RBK-500")], None),
    "small_arms": ("unknown", [(None, None, None)], None),
    "ied": ("unknown", [(None, "improvised device", None)], None),
    "landmine_uxo": ("unknown", [(None, "anti-personnel mine", "PFM-1"), (None, "submunition", "9N235")], None),
    "other": ("unknown", [(None, None, None)], None),
}
INCIDENT_TYPES = list(WEAPONS)
TYPE_WEIGHTS = (14, 14, 10, 22, 10, 6, 3, 8, 4, 5, 4)
STATES = ("received", "triage", "in_review", "needs_info", "verified", "rejected", "duplicate")
STATE_WEIGHTS = (1, 12, 3, 2, 55, 12, 15)
LOCATION_PRECISIONS = ("exact", "within_1km", "neighbourhood", "town", "district")
LOCATION_WEIGHTS = (30, 35, 15, 15, 5)

OPENINGS = ["At dawn", "In the early morning", "Around noon", "In the afternoon", "In the evening", "At night",
            "Shortly after the call to prayer", "While people queued for bread"]
TARGETS = ["the bakery queue", "the market", "a residential block", "the school yard", "the hospital gate",
           "a petrol station", "the bus stop", "a farm outside town", "the water pumping station",
           "a shelter in a basement", "the main street", "a wedding hall"]
VERBS = ["struck", "hit", "exploded near", "landed on", "destroyed", "damaged"]
AFTER = ["[PERSON-1] said the ambulance came an hour later.", "Neighbours pulled people from the rubble.",
         "[PERSON-1] and [PERSON-2] were among the injured.", "The windows of nearby houses were blown out.",
         "A second strike came ten minutes later.", "Civil defence worked through the night.",
         "[PERSON-1] heard the drone for several minutes before.", "Remnants were photographed by [PERSON-1]."]


# ---- the database -------------------------------------------------------------------------------


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


def copy_rows(conn: Any, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]], batch: int = 20_000) -> int:
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(map(copy_text, row)))
            buffer.write("\n")
            count += 1
            if count % batch == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return count


def secondary_indexes(conn: Any, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, definition) of the tables' indexes that back no constraint."""
    with conn.cursor() as cur:
        cur.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
                 AND i.indexname NOT IN (SELECT conname FROM pg_constraint)""",
            (list(tables),),
        )
        return [(name, definition) for name, definition in cur.fetchall()]


# ---- the data -----------------------------------------------------------------------------------


@dataclass
class Seeded:
    organisations: list[int]
    reports: int
    attachments: int
    seconds: float


def bench_keyring() -> Any:
    """The bench's master key, made the process's key source (the app's models unseal with it)."""
    from intake import crypto

    source = crypto.KeySource({"MASTER_KEY": BENCH_MASTER_KEY}, ROOT)
    crypto.use_key_source(source)
    return source.keyring()


def sealed_account(report_id: int, public_id: str, organisation_id: int, reporter_id: int, data_key: Any,
                   account: str) -> bytes:
    """A report's sealed document holding its anonymized account, sealed by the models themselves
    (bound, as every seal, to the report, its organisation and its reporter)."""
    from intake.models import Report

    report = Report(id=report_id, public_id=public_id, organisation_id=organisation_id, reporter_id=reporter_id)
    report.data_key = data_key
    report.narrative_anonymized = account
    report.seal_if_changed()
    assert report.sealed is not None
    return bytes(report.sealed)


def seed(url: str, total: int, rng: random.Random) -> Seeded:
    import h3
    import psycopg

    from intake.models import DataKey

    started = time.perf_counter()
    with psycopg.connect(psycopg_url(url), autocommit=False) as conn:
        with conn.cursor() as cur:
            # Consistent by construction: skip the foreign-key triggers while loading.
            cur.execute("SET session_replication_role = replica")
            cur.execute("SET synchronous_commit = off")
            cur.execute("SET maintenance_work_mem = '512MB'")
        now = dt.datetime.now(dt.UTC)
        organisations, reporters, keys = [], [], []
        keyring = bench_keyring()
        data_keys: list[DataKey] = []
        with conn.cursor() as cur:
            for index in range(len(ORGANISATION_SHARES)):
                cur.execute("INSERT INTO organisations (public_id, name, created_at) VALUES (%s, %s, %s) RETURNING id",
                            (str(uuid.uuid4()), f"Bench NGO {index + 1}", now))
                org_id = cur.fetchone()[0]  # type: ignore[index]
                organisations.append(org_id)
                data_key = DataKey.create(keyring)
                cur.execute("INSERT INTO data_keys (wrapped, master_key_id, created_at) VALUES (%s, %s, %s) "
                            "RETURNING id", (data_key.wrapped, keyring.primary_id, now))
                data_key.id = cur.fetchone()[0]  # type: ignore[index]
                keys.append(data_key.id)
                data_keys.append(data_key)
                ids = []
                for n in range(4):
                    cur.execute(
                        "INSERT INTO users (public_id, organisation_id, email_index, email_wrapped, password_hash, "
                        "role, active, created_at, failed_sign_ins) VALUES (%s, %s, %s, %s, %s, %s, true, %s, 0) "
                        "RETURNING id",
                        (str(uuid.uuid4()), org_id, hashlib.sha256(f"{index}-{n}".encode()).hexdigest(),
                         os.urandom(60), "bench-not-a-hash", "reporter", now))
                    ids.append(cur.fetchone()[0])  # type: ignore[index]
                reporters.append(ids)
        dropped = secondary_indexes(conn, ("reports", "attachments"))
        with conn.cursor() as cur:
            for name, _definition in dropped:
                cur.execute(f'DROP INDEX "{name}"')

        report_columns = [
            "id", "public_id", "receipt_code", "organisation_id", "reporter_id", "channel", "submission_id", "state",
            "received_at", "state_changed_at", "occurred_on", "occurred_time", "date_precision", "country", "admin1",
            "admin2", "locality", "location_precision", "incident_type", "narrative_language",
            "location_cell", "anonymized_at", "delivery_platform", "platform_model",
            "munition_type", "munition_model", "remnants_found", "source_type", "consent", "risk_to_source",
            "data_key_id", "sealed",
            "killed_men", "killed_women", "killed_boys", "killed_girls", "killed_unknown",
            "injured_men", "injured_women", "injured_boys", "injured_girls", "injured_unknown",
            "missing_men", "missing_women", "missing_boys", "missing_girls", "missing_unknown",
            "casualty_total",
        ]
        attachment_columns = ["id", "public_id", "organisation_id", "report_id", "uploaded_by_id", "storage_name",
                              "media_type", "size", "sha256", "status", "created_at", "inspected_at", "data_key_id",
                              "sealed"]
        attachments: list[tuple[Any, ...]] = []
        blobs = [os.urandom(160) for _ in range(256)]
        start_day = dt.date(2023, 1, 1)
        span_days = 3 * 365

        def reports() -> Iterator[tuple[Any, ...]]:
            report_id = 0
            while report_id < total:
                org_index = rng.choices(range(len(organisations)), ORGANISATION_SHARES)[0]
                country = rng.choice(ORGANISATION_COUNTRIES[org_index])
                admin1, admin2, locality, lat, lon = rng.choice(TOWNS[country])
                # The event: a point within a few km of the town, a day, a type and its weapons.
                lat += rng.gauss(0, 0.025)
                lon += rng.gauss(0, 0.03)
                day = start_day + dt.timedelta(days=rng.randrange(span_days))
                kind = rng.choices(INCIDENT_TYPES, TYPE_WEIGHTS)[0]
                platform, choices, _component = WEAPONS[kind]
                platform_model, munition_type, munition_model = rng.choice(choices)
                killed = [rng.choice((0, 0, 1, 1, 2, 3)) for _ in range(5)]
                injured = [rng.choice((0, 1, 2, 4)) for _ in range(5)]
                target, opening = rng.choice(TARGETS), rng.choice(OPENINGS)
                photo = hashlib.sha256(os.urandom(16)).hexdigest() if rng.random() < 0.1 else None
                copies = rng.choices((1, 2, 3, 4), (60, 25, 10, 5))[0]
                for _copy in range(copies):
                    if report_id >= total:
                        return
                    report_id += 1
                    precision = rng.choices(("exact", "week", "month"), (80, 15, 5))[0]
                    shift = {"exact": rng.choice((0, 0, 0, 1, -1)), "week": rng.randint(-5, 5),
                             "month": rng.randint(-20, 20)}[precision]
                    occurred = day + dt.timedelta(days=shift)
                    received = dt.datetime.combine(occurred, dt.time(rng.randrange(24), rng.randrange(60)),
                                                   dt.UTC) + dt.timedelta(days=rng.randrange(10),
                                                                          seconds=rng.randrange(86_400))
                    where = rng.choices(LOCATION_PRECISIONS, LOCATION_WEIGHTS)[0]
                    cell = None
                    if rng.random() >= 0.15:
                        cell = h3.latlng_to_cell(lat + rng.gauss(0, 0.003), lon + rng.gauss(0, 0.004), 8)
                    words = [opening, "a", kind.replace("_", " "), rng.choice(VERBS), target, "in", locality + ".",
                             f"[PERSON-1] counted {sum(killed)} dead and {sum(injured)} wounded.",
                             rng.choice(AFTER), rng.choice(AFTER)]
                    if rng.random() < 0.5:
                        words[0] = rng.choice(OPENINGS)
                    reporter = rng.choice(reporters[org_index])
                    if photo is not None or rng.random() < 0.2:
                        sha = photo if photo is not None and rng.random() < 0.6 else os.urandom(32).hex()
                        attachments.append((len(attachments) + 1, str(uuid.uuid4()), organisations[org_index],
                                            report_id, reporter, uuid.uuid4().hex, "image/jpeg",
                                            rng.randrange(50_000, 4_000_000), sha, "inspected", received, received,
                                            keys[org_index], blobs[report_id % 256]))
                    public_id = str(uuid.uuid4())
                    yield (
                        report_id, public_id, f"{report_id:08X}"[:4] + "-" + f"{report_id:08X}"[4:],
                        organisations[org_index], reporter, rng.choice(("web", "api", "odk")),
                        f"bench-{report_id}", rng.choices(STATES, STATE_WEIGHTS)[0], received, received,
                        occurred, None, precision, country, admin1, admin2,
                        locality, where, kind, "en", cell, received, platform,
                        platform_model, munition_type, munition_model, rng.choice(("yes", "no", "unknown")),
                        rng.choice(("eyewitness", "victim", "family", "medical_staff", "local_official")),
                        rng.choice(("share_anonymized", "public", "internal_only")), rng.choice(("low", "medium")),
                        keys[org_index], sealed_account(report_id, public_id, organisations[org_index], reporter,
                                                        data_keys[org_index], " ".join(words)),
                        *(dead := [max(0, k + rng.choice((0, 0, 0, 1, -1))) for k in killed]),
                        *(hurt := [max(0, k + rng.choice((0, 0, 1, -1))) for k in injured]),
                        0, 0, 0, 0, rng.choice((0, 0, 0, 1)),
                        sum(dead) + sum(hurt),  # the priority key the app keeps equal to the counts
                    )

        count = copy_rows(conn, "reports", report_columns, reports())
        copy_rows(conn, "attachments", attachment_columns, iter(attachments))
        with conn.cursor() as cur:
            cur.execute("SELECT setval('reports_id_seq', %s)", (count,))
            cur.execute("SELECT setval('attachments_id_seq', %s)", (max(len(attachments), 1),))
            for _name, definition in dropped:
                cur.execute(definition)
        conn.commit()
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return Seeded(organisations, count, len(attachments), time.perf_counter() - started)


# ---- the measurements ---------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    values: list[float]
    target: float
    note: str = ""

    def p(self, q: float) -> float:
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    @property
    def met(self) -> bool:
        return self.p(0.95) < self.target


def timed(samples: int, warmup: int, call: Callable[[int], Any], after: Callable[[], Any] | None = None) -> list[float]:
    values = []
    for i in range(warmup + samples):
        started = time.perf_counter()
        call(i)
        elapsed = (time.perf_counter() - started) * 1000
        if after is not None:
            after()
        if i >= warmup:
            values.append(elapsed)
    return values


def measure(url: str, samples: int, rng: random.Random) -> tuple[list[Timing], dict[str, float]]:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session, selectinload

    from intake.db import make_engine
    from intake.duplicates import (
        facts_of,
        find_duplicates,
        near_in_place_and_time,
        same_media_reports,
        suggest_duplicates,
    )
    from intake.enums import IncidentType, QueueSort, QueueTab, ReportState
    from intake.models import Organisation, Report
    from intake.queue import Filters, encode_cursor, queue_page

    bench_keyring()
    engine = make_engine(url)
    session = Session(engine)
    organisations = list(session.scalars(select(Organisation.id).order_by(Organisation.id)))
    in_triage = dict(session.execute(
        select(Report.organisation_id, func.count()).where(Report.state == ReportState.TRIAGE)
        .group_by(Report.organisation_id)).all())
    weights = [in_triage.get(o, 0) + 1 for o in organisations]
    session.rollback()

    def pick_org() -> int:
        return rng.choices(organisations, weights)[0]

    # The verifier's default: the triage tab sorted by priority, with every tab's count (no user owns
    # a claim in the bench, so user id 0).
    first = timed(samples, 5, lambda _i: queue_page(session, pick_org(), 0, QueueTab.TRIAGE, page_size=PAGE_SIZE),
                  session.rollback)

    deep_orgs = [o for o in organisations if in_triage.get(o, 0) >= DEEP + 500 + PAGE_SIZE]
    depth_note = ""
    if deep_orgs:
        depths = (DEEP, DEEP + 500)
    else:
        biggest = max(organisations, key=lambda o: in_triage.get(o, 0))
        deep_orgs = [biggest]
        deepest = max(0, in_triage.get(biggest, 0) - PAGE_SIZE - 1)
        depths = (deepest // 2, deepest)
        depth_note = f" (only {depths[1]} deep: no organisation has {DEEP:,} reports in triage)"
    cursors = []
    for _ in range(20):
        org = rng.choice(deep_orgs)
        offset = rng.randint(*depths)
        row = session.execute(
            select(Report.casualty_total, Report.received_at, Report.id)
            .where(Report.organisation_id == org, Report.state == ReportState.TRIAGE)
            .order_by(Report.casualty_total.desc(), Report.received_at, Report.id)
            .offset(max(offset - 1, 0)).limit(1)).one()
        position = SimpleNamespace(casualty_total=row.casualty_total, received_at=row.received_at, id=row.id)
        cursors.append((org, encode_cursor(QueueSort.PRIORITY, position)))  # type: ignore[arg-type]
    session.rollback()
    deep = timed(samples, 5, lambda i: queue_page(session, cursors[i % len(cursors)][0], 0, QueueTab.TRIAGE,
                                                  after=cursors[i % len(cursors)][1], page_size=PAGE_SIZE),
                 session.rollback)

    types = [IncidentType(t) for t in ("shelling", "airstrike", "drone_strike", "missile", "rocket")]

    def some_filter() -> Filters:
        start = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(3 * 365 - 90))
        return Filters(incident_type=rng.choice(types), occurred_from=start,
                       occurred_to=start + dt.timedelta(days=90))

    filtered = timed(samples, 5, lambda _i: queue_page(session, pick_org(), 0, QueueTab.TRIAGE, filters=some_filter(),
                                                       page_size=PAGE_SIZE),
                     session.rollback)

    highest = session.scalar(select(func.max(Report.id))) or 1
    picked: list[Report] = []
    while len(picked) < samples + 5:
        report = session.scalar(select(Report).options(selectinload(Report.attachments))
                                .where(Report.id == rng.randint(1, highest)))
        if report is not None:
            picked.append(report)

    def suggest(i: int) -> None:
        suggest_duplicates(session, {}, picked[i])
        session.flush()  # the writes too, as the pipeline's commit makes them

    duplicates = timed(samples, 5, suggest, session.rollback)
    # Outside the clock: how many candidates a call reads, and how many it keeps.
    looked, found = [], []
    for report in picked[5:]:
        facts = facts_of(report)
        hashes = [a.sha256 for a in report.attachments]
        looked.append(len(near_in_place_and_time(session, report.organisation_id, facts))
                      + len(same_media_reports(session, report.organisation_id, report.id, hashes)))
        found.append(len(find_duplicates(session, report)))
    session.rollback()
    session.close()
    engine.dispose()
    return [
        Timing("queue first page", first, TARGET_PAGE_MS),
        Timing(f"queue page {DEEP:,} deep" if not depth_note else "queue page deep", deep, TARGET_PAGE_MS,
               depth_note),
        Timing("queue filtered page", filtered, TARGET_PAGE_MS, " (filters: incident type, 90 days of events)"),
        Timing("duplicate suggestions", duplicates, TARGET_DUPLICATES_MS),
    ], {"candidates": statistics.fmean(looked), "suggested": statistics.fmean(found)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=1_000_000, help="reports to seed (default 1,000,000)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="PostgreSQL database; its public schema is EMPTIED (created if missing)")
    parser.add_argument("--samples", type=int, default=200, help="timed calls per measurement (default 200)")
    parser.add_argument("--seed", type=int, default=20261125, help="random seed of the data and the samples")
    parser.add_argument("--reuse", action="store_true", help="measure the database as the last run left it")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        print("bench/queue.py measures PostgreSQL: give a postgresql+psycopg:// URL", file=sys.stderr)
        return EXIT_BROKEN
    rng = random.Random(args.seed)
    try:
        if not args.reuse:
            from bench.common import ensure_database, reset_and_migrate

            ensure_database(args.database_url)
            reset_and_migrate(args.database_url)
            seeded = seed(args.database_url, args.reports, rng)
            print(f"seeded {seeded.reports:,} reports ({seeded.attachments:,} files) in "
                  f"{len(seeded.organisations)} organisations in {seeded.seconds:.0f} s")
        timings, counts = measure(args.database_url, args.samples, rng)
    except Exception as exc:  # the bench could not run: say why, exit 1
        print(f"bench could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise
    from sqlalchemy import create_engine, text

    engine = create_engine(args.database_url)
    with engine.connect() as conn:
        total = conn.scalar(text("SELECT count(*) FROM reports"))
    engine.dispose()
    print(f"Queue and duplicate suggestions on PostgreSQL, {total:,} reports, {args.samples} samples each, "
          f"{os.cpu_count()} cores (ms)")
    for t in timings:
        print(f"  {t.name:<24} p50 {t.p(0.5):7.2f}   p95 {t.p(0.95):7.2f}   max {max(t.values):7.2f}{t.note}")
    print(f"duplicate suggestions: {counts['candidates']:.0f} candidates read, {counts['suggested']:.1f} suggested "
          f"per report (mean)")
    met = True
    for t in timings:
        ok = t.met
        met = met and ok
        print(f"target: {t.name} p95 < {t.target:.0f} ms: {'met' if ok else 'MISSED'} ({t.p(0.95):.2f} ms)")
    if (total or 0) < 1_000_000:
        print(f"note: the targets are for 1,000,000 reports; this run had {total:,}")
    return EXIT_PASS if met else EXIT_SLOW


if __name__ == "__main__":
    sys.exit(main())
