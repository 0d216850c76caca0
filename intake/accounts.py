"""Organisations, users, passwords (Argon2id) and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from .enums import Role
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


def create_user(session: Session, email: str, organisation: Organisation, role: Role, password: str) -> User:
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
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None. Takes as long for unknown e-mails."""
    global _DUMMY_HASH
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None or not user.active:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_sign_in_at = utcnow()
    return user


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


def can_submit(user: User) -> bool:
    """Who may file reports: everyone who works with reports (admins read none by default)."""
    return user.role in (Role.REPORTER, Role.VERIFIER, Role.COORDINATOR)


def can_verify(user: User) -> bool:
    return user.role in (Role.VERIFIER, Role.COORDINATOR)
