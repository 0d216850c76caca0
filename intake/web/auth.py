"""Signing in and out: e-mail and password, then — for verifiers, coordinators and admins — a
second factor, with lockout, rate limits and an idle timeout.

A privileged user who gave the right password is not signed in yet: the session only records who
is waiting for a second factor (`PENDING`). Flask-Login's user is set once the code is right, and the
user loader refuses a privileged user whose session does not carry the stamp of a passed second
factor (`PASSED`). So no route, whatever decorator it forgot, sees a privileged user who has not
passed it: to every route they are signed out.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from .. import audit
from .. import second_factor as factor
from ..accounts import LockoutPolicy, PasswordCheck, check_password, is_locked, note_failure, note_sign_in
from ..enums import AuditAction, Role
from ..extensions import db, keyed_digest, limiter, login_manager
from ..forms import EnrolmentForm, SecondFactorForm, SignInForm
from ..models import User, utcnow

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

login_manager.login_view = "auth.sign_in"
login_manager.login_message = None  # the sign-in page explains itself
login_manager.session_protection = "strong"

# Session keys. The session is a signed cookie: it holds public ids and times, never a secret.
PENDING = "_pending_2fa"  # {"user": public id, "at": epoch seconds, "next": path}
PASSED = "_2fa"  # second_factor.session_stamp(user) once the second factor is passed
SEEN = "_seen"  # epoch seconds of the last request of a privileged session


@login_manager.user_loader
def load_user(public_id: str) -> User | None:
    user = db.session.scalar(select(User).where(User.public_id == public_id, User.active.is_(True)))
    if user is not None and factor.required_for(user) and session.get(PASSED) != factor.session_stamp(user):
        # Password only, a factor reset since, or a role that now needs a factor: not signed in.
        return None
    return user


def second_factor_passed() -> bool:
    """Whether the signed-in user may use privileged pages (checked again by `roles_required`)."""
    if not current_user.is_authenticated:
        return False
    return not factor.required_for(current_user) or session.get(PASSED) == factor.session_stamp(current_user)


@bp.before_app_request
def _end_idle_sessions() -> None:
    """Privileged sessions end after IDLE_TIMEOUT_SECONDS without a request, checked here on the
    server (the cookie itself lives as long as the browser)."""
    if request.endpoint == "static" or PASSED not in session:
        return
    now = int(time.time())
    limit = int(current_app.config["IDLE_TIMEOUT_SECONDS"])
    if now - int(session.get(SEEN, 0)) <= limit:
        session[SEEN] = now
        return
    user = db.session.scalar(select(User).where(User.public_id == session.get("_user_id")))
    logout_user()
    session.clear()
    if user is not None:
        audit.record(AuditAction.IDLE_TIMEOUT, actor=user, target_type="user", target_id=user.public_id,
                     detail={"idle_minutes": limit // 60})
        db.session.commit()
    flash(_("You were signed out after %(minutes)d minutes without activity. Sign in again.",
            minutes=limit // 60), "info")
    # The request goes on signed out: a page that needs a user sends the visitor to sign in.


def home_for(user: User) -> str:
    if user.role in (Role.VERIFIER, Role.COORDINATOR):
        return url_for("verify.queue")
    if user.role == Role.REPORTER:
        return url_for("field.my_reports")
    return url_for("auth.account")


def _policy() -> LockoutPolicy:
    return LockoutPolicy(int(current_app.config["LOCKOUT_ATTEMPTS"]), int(current_app.config["LOCKOUT_SECONDS"]))


def _same_site(target: str) -> str | None:
    # Only same-site paths: an attacker's link must not bounce a signed-in user elsewhere.
    if target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return None


def _locked_message() -> str:
    minutes = int(current_app.config["LOCKOUT_SECONDS"]) // 60
    return _("Too many wrong passwords or codes: signing in to this account is paused for up to %(minutes)d "
             "minutes. Try again later, or ask an administrator.", minutes=minutes)


@bp.route("/")
def index() -> BaseResponse:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.sign_in"))


def _sign_in_limit() -> str:
    return str(current_app.config["SIGN_IN_RATE_LIMIT"])


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def sign_in() -> BaseResponse | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = SignInForm()
    if form.validate_on_submit():
        now = utcnow()
        outcome, user = check_password(db.session, form.email.data or "", form.password.data or "", _policy(), now)
        if outcome is PasswordCheck.OK and user is not None:
            target = _same_site(request.args.get("next", ""))
            session.clear()
            if factor.required_for(user):
                # Recorded now: a stolen password shows in the log even if the thief stops at the code.
                audit.record(AuditAction.PASSWORD_ACCEPTED, actor=None, organisation_id=user.organisation_id,
                             target_type="user", target_id=user.public_id)
                db.session.commit()
                session[PENDING] = {"user": user.public_id, "at": int(time.time()), "next": target}
                log.info("sign-in: password accepted for user %s, second factor next", user.public_id)
                return redirect(url_for("auth.second_factor" if factor.is_enrolled(user) else "auth.enrol"))
            note_sign_in(db.session, user, now, method="password")
            db.session.commit()
            login_user(user)
            log.info("sign-in: user %s", user.public_id)
            return redirect(target or home_for(user))
        db.session.commit()  # the failure's count and audit entries
        log.info("sign-in failed")
        if outcome is PasswordCheck.LOCKED:
            form.password.errors.append(_locked_message())
        else:
            form.password.errors.append(_("The e-mail address or the password is not right."))
        return render_template("auth/sign_in.html", form=form), 401
    return render_template("auth/sign_in.html", form=form)


def _pending_user() -> User | None:
    """The user who gave the right password and owes a second factor, if still in time."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("at", 0)) > float(current_app.config["SECOND_FACTOR_PENDING_SECONDS"]):
        session.pop(PENDING, None)
        return None
    user = db.session.scalar(select(User).where(User.public_id == str(pending.get("user")), User.active.is_(True)))
    if user is None or not factor.required_for(user):
        session.pop(PENDING, None)
        return None
    return user


def _start_over() -> BaseResponse:
    flash(_("Sign in again: the time to enter the code ran out."), "info")
    return redirect(url_for("auth.sign_in"))


def _pending_account_key() -> str:
    pending = session.get(PENDING)
    return keyed_digest("account", str(pending.get("user") if isinstance(pending, dict) else "none"))


def _second_factor_limit() -> str:
    return str(current_app.config["SECOND_FACTOR_RATE_LIMIT"])


def _finish_sign_in(user: User) -> str:
    """Sign the user in with the second factor passed; where to go next."""
    target = (session.get(PENDING) or {}).get("next")
    session.clear()
    login_user(user)
    session[PASSED] = factor.session_stamp(user)
    session[SEEN] = int(time.time())
    log.info("sign-in: user %s with a second factor", user.public_id)
    return _same_site(target or "") or home_for(user)


def _failed_code(user: User, kind: str) -> BaseResponse | None:
    """Count a wrong code; when it locks the account, the waiting sign-in ends."""
    locked = note_failure(db.session, user, kind, _policy(), utcnow())
    db.session.commit()
    if locked:
        session.pop(PENDING, None)
        flash(_locked_message(), "error")
        return redirect(url_for("auth.sign_in"))
    return None


@bp.route("/sign-in/code", methods=["GET", "POST"])
@limiter.limit(_second_factor_limit, methods=["POST"])
@limiter.limit(_second_factor_limit, methods=["POST"], key_func=_pending_account_key)
def second_factor() -> BaseResponse | str | tuple[str, int]:
    user = _pending_user()
    if user is None:
        return _start_over()
    if not factor.is_enrolled(user):
        return redirect(url_for("auth.enrol"))
    form = SecondFactorForm()
    if form.validate_on_submit():
        now = utcnow()
        if is_locked(user, now):
            session.pop(PENDING, None)
            flash(_locked_message(), "error")
            return redirect(url_for("auth.sign_in"))
        result = factor.check_code(db.session, user, form.code.data or "", now)
        if result.accepted:
            note_sign_in(db.session, user, now, method=result.value)
            db.session.commit()
            target = _finish_sign_in(user)
            if result is factor.CodeCheck.RECOVERY_CODE:
                flash(_("You used a recovery code; %(left)d are left. If your phone is lost, ask an administrator "
                        "to reset your second factor.", left=factor.unused_recovery_codes(db.session, user)), "info")
            return redirect(target)
        if result is factor.CodeCheck.REUSED:
            db.session.commit()
            form.code.errors.append(_("This code was used already. Wait for the app to show the next one."))
            return render_template("auth/second_factor.html", form=form), 401
        if (ended := _failed_code(user, "totp")) is not None:
            return ended
        form.code.errors.append(_("That code is not right. Check that the time on your phone is correct."))
        return render_template("auth/second_factor.html", form=form), 401
    return render_template("auth/second_factor.html", form=form)


@bp.route("/sign-in/enrol", methods=["GET", "POST"])
@limiter.limit(_second_factor_limit, methods=["POST"])
@limiter.limit(_second_factor_limit, methods=["POST"], key_func=_pending_account_key)
def enrol() -> BaseResponse | str | tuple[str, int]:
    """First sign-in of a privileged user: add the account to an authenticator app, confirm with a
    code, and take the recovery codes (shown on this one response only)."""
    user = _pending_user()
    if user is None:
        return _start_over()
    if factor.is_enrolled(user):
        return redirect(url_for("auth.second_factor"))
    form = EnrolmentForm()
    if form.validate_on_submit():
        now = utcnow()
        if is_locked(user, now):
            session.pop(PENDING, None)
            flash(_locked_message(), "error")
            return redirect(url_for("auth.sign_in"))
        codes = factor.confirm_enrolment(db.session, user, form.code.data or "", now)
        if codes is not None:
            note_sign_in(db.session, user, now, method="enrolment")
            db.session.commit()
            target = _finish_sign_in(user)
            return render_template("auth/recovery_codes.html", codes=codes, next_url=target)
        if (ended := _failed_code(user, "totp_enrolment")) is not None:
            return ended
        form.code.errors.append(_("That code is not right. Check that the time on your phone is correct."))
        status = 401
    else:
        status = 200
    secret = factor.enrolment_secret(user)
    db.session.commit()
    return render_template("auth/enrol.html", form=form, secret=factor.grouped(secret)), status


@bp.route("/sign-in/enrol/qr.svg")
def enrolment_qr() -> Response:
    """The QR code of the secret being enrolled, as an image of this site (the CSP allows no data:
    URLs); never cached."""
    user = _pending_user()
    if user is None or factor.is_enrolled(user) or not user.totp_secret:
        abort(404)
    uri = factor.provisioning_uri(user, user.totp_secret, str(current_app.config["TOTP_ISSUER"]))
    response = Response(factor.qr_svg(uri), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> BaseResponse:
    if current_user.is_authenticated:
        audit.record(AuditAction.SIGN_OUT, actor=current_user, target_type="user", target_id=current_user.public_id)
        db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.sign_in"))


@bp.route("/account")
@login_required
def account() -> str:
    details: dict[str, Any] = {}
    if factor.required_for(current_user):
        details["recovery_codes_left"] = factor.unused_recovery_codes(db.session, current_user)
    return render_template("auth/account.html", **details)
