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
from .dispatch import QUEUES
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


def upgrade_database(database_url: str, revision: str = "head", app: Flask | None = None) -> None:
    """Apply migrations up to `revision`.

    With `app`, migrations that seal existing data get its master keys and upload folder; files
    they sealed (`*.v4`) replace the plain ones only after the migration has committed.
    """
    from alembic import command

    config = alembic_config(database_url)
    if app is not None:
        config.attributes["key_source"] = app.extensions["intake_keys"]
        config.attributes["upload_path"] = app.config["UPLOAD_PATH"]
        _discard_unpromoted_files(database_url, Path(app.config["UPLOAD_PATH"]))
    command.upgrade(config, revision)
    if app is not None:
        _promote_sealed_files(Path(app.config["UPLOAD_PATH"]))
    if config.attributes.get("sealed_existing_rows"):
        _rewrite_tables(database_url)


def _rewrite_tables(database_url: str) -> None:
    """After plain columns were sealed and dropped, rewrite the tables so no old row version or freed
    page on disk still holds the plain values (PostgreSQL keeps dropped columns' data in place)."""
    from sqlalchemy import text

    from .db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if database_url.startswith("sqlite"):
                conn.execute(text("VACUUM"))
            else:
                # data_keys and submissions: their master-wrapped keys went under erasure epochs (0015d).
                tables = ("reports, victims, witnesses, links, attachments, users, state_transitions, "
                          "review_comments, info_requests, data_keys, submissions")
                conn.execute(text(f"VACUUM FULL {tables}"))
    finally:
        engine.dispose()


def _current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from .db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _discard_unpromoted_files(database_url: str, uploads: Path) -> None:
    """Sealed copies left by a sealing migration that did not commit are stale; after one that
    committed, they are the files to keep."""
    current = _current_revision(database_url)
    if current is not None and current >= "0004":
        _promote_sealed_files(uploads)
    else:
        for leftover in uploads.glob("*/*.v4"):
            leftover.unlink()


def _promote_sealed_files(uploads: Path) -> None:
    for sealed in uploads.glob("*/*.v4"):
        os.replace(sealed, sealed.with_suffix(""))


@click.group()
def main() -> None:
    """Civilian-harm report intake: web app, workers and administration."""


@main.command()
def init() -> None:
    """Prepare the embedded default: instance folder, secret and master key files (0600), database schema."""
    from . import crypto

    instance = cfg.default_instance_path()
    if not os.environ.get("INTAKE_SECRET_KEY"):
        path, created = cfg.create_secret_key_file(instance)
        if created:
            click.echo(f"Created a secret key file: {path} (mode 0600). "
                       "In production set INTAKE_SECRET_KEY from your secret store instead.")
    if not os.environ.get("INTAKE_MASTER_KEY"):
        key_path = Path(os.environ.get("INTAKE_MASTER_KEY_FILE") or instance / crypto.MASTER_KEY_FILE)
        if crypto.create_master_key_file(key_path):
            click.echo(f"Created a master key file: {key_path} (mode 0600). Every report is encrypted "
                       "under it: back it up apart from the database. In production keep it outside the "
                       "server's disk (INTAKE_MASTER_KEY or INTAKE_MASTER_KEY_FILE on a mounted secret).")
    app = _app()
    upgrade_database(app.config["DATABASE_URL"], app=app)
    click.echo("Database is up to date.")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations (to the latest by default)."""
    app = _app()
    upgrade_database(app.config["DATABASE_URL"], revision, app=app)
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
@click.option("--password-final", is_flag=True,
              help="With --password-stdin: the typed password is the user's own (an automated account), "
                   "not one to replace at the first sign-in.")
def user_create(email: str, org_name: str, role: str, password_stdin: bool, password_final: bool) -> None:
    """Create a user. Without --password-stdin a password is generated and printed once. Either way
    the user must replace it at their first sign-in: whoever typed or read it knows it too. Only
    --password-final (with --password-stdin) says the typed password is already the user's own."""
    from .accounts import AccountError, create_user, find_organisation, generate_password
    from .extensions import db as database

    if password_final and not password_stdin:
        raise click.UsageError("--password-final goes with --password-stdin.")
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else generate_password()
    with _app().app_context():
        organisation = find_organisation(database.session, org_name)
        if organisation is None:
            raise click.ClickException(f"No organisation named {org_name!r}; create it with `intake org create`.")
        try:
            create_user(database.session, email, organisation, Role(role), password, via="cli",
                        must_change_password=not password_final)
            database.session.commit()
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Created {role} {email.strip().lower()} in {organisation.name!r}.")
    if not password_stdin:
        click.echo(f"Password (shown once, store it safely): {password}")
        click.echo("They must choose their own password when they first sign in.")


def _find_user(database: Any, email: str) -> Any:
    from .accounts import find_user

    account = find_user(database.session, email)
    if account is None:
        raise click.ClickException("No user with that e-mail address.")
    return account


@user.command("reset-2fa")
@click.argument("email")
def user_reset_2fa(email: str) -> None:
    """Forget a user's second factor and recovery codes (a lost phone); they set up a new one at
    their next sign-in. Also lifts a sign-in lock. Audited."""
    from . import second_factor
    from .extensions import db as database

    with _app().app_context():
        account = _find_user(database, email)
        second_factor.reset(database.session, account, actor=None, via="cli")
        database.session.commit()
    click.echo(f"Second factor of {email.strip().lower()} reset: a new one is set up at the next sign-in.")


@user.command("unlock")
@click.argument("email")
def user_unlock(email: str) -> None:
    """Lift a sign-in lock (after repeated wrong passwords or codes) before it runs out. Audited."""
    from .accounts import unlock
    from .extensions import db as database

    with _app().app_context():
        account = _find_user(database, email)
        unlock(database.session, account, actor=None, via="cli")
        database.session.commit()
    click.echo(f"{email.strip().lower()} can sign in again.")


@user.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(Role.values()))
def user_set_role(email: str, role: str) -> None:
    """Give a user another role. Audited; a session opened under the old role may end."""
    from .accounts import AccountError, change_role
    from .extensions import db as database

    with _app().app_context():
        account = _find_user(database, email)
        try:
            change_role(database.session, account, Role(role), actor=None, via="cli")
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        database.session.commit()
    click.echo(f"{email.strip().lower()} is now a {role}.")


@user.command("deactivate")
@click.argument("email")
def user_deactivate(email: str) -> None:
    """Stop an account at once: signed out everywhere, every API token revoked. Audited."""
    from .accounts import AccountError, deactivate
    from .extensions import db as database

    with _app().app_context():
        account = _find_user(database, email)
        try:
            deactivate(database.session, account, actor=None, via="cli")
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        database.session.commit()
    click.echo(f"{email.strip().lower()} is deactivated: signed out everywhere, API tokens revoked.")


@user.command("activate")
@click.argument("email")
def user_activate(email: str) -> None:
    """Let a deactivated account sign in again (its old API tokens stay revoked). Audited."""
    from .accounts import AccountError, activate
    from .extensions import db as database

    with _app().app_context():
        account = _find_user(database, email)
        try:
            activate(database.session, account, actor=None, via="cli")
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        database.session.commit()
    click.echo(f"{email.strip().lower()} can sign in again.")


@main.group("audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command("verify")
@click.option("--anchor", "anchor_file", type=click.File("r"), default=None,
              help="An anchor file from `intake audit anchor`: also check that every anchored entry is still there, "
                   "unchanged.")
def audit_verify(anchor_file: Any) -> None:
    """Recompute every audit chain. Exits 0 when intact, 1 naming each chain's first broken entry (and,
    with --anchor, what was cut or changed since the anchor)."""
    from .audit import AnchorError, check_anchors, read_anchors, verify_chain
    from .extensions import db as database

    try:
        anchors = read_anchors(anchor_file) if anchor_file is not None else []
    except AnchorError as exc:
        raise click.ClickException(f"{anchor_file.name}: {exc}") from exc
    with _app().app_context():
        check = verify_chain(database.session)
        cut = check_anchors(database.session, check, anchors)
        database.session.rollback()
    for chain in check.chains:
        if chain.intact:
            click.echo(chain.describe())
    if not check.intact or cut:
        lines = [f"Audit log BROKEN: {c.describe()}" for c in check.broken]
        lines += [f"Audit log does not hold what was anchored: {problem}" for problem in cut]
        raise click.ClickException("\n".join(lines))
    click.echo(f"Audit log intact: {check.count} entries in {len(check.chains)} chains.")
    if anchors:
        click.echo(f"Every entry of the {len(anchors)} anchors is there, unchanged.")
    else:
        click.echo("Keep an anchor elsewhere to compare with later: `intake audit anchor`.")


@audit_group.command("anchor")
@click.option("--output", "-o", type=click.File("a"), default=None,
              help="Also append the anchor to this file (one JSON line per anchor).")
def audit_anchor(output: Any) -> None:
    """Print the end of every audit chain as one JSON line (its length, last id and hash, and the time):
    keep it outside this server, and check later with `intake audit verify --anchor FILE`."""
    import json

    from .audit import anchor, verify_chain
    from .extensions import db as database

    with _app().app_context():
        check = verify_chain(database.session)
        database.session.rollback()
    if not check.intact:
        raise click.ClickException("The audit log is broken: no anchor made. Run `intake audit verify`.\n"
                                   + "\n".join(c.describe() for c in check.broken))
    line = json.dumps(anchor(check), separators=(",", ":"), sort_keys=True)
    click.echo(line)
    if output is not None:
        output.write(line + "\n")


@main.group()
def token() -> None:
    """API bearer tokens."""


@token.command("create")
@click.argument("email")
@click.option("--expires", metavar="WHEN",
              help="Days (30 or 30d), a date (2027-01-31) or 'never'. Default: INTAKE_TOKEN_LIFETIME_DAYS.")
@click.option("--scope", type=click.Choice(["submit", "export:public", "export:partner"]), default="submit",
              show_default=True, help="What the token may do: file reports, or (a coordinator's, read-only) "
                                      "download exports up to that tier.")
def token_create(email: str, expires: str | None, scope: str) -> None:
    """Create an API bearer token for a user and print it (only this once). Audited."""
    from .accounts import AccountError, create_token, token_expiry
    from .extensions import db as database
    from .models import utcnow

    app = _app()
    with app.app_context():
        account = _find_user(database, email)
        if not account.active:
            raise click.ClickException("That user is deactivated; activate them first.")
        try:
            expires_at = token_expiry(expires, int(app.config["TOKEN_LIFETIME_DAYS"]), utcnow())
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            value = create_token(database.session, account, expires_at=expires_at, via="cli", scope=scope)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        database.session.commit()
    click.echo(value)
    # On stderr: scripts read the token alone from stdout.
    click.echo(f"Expires: {expires_at.isoformat(timespec='minutes') if expires_at else 'never'}", err=True)


@token.command("list")
@click.argument("email")
def token_list(email: str) -> None:
    """A user's API tokens: prefix, state, created, last used, expiry."""
    from .accounts import token_state, tokens_of
    from .extensions import db as database
    from .models import utcnow

    def when(value: Any) -> str:
        return value.isoformat(timespec="minutes") if value is not None else "-"

    with _app().app_context():
        account = _find_user(database, email)
        now = utcnow()
        rows = tokens_of(database.session, account)
        for row in rows:
            expiry = when(row.expires_at) if row.expires_at else "never"
            click.echo(f"{row.prefix}  {token_state(row, now):8}  created {when(row.created_at)}  "
                       f"last used {when(row.last_used_at)}  expires {expiry}")
        database.session.rollback()
    if not rows:
        click.echo("No API tokens.")


@token.command("revoke")
@click.argument("token_or_prefix", required=False)
@click.option("--all", "all_of", metavar="EMAIL", help="Revoke every API token of this user.")
def token_revoke(token_or_prefix: str | None, all_of: str | None) -> None:
    """Revoke an API token, named by the whole token or the prefix `intake token list` shows (or
    every token of a user with --all EMAIL). Refused from its next request on. Audited."""
    from .accounts import AccountError, find_token, revoke_token, token_state, tokens_of
    from .extensions import db as database
    from .models import utcnow

    if (token_or_prefix is None) == (all_of is None):
        raise click.UsageError("Name one token, or --all EMAIL.")
    with _app().app_context():
        if all_of is not None:
            account = _find_user(database, all_of)
            rows = [row for row in tokens_of(database.session, account) if token_state(row, utcnow()) != "revoked"]
        else:
            row = find_token(database.session, token_or_prefix or "")
            if row is None:
                raise click.ClickException("No single API token matches that (give more of it, or the whole token).")
            rows = [row]
        try:
            for row in rows:
                revoke_token(database.session, row, actor=None, via="cli")
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        prefixes = [row.prefix for row in rows]
        database.session.commit()
    click.echo(f"Revoked {len(prefixes)} token(s): {', '.join(prefixes) or '-'}.")


@main.command("export")
@click.option("--org", "org_name", required=True, help="Name of the organisation whose data is exported.")
@click.option("--format", "fmt", type=click.Choice(["csv", "geojson", "hxl", "acled"]), required=True)
@click.option("--of", "of", type=click.Choice(["reports", "incidents"]), default="reports", show_default=True)
@click.option("--tier", type=click.Choice(["public", "partner"]), default="public", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write; what was suppressed and why goes beside it, in FILE.notes.json.")
def export_command(org_name: str, fmt: str, of: str, tier: str, out: Path) -> None:
    """Export an organisation's verified reports or incidents: the same code path and policy as the
    web page and the API. The file appears whole or not at all (a blocked export writes nothing). Audited."""
    import json
    import shutil

    from .accounts import find_organisation
    from .exports import ExportBlocked, ExportSpec, audit_export, build_export
    from .extensions import db as database

    app = _app()
    spec = ExportSpec.parse(fmt, of, tier)
    with app.app_context():
        organisation = find_organisation(database.session, org_name)
        if organisation is None:
            raise click.ClickException(f"No organisation named {org_name!r}.")
        try:
            export = build_export(database.session, organisation.id, spec, app.config)
        except ExportBlocked as exc:
            raise click.ClickException(f"The export was blocked by the k-anonymity check: {exc}") from exc
        partial = out.with_name(out.name + ".partial")
        try:
            with partial.open("wb") as handle:
                shutil.copyfileobj(export.file, handle)
            audit_export(database.session, export, actor=None, organisation_id=organisation.id, via="cli")
            database.session.commit()
            partial.replace(out)
        finally:
            export.close()
            partial.unlink(missing_ok=True)
        out.with_name(out.name + ".notes.json").write_text(json.dumps(export.notes, indent=2, ensure_ascii=False)
                                                           + "\n", encoding="utf-8")
    suppressed = export.notes["suppressed"]
    click.echo(f"Wrote {export.rows} {of} ({tier} tier, {fmt}) to {out}; "
               f"{suppressed['cells_below_5'] + suppressed['cells_complementary']} counts suppressed, "
               f"{suppressed['dates_to_month']} dates given as the month.")


@main.group()
def pack() -> None:
    """Evidence packs: build a pack as a BagIt bag, or verify one offline (docs/evidence-packs.md)."""


@pack.command("build")
@click.option("--org", "org_name", required=True, help="Name of the organisation whose incidents go in the pack.")
@click.option("--platform", default=None, help="A weapon system or munition, e.g. TB2 (catalogue names and aliases).")
@click.option("--component", default=None, help="A component, e.g. MX-15D.")
@click.option("--manufacturer", default=None, help="A manufacturer, e.g. L3Harris Wescam.")
@click.option("--country", default=None, help="A country of manufacture: its ISO code or name, e.g. CA or Canada.")
@click.option("--from", "date_from", default=None, help="First day of the events, YYYY-MM-DD.")
@click.option("--to", "date_to", default=None, help="Last day of the events, YYYY-MM-DD.")
@click.option("--tier", type=click.Choice(["public", "partner", "restricted"]), default="public", show_default=True)
@click.option("--reason", default=None, help="Why the restricted tier (originals, exact places) is needed; audited.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The folder the bag is made in.")
def pack_build(org_name: str, platform: str | None, component: str | None, manufacturer: str | None,
               country: str | None, date_from: str | None, date_to: str | None, tier: str, reason: str | None,
               out: Path) -> None:
    """Build an evidence pack of one selector and print the bag's path. Audited; a restricted pack
    audits every original and exact place it reveals, with the reason."""
    from .accounts import find_organisation
    from .evidence import PackError, PackSpec, PackTier, Selector, SelectorError, build_pack
    from .exports import ExportBlocked
    from .extensions import db as database
    from .models import utcnow

    chosen = [(kind, value) for kind, value in (("platform", platform), ("component", component),
                                                ("manufacturer", manufacturer), ("country", country)) if value]
    if len(chosen) != 1:
        raise click.UsageError("Give exactly one of --platform, --component, --manufacturer, --country.")
    try:
        selector = Selector.parse(chosen[0][0], chosen[0][1], date_from, date_to)
    except SelectorError as exc:
        raise click.UsageError(str(exc)) from None
    spec = PackSpec(selector, PackTier(tier), reason)
    app = _app()
    out.mkdir(parents=True, exist_ok=True)
    with app.app_context():
        organisation = find_organisation(database.session, org_name)
        if organisation is None:
            raise click.ClickException(f"No organisation named {org_name!r}.")
        try:
            built = build_pack(database.session, app.config, organisation, spec, out, actor=None, via="cli",
                               built_at=utcnow())
            database.session.commit()
        except (PackError, ExportBlocked) as exc:
            database.session.rollback()
            raise click.ClickException(f"No pack was built: {exc}") from None
    click.echo(str(built.path))


@pack.command("verify")
@click.argument("folder", type=click.Path(path_type=Path))
def pack_verify(folder: Path) -> None:
    """Check a pack offline: the bag, every file's SHA-256 and the custody chain. Exit 0 when all
    hold; otherwise exit 1, naming the first thing that does not."""
    from .evidence.bag import verify_bag

    problem = verify_bag(folder)
    if problem:
        click.echo(f"FAILED: {problem}", err=True)
        raise SystemExit(1)
    click.echo(f"OK: {folder} — bag, hashes and custody chain check out.")


@main.group()
def transfer() -> None:
    """Transfer records: public facts about arms transfers (docs/transfers.md)."""


@transfer.command("add")
@click.option("--org", "org_name", required=True, help="Name of the organisation that keeps the record.")
@click.option("--from", "exporting_state", required=True, metavar="STATE", help="Exporting state: CA or Canada.")
@click.option("--to", "importing_state", required=True, metavar="STATE", help="Importing state: TR or Turkey.")
@click.option("--end-user", required=True, help='The authorised end user the source names, e.g. "Baykar".')
@click.option("--end-user-state", default=None, metavar="STATE", help="The end user's state, if not the importer.")
@click.option("--item", "designation", required=True, help="The item's designation, e.g. MX-15D.")
@click.option("--kind", "item_kind", type=click.Choice(["platform", "munition", "component"]), default=None,
              help="Needed only when the item is not in the weapon catalogue.")
@click.option("--quantity", type=int, default=None)
@click.option("--date", required=True, metavar="YYYY[-MM[-DD]]", help="As precise as the source: 2020-05.")
@click.option("--source", "source_kind", required=True,
              type=click.Choice(["permit_list", "arms_sale_notice", "att_report", "unroca", "eu_report", "other"]))
@click.option("--citation", "source_citation", required=True, help="Enough to find the line again.")
@click.option("--url", "source_url", default=None, help="Web address of the source.")
@click.option("--notes", default=None)
def transfer_add(org_name: str, **values: Any) -> None:
    """Record a transfer (audited); prints the record's id. The same rules as the web form."""
    from pydantic import ValidationError

    from .accounts import find_organisation
    from .extensions import db as database
    from .schema import errors_by_field
    from .transfers import TransferIn, country_code, create_transfer

    for key in ("exporting_state", "importing_state", "end_user_state"):
        if values[key]:
            values[key] = country_code(values[key]) or values[key]
    app = _app()
    with app.test_request_context():  # messages in the default language, as the web form would give them
        organisation = find_organisation(database.session, org_name)
        if organisation is None:
            raise click.ClickException(f"No organisation named {org_name!r}.")
        try:
            data = TransferIn.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{path}: {' '.join(messages)}"
                                 for path, messages in errors_by_field(exc.errors()).items())
            raise click.ClickException(problems) from None
        created = create_transfer(database.session, organisation.id, None, data, via="cli")
        database.session.commit()
        click.echo(f"{created.public_id}  {created.catalogue_name or created.designation}  "
                   f"{created.exporting_state} -> {created.importing_state}")


@transfer.command("list")
@click.option("--org", "org_name", required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, as the API gives them.")
def transfer_list(org_name: str, as_json: bool) -> None:
    """An organisation's transfer records, latest transfer first."""
    import json

    from .accounts import find_organisation
    from .extensions import db as database
    from .transfers import transfers_of
    from .transfers.records import format_period, transfer_json

    with _app().app_context():
        organisation = find_organisation(database.session, org_name)
        if organisation is None:
            raise click.ClickException(f"No organisation named {org_name!r}.")
        for row in transfers_of(database.session, organisation.id):
            if as_json:
                click.echo(json.dumps(transfer_json(row), ensure_ascii=False))
                continue
            quantity = str(row.quantity) if row.quantity else "-"
            click.echo(f"{row.public_id}  {format_period(row.transfer_date, row.date_precision):10}  "
                       f"{quantity:>5} x {row.catalogue_name or row.designation}  {row.exporting_state} -> "
                       f"{row.importing_state}  end user {row.end_user}  [{row.source_kind.value}] "
                       f"{row.source_citation}")


@main.group()
def device() -> None:
    """Phones with ODK Collect or KoboCollect: device tokens (intake/openrosa, docs/openrosa.md)."""


@device.command("create")
@click.argument("email")
@click.option("--name", required=True, help='What the phone is called, e.g. "Phone 3" (no person\'s name).')
@click.option("--base-url", default=None,
              help="The server's public address, e.g. https://intake.example.org (default: INTAKE_PUBLIC_BASE_URL).")
def device_create(email: str, name: str, base_url: str | None) -> None:
    """Create a device token for a reporter; print the server URL for Collect and its QR code. Audited."""
    from .accounts import AccountError
    from .extensions import db as database
    from .openrosa import devices

    app = _app()
    base_url = base_url or app.config.get("PUBLIC_BASE_URL")
    if not base_url:
        raise click.ClickException("Give --base-url (the address phones reach this server at) or set "
                                   "INTAKE_PUBLIC_BASE_URL.")
    with app.app_context():
        account = _find_user(database, email)
        try:
            row, token = devices.create_device(database.session, account, name, actor=None, via="cli")
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        organisation = account.organisation.name
        database.session.commit()
        url = devices.server_url(base_url, token)
        click.echo(url)
        click.echo(f"Device {row.public_id} ({row.prefix}…) for {email}. Scan this in Collect: Settings → Project "
                   "management → Reconfigure with QR code (shown only this once):", err=True)
        click.echo(devices.settings_qr_text(devices.collect_settings(url, organisation)), err=True)


@device.command("app-password")
@click.argument("email")
@click.option("--name", required=True, help='What the phone is called, e.g. "Phone 3" (no person\'s name).')
def device_app_password(email: str, name: str) -> None:
    """Create an ODK password for a verifier or coordinator (HTTP Basic in Collect, server
    `<base>/openrosa`, username = the e-mail). Printed only this once. Audited."""
    from .accounts import AccountError
    from .extensions import db as database
    from .openrosa import devices

    app = _app()
    with app.app_context():
        account = _find_user(database, email)
        try:
            row, password = devices.create_password(database.session, account, name, actor=None, via="cli")
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        database.session.commit()
        click.echo(password)
        click.echo(f"ODK password {row.public_id} ({row.prefix}…) for {email}: in Collect, server "
                   f"{devices.server_url(app.config.get('PUBLIC_BASE_URL') or '<base>', None)}, username {email}, "
                   "this password (shown only this once). Revoke it with `intake device revoke`.", err=True)


@device.command("list")
@click.argument("org_name")
def device_list(org_name: str) -> None:
    """An organisation's devices: id, token prefix, state, name, account, created, last used."""
    from .accounts import find_organisation
    from .extensions import db as database
    from .openrosa import devices

    def when(value: Any) -> str:
        return value.isoformat(timespec="minutes") if value is not None else "-"

    with _app().app_context():
        organisation = find_organisation(database.session, org_name)
        if organisation is None:
            raise click.ClickException("No such organisation.")
        for row in devices.devices_of(database.session, organisation.id):
            state = "revoked" if row.revoked_at is not None else "active"
            click.echo(f"{row.public_id}  {row.prefix}  {state:8}  {row.name}  {row.user.email}  "
                       f"created {when(row.created_at)}  last used {when(row.last_used_at)}")


@device.command("encrypt-form")
@click.argument("org_name")
def device_encrypt_form(org_name: str) -> None:
    """Switch an organisation's form to encrypted: make its key pair here (the private key wrapped by
    the master keys, never held by the web app); phones get it at their next form update. Audited."""
    from .accounts import AccountError, find_organisation
    from .extensions import db as database
    from .openrosa import encrypted
    from .openrosa.decrypt import make_form_key

    with _app().app_context():
        organisation = find_organisation(database.session, org_name)
        if organisation is None:
            raise click.ClickException("No such organisation.")
        try:
            row = encrypted.request_encryption(database.session, organisation.id, actor=None, via="cli")
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        make_form_key(database.session, row)
        public_id = row.public_id
        database.session.commit()
    click.echo(f"The form of {org_name} is encrypted (key {public_id}): phones get it at their next form update.")


@device.command("revoke")
@click.argument("device_id")
def device_revoke(device_id: str) -> None:
    """Revoke a device by its id or token prefix: the phone can send nothing more. Audited."""
    from .accounts import AccountError
    from .extensions import db as database
    from .openrosa import devices

    with _app().app_context():
        row = devices.find_device(database.session, device_id)
        if row is None:
            raise click.ClickException("No such device (or the prefix names more than one: use the id).")
        try:
            devices.revoke_device(database.session, row, actor=None, via="cli")
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        public_id = row.public_id
        database.session.commit()
    click.echo(f"Revoked {public_id}.")


@main.group()
def keys() -> None:
    """Master keys: status, rotation, retirement."""


@keys.command("new")
def keys_new() -> None:
    """Print a new random master key (for INTAKE_MASTER_KEY or a mounted key file)."""
    from . import crypto

    click.echo(crypto.new_master_key())


@keys.command("status")
def keys_status() -> None:
    """Which master keys are configured and how many data keys each one wraps."""
    from .extensions import db as database
    from .keys import key_usage

    app = _app()
    source = app.extensions["intake_keys"]
    keyring = source.keyring()
    with app.app_context():
        usage = key_usage(database.session)
    click.echo(f"Master keys from {source.describe()}:")
    for index, key_id in enumerate(keyring.ids):
        role = "primary (wraps new keys)" if index == 0 else "accepted (unwraps only)"
        click.echo(f"  {key_id}  {role}: wraps {usage.pop(key_id, 0)} data key(s)")
    for key_id, count in usage.items():
        click.echo(f"  {key_id}  NOT CONFIGURED: {count} data key(s) cannot be opened")


@keys.command("rotate")
@click.option("--new-key/--configured-key", default=None,
              help="Generate a new primary key into the key file (the default when the file is writable), or "
                   "rewrap under the primary key already configured (INTAKE_MASTER_KEY, a read-only secret).")
def keys_rotate(new_key: bool | None) -> None:
    """Put a new master key first and rewrap every data key under it, while the app keeps running.

    With a key file, a new key is generated and written first in the file; the web app and the
    workers pick it up on their next use of the keyring. With INTAKE_MASTER_KEY, put the new key
    first there (and restart) before running this. The old key stays accepted until `intake keys
    retire`.
    """
    from . import crypto
    from .audit import record
    from .extensions import db as database
    from .keys import rewrap_all

    app = _app()
    source = app.extensions["intake_keys"]
    if new_key is None:
        new_key = source.from_file and os.access(source.path, os.W_OK)
    if new_key:
        old = source.keyring().keys
        source.write((crypto.new_master_key().encode(), *old))
        click.echo(f"New primary master key written to {source.describe()}.")
    keyring = source.keyring()
    with app.app_context():
        result = rewrap_all(database.session, keyring)
        record("keys.rotated", actor=None, detail={"primary": result.primary_id, "rewrapped": result.rewrapped})
        database.session.commit()
    click.echo(f"Rewrapped {result.rewrapped} data key(s) under master key {result.primary_id}.")
    if len(keyring.keys) > 1:
        click.echo("The previous key(s) are still accepted. Once every web and worker process runs with the "
                   "new key, run `intake keys retire`.")


@keys.command("retire")
def keys_retire() -> None:
    """Stop accepting every master key but the primary, once no data key needs them.

    Rewraps any data key still under an old key first (written meanwhile by a process that had
    not yet seen the new key). Destroy the retired keys' copies afterwards: backups taken before
    are then unreadable, erased reports included.
    """
    from .audit import record
    from .extensions import db as database
    from .keys import key_usage, rewrap_all

    app = _app()
    source = app.extensions["intake_keys"]
    keyring = source.keyring()
    if len(keyring.keys) == 1:
        click.echo("Only one master key is configured: nothing to retire.")
        return
    with app.app_context():
        rewrap_all(database.session, keyring)
        left = {k: n for k, n in key_usage(database.session).items() if k != keyring.primary_id}
        if left:
            raise click.ClickException(f"data keys still wrapped by {sorted(map(str, left))}: not retired")
        retired = keyring.ids[1:]
        record("keys.retired", actor=None, detail={"primary": keyring.primary_id, "retired": ",".join(retired)})
        database.session.commit()
    if source.from_file:
        source.write(keyring.keys[:1])
        click.echo(f"Retired {len(retired)} master key(s); {source.describe()} now holds only the primary.")
    else:
        click.echo(f"No data key needs {', '.join(retired)} any more: remove it from INTAKE_MASTER_KEY.")


# The gunicorn options of the web app; the Dockerfile and docker-compose.yml run the same (checked by
# tests/test_compose.py). gunicorn's threaded workers with a timeout on every read from a client
# (intake.serving, INTAKE_WEB_READ_TIMEOUT_SECONDS): a client that connects and sends nothing, or only
# part of its request, holds one of a worker's threads for at most that long per read (connections
# waiting for their first bytes or kept alive between requests wait in the worker's poller and hold
# none), never a whole worker process as sync workers did; kept-alive connections close after a few
# idle seconds. `--timeout` is the arbiter's: a worker that stops answering it is restarted.
# 32 threads per worker, not 8: a phone trickling a report at 2 KB/s holds a thread (only that: its
# body is read before the database is touched, web/bodies.py) for minutes, and a worker whose
# threads are all trickling queues every request it accepted behind them. With 2 × 8, 16 slow
# phones stopped /my-reports for 30 s (bench/slow_clients.py); a waiting thread costs a stack and
# no CPU, and the database pool is used only by threads that do work.
GUNICORN_WEB_OPTIONS = ("--worker-class", "intake.serving.ReadTimeoutWorker", "--threads", "32",
                        "--keep-alive", "5", "--timeout", "120")


def web_command(bin_dir: Path, host: str, port: int, web_workers: int, tls: Any = None) -> list[str]:
    """The gunicorn command line `intake serve` runs the web app with (HTTPS with `tls`, an
    `intake.tls.Certificate`)."""
    https = ["--certfile", str(tls.cert_path), "--keyfile", str(tls.key_path)] if tls else []
    return [str(bin_dir / "gunicorn"), "--bind", f"{host}:{port}", "--workers", str(web_workers),
            *GUNICORN_WEB_OPTIONS, *https, "--no-control-socket", "intake.wsgi:app"]


def worker_command(bin_dir: Path, queue: str, embedded: bool) -> list[str]:
    """The Celery worker command line `intake serve` runs for one queue (its node is <queue>@<host>)."""
    command = [str(bin_dir / "celery"), "-A", "workers.worker", "worker", "--loglevel", "INFO",
               "-Q", queue, "--hostname", f"{queue}@%h"]
    if embedded:
        # On SQLite one worker process per queue keeps writers few. (Not a prefork pool of one:
        # with the filesystem broker a pool process killed while waiting for work keeps the pool's
        # shared queue locked, and the process replacing it never runs a task.)
        command += ["--pool", "solo"]
    return command


@main.command()
@click.option("--host", default=None, help="address to listen on  [default: 127.0.0.1; 0.0.0.0 with --tls]")
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--web-workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--worker-nice", default=19, show_default=True, type=click.IntRange(0, 19),
              help="CPU niceness of the Celery worker: under load, accepting reports comes first")
@click.option("--worker-idle/--no-worker-idle", default=True, show_default=True,
              help="run the Celery worker only on CPU time nothing else wants (Linux SCHED_IDLE)")
@click.option("--tls", is_flag=True,
              help="serve HTTPS with a self-signed certificate for this machine's names and LAN addresses "
                   "(made once in the instance folder; its fingerprint is printed), for phones on this network")
def serve(host: str | None, port: int, web_workers: int, worker_nice: int, worker_idle: bool, tls: bool) -> None:
    """Run the web app (gunicorn), a Celery worker for text and one for media, and Celery beat, as
    configured by the environment.

    Each runs as its own process. When the web app or a worker stops, the others are stopped too
    and `intake serve` exits with an error, saying which one stopped. The scheduler holds no work
    (the database does), so when it stops it is started again, and said so; one that keeps
    stopping (BEAT_RESTARTS times within BEAT_RESTART_WINDOW_SECONDS) stops everything. The
    workers run at a lower CPU priority: a burst of reports is answered at once and worked off after.
    """
    app = _app()
    embedded = app.config["DATABASE_URL"].startswith("sqlite")
    env = dict(os.environ, INTAKE_INSTANCE_PATH=app.instance_path)
    host = host or ("0.0.0.0" if tls else "127.0.0.1")  # noqa: S104  (--tls is for phones on the network)
    certificate = None
    if tls:
        from .tls import ensure_certificate

        certificate = ensure_certificate(Path(app.instance_path))
        # Over HTTPS cookies are Secure, whatever the environment says.
        env["INTAKE_SESSION_COOKIE_SECURE"] = env["INTAKE_REMEMBER_COOKIE_SECURE"] = "true"
    elif host in LOOPBACK and "INTAKE_SESSION_COOKIE_SECURE" not in os.environ:
        # Local development over plain http on this machine only: not every browser keeps a
        # Secure cookie from http://localhost. Anywhere else cookies stay Secure.
        env["INTAKE_SESSION_COOKIE_SECURE"] = env["INTAKE_REMEMBER_COOKIE_SECURE"] = "false"
    bin_dir = Path(sys.executable).parent
    web = web_command(bin_dir, host, port, web_workers, certificate)
    # No access log: a line per request with the client's address would tell a seized server
    # where each field worker connected from.
    # Two Celery workers, one per queue (intake.dispatch): a burst of photos keeps the media worker
    # busy while the text worker still brings text-only reports to triage at once.
    workers = {f"{queue} worker (celery worker -Q {queue})": worker_command(bin_dir, queue, embedded)
               for queue in QUEUES}
    # Beat in a process of its own, not inside the worker (--beat): a scheduler killed there went
    # unnoticed, and with it the sweep. The relays in the workers recover overdue work as well.
    beat = [str(bin_dir / "celery"), "-A", "workers.worker", "beat", "--loglevel", "INFO",
            "--schedule", str(Path(app.instance_path) / "celerybeat-schedule")]
    with app.app_context():
        _print_welcome(app, host, port, certificate)
    processes = {"web app (gunicorn)": subprocess.Popen(web, env=env)}  # noqa: S603
    for name, command in workers.items():
        processes[name] = subprocess.Popen(command, env=env,  # noqa: S603, PLW1509
                                           preexec_fn=lambda: _lower_priority(worker_nice, worker_idle))
    scheduler = "scheduler (celery beat)"
    processes[scheduler] = subprocess.Popen(beat, env=env)  # noqa: S603
    restarts: list[float] = []
    stopping = False
    failed: str | None = None

    def _stop(*_args: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stopping and failed is None:
            for name, process in processes.items():
                if process.poll() is None:
                    continue
                how = _exit_description(process.returncode)
                if name != scheduler:
                    failed = f"intake serve: the {name} stopped ({how}); stopping everything"
                    break
                now = time.monotonic()
                restarts[:] = [t for t in restarts if now - t < BEAT_RESTART_WINDOW_SECONDS] + [now]
                if len(restarts) > BEAT_RESTARTS:
                    failed = (f"intake serve: the {name} stopped {len(restarts)} times within "
                              f"{BEAT_RESTART_WINDOW_SECONDS:g} s ({how}); stopping everything")
                    break
                click.echo(f"intake serve: the {name} stopped ({how}); starting it again", err=True)
                processes[scheduler] = subprocess.Popen(beat, env=env)  # noqa: S603
                break
            time.sleep(0.5)
    finally:
        if failed:
            click.echo(failed, err=True)
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    if failed:
        codes = [p.returncode for p in processes.values() if p.returncode]
        raise SystemExit(max(codes) if codes and max(codes) > 0 else 1)


BEAT_RESTARTS = 5
BEAT_RESTART_WINDOW_SECONDS = 300.0


def _exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _lower_priority(nice: int, idle: bool) -> None:
    """In the worker's process before it starts (its pool processes inherit it): niceness, and on
    Linux the idle scheduling class, which gets a core only when no other process wants it. Whatever
    waits meanwhile is safe in the journal and the outbox."""
    os.nice(nice)
    if idle and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _print_welcome(app: Flask, host: str, port: int, certificate: Any = None) -> None:
    from sqlalchemy import func, select

    from .extensions import db as database
    from .models import User

    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host  # noqa: S104
    url = f"{'https' if certificate else 'http'}://{shown_host}:{port}/"
    click.echo(f"\n  Intake is starting at {url}\n")
    if certificate is not None:
        _print_certificate(certificate, host, port)
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


def _print_certificate(certificate: Any, host: str, port: int) -> None:
    """The certificate's fingerprint and the addresses phones on this network can open."""
    from .tls import url_host

    made = "made a new self-signed certificate" if certificate.created else "self-signed certificate"
    click.echo(f"  HTTPS with a {made}: {certificate.cert_path}\n"
               f"  SHA-256 fingerprint (compare it on the phone before accepting the warning):\n"
               f"    {certificate.fingerprint}\n")
    if host in ("0.0.0.0", "::"):  # noqa: S104
        lan = [a for a in certificate.addresses if not a.is_loopback]
        urls = [f"https://{url_host(a)}:{port}/" for a in lan]
        urls += [f"https://{n}:{port}/" for n in certificate.names if n != "localhost"][:2]
        if urls:
            click.echo("  Phones on this network open:\n" + "".join(f"    {u}\n" for u in urls))
        else:
            click.echo("  No LAN address found: is this machine on a network?\n")
    else:
        click.echo(f"  Listening on {host} only; `--host 0.0.0.0` lets phones on this network in.\n")


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


@main.group()
def translations() -> None:
    """The interface's translation catalogues (intake/translations; docs/translating.md)."""


@translations.command("update")
def translations_update() -> None:
    """Extract every user-facing string into messages.pot and merge it into each language."""
    from .i18n import catalogues

    for code, left in catalogues.update().items():
        click.echo(f"{code}: {left} to do" if left else f"{code}: complete")


@translations.command("check")
@click.argument("languages", nargs=-1)
def translations_check(languages: tuple[str, ...]) -> None:
    """What each language (or the ones named) still lacks; exits non-zero if any lacks something."""
    from .i18n import catalogues

    incomplete = False
    for code in languages or catalogues.languages():
        found = catalogues.problems(code)
        if not found:
            click.echo(f"{code}: complete")
            continue
        incomplete = True
        click.echo(f"{code}: {len(found.untranslated)} untranslated, {len(found.fuzzy)} fuzzy, "
                   f"{len(found.placeholders)} with wrong placeholders, {len(found.plural_forms)} missing plural forms")
        for kind in ("untranslated", "fuzzy", "placeholders", "plural_forms"):
            for name in getattr(found, kind):
                click.echo(f"  {kind}: {name}")
    if incomplete:
        raise SystemExit(1)


@translations.command("compile")
def translations_compile() -> None:
    """Compile every catalogue (the install does it; this is for a checkout being translated)."""
    from .i18n.catalogues import TRANSLATIONS
    from .i18n.compile import compile_all

    for target in compile_all(TRANSLATIONS, only_stale=False):
        click.echo(str(target.relative_to(TRANSLATIONS)))
