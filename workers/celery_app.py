"""Celery wired to a Flask app: configuration, app context for tasks, heartbeats.

Settings are for at-least-once work: a message is acknowledged only after its task finished
(`acks_late`), a task whose worker died is given back to the queue, and one worker process takes
one message at a time. Tasks carry report ids only, and store no results.

Two queues (intake.dispatch says what goes where): `text` and `media`. A worker started with
`-Q text` or `-Q media` works one of them (`intake serve` and docker-compose.yml run one pool each);
one started without `-Q` works both.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from celery import Celery, Task
from celery.signals import beat_init, worker_init, worker_process_init, worker_ready, worker_shutdown
from flask import Flask
from kombu import Queue

from intake.config import broker_transport_options
from intake.dispatch import MEDIA_QUEUE, TEXT_QUEUE

log = logging.getLogger(__name__)


def init_celery(app: Flask) -> Celery:
    """Create the Celery app for `app` and keep it in `app.extensions["celery"]`."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    from pathlib import Path

    instance = Path(app.instance_path)
    celery.conf.update(
        broker_url=app.config["BROKER_URL"],
        broker_transport_options=broker_transport_options(app.config, instance),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        # When the broker is down the web request must not hang: the report is safe in the
        # database in state `received`, and the sweep dispatches it once the broker is back.
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Both queues declared: a worker without -Q consumes both. Anything not routed below (and
        # the periodic duties) goes to `text`; a report's pipeline run is sent to the queue its
        # files call for (intake.dispatch.report_queue), which overrides its route here.
        task_queues=(Queue(TEXT_QUEUE), Queue(MEDIA_QUEUE)),
        task_default_queue=TEXT_QUEUE,
        task_routes={
            "intake.file_submission": {"queue": TEXT_QUEUE},
            "intake.process_report": {"queue": TEXT_QUEUE},
            "intake.sweep": {"queue": TEXT_QUEUE},
            "intake.expire_claims": {"queue": TEXT_QUEUE},
            "intake.retention": {"queue": TEXT_QUEUE},
            "intake.build_evidence_pack": {"queue": MEDIA_QUEUE},
        },
        task_time_limit=int(app.config["TASK_TIME_LIMIT_SECONDS"]),
        task_soft_time_limit=int(app.config["TASK_TIME_LIMIT_SECONDS"]) - 30,
        worker_hijack_root_logger=False,
        beat_schedule={
            "sweep-stalled-reports": {
                "task": "intake.sweep",
                "schedule": float(app.config["SWEEP_INTERVAL_SECONDS"]),
            },
            "expire-idle-claims": {
                "task": "intake.expire_claims",
                "schedule": float(app.config["CLAIM_SWEEP_INTERVAL_SECONDS"]),
            },
            "apply-retention": {
                "task": "intake.retention",
                "schedule": float(app.config["RETENTION_INTERVAL_SECONDS"]),
            },
        },
        beat_schedule_filename=str(instance / "celerybeat-schedule"),
        timezone="UTC",
    )
    celery.set_default()
    app.extensions["celery"] = celery
    _connect_worker_signals(app)
    return celery


_heartbeat_stop = threading.Event()


def _connect_worker_signals(app: Flask) -> None:
    def _fresh_connections(**_kw: Any) -> None:
        # A forked pool process must not share the parent's database connections.
        app.extensions["intake_db"].dispose(close=False)

    def _start_heartbeat(sender: Any = None, **_kw: Any) -> None:
        hostname = getattr(sender, "hostname", None) or socket.gethostname()
        _heartbeat_stop.clear()
        thread = threading.Thread(target=_beat, args=(app, hostname), name="intake-heartbeat", daemon=True)
        thread.start()
        threading.Thread(target=_relay, args=(app,), name="intake-relay", daemon=True).start()

    def _stop_heartbeat(**_kw: Any) -> None:
        _heartbeat_stop.set()

    def _warm_up(**_kw: Any) -> None:
        # The text engine (spaCy and natasha weights, 2–3 s) is built once, before the pool's
        # processes are forked: they share its memory and none pays for it with a report waiting
        # (or with the CPU of the intake burst that brought the report).
        from intake.anonymize.engine import get_engine

        get_engine()

    def _scheduler_started(**_kw: Any) -> None:
        # /healthz measures the sweep's staleness from here until its first run.
        from intake.pipeline import SWEEP
        from workers.tasks import note_run

        with app.app_context():
            note_run(SWEEP, started=True)

    beat_init.connect(_scheduler_started, weak=False)
    worker_init.connect(_warm_up, weak=False)
    worker_process_init.connect(_fresh_connections, weak=False)
    worker_ready.connect(_start_heartbeat, weak=False)
    worker_shutdown.connect(_stop_heartbeat, weak=False)


def _beat(app: Flask, hostname: str) -> None:
    from intake.extensions import db
    from intake.pipeline import record_heartbeat

    interval = float(app.config["WORKER_HEARTBEAT_SECONDS"])
    while not _heartbeat_stop.is_set():
        with app.app_context():
            try:
                record_heartbeat(db.session, hostname)
                db.session.commit()
            except Exception:  # a database hiccup must not stop the heartbeat thread
                db.session.rollback()
                log.warning("worker heartbeat could not be written", exc_info=False)
        _heartbeat_stop.wait(interval)


RELAY_BATCH = 500


def _relay(app: Flask) -> None:
    """Dispatch accepted submissions to the workers, every RELAY_INTERVAL_SECONDS (the outbox relay).

    The web answers the API's submitters after one INSERT and publishes nothing; this thread, in
    each worker's main process, finds what is due and sends its messages, at once again while a
    full batch came back. Rows it dispatched are due again after the deadline if still not filed.
    """
    from intake.extensions import db
    from intake.pipeline import RECOVERY
    from workers.tasks import note_run, recover_overdue_jobs, relay_submissions

    interval = float(app.config["RELAY_INTERVAL_SECONDS"])
    deadline = int(app.config["PIPELINE_DEADLINE_SECONDS"])
    recovery_interval = float(app.config["SWEEP_INTERVAL_SECONDS"])
    next_recovery = time.monotonic()  # at once: a worker that starts picks up what waited meanwhile
    while not _heartbeat_stop.is_set():
        sent = 0
        with app.app_context():
            try:
                sent = relay_submissions(deadline, RELAY_BATCH)
            except Exception as exc:  # a database hiccup must not stop the relay
                db.session.rollback()
                log.warning("relay: could not dispatch submissions (%s)", type(exc).__name__)
            if time.monotonic() >= next_recovery:
                # Overdue pipeline jobs too, as the sweep does: recovery must not hang on the
                # scheduler alone (a scheduler killed without anyone noticing recovered nothing).
                next_recovery = time.monotonic() + recovery_interval
                try:
                    overdue, redispatched = recover_overdue_jobs(deadline)
                    note_run(RECOVERY)
                    if overdue:
                        log.warning("relay: %d overdue report(s), %d dispatched again", overdue, redispatched)
                except Exception as exc:
                    db.session.rollback()
                    log.warning("relay: could not recover overdue jobs (%s)", type(exc).__name__)
        if sent < RELAY_BATCH:
            _heartbeat_stop.wait(interval)
