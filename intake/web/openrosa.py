"""OpenRosa for ODK Collect and KoboCollect under `<base>/openrosa/<token>` (design/openrosa.md),
and the administrators' page of their organisation's phones (`/admin/devices`).

The same routes answer under `<base>/openrosa` (blueprint `openrosa_basic`) for staff accounts
that sign in with HTTP Basic: their e-mail and an ODK password (`openrosa.devices`), never their
account's password; over HTTPS only, and failed attempts are rate-limited as sign-in is.

The token in the URL is the phone's credential (`openrosa.devices`), so these routes are exempt from
CSRF (no cookie is involved) and counted like the API: reports per device and per account. Every
answer, errors included, carries the OpenRosa headers and `Date`, and errors come in the
`OpenRosaResponse` envelope Collect shows to its user. Collect counts 200 to a submission as a
failure (captive portals answer 200), so success is 201 (202 for an instance received before).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import http_date
from werkzeug.routing import BaseConverter
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length

from .. import quotas
from ..accounts import AccountError, find_user
from ..dispatch import dispatch_odk_encrypted, dispatch_odk_form_key, dispatch_report
from ..enums import Role
from ..extensions import db, limiter
from ..forms import storable_text
from ..i18n.forms import TranslatedForm
from ..media import ClosedToFiles, OverUploadQuota, UploadRefused
from ..models import DeviceToken, User
from ..openrosa import devices, encrypted, xform
from ..openrosa.instance import InstanceRefused
from ..openrosa.receive import InstanceConflict, InstanceInFlight, Received, TooManyReports, receive_instance
from .access import ADMINS, VERIFIERS, roles_required
from .bidi import isolate_text


class _DeviceToken(BaseConverter):
    """A device token in the URL: any path segment but `forms`, which under `<base>/openrosa` is
    the start of a form's address for HTTP Basic (tokens are 43 random characters)."""

    regex = r"(?!forms(?:/|$))[^/]+"


bp = Blueprint("openrosa", __name__, url_prefix="/openrosa/<device_token:token>")


@bp.record_once
def _add_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["device_token"] = _DeviceToken


basic_bp = Blueprint("openrosa_basic", __name__, url_prefix="/openrosa")
log = logging.getLogger(__name__)

OPENROSA_NS = "http://openrosa.org/http/response"
XML = "text/xml; charset=utf-8"


def accepted_bytes() -> int:
    """The largest submission POST taken: one report's files and its XML (Collect splits above it)."""
    return int(current_app.config["MAX_CONTENT_LENGTH"])


@bp.after_request
@basic_bp.after_request
def _openrosa_headers(response: Response) -> Response:
    response.headers["X-OpenRosa-Version"] = "1.0"
    response.headers["X-OpenRosa-Accept-Content-Length"] = str(accepted_bytes())
    response.headers.setdefault("Date", http_date())
    response.headers["Cache-Control"] = "no-store"
    return response


def envelope(status: int, message: str, nature: str = "") -> Response:
    """The OpenRosaResponse Collect reads; its message is shown to the person holding the phone."""
    attribute = f' nature="{escape(nature)}"' if nature else ""
    body = (f'<OpenRosaResponse xmlns="{OPENROSA_NS}"><message{attribute}>{escape(message)}</message>'
            "</OpenRosaResponse>")
    return Response(body, status=status, content_type=XML)


@bp.url_value_preprocessor
def _device(_endpoint: str | None, values: dict[str, str] | None) -> None:
    g.openrosa_token = (values or {}).pop("token", "")


@bp.url_defaults
def _token_in_urls(_endpoint: str, values: dict[str, str]) -> None:
    if "token" not in values and "openrosa_token" in g:
        values["token"] = g.openrosa_token


@bp.before_request
def _authenticate() -> Response | None:
    token = g.openrosa_token
    device = devices.device_for_token(db.session, token)
    if device is None:
        known = devices.known_token(db.session, token)
        db.session.rollback()
        if known is not None and known.revoked_at is None:
            return envelope(403, _("This phone's account may not send reports any more: ask your administrator."))
        response = envelope(401, _("This server link is not valid or was revoked: ask your administrator for a "
                                   "new one and enter it in the app's settings."))
        response.headers["WWW-Authenticate"] = 'Bearer realm="Intake OpenRosa"'
        return response
    db.session.commit()  # its last use, at most once a minute
    g.openrosa_device = device
    g.openrosa_quota_key = devices.digest(token)
    return None


BASIC_CHALLENGE = 'Basic realm="Intake ODK", charset="UTF-8"'


def _sign_in_limit() -> str:
    return str(current_app.config["SIGN_IN_RATE_LIMIT"])


def _bad_credentials(_response: Response) -> bool:
    # Only credentials that were tried and failed count: Collect's first request of each exchange
    # carries none and is answered with the challenge.
    return bool(g.get("openrosa_bad_credentials"))


limiter.limit(_sign_in_limit, deduct_when=_bad_credentials)(basic_bp)


@basic_bp.before_request
def _authenticate_basic() -> Response | None:
    if not request.is_secure:
        return envelope(403, _("An ODK password is accepted over HTTPS only: use the server address that "
                               "starts with https://."))
    credentials = request.authorization
    device = None
    if credentials is not None and credentials.type == "basic":
        user = find_user(db.session, credentials.username or "")
        device = devices.device_for_password(db.session, user, credentials.password or "")
        g.openrosa_bad_credentials = device is None
    if device is None:
        db.session.rollback()
        response = envelope(401, _("Sign in with your e-mail address and an ODK password made on your account "
                                   "page (not your account's password)."))
        response.headers["WWW-Authenticate"] = BASIC_CHALLENGE
        return response
    db.session.commit()  # its last use, at most once a minute
    g.openrosa_device = device
    g.openrosa_quota_key = "odk-password:" + device.public_id
    return None


@basic_bp.errorhandler(429)
def _too_many_attempts(_error: Exception) -> Response:
    return envelope(429, _("Too many attempts in a short time. Wait a minute, then try again."))


def _device_now() -> DeviceToken:
    return g.openrosa_device  # type: ignore[no-any-return]


def current_xform() -> xform.XForm:
    """The XForm of this phone's organisation, for this installation's languages: encrypted for the
    organisation's public key once it switched to encrypted. Built once per process and key (a few
    seconds)."""
    languages = tuple(current_app.config["LANGUAGES"])
    key = encrypted.current_key(db.session, _device_now().organisation_id)
    public_key = key.public_key if key is not None else None
    cache: dict[tuple[tuple[str, ...], str | None], xform.XForm] = current_app.extensions.setdefault(
        "intake_xforms", {})
    if (languages, public_key) not in cache:
        cache[(languages, public_key)] = xform.build(languages, public_key)
    return cache[(languages, public_key)]


def form_list() -> Response:
    form = current_xform()
    with_form = request.args.get("formID")
    body = ['<?xml version="1.0" encoding="UTF-8"?>', '<xforms xmlns="http://openrosa.org/xforms/xformsList">']
    if with_form in (None, "", xform.FORM_ID):
        body.append(
            "<xform>"
            f"<formID>{xform.FORM_ID}</formID>"
            f"<name>{escape(_('Report of civilian harm'))}</name>"
            f"<version>{form.version}</version>"
            f"<hash>md5:{form.md5}</hash>"
            f"<downloadUrl>{escape(url_for('.form_xml', _external=True))}</downloadUrl>"
            "</xform>"
        )
    body.append("</xforms>")
    return Response("".join(body), content_type=XML)


def form_xml() -> Response:
    response = Response(current_xform().xml, content_type=XML)
    response.headers["Content-Disposition"] = f'attachment; filename="{xform.FORM_ID}.xml"'
    return response


def submission_preflight() -> Response:
    # Collect's HEAD first: 204 and the headers, nothing else (any other 2xx makes it fail).
    return Response(status=204)


def submit() -> Response:
    device = _device_now()
    if request.content_length is not None and request.content_length > accepted_bytes():
        return envelope(413, _("This submission is too large: the app should split it. Update the app, or send "
                               "fewer or smaller files."))
    try:
        part = request.files.get("xml_submission_file")
    except RequestEntityTooLarge:
        return envelope(413, _("This submission is too large: the app should split it."))
    if part is None:
        return envelope(400, _("The submission has no xml_submission_file part."))
    xml = part.stream.read()
    files = {name: storage.stream for name, storage in request.files.items() if name != "xml_submission_file"}

    def count_report() -> int | None:
        # Per device as the API counts per token, and per account: only what would be a new report.
        return quotas.report_allowed(current_app.config, g.openrosa_quota_key, device.user_id)

    try:
        if encrypted.is_encrypted(xml):
            return _submit_encrypted(device, xml, files, count_report)
        received = _receive_once_unlocked(device, xml, files, count_report)
    except TooManyReports as exc:
        db.session.rollback()
        response = envelope(429, _("Too many reports from this phone in a short time: try again in %(seconds)d "
                                   "seconds.", seconds=exc.retry_after))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except InstanceRefused as exc:
        db.session.rollback()
        return envelope(exc.status, str(exc))
    except InstanceConflict:
        db.session.rollback()
        return envelope(409, _("A different form with the same instance ID was received before: nothing was "
                               "changed. Edit the form in the app to send a corrected version."))
    except ClosedToFiles:
        db.session.rollback()
        return envelope(403, _("This report no longer takes files (a verifier has taken it up): send the files with "
                               "a new report."))
    except OverUploadQuota as exc:
        db.session.rollback()
        response = envelope(429, _("This phone's account has sent as many bytes of files as it may today."))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except UploadRefused as exc:
        db.session.rollback()
        return envelope(413 if exc.too_large else 400, str(exc))
    report = received.report
    if received.created or received.files_added:
        dispatch_report(report.id)
    if received.created:
        log.info("report %s received via odk", report.public_id)
    message = _("Received. Your receipt code is %(code)s — keep it to follow up this report.",
                code=report.receipt_code)
    return envelope(201 if received.created else 202, message, nature="submit_success")


def _submit_encrypted(device: DeviceToken, xml: bytes, files: dict[str, Any],
                      count_report: Callable[[], int | None]) -> Response:
    """An encrypted instance: its parts kept unopened and its receipt given now; a worker decrypts
    and files it once every part is in (`openrosa.decrypt`, never imported here)."""
    for attempt in range(5):
        try:
            received = encrypted.receive_encrypted(db.session, current_app.config, device, xml, files, count_report)
            db.session.commit()
            break
        except (OperationalError, encrypted.InstanceInFlightEncrypted) as exc:
            db.session.rollback()
            sqlite = db.session.get_bind().dialect.name == "sqlite"
            retry = isinstance(exc, encrypted.InstanceInFlightEncrypted) or (
                sqlite and "locked" in str(getattr(exc, "orig", "")))
            if not retry or attempt == 4:
                raise
            for stream in files.values():
                stream.seek(0)
            time.sleep(0.05 * (attempt + 1))
            device = db.session.merge(device)
    entry = received.entry
    if received.complete:
        dispatch_odk_encrypted(entry.id)
    if received.created:
        log.info("encrypted odk submission %s received", entry.public_id)
    message = _("Received. Your receipt code is %(code)s — keep it to follow up this report.",
                code=entry.receipt_code)
    return envelope(201 if received.created else 202, message, nature="submit_success")


def _receive_once_unlocked(device: DeviceToken, xml: bytes, files: dict[str, Any],
                           count_report: Callable[[], int | None]) -> Received:
    """`receive_instance`, committed. On SQLite (the embedded default) two phones' transactions that
    both read and then write can find the database locked, which no busy timeout waits out: the
    transaction is tried again from the start (its files read again), and a resend racing its first
    send then finds the report that send made (also when this transaction's snapshot saw the report
    but not yet its instance row). PostgreSQL makes the second wait at the journal's key."""
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    for attempt in range(5):
        try:
            received = receive_instance(db.session, current_app.config, device, xml, files, count_report)
            db.session.commit()
            return received
        except (OperationalError, InstanceInFlight) as exc:
            db.session.rollback()
            retry = isinstance(exc, InstanceInFlight) or (sqlite and "locked" in str(exc.orig))
            if not retry or attempt == 4:
                raise
            for stream in files.values():
                stream.seek(0)
            time.sleep(0.05 * (attempt + 1))
            device = db.session.merge(device)
    raise AssertionError("unreachable")


def nothing_here(_rest: str) -> Response:
    # Anything else under a device's URL (another form, a manifest this form does not have) is
    # answered in the envelope Collect shows, after the token (or the password) was checked.
    return envelope(404, _("There is no such form or address on this server: download the form list again."))


# The same views under both blueprints: a device token in the URL, or HTTP Basic with an ODK password.
for _blueprint in (bp, basic_bp):
    _blueprint.add_url_rule("/formList", view_func=form_list, methods=["GET"])
    _blueprint.add_url_rule(f"/forms/{xform.FORM_ID}/form.xml", view_func=form_xml, methods=["GET"])
    _blueprint.add_url_rule("/submission", view_func=submission_preflight, methods=["HEAD", "GET"])
    _blueprint.add_url_rule("/submission", view_func=submit, methods=["POST"])
    _blueprint.add_url_rule("/<path:_rest>", view_func=nothing_here,
                            methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"])


# ---- administrators: the organisation's phones ---------------------------------------------------

admin_bp = Blueprint("devices", __name__, url_prefix="/admin/devices")


class DeviceForm(TranslatedForm):
    """A new phone: which reporter account it reports as, and what it is called."""

    account = SelectField(_l("Reporter account"), [InputRequired()], choices=[])
    name = StringField(_l("Name of the device"), [InputRequired(), Length(max=100), storable_text],
                       description=_l('For example "Phone 3". Not a person\'s name.'))


def _reporters() -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.organisation_id == current_user.organisation_id, User.active,
                           User.role == Role.REPORTER).order_by(User.email)))


def _base_url() -> str:
    return str(current_app.config.get("PUBLIC_BASE_URL") or request.host_url)


def _devices_page(form: DeviceForm, created: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    rows = devices.devices_of(db.session, current_user.organisation_id)
    key = encrypted.current_key(db.session, current_user.organisation_id)
    pending = encrypted.pending_key(db.session, current_user.organisation_id) if key is None else None
    return render_template("admin/devices.html", form=form, rows=rows, created=created, form_key=key,
                           key_pending=pending is not None), status


def _device_form() -> DeviceForm:
    form = DeviceForm()
    form.account.choices = [(user.public_id, user.email) for user in _reporters()]
    return form


@admin_bp.get("")
@roles_required(*ADMINS)
def device_list() -> tuple[str, int]:
    return _devices_page(_device_form())


@admin_bp.post("")
@roles_required(*ADMINS)
def device_create() -> tuple[str, int] | Response:
    form = _device_form()
    if not form.validate_on_submit():
        return _devices_page(form, status=422)
    account = next((user for user in _reporters() if user.public_id == form.account.data), None)
    if account is None:
        abort(404)
    try:
        row, token = devices.create_device(db.session, account, form.name.data or "", actor=current_user,
                                           via="admin")
    except AccountError as exc:
        db.session.rollback()
        form.name.errors = [str(exc)]
        return _devices_page(form, status=422)
    db.session.commit()
    url = devices.server_url(_base_url(), token)
    payload = devices.collect_settings(url, current_user.organisation.name)
    # Shown on this answer only (never stored, never in a flash message or a redirect).
    created = {"name": row.name, "email": account.email, "url": url, "qr": devices.settings_qr_svg(payload)}
    page, status = _devices_page(_device_form(), created)
    response = current_app.make_response((page, status))
    response.headers["Cache-Control"] = "no-store"
    return response


@admin_bp.post("/<public_id>/revoke")
@roles_required(*ADMINS)
def device_revoke(public_id: str) -> Response:
    row = devices.find_device(db.session, public_id, organisation_id=current_user.organisation_id)
    if row is None or row.public_id != public_id:
        abort(404)
    try:
        devices.revoke_device(db.session, row, actor=current_user, via="admin")
    except AccountError:
        db.session.rollback()
        return redirect(url_for("devices.device_list"))
    db.session.commit()
    flash(_("%(name)s is revoked: it can send nothing more.", name=isolate_text(row.name)), "info")
    return redirect(url_for("devices.device_list"))


@admin_bp.post("/encryption")
@roles_required(*ADMINS)
def form_encrypt() -> Response:
    """Switch the organisation's form to encrypted: a worker makes the key pair (the private key is
    never in this process); phones get the encrypted form at their next form update. Audited."""
    try:
        row = encrypted.request_encryption(db.session, current_user.organisation_id, actor=current_user, via="admin")
    except AccountError:
        db.session.rollback()
        return redirect(url_for("devices.device_list"))
    db.session.commit()
    dispatch_odk_form_key(row.id)
    flash(_("The form is being switched to encrypted: phones receive it at their next form update."), "info")
    return redirect(url_for("devices.device_list"))


# ---- staff: their own ODK passwords (HTTP Basic under `<base>/openrosa`) ----------------------------

password_bp = Blueprint("odk_passwords", __name__, url_prefix="/account/odk-passwords")


class OdkPasswordForm(TranslatedForm):
    name = StringField(_l("Name of the device"), [InputRequired(), Length(max=100), storable_text],
                       description=_l('For example "Phone 3". Not a person\'s name.'))


def _passwords_page(form: OdkPasswordForm, created: dict[str, str] | None = None,
                    status: int = 200) -> Response:
    page = render_template("auth/odk_passwords.html", form=form, created=created,
                           rows=devices.passwords_of(db.session, current_user),
                           server=devices.server_url(_base_url(), None))
    response = current_app.make_response((page, status))
    response.headers["Cache-Control"] = "no-store"
    return response


@password_bp.get("")
@roles_required(*VERIFIERS)
def password_list() -> Response:
    return _passwords_page(OdkPasswordForm())


@password_bp.post("")
@roles_required(*VERIFIERS)
def password_create() -> Response:
    form = OdkPasswordForm()
    if not form.validate_on_submit():
        return _passwords_page(form, status=422)
    try:
        row, password = devices.create_password(db.session, current_user, form.name.data or "",
                                                actor=current_user, via="account")
    except AccountError as exc:
        db.session.rollback()
        form.name.errors = [str(exc)]
        return _passwords_page(form, status=422)
    db.session.commit()
    # Shown on this answer only (never stored, never in a flash message or a redirect).
    return _passwords_page(OdkPasswordForm(), {"name": row.name, "password": password})


@password_bp.post("/<public_id>/revoke")
@roles_required(*VERIFIERS)
def password_revoke(public_id: str) -> Response:
    row = next((row for row in devices.passwords_of(db.session, current_user) if row.public_id == public_id), None)
    if row is None:
        abort(404)
    try:
        devices.revoke_device(db.session, row, actor=current_user, via="account")
    except AccountError:
        db.session.rollback()
        return redirect(url_for("odk_passwords.password_list"))
    db.session.commit()
    flash(_("%(name)s is revoked: it can send nothing more.", name=isolate_text(row.name)), "info")
    return redirect(url_for("odk_passwords.password_list"))
