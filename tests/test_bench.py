"""A smoke run of bench/intake.py with tiny numbers, so the bench cannot rot unnoticed.

Only that it runs end to end on PostgreSQL and Redis and that its correctness checks pass (nothing
lost, nothing triaged twice, every file checked) — never its performance target: a timed unit test
would only measure the machine CI happens to run on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import ROOT, require_postgres, require_redis

BENCH = ROOT / "bench" / "intake.py"


@pytest.fixture(scope="module")
def bench_backend() -> list[str]:
    """A database of its own beside the test database: the bench empties the public schema it is given,
    and the suite's session-wide schema must survive it. The Redis database is the suite's (the bench
    flushes it, as every test does)."""
    database_url = bench_database()
    return ["--database-url", database_url, "--broker-url", require_redis()]


def bench_database() -> str:
    """The URL of `<test database>_bench`, created if missing."""
    from bench.common import ensure_database

    parts = urlsplit(require_postgres())
    database_url = urlunsplit(parts._replace(path=parts.path + "_bench"))
    ensure_database(database_url)
    return database_url


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, str(BENCH), *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=240)
    print(result.stdout, result.stderr)  # shown by pytest when the test fails
    return result


@pytest.mark.worker
def test_load_run_measures_every_scenario_and_loses_nothing(bench_backend: list[str]) -> None:
    """Ceiling and four scenarios, two clients for two seconds each: figures printed, no report lost."""
    result = run_bench(*bench_backend, "--clients", "2", "--duration", "2", "--warmup", "0.5", "--web-workers", "2")
    assert result.returncode in (0, 2), "0 = target met, 2 = only the performance target missed"
    for row in ("ceiling", "api", "api+photo", "form", "form+photo"):
        assert f"\n  {row} " in result.stdout, row
    for figure in ("intake api / ceiling:", "lost reports: 0 ", "duplicate triage: 0;", "dead jobs: 0;",
                   "files never checked: 0", " 0 errors ok"):
        assert figure in result.stdout, figure


@pytest.mark.worker
def test_soak_kills_the_worker_and_every_report_reaches_triage_once(bench_backend: list[str]) -> None:
    """The soak in miniature: the worker SIGKILLed twice, short deadline and sweep; PASS means every
    acknowledged report went to triage exactly once."""
    result = run_bench(*bench_backend, "--soak", "--soak-seconds", "14", "--kill-every", "6", "--soak-rate", "4",
                       "--clients", "2", "--deadline", "4", "--sweep-interval", "1", "--step-delay", "0.1",
                       "--web-workers", "2")
    assert result.returncode == 0
    assert "worker kills: 2;" in result.stdout
    assert "\nPASS: " in result.stdout and " acknowledged reports, each reached triage exactly once;" in result.stdout


def test_crypto_bench_prints_its_figures(tmp_path: Path) -> None:
    """bench/crypto.py in miniature (SQLite for the rotation): every figure of the issue is printed."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "crypto.py"), "--quick",
                             "--database-url", f"sqlite:///{tmp_path / 'crypto.sqlite3'}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    print(result.stdout, result.stderr)
    assert result.returncode in (0, 2), "0 = target met, 2 = only the target missed"
    for figure in ("field encryption per report:", "  submit   mean ", "  read     mean ", "MB/s",
                   " s per 10,000 reports", "target: field encryption < 1 ms per report"):
        assert figure in result.stdout, figure


def test_queue_bench_prints_its_figures() -> None:
    """bench/queue.py in miniature (2,000 reports on PostgreSQL): it seeds, measures and prints every figure."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "queue.py"), "--reports", "2000", "--samples", "10",
                             "--database-url", bench_database()],
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    print(result.stdout, result.stderr)
    assert result.returncode in (0, 2), "0 = targets met, 2 = only a target missed"
    assert "seeded 2,000 reports" in result.stdout
    for figure in ("  queue first page ", "  queue page deep ", "  queue filtered page ", "  duplicate suggestions ",
                   " candidates read, ", "target: duplicate suggestions p95 < 100 ms: ",
                   "note: the targets are for 1,000,000 reports; this run had 2,000"):
        assert figure in result.stdout, figure
    assert " p50 " in result.stdout and " p95 " in result.stdout


def test_pipeline_bench_prints_its_figures() -> None:
    """bench/pipeline.py in miniature (a few reports of each kind on PostgreSQL): it journals, files and runs
    the pipeline, prints every figure and finds every report triaged with its view, suggestions and copies."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "pipeline.py"), "--reports", "6", "--photos", "3",
                             "--warmup", "1", "--database-url", bench_database()],
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    print(result.stdout, result.stderr)
    assert result.returncode in (0, 2), "0 = targets met, 2 = only a target missed"
    assert "journalled 7 text-only reports and 4 with a photo" in result.stdout
    for figure in ("  text   6 reports ", "  photo  3 reports ", " reports/s per core ", "    filing ",
                   "    anonymize_report ", "    make_derivatives ", "    suggest_duplicates ",
                   "target: text cpu per report <= 20 ms: ", "target: photo cpu per report <= 150 ms: ",
                   "checked: every report in triage"):
        assert figure in result.stdout, figure
    assert " p50 " in result.stdout and " p95 " in result.stdout


@pytest.mark.worker
def test_slow_clients_bench_completes_every_trickled_report() -> None:
    """bench/slow_clients.py in miniature: two clients trickle a form POST with a photo for 5 s while the
    read timeout is 2 s (per read, not per request: neither is cut off), both probes answer throughout,
    and both reports are stored and in triage with their photo checked."""
    parts = urlsplit(require_postgres())
    database_url = urlunsplit(parts._replace(path=parts.path + "_slow"))
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "slow_clients.py"), "--clients", "2",
                             "--seconds", "5", "--read-timeout", "2", "--database-url", database_url,
                             "--broker-url", require_redis()],
                            cwd=ROOT, capture_output=True, text=True, timeout=400)
    print(result.stdout, result.stderr)
    assert result.returncode in (0, 2), "0 = target met, 2 = only the latency target was missed"
    for figure in ("  /healthz ", "  /my-reports ", " p99 ms ", "slow POSTs completed: 2 of 2",
                   "stored: 2 of 2 reports in triage, 0 photos missing, 0 never checked",
                   "target: p99 of /healthz and /my-reports < 1000 ms with 2 slow clients: "):
        assert figure in result.stdout, figure


def test_exports_bench_prints_its_figures() -> None:
    """bench/exports.py in miniature (300 reports on PostgreSQL): it seeds (sealed documents that open),
    then prints rows, rows/s and peak memory of every format, and the partner CSV."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "exports.py"), "--reports", "300",
                             "--database-url", bench_database()],
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    print(result.stdout, result.stderr)
    assert result.returncode == 0
    assert "seeded 300 reports in " in result.stdout
    for row in ("csv over reports, public ", "geojson over reports, public ", "hxl over reports, public ",
                "acled over reports, public ", "csv over incidents, public ", "acled over incidents, public ",
                "csv over reports, partner "):
        assert row in result.stdout, row
    assert " rows/s  peak MiB " in result.stdout
