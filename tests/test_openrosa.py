"""ODK Collect and KoboCollect through the real OpenRosa interface (issue 15, design/openrosa.md).

The client here plays Collect's sequence: formList, the form's download, HEAD submission, POST
submission (multipart, the instance XML and one part per file named as in the XML), split
submissions marked *isIncomplete*, resends. Instances are built from the generated XForm's own
primary instance, as Collect builds them.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
import uuid
import zlib
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET  # noqa: S405 (the test reads its own server's XML)

import pytest
from sqlalchemy import select

from intake.enums import AuditAction, Channel, Role
from intake.extensions import db
from intake.models import Attachment, AuditEntry, DeviceToken, OdkInstance, Report, Submission
from intake.openrosa import devices
from tests.conftest import IN_CI, jpeg_bytes, make_org, make_user, sign_in

XF = "{http://www.w3.org/2002/xforms}"
JR_TEMPLATE = "{http://openrosa.org/javarosa}template"
ORX = "http://openrosa.org/xforms"


def new_device(user: Any, name: str = "Phone 3") -> str:
    _row, token = devices.create_device(db.session, user, name, actor=None, via="test")
    db.session.commit()
    return token


def collect_headers() -> dict[str, str]:
    return {"X-OpenRosa-Version": "1.0", "Date": dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "User-Agent": "org.odk.collect.android/v2024.3.1 okhttp/4.12"}


def primary_instance(form_xml: str) -> ET.Element:
    root = ET.fromstring(form_xml)  # noqa: S314 (our own server's form)
    model = root.find(f".//{XF}model")
    assert model is not None
    instance = next(i for i in model.findall(f"{XF}instance") if i.get("id") is None)
    data = copy.deepcopy(list(instance)[0])
    # A repeat has only the rows the person adds: the rows pyxform writes beside each template go.
    for parent in list(data.iter()):
        templates = {c.tag for c in parent if c.get(JR_TEMPLATE) is not None}
        for child in list(parent):
            if child.tag in templates and child.get(JR_TEMPLATE) is None:
                parent.remove(child)
    return data


def local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def node(root: ET.Element, path: str) -> ET.Element:
    current = root
    for name in path.split("/"):
        found = [c for c in current if local(c) == name and c.get(JR_TEMPLATE) is None]
        assert found, f"no {name} under {local(current)}"
        current = found[-1]
    return current


def add_row(root: ET.Element, path: str, values: dict[str, str]) -> None:
    """A repeat's row, copied from its template as Collect does."""
    parent_path, _, name = path.rpartition("/")
    parent = node(root, parent_path) if parent_path else root
    children = list(parent)
    template = next(c for c in children if local(c) == name and c.get(JR_TEMPLATE) is not None)
    rows = [c for c in children if local(c) == name and c.get(JR_TEMPLATE) is None]
    row = copy.deepcopy(template)
    row.attrib.pop(JR_TEMPLATE, None)
    parent.insert(list(parent).index(rows[-1] if rows else template) + 1, row)
    for key, value in values.items():
        node(row, key).text = value


def strip_empty_rows(root: ET.Element) -> None:
    for parent in root.iter():
        for child in list(parent):
            if child.get(JR_TEMPLATE) is not None:
                parent.remove(child)


def instance_xml(form_xml: str, *, instance_id: str, photos: list[str] = (), deprecated_id: str | None = None,
                 narrative: str = "A drone struck the market at noon.") -> bytes:
    root = primary_instance(form_xml)
    for path, value in {
        "event/occurred_on": "2026-03-01", "event/occurred_time": "12:10:00.000+02:00", "event/country": "UA",
        "event/locality": "Kherson", "event/place": "46.6354 32.6169 40.0 8.0", "event/location_precision": "exact",
        "event/incident_type": "drone_strike", "event/narrative": narrative,
        "harm/killed/women": "1", "harm/injured/men": "2", "weapon/delivery_platform": "drone",
        "weapon/platform_model": "w_bayraktar_tb2", "source/source_type": "eyewitness",
        "source/consent": "share_anonymized", "source/risk_to_source": "medium",
    }.items():
        node(root, path).text = value
    add_row(root, "harm/victims", {"victim_name": "Olena K.", "victim_age": "34", "victim_sex": "female",
                                   "victim_harm": "killed"})
    add_row(root, "source/witnesses", {"witness_name": "Petro", "witness_phone": "+380 67 123 4567",
                                       "witness_may_contact": "yes"})
    for index, name in enumerate(photos):
        add_row(root, "files", {"file_photo": name, "file_description": f"Remnant {index + 1}"})
    strip_empty_rows(root)
    meta = node(root, "meta")
    node(meta, "instanceID").text = instance_id
    if deprecated_id is not None:
        ET.SubElement(meta, "deprecatedID").text = deprecated_id
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def post_submission(client: Any, base: str, xml: bytes, files: dict[str, bytes] | None = None,
                    incomplete: bool = False) -> Any:
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    fields: dict[str, Any] = {
        "xml_submission_file": FileStorage(io.BytesIO(xml), "submission.xml", content_type="text/xml")}
    for name, data in (files or {}).items():
        fields[name] = FileStorage(io.BytesIO(data), name, content_type="image/jpeg")
    if incomplete:
        fields["*isIncomplete*"] = "yes"
    boundary, body = encode_multipart(fields)
    return client.post(f"{base}/submission?deviceID=collect%3Aabc123", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}", headers=collect_headers())


def message(response: Any) -> str:
    root = ET.fromstring(response.data)  # noqa: S314
    assert local(root) == "OpenRosaResponse"
    return "".join(root.itertext())


def assert_openrosa(response: Any) -> None:
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert response.headers.get("Date")


def test_collect_sequence(app: Any, client: Any, org: Any, reporter: Any) -> None:
    token = new_device(reporter)
    base = f"/openrosa/{token}"

    listing = client.get(f"{base}/formList", headers=collect_headers())
    assert listing.status_code == 200
    assert_openrosa(listing)
    assert listing.content_type.startswith("text/xml")
    forms = ET.fromstring(listing.data)  # noqa: S314
    ns = "{http://openrosa.org/xforms/xformsList}"
    entry = forms.find(f"{ns}xform")
    assert entry is not None and entry.findtext(f"{ns}formID") == "intake_report"
    assert entry.find(f"{ns}manifestUrl") is None  # the form has no media files
    download = entry.findtext(f"{ns}downloadUrl")
    assert download and download.startswith("http://localhost/openrosa/")

    form = client.get(download.removeprefix("http://localhost"), headers=collect_headers())
    assert form.status_code == 200
    assert_openrosa(form)
    assert entry.findtext(f"{ns}hash") == "md5:" + hashlib.md5(form.data).hexdigest()  # noqa: S324
    form_xml = form.get_data(as_text=True)
    version = entry.findtext(f"{ns}version")
    assert f'version="{version}"' in form_xml
    # Six languages, as itext translations.
    for language in ("English (en)", "Russian (ru)", "Ukrainian (uk)", "Armenian (hy)", "Azerbaijani (az)",
                     "Arabic (ar)"):
        assert f'<translation lang="{language}"' in form_xml or f'lang="{language}"' in form_xml

    head = client.head(f"{base}/submission", headers=collect_headers())
    assert head.status_code == 204
    assert_openrosa(head)
    assert int(head.headers["X-OpenRosa-Accept-Content-Length"]) >= 10_000_000

    instance_id = f"uuid:{uuid.uuid4()}"
    photo_a, photo_b = jpeg_bytes((64, 48)), jpeg_bytes((80, 60))
    xml = instance_xml(form_xml, instance_id=instance_id, photos=["1709.jpg", "1710.jpg"])

    # Split: the first part carries the XML and one photo, marked incomplete.
    first = post_submission(client, base, xml, {"1709.jpg": photo_a}, incomplete=True)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert_openrosa(first)
    root = ET.fromstring(first.data)  # noqa: S314
    assert root.find("{http://openrosa.org/http/response}message").get("nature") == "submit_success"
    report = db.session.scalar(select(Report).where(Report.submission_id == instance_id))
    assert report is not None and report.channel == Channel.ODK
    assert report.receipt_code in message(first)
    assert report.latitude == pytest.approx(46.6354) and report.longitude == pytest.approx(32.6169)
    assert report.platform_model == "Bayraktar TB2"
    assert [v.name for v in report.victims] == ["Olena K."]
    assert report.witnesses[0].may_contact is True
    assert report.occurred_time == dt.time(12, 10)
    db.session.rollback()

    # The last part: the same XML, the other photo.
    second = post_submission(client, base, xml, {"1710.jpg": photo_b})
    assert second.status_code in (201, 202)
    assert report.receipt_code in message(second)
    # A resend after a cut connection: the same instance, everything again.
    again = post_submission(client, base, xml, {"1709.jpg": photo_a, "1710.jpg": photo_b})
    assert again.status_code in (201, 202)
    assert report.receipt_code in message(again)
    db.session.rollback()
    assert db.session.scalar(select(Report).where(Report.submission_id == instance_id)).id == report.id
    assert len(db.session.scalars(select(Report)).all()) == 1
    assert len(db.session.scalars(select(Submission)).all()) == 1  # one journal row, as for the web form
    files = db.session.scalars(select(Attachment).where(Attachment.report_id == report.id)).all()
    assert sorted(a.sha256 for a in files) == sorted(hashlib.sha256(p).hexdigest() for p in (photo_a, photo_b))
    assert {a.description for a in files} == {"Remnant 1", "Remnant 2"}
    assert all(a.media_type == "image/jpeg" for a in files)
    # The instance XML is kept, sealed, with its hash.
    kept = db.session.scalar(select(OdkInstance).where(OdkInstance.report_id == report.id))
    assert kept.xml_sha256 == hashlib.sha256(xml).hexdigest() and kept.xml.encode() == xml
    assert b"Olena" not in kept.sealed

    # The same instance ID with other XML: a conflict, nothing changed.
    other = instance_xml(form_xml, instance_id=instance_id, narrative="Something else entirely.")
    conflict = post_submission(client, base, other)
    assert conflict.status_code == 409
    assert_openrosa(conflict)
    assert "different" in message(conflict)
    db.session.rollback()
    assert db.session.get(Report, report.id).narrative == "A drone struck the market at noon."

    # An edit in Collect: a new instance naming the old one; the old report stays as it was.
    edited_id = f"uuid:{uuid.uuid4()}"
    edit = post_submission(client, base, instance_xml(form_xml, instance_id=edited_id, deprecated_id=instance_id,
                                                      narrative="A drone struck the market at 12:10."))
    assert edit.status_code == 201
    db.session.rollback()
    new = db.session.scalar(select(Report).where(Report.submission_id == edited_id))
    assert new.id != report.id and db.session.get(Report, report.id).narrative.endswith("at noon.")
    link = db.session.scalar(select(OdkInstance).where(OdkInstance.report_id == new.id))
    assert link.replaces_report_id == report.id
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == AuditAction.ODK_EDIT_RECEIVED.value))

    # The organisation's verifier sees the report, shown as sent with ODK Collect; another
    # organisation's does not.
    colleague = make_user(org, Role.VERIFIER)
    own_client = app.test_client()
    sign_in(own_client, colleague.email)
    page = own_client.get(f"/queue/reports/{report.public_id}")
    assert page.status_code == 200
    assert "ODK Collect" in page.get_data(as_text=True)
    stranger = make_user(make_org("Elsewhere"), Role.VERIFIER)
    other_client = app.test_client()
    sign_in(other_client, stranger.email)
    assert other_client.get(f"/queue/reports/{report.public_id}").status_code == 404

    # Revoked: the phone is refused from its next request on.
    row = db.session.scalar(select(DeviceToken))
    devices.revoke_device(db.session, row, actor=None, via="test")
    db.session.commit()
    refused = client.get(f"{base}/formList", headers=collect_headers())
    assert refused.status_code == 401
    assert_openrosa(refused)
    assert "revoked" in message(refused)
    assert post_submission(client, base, xml).status_code == 401


def test_bad_submissions_answer_in_the_envelope(app: Any, client: Any, reporter: Any) -> None:
    base = f"/openrosa/{new_device(reporter)}"
    assert client.get("/openrosa/not-a-token/formList").status_code == 401
    bad = post_submission(client, base, b"<data id='intake_report'><meta>")
    assert bad.status_code == 400 and "XML" in message(bad)
    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b'<data id="intake_report">&b;</data>')
    assert post_submission(client, base, bomb).status_code == 400
    unknown = post_submission(client, base, b'<data id="other_form"><meta><instanceID>uuid:1234567890</instanceID>'
                                            b'</meta></data>')
    assert unknown.status_code == 404
    form_xml = client.get(f"{base}/forms/intake_report/form.xml").get_data(as_text=True)
    future = instance_xml(form_xml, instance_id=f"uuid:{uuid.uuid4()}").replace(b"2026-03-01", b"2999-01-01")
    answer = post_submission(client, base, future)
    assert answer.status_code == 400 and "occurred_on" in message(answer)
    assert_openrosa(answer)
    empty = client.post(f"{base}/submission", data={}, headers=collect_headers())
    assert empty.status_code == 400


def test_scan_configuration_is_what_collect_reads(app: Any) -> None:
    payload = devices.collect_settings("https://intake.example.org/openrosa/abc", "Relief Monitors")
    settings = json.loads(zlib.decompress(base64.b64decode(payload)))
    assert settings["general"]["server_url"] == "https://intake.example.org/openrosa/abc"
    assert settings["general"]["form_update_mode"] == "match_exactly"
    assert devices.settings_qr_svg(payload).startswith("<svg")


def test_generated_form_passes_odk_validate(app: Any, tmp_path: Path) -> None:
    """ODK Validate (the jar pyxform ships) under Java: no error, and no warning Collect would show."""
    from pyxform.validators import odk_validate

    if shutil.which("java") is None:
        if IN_CI:
            pytest.fail("java is missing (CI=true): .ci/run installs default-jre-headless", pytrace=False)
        pytest.skip("java is not installed: ODK Validate cannot run")
    from intake.openrosa import xform

    with app.app_context():
        form = xform.build(app.config["LANGUAGES"])
    path = tmp_path / "form.xml"
    path.write_text(form.xml, encoding="utf-8")
    result = subprocess.run(["java", "-Djava.awt.headless=true", "-jar", odk_validate.ODK_VALIDATE_PATH, str(path)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Xform is valid" in result.stdout
    assert result.stderr.strip() == "", result.stderr
    assert 'lang="Arabic (ar)"' in form.xml


def test_version_follows_content(app: Any) -> None:
    from intake.openrosa import xform

    with app.app_context():
        six = xform.build(app.config["LANGUAGES"])
        two = xform.build(["en", "ru"])
    assert six.version != two.version and six.md5 != two.md5


def test_device_cli_create_list_revoke(app: Any, app_config: dict[str, Any], client: Any, org: Any,
                                       reporter: Any, verifier: Any) -> None:
    """`intake device create` prints the URL Collect takes and its QR code; list and revoke; audited."""
    from click.testing import CliRunner

    from intake.cli import main
    from tests.conftest import SECRET

    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app_config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app_config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app_config["INSTANCE_PATH"]}

    def run(*args: str) -> Any:
        return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)

    created = run("device", "create", reporter.email, "--name", "Phone 3", "--base-url", "https://intake.example.org/")
    assert created.exit_code == 0, created.output
    url = created.stdout.strip()
    assert url.startswith("https://intake.example.org/openrosa/")
    assert "█" in created.stderr  # the QR code
    token = url.rsplit("/", 1)[1]
    assert client.get(f"/openrosa/{token}/formList").status_code == 200
    # Only its hash is kept.
    row = db.session.scalar(select(DeviceToken))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
    device_id = row.public_id
    db.session.rollback()
    # A verifier's account is no phone's.
    refused = run("device", "create", verifier.email, "--name", "Desk", "--base-url", "https://intake.example.org")
    assert refused.exit_code == 1 and "reporter role" in refused.output
    listing = run("device", "list", org.name)
    assert "Phone 3" in listing.output and "active" in listing.output
    assert run("device", "revoke", device_id).exit_code == 0
    assert "revoked" in run("device", "list", org.name).output
    assert client.get(f"/openrosa/{token}/formList").status_code == 401
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {AuditAction.DEVICE_CREATED.value, AuditAction.DEVICE_REVOKED.value} <= actions


def test_admin_page_creates_shows_once_and_revokes(app: Any, client: Any, org: Any, reporter: Any) -> None:
    """An administrator adds a phone (the URL and the QR code shown on that answer only), sees it
    listed, and revokes it; another organisation's admin cannot touch it."""
    import re

    from tests.conftest import csrf_token

    admin = make_user(org, Role.ADMIN)
    sign_in(client, admin.email)
    page = client.get("/admin/devices")
    assert page.status_code == 200 and reporter.email in page.get_data(as_text=True)
    created = client.post("/admin/devices", data={"account": reporter.public_id, "name": "Phone 7",
                                                  "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert created.status_code == 200
    html = created.get_data(as_text=True)
    assert "<svg" in html and created.headers["Cache-Control"] == "no-store"
    url = re.search(r"<code>(http://localhost/openrosa/[^<]+)</code>", html).group(1)
    base = url.removeprefix("http://localhost")
    assert client.get(f"{base}/formList").status_code == 200
    listing = client.get("/admin/devices").get_data(as_text=True)
    assert "Phone 7" in listing and base.rsplit("/", 1)[1] not in listing  # the token is never shown again
    row = db.session.scalar(select(DeviceToken))
    device_id = row.public_id
    db.session.rollback()

    outsider = make_user(make_org("Elsewhere"), Role.ADMIN)
    other = app.test_client()
    sign_in(other, outsider.email)
    form = other.get("/admin/devices").get_data(as_text=True)
    assert "Phone 7" not in form
    assert other.post(f"/admin/devices/{device_id}/revoke", data={"csrf_token": csrf_token(form)}).status_code == 404
    assert client.get(f"{base}/formList").status_code == 200

    revoked = client.post(f"/admin/devices/{device_id}/revoke", data={"csrf_token": csrf_token(listing)})
    assert revoked.status_code == 302
    assert client.get(f"{base}/formList").status_code == 401
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.target_id == device_id)).all()
    assert [e.action for e in entries] == [AuditAction.DEVICE_CREATED.value, AuditAction.DEVICE_REVOKED.value]
    # Reporters do not see the page.
    reporter_client = app.test_client()
    sign_in(reporter_client, reporter.email)
    assert reporter_client.get("/admin/devices").status_code == 404


def test_too_large_is_413_in_the_envelope(app: Any, client: Any, reporter: Any) -> None:
    base = f"/openrosa/{new_device(reporter)}"
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    head = client.head(f"{base}/submission")
    assert head.headers["X-OpenRosa-Accept-Content-Length"] == "50000"
    form_xml = client.get(f"{base}/forms/intake_report/form.xml").get_data(as_text=True)
    xml = instance_xml(form_xml, instance_id=f"uuid:{uuid.uuid4()}", photos=["big.jpg"])
    answer = post_submission(client, base, xml, {"big.jpg": b"\xff\xd8\xff" + bytes(60_000)})
    assert answer.status_code == 413
    assert_openrosa(answer)
    assert "too large" in message(answer)
    assert db.session.scalar(select(Report)) is None


def test_access_lines_never_carry_the_device_token(app: Any) -> None:
    """The token in the URL is the phone's credential: the werkzeug access line keeps method, path
    shape and status, with the token replaced."""
    import logging

    from tests.test_logs import records_of

    token = "s3cretDeviceToken_abcdefghijklmnop"
    with records_of("werkzeug", logging.INFO) as (logger, captured):
        logger.info('%s %s %s', f"POST /openrosa/{token}/submission?deviceID=collect:1 HTTP/1.1", "201", "-")
    line = captured[0].getMessage()
    assert token not in line and "collect:1" not in line
    assert "/openrosa/[device]/submission" in line and "201" in line


def test_only_new_reports_count_against_the_limit(app: Any, client: Any, reporter: Any) -> None:
    """Counted like the API: per device and per account; a resend or a later part is no new report."""
    app.config["API_REPORTS_PER_TOKEN"] = "2 per hour"
    base = f"/openrosa/{new_device(reporter)}"
    form_xml = client.get(f"{base}/forms/intake_report/form.xml").get_data(as_text=True)
    first = instance_xml(form_xml, instance_id=f"uuid:{uuid.uuid4()}")
    assert post_submission(client, base, first).status_code == 201
    for _ in range(3):
        assert post_submission(client, base, first).status_code == 202
    assert post_submission(client, base, instance_xml(form_xml, instance_id=f"uuid:{uuid.uuid4()}")).status_code == 201
    third = post_submission(client, base, instance_xml(form_xml, instance_id=f"uuid:{uuid.uuid4()}"))
    assert third.status_code == 429 and int(third.headers["Retry-After"]) > 0
    assert_openrosa(third)
    assert len(db.session.scalars(select(Report)).all()) == 2


def test_unknown_addresses_under_a_device_answer_in_the_envelope(app: Any, client: Any, reporter: Any) -> None:
    base = f"/openrosa/{new_device(reporter)}"
    for path in ("/forms/other_form/form.xml", "/forms/intake_report/manifest", "/view/submissionList"):
        answer = client.get(base + path)
        assert answer.status_code == 404, path
        assert_openrosa(answer)
        assert "form list" in message(answer)
    assert client.get("/openrosa/unknown-token/forms/other_form/form.xml").status_code == 401


def test_the_same_instance_sent_twice_at_once_is_one_report(app: Any, reporter: Any) -> None:
    """Collect sending again while its first send is still in flight: one report, both told its receipt."""
    from tests.conftest import all_at_once

    base = f"/openrosa/{new_device(reporter)}"
    form_xml = app.test_client().get(f"{base}/forms/intake_report/form.xml").get_data(as_text=True)
    xml = instance_xml(form_xml, instance_id=f"uuid:{uuid.uuid4()}")
    clients = [app.test_client() for _ in range(3)]
    answers = all_at_once([lambda c=c: post_submission(c, base, xml) for c in clients])
    assert sorted(a.status_code for a in answers) == [201, 202, 202], [a.get_data(as_text=True) for a in answers]
    db.session.rollback()
    reports = db.session.scalars(select(Report)).all()
    assert len(reports) == 1
    assert all(reports[0].receipt_code in message(a) for a in answers)
