"""Recovery of overdue work does not hang on the scheduler: /healthz says when the sweep last ran
(and that it is stale), the workers' relays recover overdue pipeline jobs too, several at once
without sending a job twice, and `intake serve` restarts a scheduler that stops."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from intake.extensions import db
from intake.models import PipelineJob, ScheduledRun, utcnow
from intake.pipeline import RECOVERY, SWEEP, due_jobs
from tests.conftest import require_postgres, worker_env
from tests.test_workers import file_report


def _ran(name: str, seconds_ago: float, *, started: bool = False) -> None:
    when = utcnow() - dt.timedelta(seconds=seconds_ago)
    row = db.session.get(ScheduledRun, name) or ScheduledRun(name=name)
    if started:
        row.started_at = when
    else:
        row.last_run_at = when
    db.session.add(row)
    db.session.commit()


def test_healthz_says_when_the_sweep_last_ran_and_that_it_is_stale(app: Any, client: Any) -> None:
    app.config["SWEEP_INTERVAL_SECONDS"] = 60
    never = client.get("/healthz")
    assert never.status_code == 503
    assert never.get_json()["checks"]["sweep"]["ok"] is False
    assert "never run" in never.get_json()["checks"]["sweep"]["error"]

    _ran(SWEEP, 30)
    _ran(RECOVERY, 5)
    checks = client.get("/healthz").get_json()["checks"]
    assert checks["sweep"]["ok"] is True and checks["sweep"]["stale"] is False
    assert 29 <= checks["sweep"]["last_run_seconds_ago"] < 60
    assert 4 <= checks["sweep"]["recovery_last_run_seconds_ago"] < 30

    _ran(SWEEP, 2 * 60 + 11)  # two intervals and the margin: a scheduler that died or hangs
    stale = client.get("/healthz")
    assert stale.status_code == 503 and stale.get_json()["status"] == "degraded"
    sweep = stale.get_json()["checks"]["sweep"]
    assert sweep["ok"] is False and sweep["stale"] is True and "celery beat" in sweep["error"]

    _ran(SWEEP, 1, started=True)  # a scheduler (re)started: its first sweep is one interval away
    assert client.get("/healthz").get_json()["checks"]["sweep"]["ok"] is True


def _overdue(report_ids: list[int]) -> None:
    db.session.execute(update(PipelineJob).where(PipelineJob.report_id.in_(report_ids))
                       .values(due_at=utcnow() - dt.timedelta(seconds=5)))
    db.session.commit()


def test_the_relay_recovers_overdue_jobs_and_the_sweep_then_finds_none(app: Any, reporter: Any) -> None:
    """What every worker's relay thread runs each sweep interval: overdue jobs are sent again and
    postponed, so the sweep (or another relay) does not send them a second time."""
    from workers.tasks import recover_overdue_jobs

    ids = [file_report(app, reporter).id for _ in range(3)]
    _overdue(ids)
    with app.app_context():
        assert recover_overdue_jobs(300) == (3, 3)
        assert recover_overdue_jobs(300) == (0, 0)
        assert due_jobs(db.session) == []


def test_two_relays_at_once_each_claim_different_overdue_jobs(app: Any, reporter: Any) -> None:
    """SKIP LOCKED: while one relay holds the overdue jobs it is sending, another finds only the rest."""
    require_postgres()
    ids = [file_report(app, reporter).id for _ in range(4)]
    _overdue(ids)
    with app.app_context():
        first, second = Session(db.engine), Session(db.engine)
        try:
            claimed = due_jobs(first, 2, claim=True)
            others = due_jobs(second, 10, claim=True)
            assert len(claimed) == 2 and sorted(claimed + others) == sorted(ids)
            assert not set(claimed) & set(others)
        finally:
            first.rollback()
            second.rollback()
            first.close()
            second.close()


def test_the_serve_supervisor_restarts_the_scheduler_and_stops_when_it_keeps_dying(
        app: Any, app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`intake serve`'s loop, with stand-in processes: a scheduler that stops is started again and
    said so; one that stops BEAT_RESTARTS + 1 times within the window stops everything with an error."""
    import intake.cli as cli

    started: list[list[str]] = []

    class Fake:
        def __init__(self, command: list[str], **_kw: Any) -> None:
            self.command = command
            self.returncode: int | None = -9 if "beat" in command else None
            started.append(command)

        def poll(self) -> int | None:
            return self.returncode

        def terminate(self) -> None:
            self.returncode = -15 if self.returncode is None else self.returncode

        def wait(self, timeout: float | None = None) -> int | None:
            return self.returncode

        def kill(self) -> None:
            self.returncode = -9

    monkeypatch.setattr(cli.subprocess, "Popen", Fake)
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) > 1000:
            raise RuntimeError("intake serve never noticed its scheduler stopping")

    monkeypatch.setattr(cli.time, "sleep", nap)
    monkeypatch.setattr(cli, "_print_welcome", lambda *_a: None)
    for name, value in worker_env(app_config).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        cli.serve.callback("127.0.0.1", 5999, 1, 0, False, False)  # type: ignore[misc]
    assert stopped.value.code != 0
    beats = [command for command in started if "beat" in command]
    assert len(beats) == cli.BEAT_RESTARTS + 1
    err = capsys.readouterr().err
    assert err.count("scheduler (celery beat) stopped (killed by SIGKILL); starting it again") == cli.BEAT_RESTARTS
    assert "stopping everything" in err


def test_the_serve_supervisor_runs_a_worker_per_queue_and_stops_everything_when_one_stops(
        app: Any, app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`intake serve` starts one real Celery worker per queue (`-Q text`, `-Q media`, each its own
    node); when the media worker stops, everything stops with an error that names it."""
    import intake.cli as cli

    started: list[list[str]] = []

    class Fake:
        def __init__(self, command: list[str], **_kw: Any) -> None:
            self.command = command
            self.returncode: int | None = None
            self.polls = 0
            started.append(command)

        def poll(self) -> int | None:
            self.polls += 1
            if "media" in self.command and self.polls > 3:
                self.returncode = -9
            return self.returncode

        def terminate(self) -> None:
            self.returncode = -15 if self.returncode is None else self.returncode

        def wait(self, timeout: float | None = None) -> int | None:
            return self.returncode

        def kill(self) -> None:
            self.returncode = -9

    monkeypatch.setattr(cli.subprocess, "Popen", Fake)
    monkeypatch.setattr(cli.time, "sleep", lambda _s: None)
    monkeypatch.setattr(cli, "_print_welcome", lambda *_a: None)
    for name, value in worker_env(app_config).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        cli.serve.callback("127.0.0.1", 5999, 1, 0, False, False)  # type: ignore[misc]
    assert stopped.value.code != 0
    workers = [c for c in started if c[1:5] == ["-A", "workers.worker", "worker", "--loglevel"]]
    assert [(c[c.index("-Q") + 1], c[c.index("--hostname") + 1]) for c in workers] == [
        ("text", "text@%h"), ("media", "media@%h")]
    assert len([c for c in started if "beat" in c]) == 1, "the scheduler was not restarted: everything stopped"
    err = capsys.readouterr().err
    assert "the media worker (celery worker -Q media) stopped (killed by SIGKILL); stopping everything" in err
