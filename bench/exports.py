"""How fast the open exports stream, and in how much memory, with many reports on PostgreSQL.

Run from the repository root (PostgreSQL running locally; nothing else to prepare):

    .venv/bin/python bench/exports.py                      # 100,000 reports (seeding takes under a minute)
    .venv/bin/python bench/exports.py --reports 20000      # the same at a fifth: the peaks should not move
    .venv/bin/python bench/exports.py --reuse              # measure again on the database the last run seeded

**Setup.** The bench EMPTIES the `public` schema of --database-url (default: database `bench_exports`,
created if missing), migrates it with intake's migrations and seeds --reports verified reports of one
organisation by SQLAlchemy Core executemany (`insert(table)` with 5,000 rows a batch of `Report`,
`Victim`, `Component`, `Incident` and `IncidentLink`; ids assigned here so no RETURNING is needed, the
sequences set after; about 2 s per 5,000 reports): events in six districts of two
countries over three years, each described by 1 to 3 reports with their own date and location
precision, a coarse cell (as the workers leave it; 10 % without), an incident type with the weapons
that go with it, casualty counts by group that are often small (so that suppression has work to do),
a victim row for a third of the people and a component for half of the reports; 40 % of the events
are incidents linking their reports; most reports name the state that used the weapon, some with a
verifier's assessment. Consent and risk vary, so some reports are left out as the policy says. Each
report's sealed document (exact point, narrative) is sealed under the organisation's data key bound to
its row as `SealedRow` does it; one seeded report is opened through the model to check.

**What it prints.** For each format (csv, geojson, hxl, acled) over reports and over incidents, public
tier, plus csv over reports in the partner tier: the rows exported, rows per second of the whole
export (`intake.exports.build_export`: the query, the policy, the k-anonymity check, writing to its
spooled file), and the peak of Python memory allocated during it (tracemalloc, in a second run of the
same export: tracing slows it down). Constant memory means the peak stays the same at 20,000 and at
100,000 reports. No target is asserted; the figures go in the closing note.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/exports.py`, this folder comes first on sys.path, where bench/queue.py would
# shadow the standard library's `queue`: the repository root takes its place.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)
else:
    sys.path.insert(0, str(ROOT))

from bench.common import ensure_database, reset_and_migrate  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_exports"
BENCH_MASTER_KEY = "aW50YWtlIGV4cG9ydHMgYmVuY2ggbWFzdGVyIGtleSE="  # fixed: the bench seals nothing secret
PLACES = [("AM", "Syunik", "Goris", 39.51, 46.34), ("AM", "Syunik", "Sisian", 39.52, 46.03),
          ("AM", "Tavush", "Ijevan", 40.88, 45.15), ("UA", "Kharkivska", "Izium", 49.21, 37.26),
          ("UA", "Donetska", "Kramatorsk", 48.72, 37.56), ("UA", "Khersonska", "Beryslav", 46.84, 33.43)]
KINDS = [("drone_strike", "drone", "Bayraktar TB2", "guided bomb", "MAM-L"),
         ("shelling", "artillery", None, "artillery shell", "152 mm HE"),
         ("missile", "ground_vehicle", None, "ballistic missile", "Iskander-M"),
         ("loitering_munition", "drone", "Shahed-136", "loitering munition", "Geran-2"),
         ("landmine_uxo", "unknown", None, "anti-personnel landmine", "PFM-1")]
GROUPS = ("men", "women", "boys", "girls", "unknown")
# The state that used the weapons in each country's events.
USERS = {"AM": "AZ", "UA": "RU"}
BATCH = 5000


def bench_keyring() -> Any:
    from intake import crypto

    source = crypto.KeySource({"MASTER_KEY": BENCH_MASTER_KEY}, ROOT)
    crypto.use_key_source(source)
    return source.keyring()


def _sealed(key: bytes, table: str, public_id: str, context: str, document: dict[str, Any]) -> bytes:
    """A row's sealed document exactly as `SealedRow.seal_if_changed` writes it (same JSON, same binding)."""
    from intake import crypto

    payload = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return crypto.seal(key, payload.encode(), f"intake:{table}:{public_id}:{context}".encode())


def _next_id(connection: Any, table: Any) -> int:
    from sqlalchemy import func, select

    return int(connection.scalar(select(func.coalesce(func.max(table.c.id), 0)))) + 1


def seed(url: str, count: int, rng: random.Random) -> int:
    """`count` verified reports of one organisation by Core executemany (ids assigned here, no RETURNING);
    its id. Each report's sealed document (exact point, narrative) is sealed as the model seals it."""
    import h3
    from sqlalchemy import create_engine, insert, text
    from sqlalchemy.orm import Session

    from intake.accounts import create_organisation, create_user
    from intake.enums import Role
    from intake.models import Component, DataKey, Incident, IncidentLink, Report, Victim, new_public_id, utcnow

    keyring = bench_keyring()
    engine = create_engine(url)
    tables = {model: model.__table__ for model in (Report, Victim, Component, Incident, IncidentLink)}
    with Session(engine) as session:
        organisation = create_organisation(session, "Bench Monitors")
        reporter = create_user(session, "reporter@bench.example", organisation, Role.REPORTER, "x" * 16)
        key = DataKey.create(keyring)
        session.add(key)
        session.flush()
        org_id, reporter_id, key_id = organisation.id, reporter.id, key.id
        plain = key.plain()
        session.commit()
        next_report, next_incident = (_next_id(session.connection(), tables[Report]),
                                      _next_id(session.connection(), tables[Incident]))
        now = utcnow()
        start = dt.date(2023, 1, 1)
        made = 0
        while made < count:
            reports: list[dict[str, Any]] = []
            events: list[tuple[int, int]] = []  # (first report's index in the batch, how many)
            while len(reports) < BATCH and made + len(reports) < count:
                n = min(rng.choice((1, 1, 2, 3)), count - made - len(reports))
                country, admin1, admin2, lat, lon = rng.choice(PLACES)
                kind, platform, platform_model, munition_type, munition_model = rng.choice(KINDS)
                user = USERS[country]
                day = start + dt.timedelta(days=rng.randrange(3 * 365))
                lat, lon = lat + rng.uniform(-0.2, 0.2), lon + rng.uniform(-0.2, 0.2)
                size = rng.choice((1, 1, 2, 3, 4, 6, 9, 15, 40))
                events.append((len(reports), n))
                for _ in range(n):
                    index = made + len(reports)
                    report_id, public_id = next_report + len(reports), new_public_id()
                    counts = {f"killed_{g}": 0 for g in GROUPS} | {f"injured_{g}": 0 for g in GROUPS}
                    for _person in range(size + rng.randint(-1, 1)):
                        counts[f"{rng.choice(('killed', 'injured'))}_{rng.choice(GROUPS)}"] += 1
                    point = (round(lat + rng.uniform(-0.01, 0.01), 6), round(lon + rng.uniform(-0.01, 0.01), 6))
                    context = f"report:{public_id}:org:{org_id}:reporter:{reporter_id}"
                    sealed = _sealed(plain, "reports", public_id, context, {
                        "latitude": point[0], "longitude": point[1],
                        "narrative": f"Bench account {index}: a strike near the village, people hurt."})
                    reports.append({
                        "id": report_id, "public_id": public_id, "sealed": sealed,
                        "receipt_code": f"B{index:011d}", "organisation_id": org_id, "reporter_id": reporter_id,
                        "channel": "api", "submission_id": f"bench-{index}", "state": "verified",
                        "received_at": now - dt.timedelta(minutes=count - index), "state_changed_at": now,
                        "occurred_on": day, "date_precision": rng.choice(("exact",) * 8 + ("week", "month")),
                        "country": country, "admin1": admin1, "admin2": admin2, "locality": f"Village {index % 97}",
                        "location_precision": rng.choice(("exact", "within_1km", "town", "district")),
                        "location_cell": (str(h3.latlng_to_cell(*point, 8)) if rng.random() > 0.1 else None),
                        "incident_type": kind, "delivery_platform": platform, "platform_model": platform_model,
                        "munition_type": munition_type, "munition_model": munition_model,
                        "remnants_found": rng.choice(("yes", "no", "unknown")), "markings": "LOT 0419",
                        "source_type": rng.choice(("eyewitness", "medical_staff", "local_official")),
                        "consent": rng.choice(("share_anonymized",) * 6 + ("public", "share_named_partners",
                                                                           "internal_only")),
                        "risk_to_source": rng.choice(("low", "low", "medium", "high")) if rng.random() < 0.2
                        else "low",
                        "data_key_id": key_id, "grade": rng.choice(("confirmed", "fair", "fair", "weak")),
                        "source_reliability": rng.choice("ABBC"), "displaced": rng.choice((None, 0, 3, 12, 40)),
                        # Who used the weapon: named in most reports, assessed by a verifier in some.
                        "used_by": user if rng.random() < 0.7 else None,
                        "used_by_assessed": user if rng.random() < 0.3 else None,
                        "casualty_total": sum(counts.values()), **counts,
                    })
            victims, components, incidents, links = [], [], [], []
            for row in reports:
                for position in range(row["casualty_total"] // 3):
                    harm = "killed" if position % 2 == 0 else "injured"
                    victims.append({"report_id": row["id"], "position": position, "age": rng.randint(1, 80),
                                    "sex": rng.choice(("female", "male")), "harm": harm,
                                    "civilian_status": rng.choice(("civilian",) * 9 + ("combatant",)),
                                    "occupation": "none_given", "seal_id": new_public_id(), "sealed": None})
                if rng.random() < 0.5:
                    components.append({"report_id": row["id"], "position": 0, "kind": "targeting_sensor",
                                       "model": "MX-15D", "manufacturer": "L3Harris Wescam",
                                       "country_of_manufacture": "CA"})
            for first, n in events:
                if rng.random() >= 0.4:
                    continue
                incident_id = next_incident + len(incidents)
                incidents.append({"id": incident_id, "public_id": new_public_id(), "organisation_id": org_id,
                                  "title": "Bench incident", "data_key_id": key_id, "created_at": now,
                                  "updated_at": now})
                links += [{"report_id": reports[first + i]["id"], "incident_id": incident_id, "linked_at": now}
                          for i in range(n)]
            # Plain executemany (no RETURNING: the ids are ours), which psycopg sends as multi-row INSERTs.
            for model, rows in ((Report, reports), (Victim, victims), (Component, components),
                                (Incident, incidents), (IncidentLink, links)):
                if rows:
                    session.connection().execute(insert(tables[model]), rows)
            session.commit()
            made += len(reports)
            next_report += len(reports)
            next_incident += len(incidents)
        connection = session.connection()
        # The sequences continue after the ids given here.
        connection.execute(text("SELECT setval(pg_get_serial_sequence('reports', 'id'), "
                                "(SELECT max(id) FROM reports))"))
        connection.execute(text("SELECT setval(pg_get_serial_sequence('incidents', 'id'), "
                                "(SELECT max(id) FROM incidents))"))
        connection.execute(text("ANALYZE"))
        session.commit()
        check_seal(session, org_id)
    engine.dispose()
    return org_id


def check_seal(session: Any, organisation_id: int) -> None:
    """A seeded report opens through the model as any other: its exact point is in its sealed document."""
    from sqlalchemy import select

    from intake.models import Report

    report = session.scalars(select(Report).where(Report.organisation_id == organisation_id).limit(1)).one()
    assert report.latitude is not None and report.narrative.startswith("Bench account"), "seal does not open"


def measure(url: str, organisation_id: int, formats: list[str], kinds: list[str], partner: bool) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from intake.exports import ExportSpec, Format, Of, Tier, build_export

    bench_keyring()
    engine = create_engine(url)
    config = {"EXPORT_CELL_RESOLUTION": 6}
    runs = [ExportSpec(Format(f), Of(of), Tier.PUBLIC) for of in kinds for f in formats]
    if partner:
        runs.append(ExportSpec(Format.CSV, Of.REPORTS, Tier.PARTNER))
    print(f"{'export':34} {'rows':>8} {'rows/s':>9} {'peak MiB':>9} {'file MiB':>9}")
    for spec in runs:
        with Session(engine) as session:
            started = time.perf_counter()
            export = build_export(session, organisation_id, spec, config)
            seconds = time.perf_counter() - started
            export.file.seek(0, 2)
            size = export.file.tell()
            export.close()
        with Session(engine) as session:
            tracemalloc.start()
            build_export(session, organisation_id, spec, config).close()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        label = f"{spec.format.value} over {spec.of.value}, {spec.tier.value}"
        print(f"{label:34} {export.rows:>8} {export.rows / seconds:>9.0f} {peak / 2**20:>9.1f} {size / 2**20:>9.1f}",
              flush=True)
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=100_000, help="reports to seed (default 100,000)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--reuse", action="store_true", help="measure the database as the last run left it")
    parser.add_argument("--formats", default="csv,geojson,hxl,acled", help="formats to measure (default: all four)")
    parser.add_argument("--of", default="reports,incidents", help="reports, incidents or both (default)")
    parser.add_argument("--no-partner", action="store_true", help="leave out the partner-tier CSV")
    args = parser.parse_args()
    from sqlalchemy import create_engine, select

    from intake.models import Organisation

    if not args.reuse:
        ensure_database(args.database_url)
        reset_and_migrate(args.database_url)
        started = time.perf_counter()
        organisation_id = seed(args.database_url, args.reports, random.Random(args.seed))
        print(f"seeded {args.reports} reports in {time.perf_counter() - started:.0f} s")
    else:
        engine = create_engine(args.database_url)
        with engine.connect() as connection:
            organisation_id = connection.scalar(select(Organisation.id).limit(1))
        engine.dispose()
    measure(args.database_url, organisation_id, args.formats.split(","), args.of.split(","), not args.no_partner)
    return 0


if __name__ == "__main__":
    sys.exit(main())
