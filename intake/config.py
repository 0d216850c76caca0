"""Configuration: built-in defaults, then the environment (`INTAKE_*`), then test overrides.

The embedded default needs no server: a SQLite file and a filesystem Celery broker inside the
instance folder. Production points `INTAKE_DATABASE_URL` at PostgreSQL and `INTAKE_BROKER_URL` at
Redis.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

# Values that must never be accepted as a secret key outside debug and tests.
KNOWN_BAD_SECRETS = {"", "dev", "change-me", "changeme", "secret", "insecure", "please-change"}
SECRET_KEY_FILE = "secret_key"  # noqa: S105  (a file name, not a secret)


class ConfigError(RuntimeError):
    """The app refuses to start with this configuration."""


def default_instance_path() -> Path:
    return Path(os.environ.get("INTAKE_INSTANCE_PATH") or Path.cwd() / "instance").resolve()


def defaults(instance_path: Path) -> dict[str, Any]:
    """Settings that hold when the environment says nothing."""
    return {
        "DEBUG": False,
        "TESTING": False,
        "SECRET_KEY": None,
        # Master keys wrapping every report's data key: INTAKE_MASTER_KEY (comma-separated, newest
        # first) or a key file, by default `master_key` in the instance folder (made by `intake init`).
        "MASTER_KEY": None,
        "MASTER_KEY_FILE": None,
        "DATABASE_URL": f"sqlite:///{instance_path / 'intake.sqlite3'}",
        "BROKER_URL": "filesystem://",
        "UPLOAD_PATH": str(instance_path / "uploads"),
        # Built evidence packs (intake/evidence): zips of bags, sealed with each job's data key.
        "PACK_PATH": str(instance_path / "packs"),
        # A built pack is kept this long, then erased by the sweep (a restricted one holds originals).
        "PACK_KEEP_SECONDS": 7 * 24 * 3600,
        # Per file and per report. A request larger than the report limit is refused before it is
        # read; a single file over the file limit is refused by name while the rest of the form is kept.
        "MAX_FILE_BYTES": 25 * 1024 * 1024,
        "MAX_REPORT_BYTES": 100 * 1024 * 1024,
        "MAX_ATTACHMENTS": 20,
        # A report waiting in triage still takes files through the API for this long after it was
        # received (a client sends the report, then its files, on a slow link); later, or once a
        # verifier took it up, only while it answers a question.
        "ATTACHMENT_WINDOW_SECONDS": 24 * 3600,
        # A picture's cleaned copy has at most this many pixels (JPEGs are decoded at the smaller
        # size); one pipeline run decodes at most REPORT_MAX_IMAGE_PIXELS for a report's pictures
        # (twelve 50-megapixel pictures, twenty of 30): the rest stay "original only", with a note.
        # Pictures above 50 megapixels are refused at upload (intake.media.MAX_IMAGE_PIXELS).
        "DERIVATIVE_MAX_PIXELS": 16_000_000,
        "REPORT_MAX_IMAGE_PIXELS": 600_000_000,
        # A phone on 2G can spend an hour on one form with photos: CSRF tokens live a day.
        "WTF_CSRF_TIME_LIMIT": 24 * 3600,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Strict",
        "REMEMBER_COOKIE_SECURE": True,
        # Redirect plain http to https in the app itself; off by default because the TLS proxy in
        # front of gunicorn does it (and local development runs on http://localhost).
        "FORCE_HTTPS": False,
        "BABEL_DEFAULT_LOCALE": "en",
        "LANGUAGES": ["en", "ru", "uk", "hy", "az", "ar"],
        "QUEUE_PAGE_SIZE": 25,
        # Queue tabs count exactly up to this many reports and then say "1000+": an exact count of a
        # very large tab would read all of it on every page view.
        "QUEUE_COUNT_CAP": 1000,
        # H3 resolution of the coarse cell that stands for an exact point: 8 (about 0.7 km²) in the
        # verifiers' default view, 6 (about 36 km²) in exports.
        "LOCATION_CELL_RESOLUTION": 8,
        "EXPORT_CELL_RESOLUTION": 6,
        # The dashboard's map and tables place an incident at the centre of its cell's parent at this
        # resolution (6: about 36 km²), never at a reported point.
        "DASHBOARD_CELL_RESOLUTION": 6,
        # A claim on a report with no activity by its claimant for this long goes back to triage;
        # the beat checks every CLAIM_SWEEP_INTERVAL_SECONDS.
        "CLAIM_IDLE_SECONDS": 8 * 3600,
        "CLAIM_SWEEP_INTERVAL_SECONDS": 300,
        # A pipeline job still pending this long after it was owed (or last started) is dispatched
        # again by the sweep; after this many starts without finishing it is held as dead.
        "PIPELINE_DEADLINE_SECONDS": 300,
        # Age after which Redis may hand an unacknowledged message (its worker died) to another worker.
        # kombu restores such messages only when a worker starts and then every ~100 s, so the
        # sweep, not this timeout, is what bounds how long a killed worker's report waits.
        # How often each worker's relay dispatches the submissions the API accepted (the outbox).
        "RELAY_INTERVAL_SECONDS": 1.0,
        # The relay and the sweep keep at most this many messages waiting in the workers' queue;
        # what is owed beyond it waits, safe, in the database until the workers have room.
        "DISPATCH_QUEUE_LIMIT": 200,
        "BROKER_VISIBILITY_TIMEOUT": 3600,
        "TASK_TIME_LIMIT_SECONDS": 600,
        "PIPELINE_MAX_ATTEMPTS": 8,
        # While reports arrive faster than this (per second, all channels), a worker waits before
        # each filing or pipeline task, up to PIPELINE_YIELD_MAX_SECONDS: accepting comes first.
        # 0 turns it off, for workers on machines of their own.
        "PIPELINE_YIELD_ABOVE_PER_SECOND": 20,
        "PIPELINE_YIELD_MAX_SECONDS": 30,
        # Fault injection for the fault tests and the soak bench: a pause before each pipeline step.
        "PIPELINE_STEP_DELAY_SECONDS": 0,
        "SWEEP_INTERVAL_SECONDS": 60,
        # A worker that has not written a heartbeat for this long counts as gone in /healthz.
        "WORKER_HEARTBEAT_SECONDS": 15,
        "WORKER_STALE_SECONDS": 60,
        # Days a report may stay in a state before its originals (identities, exact place, raw
        # narrative, original files) are erased; publishable fields stay. Applied every interval.
        "RETENTION_DAYS": {"rejected": 180},
        "RETENTION_INTERVAL_SECONDS": 3600,
        # Form stashes (uploads of a form never submitted) are removed after this long.
        "STASH_MAX_AGE_SECONDS": 7 * 24 * 3600,
        # A resumable (tus) upload not finished this long after it was created has expired: it
        # answers 410 and the sweep removes it and its sealed partial file.
        "UPLOAD_EXPIRY_SECONDS": 24 * 3600,
        # Rate limits (Flask-Limiter). memory:// counts per process, enough for the embedded default;
        # production points this at Redis so that every gunicorn worker shares the counts. Keys are
        # keyed hashes of addresses and accounts, never the address or the e-mail itself.
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_KEY_PREFIX": "intake",
        # Redis away for a moment: count in memory meanwhile rather than refuse every sign-in.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Per client address (an office behind one address signs in together in the morning).
        "SIGN_IN_RATE_LIMIT": "20 per minute;200 per hour",
        # Per client address and, separately, per account waiting for its code.
        "SECOND_FACTOR_RATE_LIMIT": "10 per minute;60 per hour",
        # What one reporter may send (intake.quotas): reports per API token and per user (every
        # channel; a user may hold a token per phone), and bytes of files per user per day. Far above
        # a field team's day, even a phone syncing a week offline; far below a flood. Empty or 0: off.
        "API_REPORTS_PER_TOKEN": "60 per minute;600 per hour",
        "REPORTS_PER_USER": "120 per minute;1200 per hour",
        "UPLOAD_BYTES_PER_USER_PER_DAY": 4 * 1024 * 1024 * 1024,
        # The API's JSON body, refused (413) above this before it is read: a 50,000-character account in
        # Cyrillic or Arabic, even \u-escaped, with 200 named victims is under 500 kB (every list of the
        # schema at its limit at once would not fit; no real report is that).
        "API_MAX_JSON_BYTES": 1024 * 1024,
        # This many wrong passwords or codes in a row lock the account's sign-in for this long.
        "LOCKOUT_ATTEMPTS": 6,
        "LOCKOUT_SECONDS": 15 * 60,
        # Sessions of verifiers, coordinators and admins end after this long without a request,
        # and after SESSION_MAX_SECONDS whatever happens. Sessions live on the server (one row
        # each): sign-out, a role change, a password change, deactivation or a second factor
        # reset ends them everywhere.
        "IDLE_TIMEOUT_SECONDS": 30 * 60,
        "SESSION_MAX_SECONDS": 12 * 3600,
        # Reporters (phones on slow links, forms that take an hour) get longer ones.
        "REPORTER_IDLE_TIMEOUT_SECONDS": 3 * 24 * 3600,
        "REPORTER_SESSION_MAX_SECONDS": 14 * 24 * 3600,
        # A session's last use is written at most this often (its idle time is that precise).
        "SESSION_TOUCH_SECONDS": 60,
        # How many reverse proxies in front of the app set X-Forwarded-For/-Proto (werkzeug's
        # ProxyFix). 0: the header is the client's to write, so it is ignored.
        "PROXY_HOPS": 0,
        # Notices to a reporter that a question waits (intake.notices), for those who turned them
        # on; they carry no report content. The instance's address for the link ("" = none sent);
        # SMTP for e-mail to the account address ("" host = no e-mail); a webhook, HMAC-signed.
        "PUBLIC_URL": "",
        "SMTP_HOST": "",
        "SMTP_PORT": 587,
        "SMTP_SECURITY": "starttls",  # starttls, tls (implicit, port 465) or none (a relay on this machine)
        "SMTP_USERNAME": "",
        "SMTP_PASSWORD": "",
        "SMTP_FROM": "",
        "SMTP_TIMEOUT_SECONDS": 20,
        "NOTIFY_WEBHOOK_URL": "",
        "NOTIFY_WEBHOOK_SECRET": "",
        "NOTIFY_RETRY_SECONDS": 60,  # a failed notice is tried again after this, doubling, 8 times
        # A notice not sent this long after its question (its message lost with the broker, or its
        # retries spent) is queued again by the sweep, at most once per NOTICE_RESEND_SECONDS, for up to
        # NOTICE_GIVE_UP_SECONDS after the question.
        "NOTICE_LOST_AFTER_SECONDS": 900,
        "NOTICE_RESEND_SECONDS": 3 * 3600,
        "NOTICE_GIVE_UP_SECONDS": 7 * 86400,
        # Days a new API token lives unless `intake token create --expires` says otherwise (0: never expires).
        "TOKEN_LIFETIME_DAYS": 180,
        # Time to enter the second factor after the password, before signing in starts over.
        "SECOND_FACTOR_PENDING_SECONDS": 10 * 60,
        # The name authenticator apps show next to the account.
        "TOTP_ISSUER": "Intake",
        "AUDIT_PAGE_SIZE": 50,
    }


def _parse(value: str) -> Any:
    """Environment values: JSON where they parse as JSON (numbers, booleans, lists), else text."""
    import json

    try:
        return json.loads(value)
    except ValueError:
        return value


def from_environment(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    """Every `INTAKE_X` variable as setting `X` (`INTAKE_A__B` sets key B of dict A)."""
    settings: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith("INTAKE_") or name in ("INTAKE_INSTANCE_PATH",):
            continue
        key = name[len("INTAKE_"):]
        if "__" in key:
            head, *rest = key.split("__")
            target = settings.setdefault(head, {})
            for part in rest[:-1]:
                target = target.setdefault(part, {})
            target[rest[-1]] = _parse(raw)
        elif key in ("SECRET_KEY", "DATABASE_URL", "BROKER_URL", "MASTER_KEY", "MASTER_KEY_FILE",
                     "RATELIMIT_STORAGE_URI"):
            settings[key] = raw  # never JSON-parse a secret or a URL
        else:
            settings[key] = _parse(raw)
    return settings


def read_secret_key_file(instance_path: Path) -> str | None:
    path = instance_path / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip() or None
    return None


def create_secret_key_file(instance_path: Path) -> tuple[Path, bool]:
    """Create the embedded default's secret key file (mode 0600) unless it exists."""
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = instance_path / SECRET_KEY_FILE
    if path.exists():
        return path, False
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path, True


def check_secret(config: dict[str, Any]) -> None:
    """Fail closed: outside debug and tests, no start without a real secret key."""
    if config.get("DEBUG") or config.get("TESTING"):
        return
    key = config.get("SECRET_KEY") or ""
    if key.strip().lower() in KNOWN_BAD_SECRETS or len(key) < 32:
        raise ConfigError(
            "INTAKE_SECRET_KEY is missing, a known default or shorter than 32 characters. "
            "Set it to a long random value (python3 -c 'import secrets; print(secrets.token_hex(32))'), "
            "or run `intake init` to create a key file in the instance folder."
        )


def broker_transport_options(config: dict[str, Any], instance_path: Path) -> dict[str, Any]:
    """Options for the configured broker: folders for the filesystem transport, timeouts for Redis."""
    url = config["BROKER_URL"]
    if url.startswith("filesystem://"):
        queue_dir = instance_path / "broker" / "queue"
        processed_dir = instance_path / "broker" / "processed"
        control_dir = instance_path / "broker" / "control"
        for folder in (queue_dir, processed_dir, control_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "processed_folder": str(processed_dir),
            "control_folder": str(control_dir),
            "store_processed": False,
        }
    # Redis redelivers an unacknowledged message after the visibility timeout: it must be longer
    # than the longest task (task_time_limit), or a slow task would run twice at once.
    return {"visibility_timeout": int(config["BROKER_VISIBILITY_TIMEOUT"])}
