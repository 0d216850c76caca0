"""Nobody sees another organisation's data, nor more than their role allows (security.md, invariant 3).

Every route of the app is enumerated from `app.url_map` and called, with the real ids of an existing
report, file and user, by each role of another organisation and by each lower role of the same one:
the answer is 404, as for a page that does not exist (a 403 would say that the thing is there). A
route that is added without being listed here fails `test_every_route_is_classified`, so nobody can
add one and forget to decide who may use it.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from intake.accounts import create_token
from intake.enums import ReportState, Role
from intake.evidence import PackSpec, Selector
from intake.evidence.jobs import request_pack
from intake.extensions import db
from intake.incidents import create_incident
from intake.media import store_upload
from intake.models import Attachment, Report, User
from intake.review import ask_reporter, claim_report
from intake.transfers import TransferIn, create_transfer
from tests.conftest import csrf_token, jpeg_bytes, make_org, make_token, make_user
from tests.test_verify import signed_in, triaged_report

# Routes anyone may call, signed in or not; each for a reason.
PUBLIC = {
    "static": "stylesheet and script, the same for everyone",
    "auth.sign_in": "the sign-in form",
    "auth.second_factor": "the code step of signing in (works only on the session's own pending sign-in)",
    "auth.enrol": "setting up one's own second factor while signing in",
    "auth.enrolment_qr": "the QR code of one's own pending enrolment",
    "health.healthz": "liveness for the load balancer, no data",
    "api.openapi": "the API's description, no data",
    "uploads.options": "what the tus server supports, no data",
    "uploads.options_one": "what the tus server supports, no data",
    "device.service_worker": "the service worker's script (static URLs only, the same for everyone)",
    "language.choose": "the interface language of this device (and of the signed-in person's own account)",
}
# Routes about the signed-in person only: they take no id, so there is nobody else's data to reach.
PERSONAL = {
    "auth.index": "redirects to the person's own home page",
    "auth.account": "the person's own account page",
    "auth.sign_out": "ends the person's own session",
    "auth.change_password": "changes the person's own password",
    "api.create_report": "files a new report as the token's owner",
    "device.key": "the signed-in person's own device keys (tests/test_device.py)",
}
# The JSON API authenticates with bearer tokens, tried separately below.
API = {"api.get_report", "api.add_attachment",
       # Exports: a coordinator's read-only export token, its own organisation only (tests/test_exports.py).
       "api.export_download", "api.export_notes",
       # Transfer records: the same read-only export token, its own organisation only (tests/test_transfers.py).
       "api.transfer_list",
       # Resumable uploads: a token or the session, the caller's own uploads only (tests/test_uploads.py).
       "uploads.create", "uploads.head", "uploads.patch", "uploads.terminate",
       # OpenRosa: a device token in the URL, one reporter's (tests/test_openrosa.py).
       "openrosa.form_list", "openrosa.form_xml", "openrosa.submission_preflight", "openrosa.submit",
       "openrosa.nothing_here",
       # OpenRosa with HTTP Basic: a verifier's or coordinator's ODK password, their own organisation's
       # form and reports only (tests/test_odk_basic.py).
       "openrosa_basic.form_list", "openrosa_basic.form_xml", "openrosa_basic.submission_preflight",
       "openrosa_basic.submit", "openrosa_basic.nothing_here"}

REPORTER, VERIFIER, COORDINATOR, ADMIN = Role.REPORTER, Role.VERIFIER, Role.COORDINATOR, Role.ADMIN
SUBMITTERS = {REPORTER, VERIFIER, COORDINATOR}
VERIFIERS = {VERIFIER, COORDINATOR}
OWNER = "owner"  # only the reporter who filed the report

# Who may use each route within their own organisation.
ACCESS: dict[str, set[Role] | str] = {
    "admin.audit_log": {ADMIN},
    "admin.users": {ADMIN},
    "admin.reset_second_factor": {ADMIN},
    "admin.unlock_user": {ADMIN},
    "admin.deactivate_user": {ADMIN},
    "admin.activate_user": {ADMIN},
    "admin.revoke_user_token": {ADMIN},
    # One's own ODK passwords: only staff who may file reports (revoking another's is 404).
    "odk_passwords.password_list": VERIFIERS,
    "odk_passwords.password_create": VERIFIERS,
    "odk_passwords.password_revoke": VERIFIERS,
    "devices.device_list": {ADMIN},
    "devices.device_create": {ADMIN},
    "devices.device_revoke": {ADMIN},
    "devices.form_encrypt": {ADMIN},
    "field.new_report": SUBMITTERS,
    "field.my_reports": SUBMITTERS,
    "field.question_notices": SUBMITTERS,
    "field.receipt": OWNER,
    "field.answer": OWNER,
    "verify.queue": VERIFIERS,
    "verify.report": VERIFIERS,
    "verify.reveal": VERIFIERS,
    "verify.original_file": VERIFIERS,
    "verify.derivative_file": VERIFIERS,
    "verify.correct_redactions": VERIFIERS,
    "verify.held": {COORDINATOR},
    "incidents.incidents": VERIFIERS,
    "incidents.incident": VERIFIERS,
    "incidents.link": VERIFIERS,
    "incidents.unlink": VERIFIERS,
    "incidents.merge": VERIFIERS,
    "incidents.figures": VERIFIERS,
    "verify.retry": {COORDINATOR},
    "verify.retry_filing": {COORDINATOR},
    "verify.export_csv": {COORDINATOR},
    "dashboard.index": VERIFIERS,
    "dashboard.incidents_geojson": VERIFIERS,
    "dashboard.country": VERIFIERS,
    "exports.index": {COORDINATOR},
    "exports.download": {COORDINATOR},
    "exports.notes": {COORDINATOR},
    "review.claim": VERIFIERS,
    "review.release": VERIFIERS,
    "review.assessment": VERIFIERS,
    "review.sign_off_grade": VERIFIERS,
    "review.reject": VERIFIERS,
    "review.duplicate": VERIFIERS,
    "review.comment": VERIFIERS,
    "review.question": VERIFIERS,
    "review.assess_item": VERIFIERS,
    "review.reassign": {COORDINATOR},
    "review.reopen": {COORDINATOR},
    "review.downgrade": {COORDINATOR},
    "packs.new": {COORDINATOR},
    "packs.create": {COORDINATOR},
    "packs.job": {COORDINATOR},
    "packs.queue_again": {COORDINATOR},
    "packs.download": {COORDINATOR},
    # Verifiers read transfer records; the pages that write them answer a verifier 403, as they may see
    # the records anyway (tests/test_transfers.py); everyone else gets 404 here.
    "transfers.transfers": VERIFIERS,
    "transfers.new_transfer": VERIFIERS,
    "transfers.edit_transfer": VERIFIERS,
    "transfers.remove_transfer": VERIFIERS,
    "transfers.used_by": VERIFIERS,
}


@dataclass
class World:
    report: Report
    attachment: Attachment
    filer: User
    incident_id: str  # an incident the report is in
    pack_id: str  # an evidence pack job of the organisation
    transfer_id: str  # a transfer record of the report's organisation
    home: dict[Role, User]  # the organisation of the report, one user per role (reporter: not the filer)
    away: dict[Role, User]  # another organisation


@pytest.fixture
def world(app: Any, org: Any, reporter: Any, verifier: Any) -> World:
    """A report (asking its reporter a question, so that every route has something to act on) with
    a file, in an organisation with one user of each role, and another organisation alike."""
    report = triaged_report(app, reporter)
    with app.test_request_context():  # the incident's title is made in the user's language
        row = db.session.get(Report, report.id)
        assert row is not None
        attachment, _created = store_upload(db.session, app.config, io.BytesIO(jpeg_bytes()), "a.jpg", reporter,
                                            report=row)
        incident_id = create_incident(db.session, verifier, row).public_id
        transfer_id = create_transfer(db.session, row.organisation_id, None, TransferIn.model_validate({
            "exporting_state": "CA", "importing_state": "TR", "end_user": "Baykar", "designation": "MX-15D",
            "date": "2020-05", "source_kind": "permit_list", "source_citation": "Permit list, row 12"})).public_id
        claim_report(db.session, row, verifier)
        ask_reporter(db.session, row, verifier, "Which street was it?")
        db.session.commit()
        assert row.state == ReportState.NEEDS_INFO
        file_id = attachment.public_id
    db.session.remove()
    home = {REPORTER: make_user(org, REPORTER), VERIFIER: verifier, COORDINATOR: make_user(org, COORDINATOR),
            ADMIN: make_user(org, ADMIN)}
    other = make_org("Other NGO")
    away = {role: make_user(other, role) for role in (REPORTER, VERIFIER, COORDINATOR, ADMIN)}
    found = db.session.scalar(select(Attachment).where(Attachment.public_id == file_id))
    assert found is not None
    pack_id = request_pack(db.session, home[COORDINATOR], PackSpec(Selector.parse("country", "CA"))).public_id
    db.session.commit()
    return World(report, found, reporter, incident_id, pack_id, transfer_id, home, away)


def rules(app: Any) -> list[Any]:
    return sorted(app.url_map.iter_rules(), key=lambda rule: rule.endpoint)


def test_every_route_is_classified(app: Any) -> None:
    """Each route is public, personal, the token API, or has its roles listed here."""
    endpoints = {rule.endpoint for rule in rules(app)}
    unlisted = endpoints - set(PUBLIC) - set(PERSONAL) - API - set(ACCESS)
    assert unlisted == set(), f"decide who may use these routes and list them in tests/test_isolation.py: {unlisted}"
    assert set(ACCESS) <= endpoints, "a listed route no longer exists"


def _a_token_of(user: User) -> int:
    """The id of an API token of `user` (made on first need)."""
    from intake.models import ApiToken

    owner = db.session.scalar(select(User).where(User.public_id == user.public_id))
    assert owner is not None
    found = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == owner.id))
    if found is None:
        make_token(owner)
        found = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == owner.id))
    db.session.rollback()
    assert found is not None
    return int(found)


def url_for_rule(rule: Any, world: World) -> str:
    values: dict[str, str] = {}
    for argument in rule.arguments:
        if argument == "file_id":
            values[argument] = world.attachment.public_id
        elif argument == "public_id":
            # The admin pages act on users, the incident pages on incidents; everything else on reports.
            if rule.endpoint.startswith("admin."):
                values[argument] = world.home[VERIFIER].public_id
            elif rule.endpoint.startswith("incidents."):
                values[argument] = world.incident_id
            elif rule.endpoint.startswith("packs."):
                values[argument] = world.pack_id
            elif rule.endpoint.startswith("transfers.") and rule.endpoint != "transfers.used_by":
                values[argument] = world.transfer_id
            else:
                values[argument] = world.report.public_id
        elif argument == "token_id":
            values[argument] = str(_a_token_of(world.home[VERIFIER]))
        elif argument == "key":  # an item of the report (its platform)
            values[argument] = "platform"
        else:
            raise AssertionError(f"no real value known for <{argument}> of {rule.rule}")
    path: str = rule.build(values, append_unknown=False)[1]
    return path


def call(browser: Any, token: str, method: str, path: str) -> Any:
    if method == "GET":
        return browser.get(path)
    # A valid CSRF token, so that the answer is the route's own and not the CSRF check's 400.
    return browser.open(path, method=method, data={"csrf_token": token})


def unauthorised_callers(endpoint: str, takes_id: bool, world: World) -> list[tuple[str, User]]:
    """Everyone who must get 404: every role elsewhere (for a route that names something), and
    every role at home that the route is not for."""
    callers = [(f"{role.value} of another organisation", user) for role, user in world.away.items()] if takes_id \
        else []
    allowed = ACCESS[endpoint]
    for role, user in world.home.items():
        if allowed == OWNER or role not in allowed:
            callers.append((f"{role.value} of the same organisation", user))
    return callers


def test_every_route_answers_404_to_other_organisations_and_lower_roles(app: Any, world: World) -> None:
    browsers: dict[int, tuple[Any, str]] = {}

    def browser_of(user: User) -> tuple[Any, str]:
        if user.id not in browsers:
            browser = signed_in(app, user)
            browsers[user.id] = (browser, csrf_token(browser.get("/account").get_data(as_text=True)))
        return browsers[user.id]

    checked = 0
    for rule in rules(app):
        if rule.endpoint in PUBLIC or rule.endpoint in PERSONAL or rule.endpoint in API:
            continue
        path = url_for_rule(rule, world)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for who, user in unauthorised_callers(rule.endpoint, bool(rule.arguments), world):
                browser, token = browser_of(user)
                response = call(browser, token, method, path)
                assert response.status_code == 404, f"{method} {rule.rule} as {who}: {response.status_code}"
                checked += 1
    assert checked >= 140
    # Nothing changed hands on the way.
    db.session.remove()
    report = db.session.get(Report, world.report.id)
    assert report is not None and report.state == ReportState.NEEDS_INFO and report.claimed_by_id is None
    assert len(report.transitions) == 4 and len(report.comments) == 0

    # The same pages do open for the people they are for (so the 404s above are not a broken URL).
    for user, path in ((world.home[VERIFIER], f"/queue/reports/{world.report.public_id}"),
                       (world.filer, f"/reports/{world.report.public_id}/receipt"),
                       (world.filer, f"/reports/{world.report.public_id}/answer"),
                       (world.home[COORDINATOR], "/queue/held"),
                       (world.home[VERIFIER], f"/incidents/{world.incident_id}"),
                       (world.home[COORDINATOR], f"/packs/{world.pack_id}/"),
                       (world.home[COORDINATOR], f"/transfers/{world.transfer_id}/edit"),
                       (world.home[ADMIN], "/admin/users")):
        assert browser_of(user)[0].get(path).status_code == 200, path


def test_the_api_answers_404_for_a_report_of_someone_else(app: Any, client: Any, world: World) -> None:
    """A token of another organisation's reporter, or of another reporter of the same one, gets 404."""
    def token_of(user: User) -> str:
        with app.app_context():
            value = create_token(db.session, db.session.get(User, user.id))
            db.session.commit()
        return value

    report_url = f"/api/v1/reports/{world.report.public_id}"
    for user in (world.away[REPORTER], world.away[VERIFIER], world.home[REPORTER], world.home[VERIFIER]):
        headers = {"Authorization": f"Bearer {token_of(user)}"}
        assert client.get(report_url, headers=headers).status_code == 404
        upload = client.post(f"{report_url}/attachments", headers=headers,
                             data={"file": (io.BytesIO(jpeg_bytes()), "b.jpg")}, content_type="multipart/form-data")
        assert upload.status_code == 404
        resumable = client.post("/api/v1/uploads", headers={
            **headers, "Tus-Resumable": "1.0.0", "Upload-Length": "100",
            "Upload-Metadata": "report " + base64.b64encode(world.report.public_id.encode()).decode()})
        assert resumable.status_code == 404
    owner = {"Authorization": f"Bearer {token_of(world.filer)}"}
    assert client.get(report_url, headers=owner).status_code == 200
    assert client.get("/api/v1/reports/00000000-0000-4000-8000-000000000000", headers=owner).status_code == 404
