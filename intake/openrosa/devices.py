"""Phones' credentials for OpenRosa, as ODK Central's app users: a random token inside the server
URL (`<base>/openrosa/<token>`), bound to one reporter account and so to one organisation. Shared
phones hold no password; a lost phone's token is revoked and that phone can send nothing more.
Only the token's SHA-256 is stored.

Staff accounts that may file reports (verifiers, coordinators) use HTTP Basic instead
(`<base>/openrosa`, username = their e-mail): never with their own password, which would bypass the
second factor, but with an "ODK password" they made on their account page after signing in. It is
random, shown once, stored as an Argon2 hash as account passwords are, revocable, and is a device
row of its own (no token), so everything a device's submission does is the same."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import zlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..accounts import AccountError, hash_password, matches_hash
from ..enums import AuditAction, Role
from ..models import DeviceToken, User, utcnow

# A token is written into the URL: URL-safe, and long enough that guessing one is hopeless.
TOKEN_BYTES = 32
# Written at most this often: every request of a phone is no UPDATE.
USE_RESOLUTION = dt.timedelta(minutes=1)
# An ODK password: typed on a phone once, so URL-safe letters; its first characters are printed.
PASSWORD_BYTES = 24
PASSWORD_PREFIX = 8


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may_hold_device(user: User) -> bool:
    """Only reporter accounts: verifiers, coordinators and admins must pass a second factor, which a
    token in a URL would let anyone holding the phone bypass."""
    return user.role == Role.REPORTER


def may_hold_password(user: User) -> bool:
    """Staff accounts that may file reports (web/access.py SUBMITTERS): verifiers and coordinators.
    Administrators do not file reports; reporters use device tokens."""
    return user.role in (Role.VERIFIER, Role.COORDINATOR)


def create_password(session: Session, user: User, name: str, *, actor: User | None,
                    via: str) -> tuple[DeviceToken, str]:
    """A new ODK password for the staff account `user`. The plain password exists only in the
    return value; its first characters are its printed prefix, the row's key. Audited."""
    name = " ".join(name.split())[:100]
    if not name:
        raise AccountError("Give the device a name, e.g. \"Phone 3\".")
    if not user.active or not may_hold_password(user):
        raise AccountError("ODK passwords are for active verifier and coordinator accounts.")
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    row = DeviceToken(user=user, organisation_id=user.organisation_id, name=name, token_hash=None,
                      password_hash=hash_password(password), prefix=password[:PASSWORD_PREFIX])
    session.add(row)
    session.flush()
    audit.record(AuditAction.DEVICE_CREATED, actor=actor, organisation_id=user.organisation_id,
                 target_type="device", target_id=row.public_id,
                 detail={"user": user.public_id, "via": via, "kind": "odk_password"}, session=session)
    return row, password


def device_for_password(session: Session, user: User | None, password: str) -> DeviceToken | None:
    """The usable ODK password of `user` that `password` is (its prefix picks the row, Argon2
    checks it). The account's own password is never one: it matches no row. One Argon2
    verification on every path, so a wrong prefix takes as long as a wrong password."""
    row = None
    if user is not None and password and len(password) <= 100:
        row = session.scalar(select(DeviceToken).where(
            DeviceToken.user_id == user.id, DeviceToken.prefix == password[:PASSWORD_PREFIX],
            DeviceToken.password_hash.is_not(None), DeviceToken.revoked_at.is_(None)).limit(1))
    if not matches_hash(row.password_hash if row is not None else None, password) or row is None:
        return None
    if not row.user.active or not may_hold_password(row.user):
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > USE_RESOLUTION:
        row.last_used_at = now
    return row


def passwords_of(session: Session, user: User) -> list[DeviceToken]:
    """The account's ODK passwords, newest first (revoked ones too)."""
    return list(session.scalars(select(DeviceToken).where(DeviceToken.user_id == user.id,
                                                          DeviceToken.password_hash.is_not(None))
                                .order_by(DeviceToken.created_at.desc(), DeviceToken.id.desc())))


def create_device(session: Session, user: User, name: str, *, actor: User | None, via: str) -> tuple[DeviceToken, str]:
    """A new device token for `user` (who must be an active account allowed to submit). The plain
    token exists only in the return value. Audited."""
    name = " ".join(name.split())[:100]
    if not name:
        raise AccountError("Give the device a name, e.g. \"Phone 3\".")
    if not user.active or not may_hold_device(user):
        raise AccountError("A device reports as a reporter: choose an active account with the reporter role.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = DeviceToken(user=user, organisation_id=user.organisation_id, name=name, token_hash=digest(token),
                      prefix=token[:8])
    session.add(row)
    session.flush()
    audit.record(AuditAction.DEVICE_CREATED, actor=actor, organisation_id=user.organisation_id,
                 target_type="device", target_id=row.public_id,
                 detail={"user": user.public_id, "via": via}, session=session)
    return row, token


def device_for_token(session: Session, token: str) -> DeviceToken | None:
    """The usable device a token names (not revoked, its account active and still a reporter)."""
    if not token or len(token) > 100:
        return None
    row = session.scalar(select(DeviceToken).where(DeviceToken.token_hash == digest(token)))
    if row is None or row.revoked_at is not None or not row.user.active or not may_hold_device(row.user):
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > USE_RESOLUTION:
        row.last_used_at = now
    return row


def known_token(session: Session, token: str) -> DeviceToken | None:
    """The device a token names, usable or not (a revoked one is answered 403, an unknown one 401)."""
    if not token or len(token) > 100:
        return None
    return session.scalar(select(DeviceToken).where(DeviceToken.token_hash == digest(token)))


def devices_of(session: Session, organisation_id: int) -> list[DeviceToken]:
    """The organisation's devices, newest first (revoked ones too: the list is their history)."""
    return list(session.scalars(select(DeviceToken).where(DeviceToken.organisation_id == organisation_id)
                                .order_by(DeviceToken.created_at.desc(), DeviceToken.id.desc())))


def find_device(session: Session, text: str, organisation_id: int | None = None) -> DeviceToken | None:
    """A device by its public id or its token's printed prefix (`intake device list` shows both)."""
    text = text.strip()
    query = select(DeviceToken).where((DeviceToken.public_id == text) | (DeviceToken.prefix == text))
    if organisation_id is not None:
        query = query.where(DeviceToken.organisation_id == organisation_id)
    found = list(session.scalars(query.limit(2)))
    return found[0] if len(found) == 1 else None


def revoke_device(session: Session, row: DeviceToken, *, actor: User | None, via: str) -> None:
    """Revoke a device token: refused from its next request on. Audited."""
    if row.revoked_at is not None:
        raise AccountError("This device is revoked already.")
    row.revoked_at = utcnow()
    session.flush()
    detail = {"user": row.user.public_id, "via": via}
    if row.password_hash is not None:
        detail["kind"] = "odk_password"
    audit.record(AuditAction.DEVICE_REVOKED, actor=actor, organisation_id=row.organisation_id,
                 target_type="device", target_id=row.public_id, detail=detail, session=session)


def server_url(base_url: str, token: str | None) -> str:
    """What is typed into Collect as the server: `<base>/openrosa/<token>` (`<base>/openrosa` with
    an ODK password)."""
    return f"{base_url.rstrip('/')}/openrosa" + (f"/{token}" if token else "")


def collect_settings(url: str, project_name: str) -> str:
    """Collect's "scan configuration" payload: its settings JSON, zlib-compressed, then base64 (as
    ODK documents it). The form list is mirrored (`match_exactly`): a new form version replaces the
    old on the phone by itself. No username or password: the token in the URL is the credential."""
    settings = {
        "general": {"server_url": url, "form_update_mode": "match_exactly",
                    "periodic_form_updates_check": "every_one_hour", "autosend": "wifi_and_cellular",
                    "delete_send": True},
        "admin": {},
        "project": {"name": project_name[:60], "icon": "I"},
    }
    return base64.b64encode(zlib.compress(json.dumps(settings, separators=(",", ":")).encode())).decode()


def settings_qr_svg(payload: str) -> str:
    """The QR code Collect scans, as inline SVG (segno, as the second factor's QR code)."""
    import io

    import segno

    out = io.BytesIO()
    segno.make(payload, micro=False, error="m").save(out, kind="svg", scale=4, border=4, xmldecl=False,
                                                     svgns=True, title="ODK Collect settings")
    return out.getvalue().decode()


def settings_qr_text(payload: str) -> str:
    """The QR code for a terminal (`intake device create`)."""
    import io

    import segno

    out = io.StringIO()
    segno.make(payload, micro=False, error="m").terminal(out=out, compact=True)
    return out.getvalue()
