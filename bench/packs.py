"""How long an evidence pack takes to build, and in how much memory, over many incidents on PostgreSQL.

Run from the repository root (PostgreSQL running locally; nothing else to prepare):

    .venv/bin/python bench/packs.py                     # 20,000 reports seeded as bench/exports.py seeds them
    .venv/bin/python bench/packs.py --reports 5000      # a quarter: time should scale with the incidents packed

**Setup.** The bench EMPTIES the `public` schema of --database-url (default: database `bench_packs`,
created if missing) and seeds it with bench/exports.py's `seed` (half of the reports name an MX-15D made
in Canada; 40 % of the events are incidents). Every graded report then gets its assessment, and the
confirmed ones a second person's sign-off, so that the incidents whose grade is confirmed qualify for a
pack. Files are not seeded: the figures are the selection, the annexes, the custody log, the dossier
and the bag, not the copying of media (which is the speed of reading sealed files, see bench/crypto.py).

**What it prints.** For the component MX-15D and the country CA, public and partner tiers: the incidents
packed, the seconds of the whole `build_pack`, incidents per second, the peak of Python memory
allocated (tracemalloc, in a second run), and the sizes of the dossier and of the bag. No target is
asserted; the figures go in the closing note.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)
else:
    sys.path.insert(0, str(ROOT))

from bench.common import ensure_database, reset_and_migrate  # noqa: E402
from bench.exports import bench_keyring, seed  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_packs"


def sign_off_all(url: str, organisation_id: int) -> int:
    """An assessment for every graded report, signed off by a second person where confirmed."""
    from sqlalchemy import create_engine, insert, select
    from sqlalchemy.orm import Session

    from intake.accounts import create_user
    from intake.enums import Role
    from intake.models import Assessment, Organisation, Report, utcnow

    bench_keyring()
    engine = create_engine(url)
    with Session(engine) as session:
        organisation = session.get(Organisation, organisation_id)
        assert organisation is not None
        verifier = create_user(session, "verifier@bench.example", organisation, Role.VERIFIER, "x" * 16)
        coordinator = create_user(session, "coordinator@bench.example", organisation, Role.COORDINATOR, "x" * 16)
        session.flush()
        now = utcnow()
        rows = [{"report_id": report_id, "grade": grade, "source_reliability": reliability,
                 "location_verified": True, "time_verified": True, "media_authentic": False, "weapon_checked": True,
                 "independent_sources": 1, "assessed_by_id": verifier.id, "assessed_at": now,
                 "signed_off_by_id": coordinator.id if grade.value == "confirmed" else None,
                 "signed_off_at": now if grade.value == "confirmed" else None}
                for report_id, grade, reliability in session.execute(
                    select(Report.id, Report.grade, Report.source_reliability)
                    .where(Report.organisation_id == organisation_id, Report.grade.is_not(None)))]
        for start in range(0, len(rows), 5000):
            session.execute(insert(Assessment).returning(Assessment.id), rows[start:start + 5000]).all()
        session.commit()
    engine.dispose()
    return len(rows)


def measure(url: str, organisation_id: int) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from intake.evidence import PackSpec, PackTier, Selector, build_pack
    from intake.models import Organisation

    bench_keyring()
    engine = create_engine(url)
    config = {"EXPORT_CELL_RESOLUTION": 6}
    print(f"{'pack':32} {'incidents':>9} {'seconds':>8} {'inc/s':>7} {'peak MiB':>9} {'PDF KiB':>8} {'bag KiB':>8}")
    for kind, value in (("component", "MX-15D"), ("country", "CA")):
        for tier in (PackTier.PUBLIC, PackTier.PARTNER):
            spec = PackSpec(Selector.parse(kind, value), tier)
            with tempfile.TemporaryDirectory() as out, Session(engine) as session:
                organisation = session.get(Organisation, organisation_id)
                assert organisation is not None
                started = time.perf_counter()
                pack = build_pack(session, config, organisation, spec, Path(out), actor=None, via="bench",
                                  built_at=dt.datetime.now(dt.UTC))
                seconds = time.perf_counter() - started
                session.rollback()  # the bench keeps no audit entries
                assert pack.path is not None
                pdf = (pack.path / "data" / "dossier.pdf").stat().st_size
                bag = sum(p.stat().st_size for p in pack.path.rglob("*") if p.is_file())
                count = len(pack.incidents)
            with tempfile.TemporaryDirectory() as out, Session(engine) as session:
                organisation = session.get(Organisation, organisation_id)
                tracemalloc.start()
                build_pack(session, config, organisation, spec, Path(out), actor=None, via="bench",  # type: ignore[arg-type]
                           built_at=dt.datetime.now(dt.UTC))
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                session.rollback()
            label = f"{kind} {value}, {tier.value}"
            print(f"{label:32} {count:>9} {seconds:>8.1f} {count / seconds:>7.0f} {peak / 2**20:>9.1f} "
                  f"{pdf / 1024:>8.0f} {bag / 1024:>8.0f}", flush=True)
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=20_000, help="reports to seed (default 20,000)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    ensure_database(args.database_url)
    reset_and_migrate(args.database_url)
    started = time.perf_counter()
    organisation_id = seed(args.database_url, args.reports, random.Random(args.seed))
    graded = sign_off_all(args.database_url, organisation_id)
    print(f"seeded {args.reports} reports ({graded} assessments) in {time.perf_counter() - started:.0f} s", flush=True)
    measure(args.database_url, organisation_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
