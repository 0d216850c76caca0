"""Organisations, users, passwords (Argon2id) and API tokens."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, joinedload

from . import audit
from .enums import AuditAction, Role
from .models import ApiToken, Organisation, User, utcnow

TOKEN_PREFIX = "itk_"  # noqa: S105  (a marker that makes leaked tokens easy to scan for, not a secret)
MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()  # argon2-cffi's defaults are RFC 9106's low-memory Argon2id profile
# A hash of a random password, checked when the e-mail is unknown so both paths take the same time.
_DUMMY_HASH: str | None = None


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message is safe to show."""


def configure_hasher(params: dict[str, Any] | None) -> None:
    """Replace the password hasher's parameters (tests use cheap ones; production keeps defaults)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(**params) if params else PasswordHasher()
    _DUMMY_HASH = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def generate_password() -> str:
    """A password people can type from a printout: 5 groups of 5 lowercase letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(5))


def create_organisation(session: Session, name: str) -> Organisation:
    name = name.strip()
    if not name:
        raise AccountError("An organisation needs a name.")
    if session.scalar(select(Organisation).where(func.lower(Organisation.name) == name.lower())):
        raise AccountError(f"An organisation named {name!r} exists already.")
    org = Organisation(name=name)
    session.add(org)
    session.flush()
    return org


def find_organisation(session: Session, name: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(func.lower(Organisation.name) == name.strip().lower()))


def create_user(session: Session, email: str, organisation: Organisation, role: Role, password: str,
                *, actor: User | None = None, via: str | None = None) -> User:
    """A new account. With `via` (who made it: "cli", "admin"), the creation is audited."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 320:
        raise AccountError("That is not an e-mail address.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if session.scalar(select(User).where(User.email == email)):
        raise AccountError("A user with this e-mail address exists already.")
    user = User(email=email, organisation=organisation, role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    if via is not None:
        audit.record(AuditAction.USER_CREATED, actor=actor, organisation_id=organisation.id, target_type="user",
                     target_id=user.public_id, detail={"role": role.value, "via": via}, session=session)
    return user


def change_role(session: Session, user: User, role: Role, *, actor: User | None, via: str) -> None:
    """Give `user` another role, audited. A session opened under the old role ends if the new one
    needs a second factor (the session never passed one for it)."""
    if user.role == role:
        raise AccountError(f"The user is a {role.value} already.")
    before = user.role
    user.role = role
    session.flush()
    audit.record(AuditAction.ROLE_CHANGED, actor=actor, organisation_id=user.organisation_id, target_type="user",
                 target_id=user.public_id, detail={"from": before.value, "to": role.value, "via": via},
                 session=session)


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def _spend_a_verification(password: str) -> None:
    """Check `password` against a hash of a random one, so refusing without a real check (unknown
    e-mail, locked account) takes as long as a real check."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
    try:
        _hasher.verify(_DUMMY_HASH, password)
    except VerificationError:
        pass


def _password_matches(user: User, password: str) -> bool:
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None. Takes as long for unknown e-mails.

    The password alone, without lockout or audit: for tools. People sign in through `check_password`.
    """
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None or not user.active:
        _spend_a_verification(password)
        return None
    if not _password_matches(user, password):
        return None
    user.last_sign_in_at = utcnow()
    return user


# ---- signing in: lockout after repeated failures, every attempt audited -------------------------


@dataclass(frozen=True)
class LockoutPolicy:
    """After `attempts` wrong passwords or codes in a row, the account cannot sign in for `seconds`."""

    attempts: int = 6
    seconds: int = 15 * 60


class PasswordCheck(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # also: unknown e-mail, inactive account
    LOCKED = "locked"


def is_locked(user: User, now: dt.datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def check_password(session: Session, email: str, password: str, policy: LockoutPolicy,
                   now: dt.datetime) -> tuple[PasswordCheck, User | None]:
    """The first step of signing in. Failures are counted towards the lockout and audited; the
    audit entry of an unknown e-mail names no address, and no entry ever holds the password."""
    user = find_user(session, email)
    if user is None or not user.active:
        _spend_a_verification(password)
        audit.record(AuditAction.SIGN_IN_FAILED, actor=None, detail={"factor": "password", "account": "unknown"},
                     session=session)
        return PasswordCheck.WRONG, None
    if is_locked(user, now):
        # While locked the password is not even checked: a lock that still answered "right" or
        # "wrong" would let guessing go on.
        _spend_a_verification(password)
        audit.record(AuditAction.SIGN_IN_FAILED, actor=None, organisation_id=user.organisation_id,
                     target_type="user", target_id=user.public_id, detail={"factor": "password", "locked": True},
                     session=session)
        return PasswordCheck.LOCKED, user
    if not _password_matches(user, password):
        locked = note_failure(session, user, "password", policy, now)
        return (PasswordCheck.LOCKED if locked else PasswordCheck.WRONG), user
    return PasswordCheck.OK, user


def note_failure(session: Session, user: User, factor: str, policy: LockoutPolicy, now: dt.datetime) -> bool:
    """Count a wrong password or code, audited; at the policy's limit lock the account. True when
    this failure locked it."""
    failures = session.execute(
        update(User).where(User.id == user.id).values(failed_sign_ins=User.failed_sign_ins + 1)
        .returning(User.failed_sign_ins).execution_options(synchronize_session=False)
    ).scalar_one()
    session.expire(user, ["failed_sign_ins"])
    locked = failures >= policy.attempts
    if locked:
        user.failed_sign_ins = 0
        user.locked_until = now + dt.timedelta(seconds=policy.seconds)
        session.flush()
    audit.record(AuditAction.SIGN_IN_FAILED, actor=None, organisation_id=user.organisation_id, target_type="user",
                 target_id=user.public_id, detail={"factor": factor, "failures": int(failures)}, session=session)
    if locked:
        audit.record(AuditAction.LOCKED, actor=None, organisation_id=user.organisation_id, target_type="user",
                     target_id=user.public_id, detail={"after": factor, "minutes": policy.seconds // 60},
                     session=session)
    return locked


def note_sign_in(session: Session, user: User, now: dt.datetime, *, method: str) -> None:
    """A complete sign-in (password, and the second factor where one is required): failures are
    forgotten, audited."""
    user.failed_sign_ins = 0
    user.locked_until = None
    user.last_sign_in_at = now
    session.flush()
    audit.record(AuditAction.SIGN_IN, actor=user, target_type="user", target_id=user.public_id,
                 detail={"method": method}, session=session)


def unlock(session: Session, user: User, *, actor: User | None, via: str) -> None:
    """Lift a sign-in lock before it runs out, audited."""
    user.failed_sign_ins = 0
    user.locked_until = None
    session.flush()
    audit.record(AuditAction.USER_UNLOCKED, actor=actor, organisation_id=user.organisation_id, target_type="user",
                 target_id=user.public_id, detail={"via": via}, session=session)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User) -> str:
    """A new API bearer token for `user`. The plain token exists only in the return value."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user=user, token_hash=_token_digest(token), prefix=token[:10]))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a bearer token belongs to, or None for unknown or revoked tokens."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.user))
        .where(ApiToken.token_hash == _token_digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None or not row.user.active:
        return None
    now = utcnow()
    # Write at most once a minute: a burst of API calls should not be a burst of UPDATEs.
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        row.last_used_at = now
    return row.user


@dataclass(frozen=True)
class TokenHolder:
    """Who a bearer token speaks for: what a request needs before it loads the user, if ever."""

    user_id: int
    organisation_id: int
    role: Role


_HOLDER = (
    select(ApiToken.id, ApiToken.last_used_at, User.id.label("user_id"), User.organisation_id, User.role)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None), User.active.is_(True))
)


# A token's last use is written at most this often: a burst of API calls is not a burst of UPDATEs.
TOKEN_USE_RESOLUTION = dt.timedelta(minutes=1)


def token_digest(token: str) -> str | None:
    """What is stored of a bearer token, or None for a string that is not one of ours."""
    return _token_digest(token) if token.startswith(TOKEN_PREFIX) else None


def holder_of_token(connection: Connection, token: str) -> TokenHolder | None:
    """`user_for_token` in one query of plain columns, on an autocommit connection (the JSON API
    asks on every request)."""
    digest = token_digest(token)
    if digest is None:
        return None
    row = connection.execute(_HOLDER, {"digest": digest}).first()
    if row is None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > TOKEN_USE_RESOLUTION:
        connection.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return TokenHolder(row.user_id, row.organisation_id, row.role)


# Who may file reports: everyone who works with reports (admins read none by default).
SUBMITTING_ROLES = (Role.REPORTER, Role.VERIFIER, Role.COORDINATOR)


def can_submit(user: User | TokenHolder) -> bool:
    """Whether `user` may file reports (`SUBMITTING_ROLES`)."""
    return user.role in SUBMITTING_ROLES


def can_verify(user: User) -> bool:
    return user.role in (Role.VERIFIER, Role.COORDINATOR)
