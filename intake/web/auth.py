"""Signing in and out with e-mail and password."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..accounts import authenticate
from ..enums import Role
from ..extensions import db, login_manager
from ..forms import SignInForm
from ..models import User

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

login_manager.login_view = "auth.sign_in"
login_manager.login_message = None  # the sign-in page explains itself
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(public_id: str) -> User | None:
    return db.session.scalar(select(User).where(User.public_id == public_id, User.active.is_(True)))


def home_for(user: User) -> str:
    if user.role in (Role.VERIFIER, Role.COORDINATOR):
        return url_for("verify.queue")
    if user.role == Role.REPORTER:
        return url_for("field.my_reports")
    return url_for("auth.account")


@bp.route("/")
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.sign_in"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = SignInForm()
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data or "", form.password.data or "")
        if user is not None:
            db.session.commit()
            login_user(user)
            log.info("sign-in: user %s", user.public_id)
            target = request.args.get("next", "")
            # Only same-site paths: an attacker's link must not bounce a signed-in user elsewhere.
            if target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
                return redirect(target)
            return redirect(home_for(user))
        log.info("sign-in failed")
        form.password.errors.append(_("The e-mail address or the password is not right."))
        return render_template("auth/sign_in.html", form=form), 401
    return render_template("auth/sign_in.html", form=form)


@bp.route("/sign-out", methods=["POST"])
@login_required
def sign_out() -> Response:
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.sign_in"))


@bp.route("/account")
@login_required
def account() -> str:
    return render_template("auth/account.html")
