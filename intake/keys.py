"""Master key rotation and the erasure of reports' originals (design/security.md, invariant 9).

Data keys are wrapped by erasure epochs' key-encryption keys (`models.KeyEpoch`), and those by the
master keys. Erasing a report deletes its wrapped data key, then shreds its epoch: the epoch's other
data keys are wrapped under a new KEK and the old KEK's row is deleted, so an old copy of the erased
wrapped key (a dead row version, a WAL segment) no longer unwraps with anything this installation
keeps. What is left on the disk of the old KEK row itself is then removed as far as the engine
allows (`purge_after_erasure`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from . import crypto
from .enums import AttachmentStatus
from .models import DataKey, KeyEpoch, OdkFormKey, Organisation, Report, Submission, User, UserSession, utcnow

log = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class RotationResult:
    rewrapped: int
    primary_id: str


def key_usage(session: Session) -> Counter[str | None]:
    """How many live data keys each master key (by fingerprint) wraps, with those of submissions
    accepted and not filed yet."""
    usage: Counter[str | None] = Counter()
    for model, column in ((DataKey, DataKey.wrapped), (Submission, Submission.key_wrapped)):
        rows = session.execute(
            select(model.master_key_id, func.count()).where(column.is_not(None), model.master_key_id.is_not(None))
            .group_by(model.master_key_id)
        )
        usage.update({key_id: count for key_id, count in rows})
    # Keys wrapped by an epoch's KEK count under the master key that wraps the epoch.
    for holder, epoch_column, column in ((DataKey, DataKey.epoch_id, DataKey.wrapped),
                                         (Submission, Submission.key_epoch_id, Submission.key_wrapped)):
        rows = session.execute(
            select(KeyEpoch.master_key_id, func.count()).select_from(holder)
            .join(KeyEpoch, KeyEpoch.id == epoch_column)
            .where(column.is_not(None)).group_by(KeyEpoch.master_key_id)
        )
        usage.update({key_id: count for key_id, count in rows})
    return usage


def rewrap_all(session: Session, keyring: crypto.Keyring, batch: int = BATCH) -> RotationResult:
    """Rewrap every data key not yet under the primary master key, committing batch by batch.

    Runs while the app serves: each batch is a short transaction of its own, rows locked only
    while they are rewrapped, and a key wrapped meanwhile by a process still on the old primary
    is picked up by the next pass.
    """
    primary = keyring.primary_id
    # Accounts' e-mails and second-factor secrets are wrapped by the master keys too, and the e-mails'
    # blind index is keyed by them (few rows: all in one go).
    for user in session.scalars(select(User).with_for_update()):
        user.email_wrapped = keyring.rewrap(user.email_wrapped)
        user.email_index = keyring.blind_index(keyring.unwrap(user.email_wrapped).decode())
        if user.totp_secret_wrapped is not None:
            user.totp_secret_wrapped = keyring.rewrap(user.totp_secret_wrapped)
    # Keys being enrolled in sign-ins still waiting for their code.
    for pending in session.scalars(select(UserSession).where(UserSession.enrolment_secret_wrapped.is_not(None))
                                   .with_for_update()):
        assert pending.enrolment_secret_wrapped is not None
        pending.enrolment_secret_wrapped = keyring.rewrap(pending.enrolment_secret_wrapped)
    for organisation in session.scalars(
        select(Organisation).where(Organisation.pseudonym_key_wrapped.is_not(None)).with_for_update()
    ):
        assert organisation.pseudonym_key_wrapped is not None
        organisation.pseudonym_key_wrapped = keyring.rewrap(organisation.pseudonym_key_wrapped)
    # Organisations' private keys of their encrypted ODK forms (a few rows).
    for form_key in session.scalars(select(OdkFormKey).where(OdkFormKey.private_key_wrapped.is_not(None))
                                    .with_for_update()):
        assert form_key.private_key_wrapped is not None
        form_key.private_key_wrapped = keyring.rewrap(form_key.private_key_wrapped)
        form_key.master_key_id = primary
    # Erasure epochs: a few rows (one a day), whose KEKs wrap every data key made since 0015d.
    # Rewrapping one rewraps every data key under it: those are counted.
    done = 0
    for epoch in session.scalars(select(KeyEpoch).where(KeyEpoch.master_key_id != primary).with_for_update()):
        epoch.wrapped = keyring.rewrap(epoch.wrapped)
        epoch.master_key_id = primary
        done += session.scalar(select(func.count()).select_from(DataKey).where(
            DataKey.epoch_id == epoch.id, DataKey.wrapped.is_not(None))) or 0
        done += session.scalar(select(func.count()).select_from(Submission).where(
            Submission.key_epoch_id == epoch.id, Submission.key_wrapped.is_not(None))) or 0
    session.commit()
    # Submissions waiting to be filed hold their data key wrapped in the journal row.
    while True:
        entries = list(session.scalars(
            select(Submission)
            .where(Submission.key_wrapped.is_not(None), Submission.key_epoch_id.is_(None),
                   Submission.master_key_id.is_distinct_from(primary))
            .order_by(Submission.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ))
        if not entries:
            break
        for entry in entries:
            assert entry.key_wrapped is not None
            entry.key_wrapped = keyring.rewrap(entry.key_wrapped)
            entry.master_key_id = primary
        session.commit()
        done += len(entries)
    while True:
        query = (
            select(DataKey)
            .where(DataKey.wrapped.is_not(None), DataKey.epoch_id.is_(None),
                   DataKey.master_key_id.is_distinct_from(primary))
            .order_by(DataKey.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        keys = list(session.scalars(query))
        if not keys:
            session.commit()
            return RotationResult(done, primary)
        for key in keys:
            assert key.wrapped is not None
            key.wrapped = keyring.rewrap(key.wrapped)
            key.master_key_id = primary
        session.commit()
        done += len(keys)


def erase_report(session: Session, config: dict[str, Any], report: Report) -> int:
    """Erase a report's originals for good: its data keys, sealed documents and stored files.

    Publishable fields (place names, date, counts, weapon) stay. Returns how many files went.
    The caller records why in the audit log and commits; files go from the disk after commit
    (overwritten, then unlinked). The erased keys' epochs are shredded by `shred_pending`, which
    every retention pass runs (and which a caller erasing outside retention runs after its commit).
    """
    from .media import discard_file

    keys = {report.data_key} | {a.data_key for a in report.attachments}
    files = 0
    for attachment in report.attachments:
        if attachment.status != AttachmentStatus.ERASED:
            discard_file(session, config, attachment)
            files += 1
        attachment.derivative_storage_name = None
        attachment.status = AttachmentStatus.ERASED
        attachment.status_reason = "originals erased"
        attachment.sealed = None
        attachment.__dict__.pop("_sealed_state", None)
    # The review's free text (comments, questions and answers, reasons for a lower grade) goes too.
    for rows in (report.victims, report.witnesses, report.links, report.comments, report.info_requests,
                 report.assessments, report.redaction_corrections, report.transitions, [report]):
        for row in rows:
            row.sealed = None
            row.__dict__.pop("_sealed_state", None)
    # Victims' and witnesses' keyed pseudonyms: with the organisation's pseudonym key they confirm a
    # guessed name, so they go with the names.
    for victim in report.victims:
        victim.pseudonym = None
    for witness in report.witnesses:
        witness.pseudonym = None
    for key in keys:
        if key is not None and not key.erased:
            key.erase()
    return files


# ---- erasure epochs -----------------------------------------------------------------------------


def shred_pending(session: Session) -> int:
    """Shred every epoch that still holds an erased data key (see `shred_epoch`), each in its own
    transaction, committed. Returns how many epochs were shredded. Run after erasures, and again by
    every retention pass (an erasure whose shredding was interrupted is finished then)."""
    epochs = list(session.scalars(
        select(DataKey.epoch_id).where(DataKey.wrapped.is_(None), DataKey.epoch_id.is_not(None)).distinct()
    ))
    session.commit()
    shredded = 0
    for epoch_id in epochs:
        if epoch_id is not None and shred_epoch(session, epoch_id):
            session.commit()
            shredded += 1
    return shredded


def shred_epoch(session: Session, epoch_id: int) -> bool:
    """Destroy an epoch's KEK: its live data keys (and journalled submissions' keys) are wrapped under
    a new epoch of the same day, erased keys forget it, and its row is deleted. The caller commits.

    The row is locked first; a journal row written meanwhile under the old epoch meets the foreign key
    and is written again under the new one (`submissions.accept*`), so no acknowledged report loses
    its key. False when the epoch is already gone.
    """
    epoch = session.scalar(select(KeyEpoch).where(KeyEpoch.id == epoch_id).with_for_update())
    if epoch is None:
        return False
    keyring = crypto.active_keyring()
    fresh = KeyEpoch.create(epoch.period, keyring)
    session.add(fresh)
    session.flush()
    old_kek = epoch.plain()
    for key in session.scalars(select(DataKey).where(DataKey.epoch_id == epoch.id).with_for_update()):
        if key.wrapped is None:
            key.epoch = None
            key.epoch_id = None
            continue
        key.wrap_under(fresh, crypto.unwrap_under_epoch(old_kek, key.wrapped))
    for entry in session.scalars(select(Submission).where(Submission.key_epoch_id == epoch.id).with_for_update()):
        if entry.key_wrapped is not None:
            plain = crypto.unwrap_under_epoch(old_kek, entry.key_wrapped)
            entry.key_wrapped = crypto.wrap_under_epoch(fresh.plain(), plain)
            entry.key_epoch_id = fresh.id
        else:
            entry.key_epoch_id = None
    session.flush()
    session.execute(delete(KeyEpoch).where(KeyEpoch.id == epoch.id))
    session.expunge(epoch)
    forget_journal_epoch()
    return True


def purge_after_erasure(engine: Engine, thorough: bool = True) -> None:
    """Remove from the disk, as far as the engine allows, what an erasure batch left of destroyed KEKs
    and of the erased rows' old versions. PostgreSQL: `VACUUM FULL key_epochs` (a few rows: rewritten
    into a new file, the old one unlinked; skipped for plain VACUUM when it would wait for a lock),
    VACUUM of the tables whose rows were cleared, and a CHECKPOINT so the WAL that holds the old
    rows can be recycled (`thorough=False`: the key table and the checkpoint only). SQLite
    (secure_delete is on: freed cells are zeroed): a WAL checkpoint that truncates the WAL file.
    Failures are logged, never raised: the erasure itself is done."""
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if engine.dialect.name == "postgresql":
                _purge_postgresql(conn, thorough)
            else:
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    except DBAPIError as exc:
        log.warning("after erasure, the database could not be purged of old row versions: %s",
                    type(exc.orig).__name__)


def _purge_postgresql(conn: Connection, thorough: bool) -> None:
    conn.execute(text("SET lock_timeout = '5s'"))
    try:
        conn.execute(text("VACUUM FULL key_epochs"))
    except DBAPIError:
        log.warning("VACUUM FULL key_epochs waited too long for its lock; plain VACUUM instead")
        conn.execute(text("VACUUM key_epochs"))
    if thorough:
        conn.execute(text("VACUUM data_keys, submissions, victims, witnesses, reports, attachments"))
    try:
        conn.execute(text("CHECKPOINT"))
    except DBAPIError:
        log.warning("CHECKPOINT after erasure refused (needs superuser or pg_checkpoint)")


# ---- the journal's epoch --------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalEpoch:
    """The epoch a process wraps journalled submissions' keys under, kept in memory for the day."""

    id: int
    uid: str
    period: dt.date
    kek: bytes


_journal_epoch: JournalEpoch | None = None


def forget_journal_epoch() -> None:
    global _journal_epoch
    _journal_epoch = None


def journal_epoch(connection: Connection | None = None, engine: Engine | None = None) -> JournalEpoch:
    """Today's epoch (made if there is none), from memory when this process has it for today.

    On an autocommit connection (or `engine`). Whoever writes under it checks that it still exists
    (the foreign key, and on PostgreSQL its uid in the same statement): a shredding deletes it.
    """
    global _journal_epoch
    today = utcnow().date()
    cached = _journal_epoch
    if cached is not None and cached.period == today:
        return cached
    if connection is None:
        assert engine is not None
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
            return journal_epoch(own)
    table: Table = KeyEpoch.__table__  # type: ignore[assignment]
    row = connection.execute(
        select(table.c.id, table.c.uid, table.c.wrapped).where(table.c.period == today)
        .order_by(table.c.id.desc()).limit(1)
    ).first()
    if row is None:
        made = KeyEpoch.create(today)
        new_id = connection.execute(
            insert(table).values(uid=made.uid, period=today, wrapped=made.wrapped, master_key_id=made.master_key_id,
                                 created_at=utcnow()).returning(table.c.id)
        ).scalar_one()
        epoch = JournalEpoch(new_id, made.uid, today, made.plain())
    else:
        epoch = JournalEpoch(row.id, row.uid, today, crypto.active_keyring().unwrap(bytes(row.wrapped)))
    _journal_epoch = epoch
    return epoch


def unwrap_journal_key(session: Session, entry: Submission) -> bytes:
    """A journalled submission's data key: under its epoch's KEK, or (before 0015d) a master key."""
    assert entry.key_wrapped is not None
    if entry.key_epoch_id is None:
        return crypto.active_keyring().unwrap(entry.key_wrapped)
    epoch = session.get(KeyEpoch, entry.key_epoch_id)
    if epoch is None:
        raise crypto.DataKeyUnavailable("this submission's epoch key was destroyed")
    return crypto.unwrap_under_epoch(epoch.plain(), entry.key_wrapped)

