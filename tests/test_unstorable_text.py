"""Text no column can hold (a NUL character) is refused before it is acknowledged,
at the field that holds it, by every channel; and a submission acknowledged but impossible to file
never breaks the reporter's pages."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import func, select, update

from intake.enums import Channel, Role
from intake.extensions import db
from intake.models import Report, Submission
from intake.schema import ReportIn
from tests.conftest import (
    complete_report,
    csrf_token,
    jpeg_bytes,
    make_token,
    make_user,
    post_multipart,
    require_postgres,
    sign_in,
)
from tests.test_field import form_fields, page_of

REPORTS = "/api/v1/reports"
UNSTORABLE = "cannot be stored"


def bearer(token: str, key: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}


def journalled() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Submission)) or 0


def with_nested(field: str, value: str) -> dict[str, Any]:
    body = complete_report()
    if field == "victims.1.name":
        body["victims"][1]["name"] = value
    elif field == "witnesses.0.relation":
        body["witnesses"][0]["relation"] = value
    elif field == "components.0.model":
        body["components"][0]["model"] = value
    else:
        body[field] = value
    return body


@pytest.mark.parametrize("field", ["markings", "narrative", "locality", "victims.1.name", "witnesses.0.relation",
                                   "components.0.model"])
def test_the_api_refuses_a_nul_character_at_its_field_and_stores_nothing(
        client: Any, reporter: Any, field: str) -> None:
    token = make_token(reporter)
    response = client.post(REPORTS, json=with_nested(field, "nul\u0000byte"), headers=bearer(token, "nul-0001"))
    assert response.status_code == 422, response.get_data(as_text=True)
    errors = response.get_json()["errors"]
    assert list(errors) == [field] and UNSTORABLE in errors[field][0]
    assert "nul" not in str(errors)  # the value is never quoted back
    assert journalled() == 0
    # The same without the header (the long path through json.loads) says the same.
    body = {**with_nested(field, "nul\u0000byte"), "submission_id": "nul-0002"}
    again = client.post(REPORTS, json=body, headers=bearer(token))
    assert again.status_code == 422 and list(again.get_json()["errors"]) == [field]
    assert journalled() == 0


def test_every_such_field_is_named_at_once(client: Any, reporter: Any) -> None:
    body = with_nested("victims.1.name", "a\u0000")
    body["markings"] = "b\u0000"
    response = client.post(REPORTS, json=body, headers=bearer(make_token(reporter), "nul-many-1"))
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"victims.1.name", "markings"}


def test_the_form_shows_a_field_error_and_keeps_what_was_typed(reporter_client: Any) -> None:
    _, token, submission_id = page_of(reporter_client)
    typed = form_fields(token, submission_id, markings="3OF45\u0000lot", **{"victims-1-name": "Taras\u0000K"})
    response = reporter_client.post("/reports/new", data=typed)
    assert response.status_code == 422, response.get_data(as_text=True)[:2000]
    html = response.get_data(as_text=True)
    assert html.count(UNSTORABLE) >= 2
    for kept in ("Olena Kovalenko", "Shells hit the courtyard", "Kapytolivka", "+380 67 123 4567"):
        assert kept in html, kept
    assert journalled() == 0
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_a_file_description_with_a_nul_is_refused(app: Any, client: Any, reporter: Any) -> None:
    token = make_token(reporter)
    created = client.post(REPORTS, json=complete_report(), headers=bearer(token, "nul-file-1"))
    assert created.status_code == 201
    response = post_multipart(client, f"{REPORTS}/{created.get_json()['id']}/attachments",
                              {"file": (io.BytesIO(jpeg_bytes()), "a.jpg"), "description": "crater\u0000"},
                              headers=bearer(token))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert list(response.get_json()["errors"]) == ["description"]


# ---- a submission acknowledged that cannot be filed ----------------------------------------------


def _acknowledge_unfileable(app: Any, reporter: Any, kind: str) -> Submission:
    """A journal row the workers cannot file: sealed before the schema refused NUL (on PostgreSQL
    its filing fails with DataError), or whose sealed copy is damaged (fails everywhere)."""
    from intake.submissions import accept

    data = ReportIn.model_validate(complete_report())
    if kind == "nul":
        data.markings = "nul\u0000byte"  # as an earlier version accepted it
    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        accepted = accept(connection, reporter.id, reporter.organisation_id, data, Channel.API, f"unfileable-{kind}")
    entry = db.session.scalar(select(Submission).where(Submission.public_id == accepted.public_id))
    assert entry is not None and entry.payload is not None
    if kind == "damaged":
        damaged = bytearray(entry.payload)
        damaged[-1] ^= 0xFF
        db.session.execute(update(Submission).where(Submission.id == entry.id).values(payload=bytes(damaged)))
        db.session.commit()
    return entry


@pytest.mark.parametrize("kind", ["nul", "damaged"])
def test_an_acknowledged_submission_that_cannot_be_filed_never_breaks_the_reporters_pages(
        app: Any, client: Any, org: Any, reporter: Any, kind: str) -> None:
    if kind == "nul":
        require_postgres()  # SQLite stores a NUL; PostgreSQL refuses it
    from workers.tasks import file_submission

    entry = _acknowledge_unfileable(app, reporter, kind)
    public_id, receipt_code, entry_id = entry.public_id, entry.receipt_code, entry.id
    token = make_token(reporter)
    for _ in range(2):  # the second look does not try it again, and still answers
        read = client.get(f"{REPORTS}/{public_id}", headers=bearer(token))
        assert read.status_code == 200, read.get_data(as_text=True)
        body = read.get_json()
        assert body["status"] == "received" and body["receipt_code"] == receipt_code and "submitted" not in body
    browser = app.test_client()
    sign_in(browser, reporter.email)
    page = browser.get("/my-reports")
    assert page.status_code == 200
    assert receipt_code in page.get_data(as_text=True) and "being filed" in page.get_data(as_text=True)
    db.session.rollback()
    noted = db.session.get(Submission, entry_id)
    assert noted is not None and noted.last_error and "nul" not in noted.last_error

    # The workers try it (each attempt counted) and then hold it for a coordinator, sealed, complete.
    app.config["PIPELINE_MAX_ATTEMPTS"] = 2
    db.session.execute(update(Submission).where(Submission.id == entry_id).values(due_at=func.now()))
    db.session.commit()
    for _ in range(3):
        with app.app_context():
            file_submission.run(entry_id)
    db.session.rollback()
    held = db.session.get(Submission, entry_id)
    assert held is not None and held.due_at is None and held.payload is not None and held.report_id is None
    coordinator = app.test_client()
    sign_in(coordinator, make_user(org, Role.COORDINATOR).email)
    held_page = coordinator.get("/queue/held")
    assert held_page.status_code == 200 and receipt_code in held_page.get_data(as_text=True)
    assert browser.get("/my-reports").status_code == 200
    assert client.get(f"{REPORTS}/{public_id}", headers=bearer(token)).status_code == 200
    assert csrf_token(held_page.get_data(as_text=True))
