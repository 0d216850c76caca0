"""Signing in and out: e-mail and password, then — for verifiers, coordinators and admins — a
second factor, with throttling, rate limits, and sessions that live on the server.

Every session is a row (`UserSession`); the signed cookie carries only its random id (`SID`), and
each request checks the row: ended (sign-out, role change, password change, deactivation, second
factor reset), idle or past its lifetime, or from another device, and the browser is signed out.
A privileged user who gave the right password has a session that owes its second factor; the user
loader refuses such a session (and a session of a privileged user never passed one), so no route,
whatever decorator it forgot, sees a privileged user on a password alone.

The device a session is bound to is a keyed hash of the client's address (as the configured proxy
hops report it, never a header the client writes) and user agent, kept only in the database: the
cookie holds nothing of the address. Reporters' sessions are bound to the user agent alone, since
phones change addresses all day.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response as BaseResponse

from .. import audit, user_sessions
from .. import second_factor as factor
from ..accounts import (
    AccountError,
    LockoutPolicy,
    PasswordCheck,
    change_password,
    check_password,
    is_locked,
    normalise_email,
    note_failure,
    note_sign_in,
)
from ..enums import AuditAction, Role
from ..extensions import db, keyed_digest, limiter, login_manager
from ..forms import ChangePasswordForm, EnrolmentForm, SecondFactorForm, SignInForm
from ..i18n.selection import remember_for_device
from ..models import User, UserSession, utcnow
from .redirects import same_site_path

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

login_manager.login_view = "auth.sign_in"
login_manager.login_message = None  # the sign-in page explains itself
# Flask-Login's own protection hashes X-Forwarded-For (a header the client writes) into the cookie;
# the session row's device binding replaces it.
login_manager.session_protection = None

# Session keys. The session is a signed cookie: it holds a random id and a path, never a secret
# or anything of the client's address.
SID = "_sid"  # the random id of this browser's UserSession (only its SHA-256 is stored)
NEXT = "_next"  # where to go once the second factor is passed
_NO_RECORD = object()


def _device_digest(user: User) -> str:
    agent = request.user_agent.string[:512]
    address = "" if user.role == Role.REPORTER else (request.remote_addr or "unknown")
    return keyed_digest("device", f"{address}|{agent}")


def _lifetimes(user: User) -> user_sessions.Lifetimes:
    config = current_app.config
    if factor.required_for(user):
        return user_sessions.Lifetimes(int(config["IDLE_TIMEOUT_SECONDS"]), int(config["SESSION_MAX_SECONDS"]))
    return user_sessions.Lifetimes(int(config["REPORTER_IDLE_TIMEOUT_SECONDS"]),
                                   int(config["REPORTER_SESSION_MAX_SECONDS"]))


def _forget_browser() -> None:
    logout_user()
    session.clear()
    g.session_record = None


def _session_record() -> UserSession | None:
    """This browser's open session row, checked once per request: it exists, has not ended, belongs
    to an active user and to this device. Otherwise the browser is signed out."""
    cached = g.get("session_record", _NO_RECORD)
    if cached is not _NO_RECORD:
        return cached  # type: ignore[return-value]
    g.session_record = None
    token = session.get(SID)
    if not isinstance(token, str):
        if "_user_id" in session:
            _forget_browser()  # a cookie from before server-side sessions, or one made by hand
        return None
    record = user_sessions.find(db.session, token)
    if record is not None and record.device_digest != _device_digest(record.user):
        # The cookie turned up on another device (or the device changed its address): a copied
        # cookie is a leaked one, so the session ends for everyone holding it.
        user_sessions.end(db.session, record, "device_changed", utcnow())
        db.session.commit()
        record = None
    if record is None or not record.user.active:
        _forget_browser()
        return None
    g.session_record = record
    return record


@login_manager.user_loader
def load_user(public_id: str) -> User | None:
    record = _session_record()
    if record is None or record.user.public_id != public_id:
        return None
    if factor.required_for(record.user) and record.second_factor_at is None:
        # Password only, or a role that now needs a factor: not signed in.
        return None
    return record.user


def second_factor_passed() -> bool:
    """Whether the signed-in user may use privileged pages (checked again by `roles_required`)."""
    if not current_user.is_authenticated:
        return False
    if not factor.required_for(current_user):
        return True
    record = _session_record()
    return record is not None and record.user_id == current_user.id and record.second_factor_at is not None


# Pages a user who must choose a new password may still open.
_OPEN_TO_FORCED_CHANGE = {"auth.change_password", "auth.sign_out", "static"}


@bp.before_app_request
def _check_session() -> BaseResponse | None:
    """Every request: end a session that was idle too long or outlived its lifetime (checked here,
    on the server; the cookie itself lives as long as the browser), note its use, and keep a user
    who must choose a new password on that page."""
    if request.endpoint == "static" or SID not in session:
        return None
    record = _session_record()
    if record is None or record.second_factor_at is None and factor.required_for(record.user):
        return None  # signed out, or a sign-in still owing its second factor (see _pending)
    now = utcnow()
    user = record.user
    lifetimes = _lifetimes(user)
    reason = user_sessions.expiry(record, now, lifetimes)
    if reason is not None:
        user_sessions.end(db.session, record, reason, now)
        if reason == "idle":
            audit.record(AuditAction.IDLE_TIMEOUT, actor=user, target_type="user", target_id=user.public_id,
                         detail={"idle_minutes": lifetimes.idle // 60})
        else:
            audit.record(AuditAction.SESSION_EXPIRED, actor=user, target_type="user", target_id=user.public_id,
                         detail={"hours": lifetimes.absolute // 3600})
        db.session.commit()
        _forget_browser()
        if reason == "idle":
            flash(ngettext("You were signed out after %(num)d minute without activity. Sign in again.",
                           "You were signed out after %(num)d minutes without activity. Sign in again.",
                           lifetimes.idle // 60), "info")
        else:
            flash(ngettext("You were signed out: a session lasts at most %(num)d hour. Sign in again.",
                           "You were signed out: a session lasts at most %(num)d hours. Sign in again.",
                           lifetimes.absolute // 3600), "info")
        # The request goes on signed out: a page that needs a user sends the visitor to sign in.
        return None
    if now - record.last_seen_at >= dt.timedelta(seconds=int(current_app.config["SESSION_TOUCH_SECONDS"])):
        record.last_seen_at = now
        db.session.commit()
    if user.must_change_password and request.endpoint not in _OPEN_TO_FORCED_CHANGE:
        # The page asked for is where the user goes once the password is changed (a link followed
        # from an e-mail, a sign-in with ?next=): a page, never a form's POST, which would be lost.
        wanted = same_site_path(request.full_path.rstrip("?")) if request.method == "GET" else None
        return redirect(url_for("auth.change_password", next=wanted) if wanted and wanted != "/"
                        else url_for("auth.change_password"))
    return None


def _open_session(user: User, now: dt.datetime) -> UserSession:
    """A new session row for `user` on this device; the cookie carries its id from now on (whatever
    session this browser had before is forgotten: no id chosen before sign-in survives it)."""
    token, record = user_sessions.start(db.session, user, _device_digest(user), now)
    session.clear()
    session[SID] = token
    g.session_record = record
    return record


def _sign_in_browser(user: User) -> None:
    login_user(user)
    session.pop("_id", None)  # Flask-Login's hash of the client's address and agent: not in our cookie
    remember_for_device(user.language)  # the language chosen on another device follows the account


def home_for(user: User) -> str:
    if user.role in (Role.VERIFIER, Role.COORDINATOR):
        return url_for("verify.queue")
    if user.role == Role.REPORTER:
        return url_for("field.my_reports")
    return url_for("auth.account")


def _policy() -> LockoutPolicy:
    return LockoutPolicy(int(current_app.config["LOCKOUT_ATTEMPTS"]), int(current_app.config["LOCKOUT_SECONDS"]))


def _locked_message() -> str:
    minutes = int(current_app.config["LOCKOUT_SECONDS"]) // 60
    return _("Too many wrong codes: signing in to this account is paused for up to %(minutes)d "
             "minutes. Try again later, or ask an administrator.", minutes=minutes)


def _throttled_message(seconds: int) -> str:
    if seconds > 90:
        return ngettext("Too many wrong passwords from here for this address. Wait %(num)d minute before you "
                        "try again.", "Too many wrong passwords from here for this address. Wait %(num)d minutes "
                        "before you try again.", (seconds + 59) // 60)
    return ngettext("Too many wrong passwords from here for this address. Wait %(num)d second before you "
                    "try again.", "Too many wrong passwords from here for this address. Wait %(num)d seconds before "
                    "you try again.", seconds)


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
        email = normalise_email(form.email.data or "")
        # Throttled per (typed address, client) pair, whether or not the address has an account.
        pair = keyed_digest("sign-in", f"{email}|{request.remote_addr or 'unknown'}")
        outcome = check_password(db.session, email, form.password.data or "", _policy(), now, throttle_key=pair)
        user = outcome.user
        if outcome.result is PasswordCheck.OK and user is not None:
            target = same_site_path(request.args.get("next"))
            _end_waiting_sign_in(now)
            _open_session(user, now)
            if factor.required_for(user):
                # Recorded now: a stolen password shows in the log even if the thief stops at the code.
                audit.record(AuditAction.PASSWORD_ACCEPTED, actor=None, organisation_id=user.organisation_id,
                             target_type="user", target_id=user.public_id)
                db.session.commit()
                if target:
                    session[NEXT] = target
                log.info("sign-in: password accepted for user %s, second factor next", user.public_id)
                return redirect(url_for("auth.second_factor" if factor.is_enrolled(user) else "auth.enrol"))
            note_sign_in(db.session, user, now, method="password")
            db.session.commit()
            _sign_in_browser(user)
            log.info("sign-in: user %s", user.public_id)
            return redirect(target or home_for(user))
        db.session.commit()  # the failure's count and audit entries
        log.info("sign-in failed")
        if outcome.result is PasswordCheck.THROTTLED:
            form.password.errors.append(_throttled_message(outcome.wait_seconds))
        elif outcome.result is PasswordCheck.LOCKED:
            form.password.errors.append(_locked_message())
        else:
            form.password.errors.append(_("The e-mail address or the password is not right."))
        return render_template("auth/sign_in.html", form=form), 401
    return render_template("auth/sign_in.html", form=form)


def _end_waiting_sign_in(now: dt.datetime, reason: str = "replaced") -> None:
    """End the sign-in this browser was in the middle of (a new one starts, or it was given up)."""
    record = _session_record()
    if record is not None:
        user_sessions.end(db.session, record, reason, now)


def _pending() -> tuple[UserSession, User] | None:
    """The sign-in of this browser that gave the right password and owes a second factor, if
    still in time."""
    record = _session_record()
    if record is None or record.second_factor_at is not None or not factor.required_for(record.user):
        return None
    now = utcnow()
    if now - record.created_at > dt.timedelta(seconds=int(current_app.config["SECOND_FACTOR_PENDING_SECONDS"])):
        user_sessions.end(db.session, record, "code_not_entered", now)
        db.session.commit()
        _forget_browser()
        return None
    return record, record.user


def _start_over() -> BaseResponse:
    flash(_("Sign in again: the time to enter the code ran out."), "info")
    return redirect(url_for("auth.sign_in"))


def _pending_account_key() -> str:
    record = _session_record()
    return keyed_digest("account", record.user.public_id if record is not None else "none")


def _second_factor_limit() -> str:
    return str(current_app.config["SECOND_FACTOR_RATE_LIMIT"])


def _finish_sign_in(record: UserSession, user: User, now: dt.datetime) -> str:
    """Sign the user in with the second factor passed; where to go next. The session gets a new
    id: the one that only knew the password opens nothing more."""
    target = session.get(NEXT)
    record.second_factor_at = now
    record.last_seen_at = now
    token = user_sessions.renew_id(db.session, record)
    db.session.commit()
    session.clear()
    session[SID] = token
    g.session_record = record
    _sign_in_browser(user)
    log.info("sign-in: user %s with a second factor", user.public_id)
    return same_site_path(target if isinstance(target, str) else None) or home_for(user)


def _ended_by_lock(record: UserSession, now: dt.datetime) -> BaseResponse:
    user_sessions.end(db.session, record, "locked", now)
    db.session.commit()
    _forget_browser()
    flash(_locked_message(), "error")
    return redirect(url_for("auth.sign_in"))


def _failed_code(record: UserSession, user: User, kind: str) -> BaseResponse | None:
    """Count a wrong code; when it locks the account, the waiting sign-in ends."""
    now = utcnow()
    locked = note_failure(db.session, user, kind, _policy(), now)
    db.session.commit()
    if locked:
        return _ended_by_lock(record, now)
    return None


@bp.route("/sign-in/code", methods=["GET", "POST"])
@limiter.limit(_second_factor_limit, methods=["POST"])
@limiter.limit(_second_factor_limit, methods=["POST"], key_func=_pending_account_key)
def second_factor() -> BaseResponse | str | tuple[str, int]:
    pending = _pending()
    if pending is None:
        return _start_over()
    record, user = pending
    if not factor.is_enrolled(user):
        return redirect(url_for("auth.enrol"))
    form = SecondFactorForm()
    if form.validate_on_submit():
        now = utcnow()
        if is_locked(user, now):
            return _ended_by_lock(record, now)
        result = factor.check_code(db.session, user, form.code.data or "", now)
        if result.accepted:
            note_sign_in(db.session, user, now, method=result.value)
            target = _finish_sign_in(record, user, now)
            if result is factor.CodeCheck.RECOVERY_CODE:
                left = factor.unused_recovery_codes(db.session, user)
                flash(ngettext("You used a recovery code; %(num)d is left. If your phone is lost, ask an "
                               "administrator to reset your second factor.",
                               "You used a recovery code; %(num)d are left. If your phone is lost, ask an "
                               "administrator to reset your second factor.", left), "info")
            return redirect(target)
        if result is factor.CodeCheck.REUSED:
            db.session.commit()
            form.code.errors.append(_("This code was used already. Wait for the app to show the next one."))
            return render_template("auth/second_factor.html", form=form), 401
        if (ended := _failed_code(record, user, "totp")) is not None:
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
    pending = _pending()
    if pending is None:
        return _start_over()
    record, user = pending
    if factor.is_enrolled(user):
        return redirect(url_for("auth.second_factor"))
    form = EnrolmentForm()
    if form.validate_on_submit():
        now = utcnow()
        if is_locked(user, now):
            return _ended_by_lock(record, now)
        codes = factor.confirm_enrolment(db.session, user, record, form.code.data or "", now)
        if codes is not None:
            note_sign_in(db.session, user, now, method="enrolment")
            target = _finish_sign_in(record, user, now)
            return render_template("auth/recovery_codes.html", codes=codes, next_url=target)
        if factor.is_enrolled(user):
            db.session.commit()
            return redirect(url_for("auth.second_factor"))  # another sign-in enrolled first
        if (ended := _failed_code(record, user, "totp_enrolment")) is not None:
            return ended
        form.code.errors.append(_("That code is not right. Check that the time on your phone is correct."))
        status = 401
    else:
        status = 200
    secret = factor.enrolment_secret(user, record)
    db.session.commit()
    return render_template("auth/enrol.html", form=form, secret=factor.grouped(secret)), status


@bp.route("/sign-in/enrol/qr.svg")
def enrolment_qr() -> Response:
    """The QR code of the secret being enrolled, as an image of this site (the CSP allows no data:
    URLs); never cached."""
    pending = _pending()
    if pending is None or factor.is_enrolled(pending[1]) or not pending[0].enrolment_secret:
        abort(404)
    record, user = pending
    secret = record.enrolment_secret
    assert secret is not None
    uri = factor.provisioning_uri(user, secret, str(current_app.config["TOTP_ISSUER"]))
    response = Response(factor.qr_svg(uri), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> BaseResponse:
    """End this browser's session on the server: a copy of the cookie opens nothing afterwards."""
    now = utcnow()
    if current_user.is_authenticated:
        audit.record(AuditAction.SIGN_OUT, actor=current_user, target_type="user", target_id=current_user.public_id)
    _end_waiting_sign_in(now, "signed_out")
    db.session.commit()
    _forget_browser()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.sign_in"))


@bp.route("/account")
@login_required
def account() -> str:
    details: dict[str, Any] = {}
    if factor.required_for(current_user):
        details["recovery_codes_left"] = factor.unused_recovery_codes(db.session, current_user)
    return render_template("auth/account.html", **details)


@bp.route("/account/password", methods=["GET", "POST"], endpoint="change_password")
@limiter.limit(_sign_in_limit, methods=["POST"])
@login_required
def change_own_password() -> BaseResponse | str | tuple[str, int]:
    """The user chooses a new password (at the first sign-in, they must). Every other session of
    theirs ends; this one continues under a new id."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        record = _session_record()
        pair = keyed_digest("sign-in", f"{current_user.email}|{request.remote_addr or 'unknown'}")
        try:
            change_password(db.session, current_user, form.current_password.data or "",
                            form.new_password.data or "", policy=_policy(), throttle_key=pair, keep=record)
        except AccountError as exc:
            # The wrong password's count and audit entry are kept; nothing else was changed.
            db.session.commit()
            field = form.new_password if str(exc).startswith("The new password") else form.current_password
            field.errors.append(str(exc))
            return render_template("auth/change_password.html", form=form), 400
        token = user_sessions.renew_id(db.session, record) if record is not None else None
        db.session.commit()
        if token is not None:
            session[SID] = token
        log.info("user %s changed their password", current_user.public_id)
        flash(_("Your password is changed. Other browsers signed in to your account were signed out."), "info")
        return redirect(same_site_path(request.args.get("next")) or home_for(current_user))
    return render_template("auth/change_password.html", form=form,
                           forced=current_user.must_change_password)

