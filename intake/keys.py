"""Master key rotation and the erasure of reports' originals (design/security.md, invariant 9)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import crypto
from .enums import AttachmentStatus
from .models import DataKey, Organisation, Report, Submission, User, UserSession

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
            select(model.master_key_id, func.count()).where(column.is_not(None)).group_by(model.master_key_id)
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
    session.commit()
    done = 0
    # Submissions waiting to be filed hold their data key wrapped in the journal row.
    while True:
        entries = list(session.scalars(
            select(Submission)
            .where(Submission.key_wrapped.is_not(None), Submission.master_key_id.is_distinct_from(primary))
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
            .where(DataKey.wrapped.is_not(None), DataKey.master_key_id.is_distinct_from(primary))
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
    The caller records why in the audit log and commits; files go from the disk after commit.
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
    for key in keys:
        if key is not None and not key.erased:
            key.erase()
    return files
