"""The intake journal: accepting a report is one row; filing it is the workers' first step.

A field worker's receipt promises that the report is safe. The API keeps that promise with a
single INSERT: the validated report, sealed under a new data key, with its idempotency key, public
id and receipt code (`models.Submission`). Nothing else is written while the client waits. The
workers' relay (a thread in every worker process, see `workers.celery_app`) dispatches each
pending submission; the task files it as a `Report` with its rows and pipeline job and drops the
sealed copy from the journal, in one transaction, then runs the pipeline. A submission that is
needed before a worker got to it (the reporter reads it or adds a file) is filed then, by the web.

The web form files at once, in the same transaction as its journal row (its files were stashed
under their own data key). Either way the journal row's unique (reporter, submission id) is the
one idempotency gate, and a replay finds the same public id and receipt.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from . import crypto
from .accounts import SUBMITTING_ROLES, TOKEN_USE_RESOLUTION, TokenHolder, can_submit, holder_of_token, token_digest
from .enums import Channel, Role
from .keys import JournalEpoch, forget_journal_epoch, journal_epoch, unwrap_journal_key
from .models import ApiToken, DataKey, Report, Submission, User, new_public_id, utcnow
from .schema import ReportIn

JOURNAL: Table = Submission.__table__  # type: ignore[assignment]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    """What the submitter is told: the report's public id and receipt, fixed at acceptance."""

    public_id: str
    receipt_code: str
    received_at: dt.datetime
    created: bool  # False for a replay of a submission id already accepted
    report_id: int | None  # set once filed
    # A report accepted now: what was sealed, as JSON (the submitter's copy of what they sent).
    echo: str | None = None


def _aad(public_id: str, binding: str) -> bytes:
    """A journal row's payload is bound to its public id and to who sent it: `reporter:<id>`, or
    `token:<digest>` on the API's one-statement path, where the reporter is known only to the
    database (the token is theirs alone). A row given another reporter does not open."""
    return b"intake submission\x00" + public_id.encode() + b"\x00" + binding.encode()


def _open_payload(session: Session, entry: Submission, plain: bytes) -> bytes:
    """The journalled report, if the row is still its sender's (see `_aad`)."""
    assert entry.payload is not None
    try:
        return crypto.unseal(plain, entry.payload, _aad(entry.public_id, f"reporter:{entry.reporter_id}"))
    except crypto.SealBroken:
        pass
    for digest in session.scalars(select(ApiToken.token_hash).where(ApiToken.user_id == entry.reporter_id)):
        try:
            return crypto.unseal(plain, entry.payload, _aad(entry.public_id, f"token:{digest}"))
        except crypto.SealBroken:
            continue
    raise crypto.SealBroken("a journalled submission does not open in its row: altered, or moved to another reporter")


_ACCEPT_COLUMNS = ("public_id", "receipt_code", "organisation_id", "reporter_id", "channel", "submission_id",
                   "received_at", "payload", "key_wrapped", "master_key_id", "key_epoch_id", "due_at", "attempts")
_accept_statements: dict[str, Any] = {}


def _accept_statement(dialect: str) -> Any:
    """The journal's INSERT, built once per dialect: every submit runs the same compiled statement."""
    statement = _accept_statements.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(JOURNAL)
            .values({name: bindparam(name, type_=JOURNAL.c[name].type) for name in _ACCEPT_COLUMNS})
            .on_conflict_do_nothing(index_elements=["reporter_id", "submission_id"])
            .returning(JOURNAL.c.receipt_code)
        )
        _accept_statements[dialect] = statement
    return statement


_EXISTING = select(JOURNAL.c.public_id, JOURNAL.c.receipt_code, JOURNAL.c.received_at, JOURNAL.c.report_id).where(
    JOURNAL.c.reporter_id == bindparam("reporter_id"), JOURNAL.c.submission_id == bindparam("submission_id")
)


def _sealed(data: ReportIn, channel: Channel, submission_id: str, binding: str,
            epoch: JournalEpoch) -> tuple[dict[str, Any], str]:
    """A journal row's values but for its reporter and organisation (the report sealed under a new
    data key, its public id, and the time it is received, also when the relay's next pass is due),
    and the report as JSON, as it was sealed."""
    plain = crypto.new_data_key()
    public_id = new_public_id()
    now = utcnow()
    echo = data.model_dump_json(exclude={"submission_id"})
    return {
        "public_id": public_id,
        "channel": channel,
        "submission_id": submission_id,
        "received_at": now,
        "payload": crypto.seal(plain, echo.encode(), _aad(public_id, binding)),
        "key_wrapped": crypto.wrap_under_epoch(epoch.kek, plain),
        "master_key_id": None,
        "key_epoch_id": epoch.id,
        "due_at": now,
        "attempts": 0,
    }, echo


def _replay(connection: Connection, reporter_id: int, submission_id: str) -> Accepted:
    """The submission that got there first (a conflict on the submission id leaves the row that caused it)."""
    existing = connection.execute(_EXISTING, {"reporter_id": reporter_id, "submission_id": submission_id}).one()
    return Accepted(existing.public_id, existing.receipt_code, existing.received_at, created=False,
                    report_id=existing.report_id)


def accept(connection: Connection, reporter_id: int, organisation_id: int, data: ReportIn, channel: Channel,
           submission_id: str) -> Accepted:
    """Journal a validated report on an autocommit connection: when this returns, it is stored.

    One statement, its own transaction: a concurrent duplicate meets the unique (reporter,
    submission id) and inserts nothing, and this then returns the submission that got there first;
    a receipt code that collides (one in 10^12) inserts nothing either, and another is drawn.
    """
    from .reports import new_receipt_code

    for _attempt in range(5):
        sealed, echo = _sealed(data, channel, submission_id, f"reporter:{reporter_id}", journal_epoch(connection))
        values = {**sealed, "organisation_id": organisation_id, "reporter_id": reporter_id}
        try:
            receipt = connection.execute(_accept_statement(connection.dialect.name),
                                         {**values, "receipt_code": new_receipt_code()}).scalar()
        except IntegrityError:
            # The receipt code collided, or the epoch this process keeps was shredded: again.
            forget_journal_epoch()
            continue
        if receipt is not None:
            return Accepted(values["public_id"], receipt, values["received_at"], created=True, report_id=None,
                            echo=echo)
        return _replay(connection, reporter_id, submission_id)
    raise RuntimeError("could not draw a unique receipt code")


# The API's submit on PostgreSQL, in one statement and so one round trip: who the bearer token
# speaks for, the journal row if they may submit (or nothing, for a submission id already used),
# and the token's last use at most once a minute.
_ACCEPT_BY_BEARER = """
WITH holder AS (
    SELECT t.id AS token_id, t.last_used_at, u.id AS user_id, u.organisation_id, u.role
    FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = %(digest)s AND t.revoked_at IS NULL AND t.scope = 'submit' AND u.active
      AND (t.expires_at IS NULL OR t.expires_at > %(received_at)s)
), epoch AS (
    SELECT id FROM key_epochs WHERE id = %(key_epoch_id)s AND uid = %(epoch_uid)s
), accepted AS (
    INSERT INTO submissions (public_id, receipt_code, organisation_id, reporter_id, channel, submission_id,
                             received_at, payload, key_wrapped, master_key_id, key_epoch_id, due_at, attempts)
    SELECT %(public_id)s, %(receipt_code)s, organisation_id, user_id, %(channel)s, %(submission_id)s,
           %(received_at)s, %(payload)s, %(key_wrapped)s, %(master_key_id)s, epoch.id, %(received_at)s, 0
    FROM holder, epoch WHERE role IN ({submitting_roles})
    ON CONFLICT (reporter_id, submission_id) DO NOTHING
    RETURNING receipt_code
), used AS (
    UPDATE api_tokens SET last_used_at = %(received_at)s
    FROM holder
    WHERE api_tokens.id = holder.token_id
      AND (holder.last_used_at IS NULL OR holder.last_used_at < %(used_before)s)
)
SELECT user_id, organisation_id, role, (SELECT receipt_code FROM accepted) AS receipt_code,
       EXISTS (SELECT 1 FROM epoch) AS epoch_ok FROM holder
""".format(submitting_roles=", ".join(f"'{role.value}'" for role in SUBMITTING_ROLES))  # noqa: S608 (our enum's values)


def accept_with_token(engine: Engine, token: str, data: ReportIn, channel: Channel,
                      submission_id: str) -> tuple[TokenHolder | None, Accepted | None]:
    """Who `token` speaks for and, if they may submit, the report journalled: `accept` for a
    request authenticated by nothing but its bearer token.

    On PostgreSQL this is one statement on `engine` (`db.make_statement_engine`: autocommit, no
    ping); elsewhere the token lookup and `accept`. (None, None) for a token that is unknown,
    revoked or of an inactive account; (holder, None) for a holder who may not submit.
    """
    from .reports import new_receipt_code

    digest = token_digest(token)
    if digest is None:
        return None, None
    if engine.dialect.name != "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            holder = holder_of_token(connection, token)
            if holder is None or not can_submit(holder):
                return holder, None
            return holder, accept(connection, holder.user_id, holder.organisation_id, data, channel, submission_id)
    def sealed_values(connection: Connection | None = None) -> tuple[dict[str, Any], str]:
        # Inside the statement's connection when it holds one: never a second from the same pool.
        epoch = journal_epoch(connection, engine=engine)
        sealed, echo = _sealed(data, channel, submission_id, f"token:{digest}", epoch)
        # Only what the statement names (the journal row is due at once, no attempt made yet).
        values = {name: sealed[name] for name in ("public_id", "submission_id", "received_at", "payload",
                                                  "key_wrapped", "master_key_id", "key_epoch_id")}
        values.update(digest=digest, channel=channel.value, epoch_uid=epoch.uid,
                      used_before=values["received_at"] - TOKEN_USE_RESOLUTION)
        return values, echo

    values, echo = sealed_values()
    with engine.connect() as connection:
        # The driver's own cursor: one statement needs none of SQLAlchemy's result machinery.
        driver = connection.connection.driver_connection
        assert driver is not None
        for _attempt in range(5):
            try:
                row = driver.execute(_ACCEPT_BY_BEARER, {**values, "receipt_code": new_receipt_code()}).fetchone()
            except psycopg.errors.UniqueViolation:
                continue  # the receipt code collided: draw another
            except psycopg.errors.ForeignKeyViolation:
                # The epoch this process keeps was shredded while the row was written: again under today's.
                forget_journal_epoch()
                values, echo = sealed_values(connection)
                continue
            except psycopg.OperationalError as exc:
                # The connection died (the database restarted, or the network): this request is
                # answered 503, and no other request gets a connection of the same pool.
                connection.invalidate(exc)
                engine.dispose()
                raise OperationalError("the API's submit", None, exc) from None
            if row is None:
                return None, None
            user_id, organisation_id, role, receipt_code, epoch_ok = row
            holder = TokenHolder(user_id, organisation_id, Role(role))
            if not can_submit(holder):
                return holder, None
            if not epoch_ok:
                # The epoch this process kept is gone (shredded): nothing was written; again under today's.
                forget_journal_epoch()
                values, echo = sealed_values(connection)
                continue
            if receipt_code is not None:
                return holder, Accepted(values["public_id"], receipt_code, values["received_at"], created=True,
                                        report_id=None, echo=echo)
            return holder, _replay(connection, holder.user_id, submission_id)
    raise RuntimeError("could not draw a unique receipt code")


def journal_entry(session: Session, reporter: User, submission_id: str) -> Submission | None:
    return session.scalar(
        select(Submission).where(Submission.reporter_id == reporter.id, Submission.submission_id == submission_id)
    )


def pending_of(session: Session, reporter: User, public_id: str | None = None) -> list[Submission]:
    """The reporter's accepted submissions not yet filed (all, or the one with `public_id`)."""
    query = select(Submission).where(
        Submission.reporter_id == reporter.id,
        Submission.organisation_id == reporter.organisation_id,
        Submission.report_id.is_(None),
        Submission.payload.is_not(None),
    )
    if public_id is not None:
        query = query.where(Submission.public_id == public_id)
    return list(session.scalars(query.order_by(Submission.id)))


def file_submission(session: Session, entry: Submission, deadline_seconds: int) -> Report:
    """File a journalled submission as a report in state `received`, owed its pipeline run.

    Idempotent: the journal row is locked, and a submission already filed returns its report. The
    sealed copy and its key leave the journal in the same transaction (the report's rows hold the
    report from then on, under the same data key). The caller commits.
    """
    from .reports import _build, find_submission

    locked = session.scalar(
        select(Submission).where(Submission.id == entry.id).with_for_update().execution_options(populate_existing=True)
    )
    assert locked is not None
    entry = locked
    reporter = session.get(User, entry.reporter_id)
    assert reporter is not None
    if entry.report_id is not None:
        report = session.get(Report, entry.report_id)
        assert report is not None
        return report
    # The web form's path (reports.submit_report) files in the same transaction as its row, so a
    # report with this key and no link here was filed by a request still running: wait for it.
    already = find_submission(session, reporter, entry.submission_id)
    if already is not None:
        _mark_filed(entry, already)
        return already
    if entry.payload is None or entry.key_wrapped is None:
        raise crypto.DataKeyUnavailable("this submission holds no report to file")
    plain = unwrap_journal_key(session, entry)
    data = ReportIn.model_validate_json(_open_payload(session, entry, plain))
    data_key = DataKey(wrapped=entry.key_wrapped, master_key_id=entry.master_key_id, epoch_id=entry.key_epoch_id)
    data_key.__dict__["_plain"] = plain
    report = _build(data, reporter, entry.channel, entry.submission_id, deadline_seconds, data_key)
    report.public_id = entry.public_id
    report.receipt_code = entry.receipt_code
    report.received_at = report.state_changed_at = entry.received_at
    report.transitions[0].at = entry.received_at
    try:
        with session.begin_nested():
            session.add(report)
            session.flush()
    except IntegrityError:
        # Filed meanwhile by another request (SQLite has no row lock to make it wait).
        filed = session.scalar(select(Report).where(Report.public_id == entry.public_id))
        if filed is None:
            raise
        return filed
    _mark_filed(entry, report)
    session.flush()
    return report


def _mark_filed(entry: Submission, report: Report) -> None:
    entry.report_id = report.id
    entry.payload = entry.key_wrapped = entry.master_key_id = None
    entry.key_epoch_id = None
    entry.due_at = None


def file_pending(session: Session, reporter: User, deadline_seconds: int, public_id: str | None = None) -> list[int]:
    """File now what the reporter submitted and no worker filed yet (they are about to read it),
    each in a transaction of its own, committed here: the ids of the reports filed, whose pipeline
    the caller dispatches.

    A submission that cannot be filed (whatever the reason: a value the database refuses, a key
    that is gone) must not break the reporter's pages: it is rolled back, the failure noted by
    class name only, and it is left to the workers' relay, which counts its attempts and holds it
    for a coordinator like any other. One that failed before is not tried here again (a
    coordinator's retry clears its error). A database that is gone still raises.
    """
    from .db import TRANSIENT_DB_ERRORS

    filed: list[int] = []
    for entry_id, last_error in [(e.id, e.last_error) for e in pending_of(session, reporter, public_id)]:
        if last_error is not None:
            continue
        try:
            entry = session.get(Submission, entry_id)
            if entry is None:
                continue
            report_id = file_submission(session, entry, deadline_seconds).id
            session.commit()
        except TRANSIENT_DB_ERRORS:
            session.rollback()
            raise
        except Exception as exc:
            session.rollback()
            note_filing_failure(session, entry_id, type(exc).__name__)
            session.commit()
            log.error("submission %s: filing failed with %s; left to the workers", entry_id, type(exc).__name__)
            continue
        filed.append(report_id)
    return filed


def unfiled_of(session: Session, reporter: User, public_id: str | None = None) -> list[Submission]:
    """The reporter's accepted submissions still in the journal after `file_pending`: shown to them
    as received and being filed (never their content, which may be what could not be filed)."""
    return pending_of(session, reporter, public_id)


# ---- the relay ----------------------------------------------------------------------------------


def due_submissions(session: Session, limit: int = 500) -> list[int]:
    """Journal rows whose filing is due: new ones, and those whose message was lost or worker died.

    Rows another relay is dispatching right now are skipped (PostgreSQL), so relays on several
    workers share the work; a duplicate message is harmless anyway, as filing is idempotent.
    """
    return list(
        session.scalars(
            select(Submission.id)
            .where(Submission.due_at <= utcnow())
            .order_by(Submission.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def postpone_submissions(session: Session, ids: list[int], deadline_seconds: int) -> None:
    """Dispatched: due again only if it is still not filed after the deadline."""
    if ids:
        session.execute(
            update(Submission)
            .where(Submission.id.in_(ids), Submission.report_id.is_(None))
            .values(due_at=utcnow() + dt.timedelta(seconds=deadline_seconds))
            .execution_options(synchronize_session=False)
        )


def start_filing(session: Session, entry_id: int, max_attempts: int, deadline_seconds: int) -> Submission | None:
    """Count a filing attempt (committed by the caller before the work); None if there is nothing
    to do. Past `max_attempts` the submission is held: kept, sealed, off the relay, and shown to
    coordinators with the pipeline's held jobs."""
    entry = session.scalar(select(Submission).where(Submission.id == entry_id).with_for_update())
    if entry is None or entry.report_id is not None or entry.due_at is None:
        return None
    if entry.attempts >= max_attempts:
        entry.due_at = None
        return None
    entry.attempts += 1
    entry.due_at = utcnow() + dt.timedelta(seconds=deadline_seconds)
    return entry


def note_filing_failure(session: Session, entry_id: int, error: str) -> None:
    session.execute(update(Submission).where(Submission.id == entry_id).values(last_error=error[:200])
                    .execution_options(synchronize_session=False))


def held_submissions(session: Session, organisation_id: int, limit: int = 200) -> list[Submission]:
    """Accepted submissions that could not be filed after every attempt, oldest first."""
    return list(
        session.scalars(
            select(Submission)
            .where(Submission.organisation_id == organisation_id, Submission.report_id.is_(None),
                   Submission.due_at.is_(None), Submission.payload.is_not(None))
            .order_by(Submission.id)
            .limit(limit)
        )
    )


def retry_submission(session: Session, organisation_id: int, public_id: str) -> bool:
    """Put a held submission back on the relay with fresh attempts."""
    result = session.execute(
        update(Submission)
        .where(Submission.organisation_id == organisation_id, Submission.public_id == public_id,
               Submission.report_id.is_(None), Submission.payload.is_not(None))
        .values(due_at=utcnow(), attempts=0, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
