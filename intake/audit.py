"""The audit log: append-only and hash-chained (security.md, invariant 4).

Each entry carries the SHA-256 of the entry before it in its chain, computed over a canonical
serialisation of its own fields. Changing an entry in the database breaks its own hash; removing one
leaves a gap in the chain's numbering and a `prev_hash` that points at nothing; cutting entries off
the end leaves the chain head pointing past the last one. `verify_chain` (and `intake audit verify`)
finds the first such break in every chain.

**One chain per organisation.** Appending locks the head row of the entry's chain until the
transaction ends, so chains are kept per organisation (chain key = its id), plus one for entries of
no organisation (key 0: sign-in attempts for unknown addresses, key rotations): a slow transaction of
one organisation never makes another's audited writes wait. Entries written before migration 0015f
form the closed *history* chain (key -1): the single global chain of that time, kept exactly as it was
written (rewriting it would also launder any tampering done before), verified as before (canonical form
1, numbered by `seq`), and never appended to again. Every later chain starts from the history's last
hash, so the history's end cannot be cut without breaking every chain after it.

**As late as possible.** `record` only prepares the entry; it is numbered, linked and written when the
transaction commits, after the transaction's other writes are flushed, and (on PostgreSQL) after the
organisation's row is key-share locked (the entry's foreign key needs that lock, and waiting for it
while holding the head would make everyone behind the head wait too). So the head is held for the
length of the commit only, whatever the transaction did before.

The log holds no identifying values: people appear as their random public id and role, never as an
e-mail, a name or anything they typed at sign-in. The one free text it is meant to keep is the
reason a verifier gives for revealing an original, which security.md requires (who, when, which field,
the reason typed); the reveal form must tell the verifier not to put an identity in it.

A hash chain proves that the log was not rewritten *by someone who cannot also recompute it*: who
can write the database can rewrite every entry after the one changed, or cut a chain's end and move its
head back. `intake audit anchor` prints the chains' heads as a JSON line to keep elsewhere (a ticket, a
printout, another machine); `intake audit verify --anchor FILE` shows whether the chains still hold the
anchored entries unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, event, func, or_, select, text, update
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from .models import AuditChainHead, AuditEntry, Organisation, utcnow

if TYPE_CHECKING:
    from .models import User

GENESIS_HASH = "0" * 64
# Chain keys: an organisation's chain is keyed by its id (> 0).
HISTORY_CHAIN = -1  # the single global chain written before migration 0015f; closed
NO_ORGANISATION_CHAIN = 0
# Kept for code that names the old global head row: it is the history chain's head now.
HEAD_ROW = HISTORY_CHAIN
# Part of every hash, so old entries keep verifying: 1 is the history chain's form, 2 the per-chain one.
HISTORY_CANONICAL_VERSION = 1
CANONICAL_VERSION = 2
MAX_DETAIL_KEYS = 12
MAX_DETAIL_TEXT = 1000
# Keys a caller might be tempted to fill with an identity or a secret: refused outright, so a slip
# fails in the tests rather than in a seized database.
FORBIDDEN_DETAIL_KEYS = frozenset({
    "email", "e_mail", "mail", "name", "full_name", "phone", "address", "password", "secret", "token",
    "code", "totp", "recovery_code", "ip", "user_agent",
})
ANCHOR_FORMAT = "intake-audit-anchor/1"
_PENDING = "intake_audit_pending"

DetailValue = str | int | bool | None


class AuditError(ValueError):
    """An entry that may not be written as given (the message names the offending key)."""


def chain_of(organisation_id: int | None) -> int:
    return organisation_id if organisation_id is not None else NO_ORGANISATION_CHAIN


def chain_label(chain: int) -> str:
    if chain == HISTORY_CHAIN:
        return "history chain (entries before per-organisation chains)"
    if chain == NO_ORGANISATION_CHAIN:
        return "chain of entries without an organisation"
    return f"chain of organisation {chain}"


def record(action: str, *, actor: User | None, organisation_id: int | None = None,
           target_type: str | None = None, target_id: str | None = None,
           detail: Mapping[str, DetailValue] | None = None, session: Session | None = None) -> AuditEntry:
    """Append an entry to its organisation's chain in the caller's transaction; flushes, never commits.

    `organisation_id` defaults to the actor's organisation. The entry is checked now and written when
    the transaction commits (numbered and linked then, under its chain head's lock, held only for the
    commit); a rollback — of the transaction or of the savepoint it was recorded in — drops it.
    """
    if session is None:
        from .extensions import db

        session = db.session
    clean = _checked_detail(detail or {})
    if organisation_id is None and actor is not None:
        organisation_id = actor.organisation_id
    entry = AuditEntry(
        actor_id=actor.public_id if actor is not None else None,
        actor_role=str(actor.role.value) if actor is not None else None,
        organisation_id=organisation_id,
        action=str(action),
        target_type=target_type,
        target_id=target_id,
        detail=clean,
        chain=chain_of(organisation_id),
    )
    own: Session = session() if isinstance(session, scoped_session) else session
    # The caller's changes are flushed, as before entries were deferred (callers read ids that a
    # flush assigns); that takes no chain head.
    own.flush()
    pending: list[tuple[SessionTransaction | None, AuditEntry]] = own.info.setdefault(_PENDING, [])
    pending.append((own.get_nested_transaction() or own.get_transaction(), entry))
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


# ---- writing at commit -------------------------------------------------------------------------


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """At the commit of the outermost transaction: write the entries `record` prepared."""
    if session.in_nested_transaction() or not session.info.get(_PENDING):
        return
    entries = [entry for _, entry in session.info.pop(_PENDING)]
    # The transaction's own writes first: nothing of them runs while a chain head is held.
    session.flush()
    _append(session, entries)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if previous.parent is None:
        session.info.pop(_PENDING, None)
        return
    session.info[_PENDING] = [(txn, entry) for txn, entry in pending if not _within(txn, previous)]


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # closed without a commit: nothing recorded in it survives
        session.info.pop(_PENDING, None)


def _within(txn: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while txn is not None:
        if txn is ancestor:
            return True
        txn = txn.parent
    return False


def _append(session: Session, entries: list[AuditEntry]) -> None:
    postgres = session.get_bind().dialect.name == "postgresql"
    by_chain = {chain: [e for e in entries if e.chain == chain] for chain in sorted({e.chain for e in entries})}
    organisations = [chain for chain in by_chain if chain > 0]
    if postgres and organisations:
        # The lock the entries' foreign key takes anyway, taken before any head: a transaction that
        # holds an organisation's row makes only that organisation's audited writes wait.
        session.execute(select(Organisation.id).where(Organisation.id.in_(organisations))
                        .with_for_update(read=True, key_share=True))
    # Heads in one order (by key): two transactions never wait on each other's heads.
    for chain, chained in by_chain.items():
        last_seq, prev_hash = _lock_head(session, chain, len(chained))
        # Taken under the lock: order in the chain, in time and in the log's ids agree.
        ids = _global_ids(session, len(chained), postgres)
        now = utcnow()
        for position, (entry, seq) in enumerate(zip(chained, ids, strict=True), start=last_seq - len(chained) + 1):
            entry.seq, entry.chain_seq, entry.at, entry.prev_hash = seq, position, now, prev_hash
            entry.entry_hash = prev_hash = entry_hash(entry)
        session.add_all(chained)
        session.flush()
        session.execute(update(AuditChainHead).where(AuditChainHead.id == chain).values(entry_hash=prev_hash))


def _lock_head(session: Session, chain: int, count: int) -> tuple[int, str]:
    """Take a chain's head for this transaction: the chain's new last position and the hash to link to.

    The first statement is an UPDATE of the chain's head row. On PostgreSQL it holds the row lock
    until commit, so a concurrent append to the same chain waits here and then sees this one's
    entries; on SQLite it takes the database's write lock, which serialises writers anyway. Reading
    first and writing later would let two transactions read the same head.
    """
    bump = update(AuditChainHead).where(AuditChainHead.id == chain).values(seq=AuditChainHead.seq + count)
    if session.execute(bump).rowcount == 0:  # type: ignore[attr-defined]
        _create_head(session, chain)
        session.execute(bump)
    head = session.execute(
        select(AuditChainHead.seq, AuditChainHead.entry_hash).where(AuditChainHead.id == chain)
    ).one()
    return int(head.seq), str(head.entry_hash)


def _create_head(session: Session, chain: int) -> None:
    """The head row of an empty chain, starting from the history's last hash; two first appends at
    once make it once."""
    history = session.scalar(select(AuditChainHead.entry_hash).where(AuditChainHead.id == HISTORY_CHAIN))
    values = {"id": chain, "seq": 0, "entry_hash": history or GENESIS_HASH}
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


def _global_ids(session: Session, count: int, postgres: bool) -> list[int]:
    """The entries' ids in the whole log (`seq`: the admin page's order and cursor). A sequence on
    PostgreSQL, which no transaction waits on; on SQLite, whose writers are serialised, the next
    numbers."""
    if postgres:
        return list(session.scalars(text("SELECT nextval('audit_log_seq') FROM generate_series(1, :n)"),
                                    {"n": count}))
    last = int(session.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0))) or 0)
    return list(range(last + 1, last + 1 + count))


# ---- hashing -----------------------------------------------------------------------------------


def canonical(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash is computed over: its fields in a fixed order, as compact JSON.

    History entries (before 0015f) keep the form they were hashed in; later ones also cover their
    chain, their place in it and their id in the log."""
    at = entry.at.astimezone(dt.UTC) if entry.at.tzinfo else entry.at.replace(tzinfo=dt.UTC)
    head: list[Any] = ([HISTORY_CANONICAL_VERSION, entry.seq] if entry.chain == HISTORY_CHAIN
                       else [CANONICAL_VERSION, entry.chain, entry.chain_seq, entry.seq])
    fields: list[Any] = [
        *head,
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


# ---- verifying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainCheck:
    """What verifying one chain found: how many entries, and the first break if there is one.

    `broken_seq` is the position in the chain where the break is; `broken_id` the log id (`seq`) of
    the entry found there, if there is one."""

    chain: int
    count: int
    head_hash: str
    last_id: int | None = None
    broken_seq: int | None = None
    broken_id: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_seq is None

    @property
    def label(self) -> str:
        return chain_label(self.chain)

    def describe(self) -> str:
        if self.intact:
            return f"{self.label}: {self.count} entries, intact, head {self.head_hash}"
        where = f" (log id {self.broken_id})" if self.broken_id is not None else ""
        return (f"{self.label}: BROKEN at entry {self.broken_seq}{where}: {self.problem}. "
                f"{self.count} entries before it are intact.")


@dataclass(frozen=True)
class AuditCheck:
    """Every chain verified: intact when all are."""

    chains: list[ChainCheck] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return all(check.intact for check in self.chains)

    @property
    def count(self) -> int:
        return sum(check.count for check in self.chains)

    @property
    def broken(self) -> list[ChainCheck]:
        return [check for check in self.chains if not check.intact]

    def chain(self, key: int) -> ChainCheck | None:
        return next((check for check in self.chains if check.chain == key), None)


def verify_chain(session: Session, organisation_id: int | None = None) -> AuditCheck:
    """Recompute every chain (or, with `organisation_id`, the ones an admin of that organisation
    reads: its own, the one of no organisation and the history); each stops at its first break."""
    wanted = None if organisation_id is None else [HISTORY_CHAIN, NO_ORGANISATION_CHAIN, organisation_id]
    # Heads first, then entries: a chain extended meanwhile has more entries than its head read
    # here says, and its head's entry is still found at the head's position.
    heads_query = select(AuditChainHead)
    if wanted is not None:
        heads_query = heads_query.where(AuditChainHead.id.in_(wanted))
    heads = {head.id: (head.seq, head.entry_hash) for head in session.scalars(heads_query)}
    query = select(AuditEntry).order_by(AuditEntry.chain, AuditEntry.chain_seq).execution_options(yield_per=500)
    if wanted is not None:
        query = query.where(AuditEntry.chain.in_(wanted))
    # Streamed in order: a long log is checked without holding it all in memory. Closed explicitly,
    # since a break found early leaves the (server-side, on PostgreSQL) cursor unfinished.
    result = session.scalars(query)
    # Every chain after the history starts from the hash its head was made from: the history head's.
    # Cutting the history's end and moving its head back breaks every one of them.
    genesis = heads[HISTORY_CHAIN][1] if HISTORY_CHAIN in heads else GENESIS_HASH
    checks: dict[int, ChainCheck] = {}
    try:
        for chain, entries in itertools.groupby(result, key=lambda entry: entry.chain):
            marks: dict[int, str] = {}
            head_position = heads.get(chain, (0, ""))[0]
            walked = _walk(chain, entries, GENESIS_HASH if chain == HISTORY_CHAIN else genesis,
                           head_position, marks)
            checks[chain] = _against_head(chain, walked, heads, marks)
    finally:
        result.close()
    for chain in heads:  # a head without a single entry left
        if chain not in checks:
            checks[chain] = _against_head(chain, ChainCheck(chain, 0, GENESIS_HASH), heads, {})
    if organisation_id is not None and organisation_id not in checks:
        checks[organisation_id] = ChainCheck(organisation_id, 0, GENESIS_HASH)
    return AuditCheck([checks[key] for key in sorted(checks)])


def _walk(chain: int, entries: Iterable[AuditEntry], genesis: str, head_position: int,
          marks: dict[int, str]) -> ChainCheck:
    """Follow the links from the chain's first hash: the count of good entries and the first break.
    `marks` receives the hash found at the head's position."""
    expected_seq, previous, count, last_id = 1, genesis, 0, None
    for entry in entries:
        problem = None
        if entry.chain_seq != expected_seq:
            missing = (f"entry {expected_seq} is missing" if entry.chain_seq == expected_seq + 1
                       else f"entries {expected_seq} to {entry.chain_seq - 1} are missing")
            problem = f"{missing} before it (removed from the log)"
        elif entry.prev_hash != previous:
            problem = "its link to the entry before it does not match (prev_hash changed)"
        elif entry_hash(entry) != entry.entry_hash:
            problem = "its content does not match its hash (changed after it was written)"
        elif chain not in (HISTORY_CHAIN, chain_of(entry.organisation_id)):
            problem = "it is in another organisation's chain"
        if problem is not None:
            return ChainCheck(chain, count, previous, last_id, entry.chain_seq, entry.seq, problem)
        previous, expected_seq, count, last_id = entry.entry_hash, entry.chain_seq + 1, count + 1, entry.seq
        if entry.chain_seq == head_position:
            marks[head_position] = entry.entry_hash
    return ChainCheck(chain, count, previous, last_id)


def _against_head(chain: int, check: ChainCheck, heads: Mapping[int, tuple[int, str]],
                  marks: Mapping[int, str]) -> ChainCheck:
    if not check.intact:
        return check
    if chain not in heads:
        return check if check.count == 0 else _broken(check, check.count, "the chain head is missing")
    head_seq, head_hash = heads[chain]
    if head_seq > check.count:
        return _broken(check, check.count + 1, f"the chain ends at entry {check.count} but its head records "
                                               f"{head_seq} (entries removed from the end)")
    if head_seq and marks.get(head_seq) != head_hash:
        return _broken(check, head_seq, "the chain head does not match the entry it names")
    return check


def _broken(check: ChainCheck, position: int, problem: str) -> ChainCheck:
    return ChainCheck(check.chain, check.count, check.head_hash, check.last_id, position, None, problem)


# ---- anchors: the chains' ends, kept outside the database --------------------------------------


def anchor(check: AuditCheck, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """What `intake audit anchor` prints: every chain's length, last id and last hash, and when."""
    when = (at or utcnow()).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"format": ANCHOR_FORMAT, "at": when, "entries": check.count,
            "chains": [{"chain": c.chain, "entries": c.count, "last_id": c.last_id, "hash": c.head_hash}
                       for c in check.chains if c.count]}


class AnchorError(ValueError):
    """An anchor file that cannot be read (the message says which line and why)."""


def read_anchors(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The anchors of a file: one JSON line each (an operator may append one a day); blank lines skipped."""
    anchors = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            if value.get("format") != ANCHOR_FORMAT:
                raise AnchorError(f"line {number} is not an Intake audit anchor")
            for item in value["chains"]:
                if not (isinstance(item["chain"], int) and isinstance(item["entries"], int)
                        and isinstance(item["hash"], str)):
                    raise AnchorError(f"line {number}: a chain without its key, count or hash")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AnchorError(str(exc) if isinstance(exc, AnchorError)
                              else f"line {number} is not an Intake audit anchor") from None
        anchors.append(value)
    if not anchors:
        raise AnchorError("the file holds no anchor")
    return anchors


def check_anchors(session: Session, check: AuditCheck, anchors: Iterable[Mapping[str, Any]]) -> list[str]:
    """What the log lost or changed since each anchor: one sentence per anchored chain that no longer
    holds its anchored entry (empty when all are there)."""
    problems = []
    for anchored in anchors:
        for item in anchored["chains"]:
            chain, entries, wanted = int(item["chain"]), int(item["entries"]), str(item["hash"])
            found = check.chain(chain)
            good = found.count if found is not None else 0
            since = f"anchored {anchored.get('at', '?')}"
            if entries > good:
                if found is not None and not found.intact and found.broken_seq is not None \
                        and found.broken_seq <= entries:
                    problems.append(f"{chain_label(chain)}: entry {found.broken_seq} of the {entries} {since} "
                                    f"is broken ({found.problem})")
                else:
                    problems.append(f"{chain_label(chain)} was CUT: {entries} entries {since}, "
                                    f"{good} intact now (entries {good + 1} to {entries} removed)")
                continue
            stored = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.chain == chain,
                                                                        AuditEntry.chain_seq == entries))
            if stored != wanted:
                problems.append(f"{chain_label(chain)}: entry {entries} is not the one {since} (its hash "
                                f"differs: the chain was rewritten from there or before)")
    return problems


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
