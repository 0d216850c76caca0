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
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, joinedload

from . import audit, user_sessions
from .enums import AuditAction, Role
from .models import ApiToken, Organisation, SignInThrottle, User, utcnow

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


def matches_hash(stored: str | None, password: str) -> bool:
    """Whether `password` is the one `stored` hashes; with no hash, a dummy is checked so that
    every path costs one Argon2 verification."""
    if stored is None:
        _spend_a_verification(password)
        return False
    try:
        return bool(_hasher.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


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
                *, actor: User | None = None, via: str | None = None, must_change_password: bool = False) -> User:
    """A new account. With `via` (who made it: "cli", "admin"), the creation is audited. With
    `must_change_password` (a password someone else chose), nothing opens at the first sign-in
    until the user has chosen their own."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 320:
        raise AccountError("That is not an e-mail address.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if session.scalar(select(User).where(User.email == email)):
        raise AccountError("A user with this e-mail address exists already.")
    user = User(email=email, organisation=organisation, role=role, password_hash=hash_password(password),
                must_change_password=must_change_password)
    session.add(user)
    session.flush()
    if via is not None:
        audit.record(AuditAction.USER_CREATED, actor=actor, organisation_id=organisation.id, target_type="user",
                     target_id=user.public_id, detail={"role": role.value, "via": via}, session=session)
    return user


def change_role(session: Session, user: User, role: Role, *, actor: User | None, via: str) -> None:
    """Give `user` another role, audited. Every session opened under the old role ends: the next
    sign-in is one under the new role (with a second factor where it needs one)."""
    if user.role == role:
        raise AccountError(f"The user is a {role.value} already.")
    before = user.role
    user.role = role
    session.flush()
    user_sessions.end_all(session, user, "role_changed", utcnow())
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


# ---- signing in: throttled wrong passwords, a lock after wrong codes, every attempt audited -------
#
# Wrong passwords are throttled per (typed e-mail address, client address) pair, never per account:
# a stranger who types a verifier's address from their own machine slows only their own guesses,
# and the verifier, from theirs, signs in as ever. The pair is a keyed hash of both, counted the same
# whether the account exists or not, so the answers (the same text, the same one Argon2 check, the
# same writes) never tell which addresses have an account. Guessing spread over many addresses
# meets the per-address rate limits, Argon2id, and — for everyone who can read others' reports — a
# second factor. Wrong *codes* still lock the account itself: only someone who has the password
# gets that far, and only someone who types the right password learns of the lock.


@dataclass(frozen=True)
class LockoutPolicy:
    """After `attempts` wrong passwords from one client for one address, that client waits before
    the next try: 30 s, doubling with each further wrong one, at most `seconds`. After `attempts`
    wrong codes in a row the account cannot sign in for `seconds`."""

    attempts: int = 6
    seconds: int = 15 * 60
    first_wait: int = 30

    def wait_after(self, failures: int) -> int:
        """Seconds a client waits after its `failures`-th wrong password in a row (0: none)."""
        if failures < self.attempts:
            return 0
        return min(self.seconds, self.first_wait * 2 ** min(failures - self.attempts, 20))


# A pair's count is forgotten a day after its last wrong password.
THROTTLE_MEMORY = dt.timedelta(days=1)


class PasswordCheck(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # also: unknown e-mail, inactive account
    THROTTLED = "throttled"  # this client waits before trying this address again (any account or none)
    LOCKED = "locked"  # the right password, but the account is locked after wrong codes


@dataclass(frozen=True)
class PasswordOutcome:
    result: PasswordCheck
    user: User | None
    wait_seconds: int = 0


def is_locked(user: User, now: dt.datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def _throttle_wait(session: Session, key: str, now: dt.datetime) -> int:
    blocked = session.scalar(select(SignInThrottle.blocked_until).where(SignInThrottle.key == key))
    return max(0, int((blocked - now).total_seconds()) + 1) if blocked is not None and blocked > now else 0


def _count_wrong_password(session: Session, key: str, policy: LockoutPolicy, now: dt.datetime) -> tuple[int, int]:
    """One more wrong password for this pair, in one upsert (two racing requests both count); the
    pair's count and how long it now waits."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.last_failure_at < now - THROTTLE_MEMORY))
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(SignInThrottle).values(key=key, failures=1, last_failure_at=now)
    failures = session.execute(
        statement.on_conflict_do_update(index_elements=["key"], set_={
            "failures": SignInThrottle.failures + 1, "last_failure_at": now})
        .returning(SignInThrottle.failures).execution_options(synchronize_session=False)
    ).scalar_one()
    wait = policy.wait_after(int(failures))
    if wait:
        session.execute(update(SignInThrottle).where(SignInThrottle.key == key)
                        .values(blocked_until=now + dt.timedelta(seconds=wait)))
    return int(failures), wait


def check_password(session: Session, email: str, password: str, policy: LockoutPolicy, now: dt.datetime,
                   *, throttle_key: str) -> PasswordOutcome:
    """The first step of signing in. `throttle_key` names the (typed address, client) pair, as a
    keyed hash. Every path costs one Argon2 verification and is audited; the audit entry of an
    unknown e-mail names no address, and no entry ever holds the password."""
    user = find_user(session, email)
    if user is not None and not user.active:
        user = None
    account: dict[str, audit.DetailValue] = {} if user is not None else {"account": "unknown"}

    def log(action: str, **detail: audit.DetailValue) -> None:
        audit.record(action, actor=None, organisation_id=user.organisation_id if user else None,
                     target_type="user" if user else None, target_id=user.public_id if user else None,
                     detail={**detail, **account}, session=session)

    if wait := _throttle_wait(session, throttle_key, now):
        # While the pair waits the password is not even checked: an answer of "right" or "wrong"
        # would let the guessing go on.
        _spend_a_verification(password)
        log(AuditAction.SIGN_IN_FAILED, factor="password", throttled=True)
        return PasswordOutcome(PasswordCheck.THROTTLED, user, wait)
    if user is None:
        _spend_a_verification(password)
        matches = False
    else:
        matches = _password_matches(user, password)
    if not matches:
        failures, wait = _count_wrong_password(session, throttle_key, policy, now)
        log(AuditAction.SIGN_IN_FAILED, factor="password", failures=failures)
        if wait:
            log(AuditAction.SIGN_IN_THROTTLED, failures=failures, seconds=wait)
            return PasswordOutcome(PasswordCheck.THROTTLED, user, wait)
        return PasswordOutcome(PasswordCheck.WRONG, user)
    assert user is not None
    session.execute(delete(SignInThrottle).where(SignInThrottle.key == throttle_key))
    if is_locked(user, now):
        log(AuditAction.SIGN_IN_FAILED, factor="password", locked=True)
        return PasswordOutcome(PasswordCheck.LOCKED, user)
    return PasswordOutcome(PasswordCheck.OK, user)


def note_failure(session: Session, user: User, factor: str, policy: LockoutPolicy, now: dt.datetime) -> bool:
    """Count a wrong code (the password was right), audited; at the policy's limit lock the
    account. True when this failure locked it."""
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


# What a token may do. "submit": file reports and read one's own (every token made before scopes).
# The export scopes are read-only: they download the organisation's exports (intake.exports) up to
# their tier and do nothing else; only a coordinator's token may carry one (coordinators run exports).
SCOPE_SUBMIT = "submit"
SCOPE_EXPORT_PUBLIC = "export:public"
SCOPE_EXPORT_PARTNER = "export:partner"
TOKEN_SCOPES = (SCOPE_SUBMIT, SCOPE_EXPORT_PUBLIC, SCOPE_EXPORT_PARTNER)


def export_tiers(scope: str) -> tuple[str, ...]:
    """The export tiers a token of `scope` may download (none for a submitting token)."""
    return {SCOPE_EXPORT_PUBLIC: ("public",), SCOPE_EXPORT_PARTNER: ("public", "partner")}.get(scope, ())


def create_token(session: Session, user: User, *, expires_at: dt.datetime | None = None,
                 actor: User | None = None, via: str | None = None, scope: str = SCOPE_SUBMIT) -> str:
    """A new API bearer token for `user`, refused after `expires_at` (None: never). The plain token
    exists only in the return value. With `via` (who made it), the creation is audited."""
    if scope not in TOKEN_SCOPES:
        raise AccountError(f"A token's scope is one of {', '.join(TOKEN_SCOPES)}.")
    if scope != SCOPE_SUBMIT and user.role != Role.COORDINATOR:
        raise AccountError("Only a coordinator's token may export: coordinators run exports.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, token_hash=_token_digest(token), prefix=token[:10], expires_at=expires_at,
                   scope=scope)
    session.add(row)
    session.flush()
    if via is not None:
        audit.record(AuditAction.TOKEN_CREATED, actor=actor, organisation_id=user.organisation_id,
                     target_type="api_token", target_id=row.prefix,
                     detail={"user": user.public_id, "via": via, "scope": scope,
                             "expires": expires_at.date().isoformat() if expires_at else "never"},
                     session=session)
    return token


def _token_usable(now: dt.datetime) -> Any:
    return (ApiToken.revoked_at.is_(None)) & or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now)


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a bearer token belongs to, or None for unknown, revoked or expired tokens."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    row = session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.user))
        .where(ApiToken.token_hash == _token_digest(token), _token_usable(now))
    )
    if row is None or not row.user.active:
        return None
    # Write at most once a minute: a burst of API calls should not be a burst of UPDATEs.
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        row.last_used_at = now
    return row.user


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's API tokens, newest first (revoked and expired ones too: the list is their history)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def find_token(session: Session, text: str) -> ApiToken | None:
    """The token a whole bearer token or its printed prefix (`itk_` and six more characters, as
    `intake token list` shows) names; None when nothing, or more than one token, matches."""
    text = text.strip()
    if not text.startswith(TOKEN_PREFIX):
        return None
    if len(text) > 10:
        return session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(text)))
    found = list(session.scalars(select(ApiToken).where(ApiToken.prefix == text).limit(2)))
    return found[0] if len(found) == 1 else None


def token_state(row: ApiToken, now: dt.datetime) -> str:
    """"active", "revoked" or "expired"."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def revoke_token(session: Session, row: ApiToken, *, actor: User | None, via: str) -> None:
    """Revoke an API token: refused from its next request on. Audited."""
    if row.revoked_at is not None:
        raise AccountError("This token is revoked already.")
    row.revoked_at = utcnow()
    session.flush()
    audit.record(AuditAction.TOKEN_REVOKED, actor=actor, organisation_id=row.user.organisation_id,
                 target_type="api_token", target_id=row.prefix, detail={"user": row.user.public_id, "via": via},
                 session=session)


def token_expiry(text: str | None, default_days: int, now: dt.datetime) -> dt.datetime | None:
    """When a new token expires: `text` is a number of days ("30", "30d"), an ISO date or time
    ("2027-01-31"), or "never"; without it, `default_days` from now (0: never)."""
    if text is None or not text.strip():
        return now + dt.timedelta(days=default_days) if default_days > 0 else None
    text = text.strip().lower()
    if text == "never":
        return None
    days = text[:-1] if text.endswith("d") else text
    if days.isdigit():
        if not 0 < int(days) <= 36600:
            raise AccountError("A token lives between 1 and 36600 days.")
        return now + dt.timedelta(days=int(days))
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise AccountError("--expires takes a number of days (30 or 30d), a date (2027-01-31) or never.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if when <= now:
        raise AccountError("That date is in the past.")
    return when


# ---- the account's life cycle: own password, deactivation -----------------------------------------


def change_password(session: Session, user: User, current: str, new: str, *, policy: LockoutPolicy,
                    throttle_key: str, keep: Any | None = None) -> None:
    """The user replaces their password (they type the current one), audited. Every other session
    of theirs ends: whoever knew the old password and signed in with it is out. A wrong current
    password counts towards the same (address, client) throttle as signing in: a stolen session
    is no way to guess the password."""
    now = utcnow()
    if wait := _throttle_wait(session, throttle_key, now):
        _spend_a_verification(current)
        raise AccountError(f"Too many wrong passwords: wait {wait} seconds before you try again.")
    if not _password_matches(user, current):
        failures, _wait = _count_wrong_password(session, throttle_key, policy, now)
        audit.record(AuditAction.SIGN_IN_FAILED, actor=user, target_type="user", target_id=user.public_id,
                     detail={"factor": "current_password", "failures": failures}, session=session)
        raise AccountError("The current password is not right.")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The new password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if len(new) > 1024:
        raise AccountError("The new password is too long.")
    if new == current or _password_matches(user, new):
        raise AccountError("The new password must differ from the current one.")
    forced = user.must_change_password
    user.password_hash = hash_password(new)
    user.must_change_password = False
    session.flush()
    ended = user_sessions.end_all(session, user, "password_changed", utcnow(), keep=keep)
    audit.record(AuditAction.PASSWORD_CHANGED, actor=user, target_type="user", target_id=user.public_id,
                 detail={"first_sign_in": forced, "other_sessions_ended": ended}, session=session)


def deactivate(session: Session, user: User, *, actor: User | None, via: str) -> None:
    """Stop an account at once: every session ends and every API token is revoked (activating the
    account again does not bring them back). Audited."""
    if not user.active:
        raise AccountError("The user is deactivated already.")
    now = utcnow()
    user.active = False
    session.flush()
    ended = user_sessions.end_all(session, user, "deactivated", now)
    revoked = session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
        .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    for row in user.tokens:
        session.expire(row)
    audit.record(AuditAction.USER_DEACTIVATED, actor=actor, organisation_id=user.organisation_id,
                 target_type="user", target_id=user.public_id,
                 detail={"via": via, "sessions_ended": ended, "tokens_revoked": int(revoked)}, session=session)


def activate(session: Session, user: User, *, actor: User | None, via: str) -> None:
    """Let a deactivated account sign in again (with new tokens, if it needs any). Audited."""
    if user.active:
        raise AccountError("The user is active already.")
    user.active = True
    user.failed_sign_ins = 0
    user.locked_until = None
    session.flush()
    audit.record(AuditAction.USER_ACTIVATED, actor=actor, organisation_id=user.organisation_id,
                 target_type="user", target_id=user.public_id, detail={"via": via}, session=session)


@dataclass(frozen=True)
class TokenHolder:
    """Who a bearer token speaks for: what a request needs before it loads the user, if ever."""

    user_id: int
    organisation_id: int
    role: Role
    scope: str = SCOPE_SUBMIT


_HOLDER = (
    select(ApiToken.id, ApiToken.last_used_at, ApiToken.scope, User.id.label("user_id"), User.organisation_id,
           User.role)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None), User.active.is_(True),
           or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > bindparam("now")))
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
    now = utcnow()
    row = connection.execute(_HOLDER, {"digest": digest, "now": now}).first()
    if row is None:
        return None
    if row.last_used_at is None or now - row.last_used_at > TOKEN_USE_RESOLUTION:
        connection.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return TokenHolder(row.user_id, row.organisation_id, row.role, row.scope)


# Who may file reports: everyone who works with reports (admins read none by default).
SUBMITTING_ROLES = (Role.REPORTER, Role.VERIFIER, Role.COORDINATOR)


def can_submit(user: User | TokenHolder) -> bool:
    """Whether `user` may file reports (`SUBMITTING_ROLES`); a read-only token never does."""
    if isinstance(user, TokenHolder) and user.scope != SCOPE_SUBMIT:
        return False
    return user.role in SUBMITTING_ROLES


def can_verify(user: User) -> bool:
    return user.role in (Role.VERIFIER, Role.COORDINATOR)
