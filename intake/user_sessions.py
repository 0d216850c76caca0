"""Server-side sessions: one row per signed-in browser (`UserSession`), so that a session can be
ended on the server — at sign-out, and everywhere at once when the account changes (role, second
factor, password, deactivation).

The browser's signed cookie holds only a random session id; the database keeps its SHA-256. A
copy of the table opens nothing, and a cookie saved before sign-out names a row that has ended.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from .models import User, UserSession

# How long the row of an ended session is kept; a row older than three times this is dropped
# whatever it says (far beyond any session's lifetime).
KEEP_ENDED = dt.timedelta(days=30)


@dataclass(frozen=True)
class Lifetimes:
    """How long a session may be idle, and how long it may last at all, in seconds."""

    idle: int
    absolute: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: User, device_digest: str, now: dt.datetime) -> tuple[str, UserSession]:
    """A new session of `user` on this device; the random id for the cookie exists only in the
    return value."""
    # Rows of sessions long over are of no more use (the audit log keeps the sign-ins and sign-outs).
    session.execute(delete(UserSession).where(UserSession.user_id == user.id, or_(
        UserSession.ended_at < now - KEEP_ENDED, UserSession.created_at < now - KEEP_ENDED * 3)))
    token = secrets.token_urlsafe(32)
    record = UserSession(token_hash=_digest(token), user_id=user.id, created_at=now, last_seen_at=now,
                         device_digest=device_digest)
    session.add(record)
    session.flush()
    return token, record


def find(session: Session, token: str) -> UserSession | None:
    """The open session this cookie id names, or None (unknown, or ended)."""
    if not token or len(token) > 100:
        return None
    return session.scalar(select(UserSession).where(UserSession.token_hash == _digest(token),
                                                    UserSession.ended_at.is_(None)))


def renew_id(session: Session, record: UserSession) -> str:
    """Give the session a new random id (when it gains a privilege, such as a passed second factor):
    an id seen before, by whoever saw it, no longer opens it."""
    token = secrets.token_urlsafe(32)
    record.token_hash = _digest(token)
    session.flush()
    return token


def expiry(record: UserSession, now: dt.datetime, lifetimes: Lifetimes) -> str | None:
    """Why the session is over by now ("idle" or "lifetime"), or None while it may go on."""
    if now - record.created_at > dt.timedelta(seconds=lifetimes.absolute):
        return "lifetime"
    if now - record.last_seen_at > dt.timedelta(seconds=lifetimes.idle):
        return "idle"
    return None


def end(session: Session, record: UserSession, reason: str, now: dt.datetime) -> None:
    """End one session (its cookie opens nothing from now on)."""
    record.ended_at = now
    record.end_reason = reason
    record.enrolment_secret_wrapped = None
    session.flush()


def end_all(session: Session, user: User, reason: str, now: dt.datetime, *, keep: UserSession | None = None) -> int:
    """End every open session of `user` (but `keep`), in every browser; how many were open."""
    query = update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    result = session.execute(query.values(ended_at=now, end_reason=reason, enrolment_secret_wrapped=None)
                             .execution_options(synchronize_session=False))
    for record in list(session.identity_map.values()):
        if isinstance(record, UserSession) and record.user_id == user.id and record is not keep:
            session.expire(record)
    return int(result.rowcount)  # type: ignore[attr-defined]


def open_sessions(session: Session, user: User) -> int:
    return len(list(session.scalars(select(UserSession.id).where(UserSession.user_id == user.id,
                                                                 UserSession.ended_at.is_(None)))))
