"""The `intake` command: set up, run, and administer an installation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask

from . import config as cfg
from .enums import Role

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _app() -> Flask:
    from . import create_app

    try:
        app = create_app()
    except cfg.ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    # The command's connections are closed when it ends, not left to the garbage collector.
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(lambda: app.extensions["intake_db"].dispose(app))
    return app


def alembic_config(database_url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


@click.group()
def main() -> None:
    """Civilian-harm report intake: web app, workers and administration."""


@main.command()
def init() -> None:
    """Prepare the embedded default: instance folder, secret key file (0600), database schema."""
    instance = cfg.default_instance_path()
    if not os.environ.get("INTAKE_SECRET_KEY"):
        path, created = cfg.create_secret_key_file(instance)
        if created:
            click.echo(f"Created a secret key file: {path} (mode 0600). "
                       "In production set INTAKE_SECRET_KEY from your secret store instead.")
    app = _app()
    upgrade_database(app.config["DATABASE_URL"])
    click.echo("Database is up to date.")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations (to the latest by default)."""
    app = _app()
    upgrade_database(app.config["DATABASE_URL"], revision)
    click.echo("Database is up to date.")


@main.group()
def org() -> None:
    """Organisations."""


@org.command("create")
@click.argument("name")
def org_create(name: str) -> None:
    """Create an organisation."""
    from .accounts import AccountError, create_organisation
    from .extensions import db as database

    with _app().app_context():
        try:
            organisation = create_organisation(database.session, name)
            database.session.commit()
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Created organisation {organisation.name!r}.")


@main.group()
def user() -> None:
    """User accounts."""


@user.command("create")
@click.argument("email")
@click.option("--org", "org_name", required=True, help="Name of the user's organisation.")
@click.option("--role", type=click.Choice(Role.values()), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_create(email: str, org_name: str, role: str, password_stdin: bool) -> None:
    """Create a user. Without --password-stdin a password is generated and printed once."""
    from .accounts import AccountError, create_user, find_organisation, generate_password
    from .extensions import db as database

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else generate_password()
    with _app().app_context():
        organisation = find_organisation(database.session, org_name)
        if organisation is None:
            raise click.ClickException(f"No organisation named {org_name!r}; create it with `intake org create`.")
        try:
            create_user(database.session, email, organisation, Role(role), password)
            database.session.commit()
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Created {role} {email.strip().lower()} in {organisation.name!r}.")
    if not password_stdin:
        click.echo(f"Password (shown once, store it safely): {password}")


@main.group()
def token() -> None:
    """API bearer tokens."""


@token.command("create")
@click.argument("email")
def token_create(email: str) -> None:
    """Create an API bearer token for a user and print it (only this once)."""
    from sqlalchemy import select

    from .accounts import create_token, normalise_email
    from .extensions import db as database
    from .models import User

    with _app().app_context():
        account = database.session.scalar(select(User).where(User.email == normalise_email(email)))
        if account is None:
            raise click.ClickException("No user with that e-mail address.")
        value = create_token(database.session, account)
        database.session.commit()
    click.echo(value)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--web-workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
def serve(host: str, port: int, web_workers: int) -> None:
    """Run the web app (gunicorn) and a Celery worker with beat, as configured by the environment.

    Both run as their own processes; when either stops, the other is stopped too.
    """
    app = _app()
    embedded = app.config["DATABASE_URL"].startswith("sqlite")
    env = dict(os.environ, INTAKE_INSTANCE_PATH=app.instance_path)
    if host in LOOPBACK and "INTAKE_SESSION_COOKIE_SECURE" not in os.environ:
        # Local development over plain http on this machine only: not every browser keeps a
        # Secure cookie from http://localhost. Anywhere else cookies stay Secure.
        env["INTAKE_SESSION_COOKIE_SECURE"] = env["INTAKE_REMEMBER_COOKIE_SECURE"] = "false"
    bin_dir = Path(sys.executable).parent
    web = [str(bin_dir / "gunicorn"), "--bind", f"{host}:{port}", "--workers", str(web_workers),
           "--timeout", "120", "--no-control-socket", "intake.wsgi:app"]
    # No access log: a line per request with the client's address would tell a seized server
    # where each field worker connected from.
    # On SQLite one worker process at a time keeps writers few; beat runs inside the worker so
    # the embedded default needs no third process.
    worker = [str(bin_dir / "celery"), "-A", "workers.worker", "worker", "--loglevel", "INFO",
              "--beat", "--schedule", str(Path(app.instance_path) / "celerybeat-schedule")]
    if embedded:
        worker += ["--pool", "solo"]
    with app.app_context():
        _print_welcome(app, host, port)
    processes = [subprocess.Popen(web, env=env), subprocess.Popen(worker, env=env)]  # noqa: S603
    stopping = False

    def _stop(*_args: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.5)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    codes = [p.returncode for p in processes]
    if not stopping and any(codes):
        raise SystemExit(max(c for c in codes if c) if any(codes) else 1)


def _print_welcome(app: Flask, host: str, port: int) -> None:
    from sqlalchemy import func, select

    from .extensions import db as database
    from .models import User

    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host  # noqa: S104
    url = f"http://{shown_host}:{port}/"
    click.echo(f"\n  Intake is starting at {url}\n")
    try:
        users = database.session.scalar(select(func.count()).select_from(User)) or 0
    except Exception:
        users = -1
    if users == 0:
        click.echo("  No accounts yet. To sign in for the first time, in another terminal run:\n"
                   "    .venv/bin/intake org create \"My NGO\"\n"
                   "    .venv/bin/intake user create reporter@example.org --org \"My NGO\" --role reporter\n"
                   "    .venv/bin/intake user create verifier@example.org --org \"My NGO\" --role verifier\n"
                   "  Each `user create` prints the new account's password once.\n")
    if users == -1:
        click.echo("  The database is not ready: run `intake db upgrade` first.\n")
    if app.config["DATABASE_URL"].startswith("sqlite") and host not in LOOPBACK:
        click.echo("  Note: the embedded default is for one machine; use PostgreSQL and Redis in production.\n")


@main.command("anonymize-text")
@click.option("--pseudonym-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File holding the organisation's pseudonym key (at least 16 bytes); adds keyed pseudonyms.")
def anonymize_text(pseudonym_key_file: Path | None) -> None:
    """Anonymize JSON lines from standard input, one JSON line out per line in.

    In: {"id", "lang", "text", "known": {"persons": [...], "phones": [...], "emails": [...]}}, and optionally
    "report": consecutive lines with the same report value share placeholder numbers. Out: {"id", "text",
    "entities": [{"start", "end", "type"}], "needs_review", "review_reasons"}, or {"id", "error"} for a line
    that cannot be processed (the error never repeats the text). Exits 1 if any line failed.
    """
    # One core per process: numpy's BLAS (under the NER models) would otherwise start a thread per core.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    from .anonymize import get_engine, hmac_pseudonymizer
    from .anonymize.cli import process_lines

    pseudonymizer = hmac_pseudonymizer(pseudonym_key_file.read_bytes().strip()) if pseudonym_key_file else None
    failed = process_lines(sys.stdin, sys.stdout, get_engine(), pseudonymizer)
    if failed:
        raise SystemExit(1)
