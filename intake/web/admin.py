"""Administrators' pages: the audit log of their organisation and its users: second factors,
locks, deactivation and API tokens.

Admin only (anyone else gets 404), and only their own organisation: a user of another one is a
404 like any page that does not exist.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import audit
from .. import second_factor as factor
from ..accounts import (
    AccountError,
    activate,
    deactivate,
    is_locked,
    normalise_email,
    revoke_token,
    token_state,
    tokens_of,
    unlock,
)
from ..enums import AuditAction
from ..extensions import db
from ..models import ApiToken, User, utcnow
from .access import ADMINS, roles_required
from .bidi import isolate_text
from .params import date_arg, day_end, day_start, int_arg

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)


def _organisation_users() -> dict[str, User]:
    users = db.session.scalars(select(User).where(User.organisation_id == current_user.organisation_id))
    return {user.public_id: user for user in users}


@bp.route("/audit")
@roles_required(*ADMINS)
def audit_log() -> str:
    """The log with filters (kind, person, dates), older pages by cursor, and the integrity of the
    chains it shows — the organisation's own, the one of no organisation and the history before
    per-organisation chains — recomputed on each view (thousands of entries a second)."""
    action = request.args.get("action", "").strip() or None
    person_text = request.args.get("person", "").strip()
    since, until = date_arg("since"), date_arg("until")
    before = int_arg("before", minimum=1)
    people = _organisation_users()
    person_id: str | None = None
    if person_text:
        # An e-mail of this organisation, or a public id as the log shows it.
        by_email = {user.email: public_id for public_id, user in people.items()}
        person_id = by_email.get(normalise_email(person_text), person_text)
    page = audit.page(
        db.session, current_user.organisation_id, action=action, person_id=person_id,
        since=day_start(since) if since else None, until=day_end(until) if until else None,
        before=before, page_size=int(current_app.config["AUDIT_PAGE_SIZE"]),
    )
    check = audit.verify_chain(db.session, organisation_id=current_user.organisation_id)
    db.session.rollback()
    labels = {a.value: a.label for a in AuditAction}
    return render_template("admin/audit.html", page=page, check=check, people=people, labels=labels,
                           action=action, person=person_text, since=since, until=until)


@bp.route("/users")
@roles_required(*ADMINS)
def users() -> str:
    people = sorted(_organisation_users().values(), key=lambda user: user.email)
    now = utcnow()
    tokens = {user.id: [row for row in tokens_of(db.session, user) if token_state(row, now) == "active"]
              for user in people}
    return render_template("admin/users.html", people=people, enrolled=factor.is_enrolled,
                           needs_factor=factor.required_for, locked=lambda user: is_locked(user, now),
                           tokens=tokens)


def _organisation_user(public_id: str) -> User:
    user = db.session.scalar(select(User).where(User.public_id == public_id,
                                                User.organisation_id == current_user.organisation_id))
    if user is None:
        abort(404)
    return user


@bp.post("/users/<public_id>/reset-second-factor")
@roles_required(*ADMINS)
def reset_second_factor(public_id: str) -> Response:
    user = _organisation_user(public_id)
    if user.id == current_user.id:
        # An admin session (perhaps a stolen one) must not swap its own factor; another admin or
        # the command line does it.
        flash(_("You cannot reset your own second factor here. Ask another administrator, or use "
                "`intake user reset-2fa` on the server."), "error")
        return redirect(url_for("admin.users"))
    factor.reset(db.session, user, actor=current_user, via="admin")
    db.session.commit()
    log.info("second factor of user %s reset by an admin", user.public_id)
    flash(_("The second factor of %(email)s was reset: they set up a new one at their next sign-in.",
            email=isolate_text(user.email, "ltr")), "info")
    return redirect(url_for("admin.users"))


@bp.post("/users/<public_id>/unlock")
@roles_required(*ADMINS)
def unlock_user(public_id: str) -> Response:
    user = _organisation_user(public_id)
    unlock(db.session, user, actor=current_user, via="admin")
    db.session.commit()
    flash(_("%(email)s can sign in again.", email=isolate_text(user.email, "ltr")), "info")
    return redirect(url_for("admin.users"))


@bp.post("/users/<public_id>/deactivate")
@roles_required(*ADMINS)
def deactivate_user(public_id: str) -> Response:
    """Stop an account at once: its sessions end and its API tokens are revoked."""
    user = _organisation_user(public_id)
    if user.id == current_user.id:
        flash(_("You cannot deactivate your own account. Ask another administrator, or use "
                "`intake user deactivate` on the server."), "error")
        return redirect(url_for("admin.users"))
    try:
        deactivate(db.session, user, actor=current_user, via="admin")
    except AccountError:
        db.session.rollback()
        return redirect(url_for("admin.users"))
    db.session.commit()
    log.info("user %s deactivated by an admin", user.public_id)
    flash(_("%(email)s is deactivated: signed out everywhere, API tokens revoked.",
            email=isolate_text(user.email, "ltr")), "info")
    return redirect(url_for("admin.users"))


@bp.post("/users/<public_id>/activate")
@roles_required(*ADMINS)
def activate_user(public_id: str) -> Response:
    user = _organisation_user(public_id)
    try:
        activate(db.session, user, actor=current_user, via="admin")
    except AccountError:
        db.session.rollback()
        return redirect(url_for("admin.users"))
    db.session.commit()
    flash(_("%(email)s can sign in again (with new API tokens, if they need any).",
            email=isolate_text(user.email, "ltr")), "info")
    return redirect(url_for("admin.users"))


@bp.post("/users/<public_id>/tokens/<int:token_id>/revoke")
@roles_required(*ADMINS)
def revoke_user_token(public_id: str, token_id: int) -> Response:
    user = _organisation_user(public_id)
    row = db.session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if row is None:
        abort(404)
    try:
        revoke_token(db.session, row, actor=current_user, via="admin")
    except AccountError:
        db.session.rollback()
        return redirect(url_for("admin.users"))
    db.session.commit()
    flash(_("The API token %(prefix)s… of %(email)s is revoked.", prefix=isolate_text(row.prefix, "ltr"),
            email=isolate_text(user.email, "ltr")), "info")
    return redirect(url_for("admin.users"))
