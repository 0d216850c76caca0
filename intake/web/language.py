"""The language selector on every page: a plain form, so it works without JavaScript."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..extensions import db
from ..i18n.selection import remember_for_device, valid
from .redirects import same_site_path

bp = Blueprint("language", __name__)


@bp.route("/language", methods=["POST"])
def choose() -> Response:
    """Keep the chosen language on this device (and on the account when signed in), then go back
    to the page it was chosen on. A language that is not served changes nothing."""
    code = valid(request.form.get("lang"))
    if code:
        remember_for_device(code)
        if current_user.is_authenticated and current_user.language != code:
            current_user.language = code
            db.session.commit()
    back = same_site_path(request.form.get("next")) or url_for("auth.index")
    return redirect(back, code=303)
