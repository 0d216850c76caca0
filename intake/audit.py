"""The audit log: append-only and hash-chained (security.md, invariant 4).

Each entry carries the SHA-256 of the entry before it, computed over a canonical serialisation of
its own fields. Changing an entry in the database breaks its own hash; removing one leaves a gap in
the sequence and a `prev_hash` that points at nothing; cutting entries off the end leaves the chain
head pointing past the last one. `verify_chain` (and `intake audit verify`) finds the first such
break.

The log holds no identifying values: people appear as their random public id and role, never as an
e-mail, a name or anything they typed at sign-in. The one free text it is meant to keep is the
reason a verifier gives for revealing an original, which security.md requires (who, when, which field,
the reason typed); the reveal form must tell the verifier not to put an identity in it.

A hash chain proves that the log was not rewritten *by someone who cannot also recompute it*: who
can write the database can rewrite every entry after the one changed. `intake audit verify` prints
the head's hash so that operators can keep it elsewhere (a ticket, a printout) and compare later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from .models import AuditChainHead, AuditEntry, utcnow

if TYPE_CHECKING:
    from .models import User

GENESIS_HASH = "0" * 64
HEAD_ROW = 1
# Bumped if the canonical form ever changes; part of every hash, so old entries keep verifying.
CANONICAL_VERSION = 1
MAX_DETAIL_KEYS = 12
MAX_DETAIL_TEXT = 1000
# Keys a caller might be tempted to fill with an identity or a secret: refused outright, so a slip
# fails in the tests rather than in a seized database.
FORBIDDEN_DETAIL_KEYS = frozenset({
    "email", "e_mail", "mail", "name", "full_name", "phone", "address", "password", "secret", "token",
    "code", "totp", "recovery_code", "ip", "user_agent",
})

DetailValue = str | int | bool | None


class AuditError(ValueError):
    """An entry that may not be written as given (the message names the offending key)."""


def record(action: str, *, actor: User | None, organisation_id: int | None = None,
           target_type: str | None = None, target_id: str | None = None,
           detail: Mapping[str, DetailValue] | None = None, session: Session | None = None) -> AuditEntry:
    """Append an entry to the chain in the caller's transaction; flushes, never commits.

    `organisation_id` defaults to the actor's organisation. Take the entry as the last write of the
    transaction where you can: appending locks the chain head until the transaction ends.
    """
    if session is None:
        from .extensions import db

        session = db.session
    clean = _checked_detail(detail or {})
    if organisation_id is None and actor is not None:
        organisation_id = actor.organisation_id
    seq, prev_hash = _lock_head(session)
    entry = AuditEntry(
        seq=seq,
        # Taken under the lock: order in the chain and order in time agree.
        at=utcnow(),
        actor_id=actor.public_id if actor is not None else None,
        actor_role=str(actor.role.value) if actor is not None else None,
        organisation_id=organisation_id,
        action=str(action),
        target_type=target_type,
        target_id=target_id,
        detail=clean,
        prev_hash=prev_hash,
    )
    entry.entry_hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    session.execute(update(AuditChainHead).where(AuditChainHead.id == HEAD_ROW)
                    .values(entry_hash=entry.entry_hash))
    return entry


def _checked_detail(detail: Mapping[str, DetailValue]) -> dict[str, DetailValue]:
    if len(detail) > MAX_DETAIL_KEYS:
        raise AuditError(f"an audit detail holds at most {MAX_DETAIL_KEYS} values")
    clean: dict[str, DetailValue] = {}
    for key, value in detail.items():
        if not isinstance(key, str) or not key.isidentifier() or len(key) > 40:
            raise AuditError(f"audit detail key {key!r} is not a short identifier")
        if key.lower() in FORBIDDEN_DETAIL_KEYS:
            raise AuditError(f"audit detail key {key!r} could carry an identity or a secret")
        if value is not None and not isinstance(value, str | int | bool):
            raise AuditError(f"audit detail {key!r} must be text, a number, true/false or empty")
        if isinstance(value, str) and len(value) > MAX_DETAIL_TEXT:
            raise AuditError(f"audit detail {key!r} is longer than {MAX_DETAIL_TEXT} characters")
        clean[key] = value
    return clean


def _lock_head(session: Session) -> tuple[int, str]:
    """Take the chain head for this transaction: the next sequence number and the hash to link to.

    The first statement is an UPDATE of the one head row. On PostgreSQL it holds the row lock until
    commit, so a concurrent append waits here and then sees this one's entry; on SQLite it takes the
    database's write lock, which serialises writers anyway. Reading first and writing later would
    let two transactions read the same head.
    """
    bump = update(AuditChainHead).where(AuditChainHead.id == HEAD_ROW).values(seq=AuditChainHead.seq + 1)
    if session.execute(bump).rowcount == 0:  # type: ignore[attr-defined]
        _create_head(session)
        session.execute(bump)
    head = session.execute(
        select(AuditChainHead.seq, AuditChainHead.entry_hash).where(AuditChainHead.id == HEAD_ROW)
    ).one()
    return int(head.seq), str(head.entry_hash)


def _create_head(session: Session) -> None:
    """The head row of an empty chain; two first appends at once make it once."""
    values = {"id": HEAD_ROW, "seq": 0, "entry_hash": GENESIS_HASH}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(AuditChainHead).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(AuditChainHead).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - the project runs on SQLite and PostgreSQL only
        session.add(AuditChainHead(**values))
        session.flush()


def canonical(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash is computed over: its fields in a fixed order, as compact JSON."""
    at = entry.at.astimezone(dt.UTC) if entry.at.tzinfo else entry.at.replace(tzinfo=dt.UTC)
    fields: list[Any] = [
        CANONICAL_VERSION,
        entry.seq,
        at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        entry.actor_id,
        entry.actor_role,
        entry.organisation_id,
        entry.action,
        entry.target_type,
        entry.target_id,
        entry.detail,
        entry.prev_hash,
    ]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    """What `verify_chain` found: how many entries, and the first break if there is one."""

    count: int
    head_hash: str
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def verify_chain(session: Session) -> ChainCheck:
    """Recompute the chain from the first entry; stop at the first entry that does not match."""
    # Streamed in order: a long log is checked without holding it all in memory. Closed explicitly,
    # since a break found early leaves the (server-side, on PostgreSQL) cursor unfinished.
    result = session.scalars(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=500))
    try:
        check = _walk(result)
    finally:
        result.close()
    if not check.intact:
        return check
    count, last = check.count, check.head_hash
    head = session.get(AuditChainHead, HEAD_ROW)
    if head is None:
        return check if count == 0 else ChainCheck(count, last, count, "the chain head is missing")
    if head.seq > count:
        return ChainCheck(count, last, count + 1, f"the log ends at entry {count} but the chain head records "
                                                  f"{head.seq} (entries removed from the end)")
    if (head.seq, head.entry_hash) != (count, last):
        return ChainCheck(count, last, head.seq, "the chain head does not match the last entry")
    return check


def _walk(entries: Iterable[AuditEntry]) -> ChainCheck:
    """Follow the links from the genesis hash: the count of good entries and the first break."""
    expected_seq, previous, count = 1, GENESIS_HASH, 0
    for entry in entries:
        problem = None
        if entry.seq != expected_seq:
            missing = (f"entry {expected_seq} is missing" if entry.seq == expected_seq + 1
                       else f"entries {expected_seq} to {entry.seq - 1} are missing")
            problem = f"{missing} before it (removed from the log)"
        elif entry.prev_hash != previous:
            problem = "its link to the entry before it does not match (prev_hash changed)"
        elif entry_hash(entry) != entry.entry_hash:
            problem = "its content does not match its hash (changed after it was written)"
        if problem is not None:
            return ChainCheck(count, previous, entry.seq, problem)
        previous, expected_seq, count = entry.entry_hash, entry.seq + 1, count + 1
    return ChainCheck(count, previous)


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before: int | None  # the keyset cursor of the next (older) page


def page(session: Session, organisation_id: int, *, action: str | None = None, person_id: str | None = None,
         since: dt.datetime | None = None, until: dt.datetime | None = None, before: int | None = None,
         page_size: int = 50) -> AuditPage:
    """Entries an organisation's admin may read, newest first: their organisation's, and those of no
    organisation (sign-in attempts for unknown addresses). Keyset-paginated on the sequence.

    `person_id` keeps the entries where that user acted or that concern them (a failed sign-in to
    their account has no actor: nobody was signed in)."""
    conditions = [or_(AuditEntry.organisation_id == organisation_id, AuditEntry.organisation_id.is_(None))]
    if action:
        conditions.append(AuditEntry.action == action)
    if person_id:
        conditions.append(or_(AuditEntry.actor_id == person_id,
                              and_(AuditEntry.target_type == "user", AuditEntry.target_id == person_id)))
    if since is not None:
        conditions.append(AuditEntry.at >= since)
    if until is not None:
        conditions.append(AuditEntry.at < until)
    if before is not None:
        conditions.append(AuditEntry.seq < before)
    rows = list(session.scalars(select(AuditEntry).where(*conditions).order_by(AuditEntry.seq.desc())
                                .limit(page_size + 1)))
    next_before = rows[page_size - 1].seq if len(rows) > page_size else None
    return AuditPage(rows[:page_size], next_before)
