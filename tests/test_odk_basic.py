"""Staff accounts in ODK Collect with HTTP Basic (issue 15 item 3, design/openrosa.md): server
`<base>/openrosa`, username = e-mail, password = an ODK password made on the account page after
signing in with the second factor. Never the account's own password; HTTPS only."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from sqlalchemy import select, update

from intake.enums import AuditAction, Channel, Role
from intake.extensions import db
from intake.models import AuditEntry, DeviceToken, Report, User
from intake.openrosa import devices
from tests.conftest import PASSWORD, csrf_token, make_org, make_user, sign_in
from tests.test_openrosa import assert_openrosa, collect_headers, instance_xml, message, post_submission

HTTPS = "https://localhost"
# Over HTTPS, a form's POST must name this site as its referrer (Flask-WTF's strict check).
SAME_SITE = {"Referer": f"{HTTPS}/account/odk-passwords"}
CHALLENGE = 'Basic realm="Intake ODK", charset="UTF-8"'


def basic(email: str, password: str) -> dict[str, str]:
    value = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {**collect_headers(), "Authorization": f"Basic {value}"}


def https_client(app: Any) -> Any:
    return app.test_client()


def make_odk_password(client: Any, name: str = "Phone 3") -> str:
    """Through the account page, as the signed-in user does."""
    page = client.get("/account/odk-passwords", base_url=HTTPS)
    assert page.status_code == 200
    created = client.post("/account/odk-passwords", base_url=HTTPS, headers=SAME_SITE,
                          data={"name": name, "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    html = created.get_data(as_text=True)
    assert "https://localhost/openrosa</code>" in html
    return re.search(r"<section class=\"notice\".*?<code>([^<]+)</code>", html, re.S).group(1)


def test_challenge_list_submit_revoke(app: Any, org: Any, verifier: Any) -> None:
    client = https_client(app)
    sign_in(client, verifier.email)
    password = make_odk_password(client)
    listing_page = client.get("/account/odk-passwords", base_url=HTTPS).get_data(as_text=True)
    assert "Phone 3" in listing_page and password not in listing_page  # shown only once
    phone = app.test_client()

    # No credentials: Collect's first request gets the challenge, in the envelope with the headers.
    bare = phone.get("/openrosa/formList", base_url=HTTPS, headers=collect_headers())
    assert bare.status_code == 401
    assert bare.headers["WWW-Authenticate"] == CHALLENGE
    assert_openrosa(bare)
    assert "ODK password" in message(bare)

    headers = basic(verifier.email.upper(), password)
    listing = phone.get("/openrosa/formList", base_url=HTTPS, headers=headers)
    assert listing.status_code == 200, listing.get_data(as_text=True)
    assert_openrosa(listing)
    download = re.search(r"<downloadUrl>([^<]+)</downloadUrl>", listing.get_data(as_text=True)).group(1)
    assert download == "https://localhost/openrosa/forms/intake_report/form.xml"
    form = phone.get(download, headers=headers)
    assert form.status_code == 200
    assert phone.head("/openrosa/submission", base_url=HTTPS, headers=headers).status_code == 204

    instance_id = f"uuid:{uuid.uuid4()}"
    xml = instance_xml(form.get_data(as_text=True), instance_id=instance_id)
    sent = phone.post("/openrosa/submission", base_url=HTTPS, headers=headers,
                      **_multipart(xml))
    assert sent.status_code == 201, sent.get_data(as_text=True)
    report = db.session.scalar(select(Report).where(Report.submission_id == instance_id))
    assert report is not None and report.channel == Channel.ODK
    assert report.reporter_id == verifier.id and report.organisation_id == org.id
    assert report.receipt_code in message(sent)
    db.session.rollback()

    # Another form than the organisation's: 404 in the envelope.
    other = phone.get("/openrosa/forms/someone_elses/form.xml", base_url=HTTPS, headers=headers)
    assert other.status_code == 404 and "no such form" in message(other)

    # Revoked on the account page: 401 from the next request on.
    row = db.session.scalar(select(DeviceToken).where(DeviceToken.user_id == verifier.id))
    device_id = row.public_id
    db.session.rollback()
    revoked = client.post(f"/account/odk-passwords/{device_id}/revoke", base_url=HTTPS, headers=SAME_SITE,
                          data={"csrf_token": csrf_token(listing_page)})
    assert revoked.status_code == 302
    after = phone.get("/openrosa/formList", base_url=HTTPS, headers=headers)
    assert after.status_code == 401 and after.headers["WWW-Authenticate"] == CHALLENGE

    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.target_id == device_id)
                                 .order_by(AuditEntry.seq)).all()
    assert [e.action for e in entries] == [AuditAction.DEVICE_CREATED.value, AuditAction.DEVICE_REVOKED.value]
    assert all(e.actor_id == verifier.public_id and e.detail["kind"] == "odk_password" for e in entries)
    assert password not in str([e.detail for e in entries])


def _multipart(xml: bytes) -> dict[str, Any]:
    import io

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    boundary, body = encode_multipart({"xml_submission_file": FileStorage(io.BytesIO(xml), "submission.xml",
                                                                          content_type="text/xml")})
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def test_account_password_and_plain_http_are_refused(app: Any, org: Any, verifier: Any) -> None:
    email, colleague = verifier.email, make_user(org, Role.COORDINATOR).email
    _row, password = devices.create_password(db.session, verifier, "Phone 4", actor=None, via="test")
    db.session.commit()
    phone = app.test_client()
    # The account's own password never works over Basic (it would skip the second factor).
    own = phone.get("/openrosa/formList", base_url=HTTPS, headers=basic(email, PASSWORD))
    assert own.status_code == 401 and own.headers["WWW-Authenticate"] == CHALLENGE
    assert phone.get("/openrosa/formList", base_url=HTTPS, headers=basic(email, password)).status_code == 200
    # Another account's e-mail with this password: refused.
    assert phone.get("/openrosa/formList", base_url=HTTPS, headers=basic(colleague, password)).status_code == 401
    # Plain http: refused before any credential is looked at, with a message Collect shows.
    plain = phone.get("/openrosa/formList", base_url="http://localhost", headers=basic(email, password))
    assert plain.status_code == 403 and "https://" in message(plain)
    assert_openrosa(plain)
    plain_post = post_submission(phone, "/openrosa", b"<x/>")
    assert plain_post.status_code == 403


def test_who_may_hold_one(app: Any, org: Any, reporter: Any) -> None:
    """Only verifiers and coordinators: reporters have device tokens, administrators file nothing."""
    admin = make_user(org, Role.ADMIN)
    for user in (reporter, admin):
        client = https_client(app)
        sign_in(client, user.email)
        assert client.get("/account/odk-passwords", base_url=HTTPS).status_code == 404
    coordinator = make_user(make_org("Elsewhere"), Role.COORDINATOR)
    email = coordinator.email
    _row, password = devices.create_password(db.session, coordinator, "Phone 5", actor=None, via="test")
    db.session.commit()
    phone = app.test_client()
    assert phone.get("/openrosa/formList", base_url=HTTPS, headers=basic(email, password)).status_code == 200
    # A deactivated account's password stops working.
    db.session.execute(update(User).where(User.email == email).values(active=False))
    db.session.commit()
    assert phone.get("/openrosa/formList", base_url=HTTPS, headers=basic(email, password)).status_code == 401


def test_failed_attempts_are_rate_limited(app: Any, org: Any, verifier: Any) -> None:
    app.config["SIGN_IN_RATE_LIMIT"] = "3 per minute"
    email = verifier.email
    phone = app.test_client()
    # Requests without credentials (each exchange's first) do not count.
    for _ in range(5):
        assert phone.get("/openrosa/formList", base_url=HTTPS, headers=collect_headers()).status_code == 401
    for _ in range(3):
        assert phone.get("/openrosa/formList", base_url=HTTPS,
                         headers=basic(email, "wrong-guess-123456")).status_code == 401
    blocked = phone.get("/openrosa/formList", base_url=HTTPS, headers=basic(email, "another-guess"))
    assert blocked.status_code == 429
    assert_openrosa(blocked)
    assert "Too many attempts" in message(blocked)


def test_device_cli_app_password(app: Any, app_config: dict[str, Any], verifier: Any) -> None:
    email = verifier.email
    from click.testing import CliRunner

    from intake.cli import main
    from tests.conftest import SECRET

    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app_config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app_config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app_config["INSTANCE_PATH"]}
    result = CliRunner(env=env).invoke(main, ["device", "app-password", email, "--name", "Phone 6"],
                                       catch_exceptions=False)
    assert result.exit_code == 0, result.output
    password = result.stdout.strip().splitlines()[0]
    assert email in result.stderr and password not in result.stderr
    assert app.test_client().get("/openrosa/formList", base_url=HTTPS,
                                 headers=basic(email, password)).status_code == 200
