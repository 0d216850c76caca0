"""What one report costs a worker: filing it from the journal and running every pipeline step.

Run from the repository root (PostgreSQL running locally; nothing else to prepare):

    .venv/bin/python bench/pipeline.py                      # 300 text-only reports and 100 with a photo
    .venv/bin/python bench/pipeline.py --reports 1000 --photos 200
    .venv/bin/python bench/pipeline.py --profile /tmp/pipeline.prof   # cProfile of the worker phase
    .venv/bin/python bench/pipeline.py --burst              # 30 text-only reports + 10 with 3 photos, 2 queues

**Setup.** The bench EMPTIES the `public` schema of --database-url (default: database `bench_pipeline`,
created if missing), migrates it and makes one organisation with one reporter, in this process
(`create_app`, a throw-away instance folder and master key; no broker is contacted).

**Journal phase (not timed as worker cost).** Every report is the suite's complete report
(tests.conftest.complete_report: a narrative, two victims, a witness with phone and e-mail, a point, a
weapon) journalled through `intake.submissions.accept`, as the JSON API does. A report "with a photo"
then gets a 480×360 JPEG of noise with EXIF time, camera and GPS (about 85 kB, as bench/intake.py sends;
a new picture per report, as field workers send different photos) the way the API adds one: the report
is filed by that request (`own_report`), the file stored with `store_upload`, the work owed with
`owe_work`, committed. All reports are the same event at the same place: every report is a likely
duplicate of every other, the most work the duplicate step can be given (it reads at most 200
candidates).

**Worker phase (timed).** For each journal row, in this process (one BLAS and one OpenCV thread, as
workers/worker.py sets for every worker process), with the app's context pushed as in a warm worker:
`workers.tasks.file_submission.run(entry_id)` — the task's own body: count the attempt, file the
report and run the whole pipeline in its transaction — for a text-only report; for a report with a
photo (filed by its upload) `workers.tasks.process_report.run(report_id)`, the media queue's task
(`intake.pipeline.process_report`: media check, cleaned copy, anonymized
view, duplicate suggestions, triage). --warmup reports of each kind run first and are not counted
(the text engine loads its models on first use: a few seconds).

**What it prints**, per kind (`text`, `photo`):

- `reports/s per core`: reports divided by the wall-clock time of the loop. One process works on one
  core; PostgreSQL's own work (on the other core) counts as time waited.
- `cpu ms`: CPU time of this process per report (`time.process_time`): p50, p95 and mean. This is the
  figure the targets are for, since the machine's other core is shared and wall time is noisy.
- `wall ms`: elapsed time per report, p50 and p95, database round trips included.
- per part, mean CPU ms and wall ms: `filing` (`intake.submissions.file_submission`: the journal row
  locked, the report built from it and flushed), `job start` (`intake.pipeline.start_job`), each step
  of `intake.pipeline.STEPS`, and `rest`: everything else in the task — the filing attempt counted,
  loading the report, the move to triage, marking the job done, the flushes and the three commits.

**Mixed burst (`--burst`).** Text and media on their own queues, worked by two real Celery worker
processes as `intake serve` runs them (`-Q text` and `-Q media`, one process each, on PostgreSQL and
the Redis database of --broker-url, which is FLUSHED, default 13): --burst-text text-only reports
(default 30) and --burst-photo reports with --burst-photos phone photos each (default 10 with 3:
4000×3000 JPEGs of noise, about 2 s of a core each to clean) are journalled first, then both workers
start and the clock with them. It prints when the last text-only report reached triage, when the
first and the last photo were cleaned and when the last report with photos reached triage, and
checks that every text-only report reached triage before the last photo was cleaned (exit status 1
otherwise): a burst of photos does not hold back the anonymized view of text reports.

Targets on this 2-core machine, CPU per report in a warm worker: text-only <= 20 ms, with the photo
<= 150 ms; a missed target is printed as MISSED (exit status 2). Afterwards the bench checks that every
report reached triage with its job done, its anonymized view and its suggestions, and every photo its
cleaned copy (exit status 1 otherwise).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

# As workers/worker.py sets them for every worker process: one BLAS and one OpenCV thread.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
    os.environ.setdefault(_variable, "1")

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_pipeline"
TARGET_CPU_MS = {"text": 20.0, "photo": 150.0}
EXIT_PASS, EXIT_BROKEN, EXIT_SLOW = 0, 1, 2


SECRET_KEY = "bench-pipeline-" + "k" * 40


def make_app(database_url: str, instance: Path, master_key: str | None = None) -> Any:
    from cryptography.fernet import Fernet

    from intake import create_app

    return create_app({
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "BROKER_URL": "memory://",
        "INSTANCE_PATH": str(instance),
        "MASTER_KEY": master_key or Fernet.generate_key().decode(),
        "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 8, "parallelism": 1},
    })


@dataclass
class Setup:
    reporter_id: int
    organisation_id: int


def make_reporter(app: Any) -> Setup:
    from intake.accounts import create_organisation, create_user
    from intake.enums import Role
    from intake.extensions import db

    with app.app_context():
        org = create_organisation(db.session, "Bench Monitors")
        user = create_user(db.session, "reporter@bench.example", org, Role.REPORTER, "bench password " * 2)
        db.session.commit()
        return Setup(user.id, org.id)


def journal(app: Any, setup: Setup, count: int, with_photo: bool, photos: int = 1,
            make_photo: Callable[[], bytes] | None = None) -> list[int]:
    """Accept `count` reports as the API does (and add `photos` photos to each as the API does); their
    journal ids."""
    from sqlalchemy import select

    from bench.common import photo
    from intake.enums import Channel
    from intake.extensions import db
    from intake.media import store_upload
    from intake.models import Submission, User
    from intake.pipeline import owe_work
    from intake.reports import own_report
    from intake.schema import ReportIn
    from intake.submissions import accept
    from tests.conftest import complete_report

    data = ReportIn.model_validate(complete_report())
    ids = []
    with app.app_context():
        engine = app.extensions["intake_engine"]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for _ in range(count):
                accepted = accept(connection, setup.reporter_id, setup.organisation_id, data, Channel.API,
                                  uuid.uuid4().hex)
                if with_photo:
                    user = db.session.get(User, setup.reporter_id)
                    assert user is not None
                    report = own_report(db.session, user, accepted.public_id)
                    assert report is not None
                    for _ in range(photos):
                        _attachment, created = store_upload(db.session, app.config,
                                                            io.BytesIO((make_photo or photo)()), "crater.jpg",
                                                            user, report=report)
                        assert created
                    owe_work(db.session, report, app.config["PIPELINE_DEADLINE_SECONDS"])
                    db.session.commit()
                ids.append(db.session.scalar(select(Submission.id).where(Submission.public_id == accepted.public_id)))
                db.session.rollback()
    return ids


@dataclass
class Clock:
    """CPU and wall time of the current report, by part."""

    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    current: dict[str, tuple[float, float]] = field(default_factory=dict)

    def add(self, name: str, cpu: float, wall: float) -> None:
        c, w = self.current.get(name, (0.0, 0.0))
        self.current[name] = (c + cpu, w + wall)

    def close(self) -> None:
        for name, (c, w) in self.current.items():
            self.cpu[name].append(c * 1000)
            self.wall[name].append(w * 1000)
        self.current = {}


@contextmanager
def timed(clock: Clock, name: str) -> Iterator[None]:
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        yield
    finally:
        clock.add(name, time.process_time() - cpu, time.perf_counter() - wall)


@contextmanager
def instrumented(clock: Clock) -> Iterator[list[str]]:
    """Time the task's parts without changing what it runs: each pipeline step, the filing, the job start."""
    from intake import pipeline
    from workers import tasks

    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            with timed(clock, name):
                return function(*args, **kwargs)
        run.__name__ = function.__name__
        return run

    steps = list(pipeline.STEPS)
    originals = (tasks.file_into_report, tasks.start_job)
    pipeline.STEPS[:] = [wrap(step.__name__, step) for step in steps]
    tasks.file_into_report = wrap("filing", tasks.file_into_report)
    tasks.start_job = wrap("job start", tasks.start_job)
    try:
        yield [step.__name__ for step in steps]
    finally:
        pipeline.STEPS[:] = steps
        tasks.file_into_report, tasks.start_job = originals


@dataclass
class Run:
    kind: str
    cpu: list[float]
    wall: list[float]
    seconds: float
    parts: Clock


def work(app: Any, kind: str, entry_ids: list[int], profiler: cProfile.Profile | None) -> Run:
    """Run the worker's task on every journal row, one after another, timing each."""
    from sqlalchemy import select

    from intake.extensions import db
    from intake.models import Submission
    from workers.tasks import file_submission, process_report

    clock = Clock()
    cpu_ms, wall_ms = [], []
    with app.app_context(), instrumented(clock) as steps:
        # A report with a photo was filed by its upload; its run is the media queue's task.
        report_ids = dict(db.session.execute(select(Submission.id, Submission.report_id)
                                             .where(Submission.id.in_(entry_ids))).tuples().all())
        db.session.remove()
        started = time.perf_counter()
        for entry_id in entry_ids:
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            if kind == "photo":
                process_report.run(report_ids[entry_id])
            else:
                file_submission.run(entry_id)
            if profiler is not None:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            db.session.remove()  # a task's session ends with it (Flask-SQLAlchemy tears it down in a worker)
            cpu_ms.append(cpu * 1000)
            wall_ms.append(wall * 1000)
            inside = clock.current
            # "filing": the attempt and the filing transaction, around the report's building.
            clock.add("rest", cpu - sum(c for c, _ in inside.values()), wall - sum(w for _, w in inside.values()))
            clock.close()
        seconds = time.perf_counter() - started
    clock.cpu = {name: clock.cpu[name] for name in ["filing", "job start", *steps, "rest"] if name in clock.cpu}
    return Run(kind, cpu_ms, wall_ms, seconds, clock)


def check(app: Any, text_ids: list[int], photo_ids: list[int]) -> list[str]:
    """What every report must have after its run; the problems found (none when all is well)."""
    from sqlalchemy import func, select

    from intake.enums import AttachmentStatus, JobState, ReportState
    from intake.extensions import db
    from intake.models import Attachment, DuplicateSuggestion, PipelineJob, Report, Submission

    problems = []
    with app.app_context():
        for kind, ids in (("text", text_ids), ("photo", photo_ids)):
            report_ids = list(db.session.scalars(select(Submission.report_id).where(Submission.id.in_(ids))))
            if None in report_ids or len(report_ids) != len(ids):
                problems.append(f"{kind}: {report_ids.count(None)} submission(s) not filed")
                continue
            triaged = db.session.scalar(select(func.count()).select_from(Report).where(
                Report.id.in_(report_ids), Report.state == ReportState.TRIAGE, Report.anonymized_at.is_not(None),
                Report.sealed.is_not(None), Report.location_cell.is_not(None)))
            done = db.session.scalar(select(func.count()).select_from(PipelineJob).where(
                PipelineJob.report_id.in_(report_ids), PipelineJob.state == JobState.DONE))
            if triaged != len(ids) or done != len(ids):
                problems.append(f"{kind}: {len(ids) - (triaged or 0)} not anonymized in triage, "
                                f"{len(ids) - (done or 0)} jobs not done")
            suggested = db.session.scalar(select(func.count(func.distinct(DuplicateSuggestion.report_id))).where(
                DuplicateSuggestion.report_id.in_(report_ids)))
            if len(ids) > 1 and not suggested:
                problems.append(f"{kind}: no duplicate suggestions among identical reports")
            if kind == "photo":
                cleaned = db.session.scalar(select(func.count()).select_from(Attachment).where(
                    Attachment.report_id.in_(report_ids), Attachment.derivative_storage_name.is_not(None),
                    Attachment.status == AttachmentStatus.INSPECTED))
                if cleaned != len(ids):
                    problems.append(f"photo: {len(ids) - (cleaned or 0)} photos without a cleaned copy")
        db.session.remove()
    return problems


def phone_photo() -> bytes:
    """A 4000×3000 JPEG of noise (quality 80), as large as a phone's, a new one each call."""
    from PIL import Image

    image = Image.effect_noise((1000, 750), 40).convert("RGB").resize((4000, 3000))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def burst(args: argparse.Namespace) -> int:
    """Two real workers, one per queue, on a journalled mixed burst; prints when each kind was done."""
    import subprocess

    import redis
    from cryptography.fernet import Fernet
    from sqlalchemy import func, select

    from bench.common import ensure_database, reset_and_migrate
    from intake.enums import ReportState
    from intake.extensions import db
    from intake.models import Attachment, Report, Submission

    ensure_database(args.database_url)
    reset_and_migrate(args.database_url)
    client = redis.Redis.from_url(args.broker_url)
    client.flushdb()
    client.close()
    master_key = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as folder:
        instance = Path(folder) / "instance"
        app = make_app(args.database_url, instance, master_key)
        setup = make_reporter(app)
        started = time.perf_counter()
        text_ids = journal(app, setup, args.burst_text, with_photo=False)
        photo_ids = journal(app, setup, args.burst_photo, with_photo=True, photos=args.burst_photos,
                            make_photo=phone_photo)
        print(f"journalled {len(text_ids)} text-only reports and {len(photo_ids)} with {args.burst_photos} "
              f"photos of 4000×3000 each in {time.perf_counter() - started:.1f} s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        env.update({"INTAKE_SECRET_KEY": SECRET_KEY, "INTAKE_MASTER_KEY": master_key,
                    "INTAKE_DATABASE_URL": args.database_url, "INTAKE_BROKER_URL": args.broker_url,
                    "INTAKE_INSTANCE_PATH": str(instance), "INTAKE_PIPELINE_YIELD_ABOVE_PER_SECOND": "0"})
        workers = []
        logs = {queue: Path(folder) / f"{queue}.log" for queue in ("text", "media")}
        for queue, log_path in logs.items():
            with open(log_path, "wb") as log:
                workers.append(subprocess.Popen(  # noqa: S603  (this virtualenv's celery, our arguments)
                    [sys.executable, "-m", "celery", "-A", "workers.worker", "worker", "-Q", queue,
                     "--hostname", f"{queue}@bench", "--concurrency", "1", "--loglevel", "INFO",
                     "--without-gossip", "--without-mingle"],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        try:
            while not all(b"ready." in path.read_bytes() for path in logs.values()):
                if any(w.poll() is not None for w in workers):
                    print("BROKEN: a worker exited:\n" + "\n".join(p.read_text()[-2000:] for p in logs.values()))
                    return EXIT_BROKEN
                time.sleep(0.1)
            clock = time.perf_counter()
            text_done: float | None = None
            photo_triaged: float | None = None
            first_clean: float | None = None
            last_clean: float | None = None
            photos_total = len(photo_ids) * args.burst_photos
            with app.app_context():
                photo_reports = list(db.session.scalars(
                    select(Submission.report_id).where(Submission.id.in_(photo_ids))))
                while time.perf_counter() - clock < args.burst_timeout:
                    now = time.perf_counter() - clock
                    triaged_text = db.session.scalar(select(func.count()).select_from(Submission).join(
                        Report, Report.id == Submission.report_id).where(
                        Submission.id.in_(text_ids), Report.state == ReportState.TRIAGE))
                    triaged_photo = db.session.scalar(select(func.count()).select_from(Report).where(
                        Report.id.in_(photo_reports), Report.state == ReportState.TRIAGE))
                    cleaned = db.session.scalar(select(func.count()).select_from(Attachment).where(
                        Attachment.report_id.in_(photo_reports), Attachment.derived_at.is_not(None)))
                    db.session.rollback()
                    if text_done is None and triaged_text == len(text_ids):
                        text_done = now
                        print(f"  {now:6.1f} s  every text-only report in triage ({len(text_ids)}); photos "
                              f"cleaned so far: {cleaned}/{photos_total}", flush=True)
                    if first_clean is None and cleaned:
                        first_clean = now
                    if last_clean is None and cleaned == photos_total:
                        last_clean = now
                    if photo_triaged is None and triaged_photo == len(photo_reports):
                        photo_triaged = now
                    if text_done is not None and photo_triaged is not None:
                        break
                    time.sleep(0.2)
        finally:
            for process in workers:
                process.terminate()
            for process in workers:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    print(f"Mixed burst on two queues, one worker process each, {os.cpu_count()} cores "
          f"({len(text_ids)} text-only reports, {len(photo_ids)} reports with {args.burst_photos} photos)")
    if text_done is None or photo_triaged is None:
        print(f"BROKEN: not everything reached triage within {args.burst_timeout:.0f} s "
              f"(text-only done: {text_done}, photo reports done: {photo_triaged})")
        return EXIT_BROKEN
    # Seen by polling every 0.2 s; a photo's cleaned copy is committed with its report's run.
    last_photo = last_clean or photo_triaged
    print("  seconds after both workers were ready:")
    print(f"  last text-only report reached triage   {text_done:7.1f} s")
    print(f"  first photo cleaned                    {first_clean or 0.0:7.1f} s")
    print(f"  last photo cleaned                     {last_photo:7.1f} s")
    print(f"  last report with photos in triage      {photo_triaged:7.1f} s  (drain time of the burst)")
    if text_done >= last_photo:
        print("BROKEN: the text-only reports waited for the photos")
        return EXIT_BROKEN
    print("checked: every text-only report reached triage while photos were still being cleaned")
    return EXIT_PASS


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=300, help="text-only reports measured (default 300)")
    parser.add_argument("--photos", type=int, default=100, help="reports with a photo measured (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="reports of each kind run first, not counted")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="PostgreSQL database; its public schema is EMPTIED (created if missing)")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the timed worker phase to FILE")
    parser.add_argument("--burst", action="store_true", help="the mixed burst on two queues (see above)")
    parser.add_argument("--burst-text", type=int, default=30, help="text-only reports in the burst")
    parser.add_argument("--burst-photo", type=int, default=10, help="reports with photos in the burst")
    parser.add_argument("--burst-photos", type=int, default=3, help="photos per report with photos")
    parser.add_argument("--burst-timeout", type=float, default=600.0, help="seconds before the burst is BROKEN")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/13",
                        help="Redis database for the burst's workers; it is FLUSHED")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        print("bench/pipeline.py measures PostgreSQL: give a postgresql+psycopg:// URL", file=sys.stderr)
        return EXIT_BROKEN

    if args.burst:
        return burst(args)

    from bench.common import ensure_database, reset_and_migrate

    ensure_database(args.database_url)
    reset_and_migrate(args.database_url)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as folder:
        app = make_app(args.database_url, Path(folder) / "instance")
        setup = make_reporter(app)
        started = time.perf_counter()
        warm_text = journal(app, setup, args.warmup, with_photo=False)
        warm_photo = journal(app, setup, args.warmup, with_photo=True)
        text_ids = journal(app, setup, args.reports, with_photo=False)
        photo_ids = journal(app, setup, args.photos, with_photo=True)
        print(f"journalled {len(text_ids) + len(warm_text)} text-only reports and "
              f"{len(photo_ids) + len(warm_photo)} with a photo in {time.perf_counter() - started:.1f} s")
        work(app, "text", warm_text, None)
        work(app, "photo", warm_photo, None)
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        runs = [run for kind, ids in (("text", text_ids), ("photo", photo_ids)) if ids
                for run in [work(app, kind, ids, profiler)]]
        if profiler is not None:
            profiler.dump_stats(args.profile)
        problems = check(app, warm_text + text_ids, warm_photo + photo_ids)

    print(f"Worker cost per report on PostgreSQL, one process, warm, {os.cpu_count()} cores (ms)")
    met = True
    for run in runs:
        n = len(run.cpu)
        print(f"  {run.kind:<6} {n} reports  {n / run.seconds:7.1f} reports/s per core   "
              f"cpu ms p50 {statistics.median(run.cpu):7.2f}  p95 {percentile(run.cpu, 0.95):7.2f}  "
              f"mean {statistics.fmean(run.cpu):7.2f}   wall ms p50 {statistics.median(run.wall):7.2f}  "
              f"p95 {percentile(run.wall, 0.95):7.2f}")
        for name, values in run.parts.cpu.items():
            wall = statistics.fmean(run.parts.wall[name])
            print(f"    {name:<20} cpu {statistics.fmean(values):7.2f}   wall {wall:7.2f}")
    for run in runs:
        mean = statistics.fmean(run.cpu)
        ok = mean <= TARGET_CPU_MS[run.kind]
        met = met and ok
        print(f"target: {run.kind} cpu per report <= {TARGET_CPU_MS[run.kind]:.0f} ms: "
              f"{'met' if ok else 'MISSED'} ({mean:.2f} ms mean)")
    if problems:
        for problem in problems:
            print(f"BROKEN: {problem}")
        return EXIT_BROKEN
    print("checked: every report in triage with its job done, its anonymized view and suggestions; "
          "every photo with its cleaned copy")
    return EXIT_PASS if met else EXIT_SLOW


if __name__ == "__main__":
    sys.exit(main())
