"""The intake journal: the API accepts a report as one sealed row, and a worker files it.

What a field worker and a coordinator would notice: the answer comes with the report's id and
receipt at once; the report reads the same before and after it is filed; nothing readable is left
in the journal; a replay or a race never makes a second report, whichever channel it came through;
a master key rotation covers reports not yet filed; a submission that cannot be filed is held in
view of a coordinator, never dropped.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from intake import crypto
from intake.enums import ReportState
from intake.extensions import db
from intake.models import KeyEpoch, Report, Submission
from intake.submissions import file_submission, start_filing
from tests.conftest import (
    all_at_once,
    complete_report,
    file_accepted,
    make_org,
    make_token,
    make_user,
    sign_in,
    wait_for,
)
from tests.test_field import form_fields, page_of

REPORTS = "/api/v1/reports"
NARRATIVE = "Journal canary QX7-narrative: the shell hit the bakery queue."


def bearer(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


def journal() -> list[Submission]:
    db.session.rollback()
    return list(db.session.scalars(select(Submission).order_by(Submission.id)))


def reports() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Report)) or 0


def test_accepted_report_reads_the_same_before_and_after_it_is_filed(app: Any, client: Any, reporter: Any) -> None:
    """The 201 carries the id and receipt; the journal holds it sealed; filing keeps id, receipt and
    content, and leaves nothing of the report in the journal."""
    token = make_token(reporter)
    created = client.post(REPORTS, json=complete_report(narrative=NARRATIVE), headers=bearer(token, "journal-01"))
    assert created.status_code == 201
    answer = created.get_json()
    assert answer["status"] == "received" and answer["submitted"]["narrative"] == NARRATIVE
    assert reports() == 0  # accepted: one journal row, nothing else written yet
    (entry,) = journal()
    assert (entry.public_id, entry.receipt_code) == (answer["id"], answer["receipt_code"])
    engine = create_engine(app.config["DATABASE_URL"])
    try:
        with engine.connect() as raw:
            dump = str(raw.execute(text("SELECT * FROM submissions")).all())
    finally:
        engine.dispose()
    assert "QX7-narrative" not in dump and "Anahit" not in dump

    (report_id,) = file_accepted(app)
    read = client.get(f"{REPORTS}/{answer['id']}", headers=bearer(token)).get_json()
    assert (read["id"], read["receipt_code"], read["received_at"]) == (answer["id"], answer["receipt_code"],
                                                                       answer["received_at"])
    assert read["submitted"] == answer["submitted"]
    (entry,) = journal()
    assert entry.report_id == report_id
    assert entry.payload is None and entry.key_wrapped is None and entry.due_at is None


def test_reading_an_accepted_report_files_it_once(app: Any, client: Any, reporter: Any) -> None:
    """A reporter who reads (or adds a file to) a report no worker filed yet gets it, filed then;
    a worker filing it afterwards changes nothing."""
    token = make_token(reporter)
    public_id = client.post(REPORTS, json=complete_report(), headers=bearer(token, "journal-02")).get_json()["id"]
    read = client.get(f"{REPORTS}/{public_id}", headers=bearer(token))
    assert read.status_code == 200 and read.get_json()["status"] == "received"
    assert reports() == 1
    (entry,) = journal()
    with app.app_context():
        again = file_submission(db.session, entry, 300)
        db.session.commit()
        assert again.public_id == public_id
    assert reports() == 1


def test_my_reports_lists_what_the_api_accepted(app: Any, client: Any, reporter: Any) -> None:
    """A report sent through the app shows in the reporter's web list at once, with its receipt."""
    token = make_token(reporter)
    sent = client.post(REPORTS, json=complete_report(), headers=bearer(token, "journal-03"))
    receipt = sent.get_json()["receipt_code"]
    browser = app.test_client()
    sign_in(browser, reporter.email)
    page = browser.get("/my-reports")
    assert page.status_code == 200 and receipt in page.get_data(as_text=True)


def test_one_key_through_the_api_and_the_form_is_one_report(app: Any, client: Any, reporter: Any) -> None:
    """The same submission id sent by the app and then by the web form (a retry on another channel)
    makes one report: the form shows the receipt of the one the API accepted."""
    token = make_token(reporter)
    key = "journal-cross-channel-01"
    answer = client.post(REPORTS, json=complete_report(), headers=bearer(token, key)).get_json()
    browser = app.test_client()
    sign_in(browser, reporter.email)
    _html, csrf, _fresh_id = page_of(browser)
    sent = browser.post("/reports/new", data=form_fields(csrf, key), content_type="multipart/form-data")
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/reports/{answer['id']}/receipt")
    receipt_page = html_of(browser, sent.headers["Location"])
    assert answer["receipt_code"] in receipt_page
    assert reports() == 1 and len(journal()) == 1


def test_twenty_racing_sends_and_reads_make_one_report(app: Any, token_holder: tuple[Any, str]) -> None:
    """20 clients send the same report with one key and read it back at once: one journal row,
    one report, every answer names it."""
    _reporter, token = token_holder
    clients = [app.test_client() for _ in range(20)]

    def sender(client: Any) -> Any:
        def send() -> tuple[int, str, int]:
            sent = client.post(REPORTS, json=complete_report(), headers=bearer(token, "journal-race-01"))
            read = client.get(f"{REPORTS}/{sent.get_json()['id']}", headers=bearer(token))
            return sent.status_code, sent.get_json()["id"], read.status_code

        return send

    results = all_at_once([sender(client) for client in clients])
    assert sorted(status for status, _, _ in results) == [200] * 19 + [201]
    assert len({public_id for _, public_id, _ in results}) == 1
    assert {status for _, _, status in results} == {200}
    assert reports() == 1 and len(journal()) == 1


@pytest.fixture
def token_holder(reporter: Any) -> tuple[Any, str]:
    return reporter, make_token(reporter)


def test_rotation_covers_reports_not_yet_filed(app: Any, client: Any, reporter: Any, run_cli: Any,
                                               instance_path: Any) -> None:
    """`intake keys rotate` rewraps the data key of a report still in the journal; after `retire`
    it is filed and read with the new master key alone."""
    token = make_token(reporter)
    public_id = client.post(REPORTS, json=complete_report(narrative=NARRATIVE),
                            headers=bearer(token, "journal-rotate")).get_json()["id"]
    key_file = instance_path / "master_key"
    old = crypto.parse_master_keys(key_file.read_text())
    rotated = run_cli("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "Rewrapped 1 data key(s)" in rotated.output, rotated.output
    assert run_cli("keys", "retire").exit_code == 0
    (entry,) = journal()
    assert entry.key_wrapped is not None and entry.key_epoch_id is not None
    # The journal's data key is wrapped by its erasure epoch's key, and that one by the master key.
    with app.app_context():
        epoch = db.session.get(KeyEpoch, entry.key_epoch_id)
        assert epoch is not None
        with pytest.raises(crypto.DataKeyUnavailable):
            crypto.Keyring(old).unwrap(epoch.wrapped)
        assert crypto.active_keyring().unwrap(epoch.wrapped)
        db.session.remove()
    db.session.remove()
    file_accepted(app)
    with app.app_context():
        report = db.session.scalar(select(Report).where(Report.public_id == public_id))
        assert report is not None and report.narrative == NARRATIVE


def test_a_submission_that_cannot_be_filed_is_held_for_a_coordinator(app: Any, client: Any, reporter: Any,
                                                                     org: Any) -> None:
    """Past its attempts a submission leaves the relay but stays, sealed and complete; the held page
    shows it with its receipt, and Retry puts it back."""
    from intake.enums import Role

    token = make_token(reporter)
    sent = client.post(REPORTS, json=complete_report(), headers=bearer(token, "journal-held"))
    receipt = sent.get_json()["receipt_code"]
    (entry,) = journal()
    with app.app_context():
        for _ in range(app.config["PIPELINE_MAX_ATTEMPTS"]):
            assert start_filing(db.session, entry.id, app.config["PIPELINE_MAX_ATTEMPTS"], 300) is not None
            db.session.commit()
        assert start_filing(db.session, entry.id, app.config["PIPELINE_MAX_ATTEMPTS"], 300) is None
        db.session.commit()
    (entry,) = journal()
    assert entry.due_at is None and entry.payload is not None and entry.report_id is None

    # Only a coordinator of the submission's own organisation sees it and may retry it.
    for outsider in (make_user(org, Role.VERIFIER), make_user(make_org(), Role.COORDINATOR)):
        other = app.test_client()
        sign_in(other, outsider.email)
        token = _csrf(html_of(other, "/account"))
        assert other.post(f"/queue/held/submissions/{entry.public_id}/retry",
                          data={"csrf_token": token}).status_code == 404
        if outsider.role == Role.COORDINATOR:
            assert receipt not in html_of(other, "/queue/held")
    (entry,) = journal()
    assert entry.due_at is None

    coordinator = make_user(org, Role.COORDINATOR)
    browser = app.test_client()
    sign_in(browser, coordinator.email)
    held = html_of(browser, "/queue/held")
    assert receipt in held and "Received, not yet filed" in held
    retried = browser.post(f"/queue/held/submissions/{entry.public_id}/retry",
                           data={"csrf_token": _csrf(held)})
    assert retried.status_code == 302
    (entry,) = journal()
    assert entry.due_at is not None and entry.attempts == 0
    assert receipt not in html_of(browser, "/queue/held")


def _csrf(html: str) -> str:
    from tests.conftest import csrf_token

    return csrf_token(html)


def html_of(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


@pytest.fixture
def run_cli(app: Any, app_config: dict[str, Any]) -> Any:
    from click.testing import CliRunner

    from intake.cli import main
    from tests.conftest import SECRET

    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app_config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app_config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app_config["INSTANCE_PATH"]}

    def invoke(*args: str) -> Any:
        return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.mark.worker
def test_the_worker_files_an_api_report_and_brings_it_to_triage(app: Any, client: Any, reporter: Any,
                                                               worker: Any) -> None:
    """Nothing but the worker: its relay dispatches the accepted report, and it reaches triage."""
    token = make_token(reporter)
    started = time.monotonic()
    public_id = client.post(REPORTS, json=complete_report(), headers=bearer(token, "journal-worker")).get_json()["id"]

    def triaged() -> bool:
        db.session.rollback()
        return db.session.scalar(select(Report.state).where(Report.public_id == public_id)) == ReportState.TRIAGE

    wait_for(triaged, timeout=90)
    assert time.monotonic() - started < 90
    (entry,) = journal()
    assert entry.payload is None and entry.report_id is not None
