"""The second factor: TOTP codes (RFC 6238, `pyotp`) and one-time recovery codes.

Verifiers, coordinators and admins must pass it on every sign-in (security.md, invariant 5). A code
is good for one time step (30 s) either side of now, and only once: the step of the last accepted
code is stored, and a code of that step or an earlier one is refused. Recovery codes are shown once
at enrolment; only a salted SHA-256 of each is kept.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import io
import re
import secrets

import pyotp
import segno
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from . import audit, user_sessions
from .enums import PRIVILEGED_ROLES, AuditAction
from .models import RecoveryCode, User, UserSession

VALID_WINDOW = 1  # steps either side of now: a phone clock a little off, a code typed slowly
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread on paper
_RECOVERY_LENGTH = 10  # ≈ 49 bits each


class CodeCheck(enum.Enum):
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"
    REUSED = "reused"
    WRONG = "wrong"

    @property
    def accepted(self) -> bool:
        return self in (CodeCheck.TOTP, CodeCheck.RECOVERY_CODE)


def required_for(user: User) -> bool:
    """Whether this user must pass a second factor: everyone who handles others' reports."""
    return user.role in PRIVILEGED_ROLES


def is_enrolled(user: User) -> bool:
    return user.totp_secret is not None and user.totp_confirmed_at is not None


def enrolment_secret(user: User, pending: UserSession) -> str:
    """The key being enrolled in this sign-in: made on first need and kept for this sign-in only (a
    reload of the enrolment page must not invalidate the code the phone already scanned, but a
    new sign-in — perhaps by someone else who knows the password — gets a key of its own). The
    account's secret is written only when a code of this key confirms it."""
    if is_enrolled(user):
        raise ValueError("this user has a confirmed second factor already")
    if pending.user_id != user.id:
        raise ValueError("that sign-in is not this user's")
    secret = pending.enrolment_secret
    if not secret:
        secret = pyotp.random_base32()  # 32 base32 characters: 160 bits, as RFC 4226 advises
        pending.enrolment_secret = secret
    return secret


def provisioning_uri(user: User, secret: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def qr_svg(uri: str) -> bytes:
    """The otpauth:// URI as an SVG QR code (no script, no inline style)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=4, xmldecl=False,
                                    title="QR code", dark="#000", light="#fff")
    return buffer.getvalue()


def grouped(secret: str) -> str:
    """The secret in groups of four, as people type it into an authenticator app."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step whose code is `code`, within the window around `now`, or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step  # no early exit: every candidate costs the same
    return found


def _digits(text: str) -> str | None:
    compact = re.sub(r"[\s-]", "", text)
    return compact if re.fullmatch(r"\d{6}", compact) else None


def _accept_step(session: Session, user: User, step: int) -> bool:
    """Mark `step` used, unless it (or a later one) was used already. One UPDATE, so two requests
    racing with the same code cannot both win."""
    result = session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    session.expire(user, ["totp_last_step"])
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _lock_user(session: Session, user: User) -> None:
    """Lock the user's row first: every sign-in transaction then takes the user's row before the
    audit chain's head, in the same order, and two of them cannot deadlock."""
    session.execute(select(User.id).where(User.id == user.id).with_for_update())


def check_code(session: Session, user: User, text: str, now: dt.datetime) -> CodeCheck:
    """Check a TOTP code or a recovery code of an enrolled user; a good one is used up."""
    if not is_enrolled(user) or user.totp_secret is None:
        return CodeCheck.WRONG
    _lock_user(session, user)
    digits = _digits(text)
    if digits is not None:
        step = matching_step(user.totp_secret, digits, now)
        if step is None:
            return CodeCheck.WRONG
        return CodeCheck.TOTP if _accept_step(session, user, step) else CodeCheck.REUSED
    return CodeCheck.RECOVERY_CODE if use_recovery_code(session, user, text, now) else CodeCheck.WRONG


def confirm_enrolment(session: Session, user: User, pending: UserSession, text: str,
                      now: dt.datetime) -> list[str] | None:
    """Confirm the key this sign-in is enrolling with a code from the phone: it becomes the
    account's secret. Returns the new recovery codes (to be shown once), or None when the code is
    not right (or another sign-in enrolled first)."""
    secret = pending.enrolment_secret
    if pending.user_id != user.id or not secret:
        return None
    _lock_user(session, user)
    session.refresh(user, ["totp_confirmed_at"])
    if is_enrolled(user):
        return None
    digits = _digits(text)
    step = matching_step(secret, digits, now) if digits else None
    if step is None:
        return None
    user.totp_secret = secret
    pending.enrolment_secret = None
    user.totp_confirmed_at = now
    user.totp_last_step = step
    codes = new_recovery_codes(session, user, now)
    audit.record(AuditAction.SECOND_FACTOR_ENROLLED, actor=user, target_type="user", target_id=user.public_id,
                 detail={"recovery_codes": len(codes)}, session=session)
    return codes


def _normalised(code: str) -> str:
    return re.sub(r"[^a-z0-9]", "", code.lower())


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{_normalised(code)}".encode()).hexdigest()


def new_recovery_codes(session: Session, user: User, now: dt.datetime) -> list[str]:
    """Replace the user's recovery codes with new ones; the plain codes exist only in the return value."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        code = f"{raw[:5]}-{raw[5:]}"
        salt = secrets.token_hex(16)
        session.add(RecoveryCode(user_id=user.id, salt=salt, code_hash=_digest(salt, code), created_at=now))
        codes.append(code)
    session.flush()
    return codes


def unused_recovery_codes(session: Session, user: User) -> int:
    return len(list(session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))))


def use_recovery_code(session: Session, user: User, text: str, now: dt.datetime) -> bool:
    """Use up one of the user's recovery codes if `text` is one; audited with the number left."""
    if len(_normalised(text)) != _RECOVERY_LENGTH:
        return False
    rows = session.execute(select(RecoveryCode.id, RecoveryCode.salt, RecoveryCode.code_hash).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).all()
    match = None
    for row in rows:
        if hmac.compare_digest(_digest(row.salt, text), row.code_hash):
            match = row.id
    if match is None:
        return False
    # Only the request that marks it used wins; a second one racing with the same code loses.
    used = session.execute(
        update(RecoveryCode).where(RecoveryCode.id == match, RecoveryCode.used_at.is_(None)).values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not used.rowcount:  # type: ignore[attr-defined]
        return False
    audit.record(AuditAction.RECOVERY_CODE_USED, actor=user, target_type="user", target_id=user.public_id,
                 detail={"remaining": len(rows) - 1}, session=session)
    return True


def reset(session: Session, user: User, *, actor: User | None, via: str) -> None:
    """Forget the user's second factor and recovery codes, and lift a sign-in lock: at the next
    sign-in they enrol again. Every session they had ends, everywhere."""
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    user.failed_sign_ins = 0
    user.locked_until = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.flush()
    ended = user_sessions.end_all(session, user, "second_factor_reset", dt.datetime.now(dt.UTC))
    audit.record(AuditAction.SECOND_FACTOR_RESET, actor=actor, organisation_id=user.organisation_id,
                 target_type="user", target_id=user.public_id, detail={"via": via, "sessions_ended": ended},
                 session=session)
