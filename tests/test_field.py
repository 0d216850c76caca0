"""The intake form, through real HTTP with CSRF on: filing, errors that keep everything typed,
uploads kept across a failed submit, rows without JavaScript, double submits, receipts."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from intake.enums import Role
from intake.extensions import db
from intake.models import Attachment, Report
from tests.conftest import csrf_token, jpeg_bytes, make_org, make_user, post_multipart, sign_in


def page_of(client: Any) -> tuple[str, str, str]:
    """Open the form: its HTML, CSRF token and submission id."""
    html = client.get("/reports/new").get_data(as_text=True)
    submission = re.search(r'id="submission_id" name="submission_id" type="hidden" value="([^"]+)"', html)
    assert submission, "the form carries a hidden submission id"
    return html, csrf_token(html), submission.group(1)


def form_fields(token: str, submission_id: str, **overrides: Any) -> dict[str, Any]:
    """A complete report as the form posts it, two victims included."""
    data: dict[str, Any] = {
        "csrf_token": token,
        "submission_id": submission_id,
        "occurred_on": "2026-03-14",
        "occurred_time": "06:40",
        "date_precision": "exact",
        "incident_type": "shelling",
        "country": "UA",
        "admin1": "Kharkiv Oblast",
        "admin2": "Izium",
        "locality": "Kapytolivka",
        "latitude": "49.1873",
        "longitude": "37.2850",
        "location_precision": "neighbourhood",
        "narrative": "Shells hit the courtyard at 06:40; two neighbours were hit while fetching water.",
        "narrative_language": "uk",
        "killed_women": "1",
        "injured_boys": "1",
        "victims-0-name": "Olena Kovalenko",
        "victims-0-age": "52",
        "victims-0-age_band": "",
        "victims-0-sex": "female",
        "victims-0-harm": "killed",
        "victims-0-civilian_status": "civilian",
        "victims-0-occupation": "teacher",
        "victims-1-name": "Taras Kovalenko",
        "victims-1-age": "",
        "victims-1-age_band": "12-17",
        "victims-1-sex": "male",
        "victims-1-harm": "injured",
        "victims-1-civilian_status": "civilian",
        "victims-1-occupation": "student",
        "objects_damaged-0-kind": "home",
        "objects_damaged-0-extent": "destroyed",
        "displaced": "4",
        "delivery_platform": "artillery",
        "platform_model": "2S19 Msta-S",
        "munition_type": "152 mm shell",
        "munition_model": "",
        "remnants_found": "yes",
        "markings": "3OF45 lot 12-88",
        "components-0-kind": "fuze",
        "components-0-model": "V-90",
        "components-0-manufacturer": "",
        "components-0-country_of_manufacture": "",
        "identification_basis": "remnant_photographed",
        "identification_confidence": "possible",
        "source_type": "eyewitness",
        "witnesses-0-name": "Ihor Melnyk",
        "witnesses-0-phone": "+380 67 123 4567",
        "witnesses-0-email": "",
        "witnesses-0-relation": "neighbour",
        "witnesses-0-may_contact": "y",
        "links-0-url": "https://t.me/example/42",
        "consent": "share_anonymized",
        "risk_to_source": "high",
        "attachments-0-upload_id": "",
        "attachments-0-captured_at": "2026-03-14T07:05",
        "attachments-0-description": "Crater in the courtyard",
    }
    data.update(overrides)
    return data


def photo(name: str = "crater.jpg", content: bytes | None = None) -> tuple[io.BytesIO, str]:
    return io.BytesIO(content if content is not None else jpeg_bytes()), name


def report_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Report)) or 0


def test_reporter_files_a_complete_report_and_gets_a_receipt(reporter_client: Any) -> None:
    """A complete report with two victims and a photo makes one report and shows its receipt code."""
    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, **{"attachments-0-file": photo()})
    response = reporter_client.post("/reports/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    receipt = reporter_client.get(response.headers["Location"])
    html = receipt.get_data(as_text=True)
    code = re.search(r'class="receipt-code"[^>]*>([0-9A-Z]{4}-[0-9A-Z]{4})<', html)
    assert code, html
    report = db.session.scalar(select(Report).where(Report.receipt_code == code.group(1)))
    assert report is not None and report.state.value == "received"
    assert [v.name for v in report.victims] == ["Olena Kovalenko", "Taras Kovalenko"]
    assert report.victims[0].age_band.value == "45-59"  # derived from the exact age
    assert report.killed_women == 1 and report.injured_boys == 1 and report.killed_men == 0
    assert report.latitude == 49.1873 and report.components[0].model == "V-90"
    assert report.witnesses[0].may_contact is True
    assert len(report.attachments) == 1
    attachment = report.attachments[0]
    assert attachment.media_type == "image/jpeg" and attachment.description == "Crater in the courtyard"
    assert attachment.captured_at == dt.datetime(2026, 3, 14, 7, 5)
    assert attachment.stash_key is None


def test_double_submit_makes_one_report(reporter_client: Any) -> None:
    """Pressing send twice (same submission id) makes one report and both answers show its receipt."""
    _, token, submission_id = page_of(reporter_client)
    first = reporter_client.post("/reports/new", data=form_fields(token, submission_id))
    second = reporter_client.post("/reports/new", data=form_fields(token, submission_id))
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert report_count() == 1


def test_errors_show_at_the_field_and_keep_everything_typed(reporter_client: Any) -> None:
    """A future date and latitude 123 are named at their fields; every other value is still filled in."""
    _, token, submission_id = page_of(reporter_client)
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    response = reporter_client.post("/reports/new", data=form_fields(token, submission_id, occurred_on=future,
                                                                     latitude="123"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="occurred_on-error"[^>]*>\s*<li>The date cannot be in the future', html)
    assert re.search(r'id="latitude-error"[^>]*>\s*<li>[^<]*90', html)
    for kept in ("Olena Kovalenko", "Taras Kovalenko", "Shells hit the courtyard", "+380 67 123 4567",
                 "2S19 Msta-S", "3OF45 lot 12-88", "https://t.me/example/42", future, 'value="123"'):
        assert kept in html, kept
    assert re.search(r'<option selected value="high">|<option value="high" selected>', html)
    assert report_count() == 0


def test_rejected_photo_is_named_and_accepted_photo_is_kept_for_the_retry(reporter_client: Any) -> None:
    """An executable renamed .jpg is refused by name; a good photo chosen with it is kept server-side."""
    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, latitude="123", **{
        "attachments-0-file": photo("crater.jpg"),
        "attachments-1-file": photo("evil.jpg", b"MZ\x90\x00" + b"\x00" * 2048),
        "attachments-1-upload_id": "",
        "attachments-1-description": "",
    })
    response = reporter_client.post("/reports/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "evil.jpg was not accepted: it is a program" in html
    assert "crater.jpg" in html and "is safely on the server" in html
    kept_id = re.search(r'id="attachments-0-upload_id" name="attachments-0-upload_id" type="hidden" value="([^"]+)"',
                        html)
    assert kept_id, "the kept photo travels with the form as an upload id"

    # The retry fixes the latitude and sends no file at all: the kept photo goes with the report.
    retry = form_fields(token, submission_id, **{"attachments-0-upload_id": kept_id.group(1)})
    response = reporter_client.post("/reports/new", data=retry)
    assert response.status_code == 302
    report = db.session.scalar(select(Report))
    assert report is not None and [a.original_filename for a in report.attachments] == ["crater.jpg"]


def test_a_photo_over_the_size_limit_is_refused_and_the_form_kept(reporter_client: Any, app: Any) -> None:
    """A 60 MB photo is refused at its row with the limit named; the rest of the form is kept."""
    _, token, submission_id = page_of(reporter_client)
    big = jpeg_bytes() + b"\x00" * (60 * 1024 * 1024)
    data = form_fields(token, submission_id, **{"attachments-0-file": photo("huge.jpg", big)})
    response = post_multipart(reporter_client, "/reports/new", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "huge.jpg was not accepted: it is larger than 25 MB." in html
    assert "Olena Kovalenko" in html and report_count() == 0
    leftovers = [p for p in Path(app.config["UPLOAD_PATH"]).rglob("*") if p.is_file()]
    assert leftovers == [], "nothing of a refused file stays on disk"


def test_removing_a_kept_photo_deletes_it(reporter_client: Any, app: Any) -> None:
    """Ticking "remove" on a kept photo takes it off the form and off the disk."""
    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, latitude="123", **{"attachments-0-file": photo()})
    html = reporter_client.post("/reports/new", data=data, content_type="multipart/form-data").get_data(as_text=True)
    upload_id = re.search(r'name="attachments-0-upload_id" type="hidden" value="([^"]+)"', html).group(1)
    removed = form_fields(token, submission_id, **{"attachments-0-upload_id": upload_id,
                                                     "attachments-0-remove": "y"})
    assert reporter_client.post("/reports/new", data=removed).status_code == 302
    report = db.session.scalar(select(Report))
    assert report is not None and report.attachments == []
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
    assert [p for p in Path(app.config["UPLOAD_PATH"]).rglob("*") if p.is_file()] == []


def test_rows_are_added_and_removed_without_javascript(reporter_client: Any) -> None:
    """The "add another" and "remove" buttons work as plain form posts, keeping what was typed."""
    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, row_action="add:victims")
    html = reporter_client.post("/reports/new", data=data).get_data(as_text=True)
    assert 'name="victims-2-name"' in html and "Taras Kovalenko" in html
    assert 'role="alert"' not in html.split("<form", 1)[1], "adding a row shows no validation errors"
    data = form_fields(token, submission_id, row_action="remove:victims:0")
    html = reporter_client.post("/reports/new", data=data).get_data(as_text=True)
    assert "Olena Kovalenko" not in html and "Taras Kovalenko" in html
    assert report_count() == 0


def test_blank_rows_are_ignored_but_a_half_filled_row_is_an_error(reporter_client: Any) -> None:
    """Untouched repeatable rows are not reports' content; a victim without a harm is flagged at the row."""
    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, **{
        "victims-1-name": "", "victims-1-age_band": "", "victims-1-sex": "unknown", "victims-1-harm": "",
        "victims-1-civilian_status": "unknown", "victims-1-occupation": "none_given",
        "victims-0-harm": "",
    })
    response = reporter_client.post("/reports/new", data=data)
    assert response.status_code == 422
    assert re.search(r'id="victims-0-harm-error"', response.get_data(as_text=True))
    data["victims-0-harm"] = "killed"
    assert reporter_client.post("/reports/new", data=data).status_code == 302
    report = db.session.scalar(select(Report))
    assert report is not None and [v.name for v in report.victims] == ["Olena Kovalenko"]


def test_missing_required_fields_are_named(reporter_client: Any) -> None:
    """An empty form says which fields are needed, and nothing is stored."""
    _, token, submission_id = page_of(reporter_client)
    response = reporter_client.post("/reports/new", data={"csrf_token": token, "submission_id": submission_id})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for message in ("Give the date of the event.", "Choose the country.", "Choose the kind of attack.",
                    "Describe what happened.", "Choose where this account comes from.",
                    "Record what the source agreed to.", "Assess the risk to the source."):
        assert message in html
    assert report_count() == 0


def test_form_without_csrf_token_is_not_accepted(reporter_client: Any) -> None:
    """A cross-site post (no CSRF token) stores nothing."""
    _, _, submission_id = page_of(reporter_client)
    data = form_fields("forged", submission_id)
    response = reporter_client.post("/reports/new", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "open too long" in html and "Olena Kovalenko" in html
    assert report_count() == 0


def test_my_reports_lists_only_my_reports_with_status(client: Any, org: Any) -> None:
    """My reports shows the reporter's own receipts and statuses, not a colleague's."""
    me = make_user(org, Role.REPORTER, "me@example.org")
    colleague = make_user(org, Role.REPORTER, "colleague@example.org")
    for user, locality in ((colleague, "Colleague Town"), (me, "My Town")):
        browser = client.application.test_client()
        sign_in(browser, user.email)
        _, token, submission_id = page_of(browser)
        sent = browser.post("/reports/new", data=form_fields(token, submission_id, locality=locality))
        assert sent.status_code == 302
    html = browser.get("/my-reports").get_data(as_text=True)
    assert "My Town" in html and "Colleague Town" not in html
    assert "Received" in html
    mine = db.session.scalar(select(Report).where(Report.reporter_id == me.id))
    assert mine is not None and mine.receipt_code in html


def test_receipt_of_someone_else_is_not_found(client: Any, org: Any) -> None:
    """A receipt page is only for the reporter who filed it; others get 404."""
    author = make_user(org, Role.REPORTER)
    sign_in(client, author.email)
    _, token, submission_id = page_of(client)
    location = client.post("/reports/new", data=form_fields(token, submission_id)).headers["Location"]
    other_client = client.application.test_client()
    sign_in(other_client, make_user(make_org(), Role.REPORTER).email)
    assert other_client.get(location).status_code == 404
    colleague_client = client.application.test_client()
    sign_in(colleague_client, make_user(org, Role.REPORTER).email)
    assert colleague_client.get(location).status_code == 404


def test_admin_cannot_open_the_form(client: Any, org: Any) -> None:
    """Administrators do not file or read reports: the form is not there for them."""
    admin = make_user(org, Role.ADMIN)
    sign_in(client, admin.email)
    assert client.get("/reports/new").status_code == 404


def test_signed_out_visitor_is_sent_to_sign_in(client: Any) -> None:
    """The form asks for sign-in first."""
    response = client.get("/reports/new")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_wrong_password_is_refused_without_saying_which_part(client: Any, reporter: Any) -> None:
    """A wrong password or unknown e-mail gets the same message and no session."""
    wrong = sign_in(client, reporter.email, "not the password")
    unknown = sign_in(client, "nobody@example.org", "whatever it is")
    assert wrong.status_code == unknown.status_code == 401
    assert "not right" in wrong.get_data(as_text=True) and "not right" in unknown.get_data(as_text=True)
    assert client.get("/my-reports").status_code == 302


def test_form_page_is_translated_and_right_to_left_for_arabic(client: Any, reporter: Any) -> None:
    """The page's language and direction follow the browser's language."""
    sign_in(client, reporter.email)
    html = client.get("/reports/new", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    html = client.get("/reports/new", headers={"Accept-Language": "en-GB,en;q=0.8"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html


def test_the_same_photo_stored_twice_by_two_presses_goes_with_the_report_once(reporter_client: Any, app: Any,
                                                                                reporter: Any) -> None:
    """Two presses running side by side can each keep a copy of a photo: the report gets it once, and the
    extra copy is removed from the stash and the disk."""
    import secrets

    from intake.media import stored_path

    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, latitude="123", **{"attachments-0-file": photo()})
    assert reporter_client.post("/reports/new", data=data, content_type="multipart/form-data").status_code == 422
    kept = db.session.scalar(select(Attachment))
    assert kept is not None
    # What the other press stored at the same moment, before either saw the other's row.
    twin = Attachment(organisation_id=kept.organisation_id, uploaded_by_id=kept.uploaded_by_id,
                      data_key=kept.data_key,
                      stash_key=kept.stash_key, storage_name=secrets.token_hex(16), original_filename="crater.jpg",
                      media_type=kept.media_type, size=kept.size, sha256=kept.sha256)
    path = stored_path(app.config, twin)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(stored_path(app.config, kept).read_bytes())
    db.session.add(twin)
    db.session.commit()

    retry = form_fields(token, submission_id, **{"attachments-0-upload_id": kept.public_id})
    assert reporter_client.post("/reports/new", data=retry).status_code == 302
    db.session.expire_all()
    report = db.session.scalar(select(Report))
    assert report is not None and [a.sha256 for a in report.attachments] == [kept.sha256]
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 1
    assert len([p for p in Path(app.config["UPLOAD_PATH"]).rglob("*") if p.is_file()]) == 1


def test_weapon_fields_suggest_names_from_the_catalogue(reporter_client: Any) -> None:
    """Platform, munition, component and manufacturer fields offer the catalogue's names (no JavaScript)."""
    html, _, _ = page_of(reporter_client)
    assert 'list="catalogue-platform"' in html and 'list="catalogue-munition"' in html
    assert 'list="catalogue-component"' in html and 'list="catalogue-manufacturer"' in html
    expected = (("platform", "Bayraktar TB2", ' data-manufacturer="Baykar" data-country="Türkiye"'),
                ("munition", "MAM-L", ' data-manufacturer="Roketsan" data-country="Türkiye"'),
                ("component", "MX-15D", ' data-manufacturer="L3Harris Wescam" data-country="Canada"'),
                ("manufacturer", "Baykar", ""))
    for kind, name, facts in expected:
        datalist = html.split(f'<datalist id="catalogue-{kind}" translate="no">', 1)[1].split("</datalist>", 1)[0]
        # A designation's option carries what the form's script suggests for its manufacturer and country.
        assert f'<option value="{name}"{facts}>' in datalist, (kind, name)
