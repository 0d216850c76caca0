"""The casualty table and the people listed one by one, reconciled (intake/casualties.py), through
the web form and the JSON API: the form asks once when the list names more people than the table
counts, and the queue's priority counts the larger of the two on every channel."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from intake.enums import Harm
from intake.extensions import db
from intake.models import Report
from intake.pipeline import process_report
from tests.conftest import complete_report, file_accepted, make_token
from tests.test_browser import (  # noqa: F401 (fixtures)
    browser,
    expect,
    javascript,
    live_server,
    page,
    sign_in_and_open_form,
    tap,
)
from tests.test_field import form_fields, page_of, report_count
from tests.test_verify import signed_in
from tests.test_workflow import ids_in

TWO_KILLED = {"victims-1-harm": "killed", "killed_women": "", "injured_boys": ""}
VICTIM = {"sex": "female", "harm": "killed"}


def test_form_asks_once_when_more_people_are_listed_than_counted(reporter_client: Any) -> None:
    _, token, submission_id = page_of(reporter_client)
    asked = reporter_client.post("/reports/new", data=form_fields(token, submission_id, **TWO_KILLED))
    assert asked.status_code == 422
    html = asked.get_data(as_text=True)
    assert "The report was not sent yet: more people are listed one by one than the table of numbers counts." in html
    assert "Killed: 2 listed one by one, 0 in the table." in html
    assert "Injured:" not in html.split('id="casualty-warning"', 1)[1].split("</div>", 1)[0]
    # Not an error: nothing is marked invalid, everything typed is on the page.
    assert "aria-invalid" not in html and 'id="form-errors"' not in html
    assert 'value="Olena Kovalenko"' in html and 'value="Taras Kovalenko"' in html
    assert report_count() == 0

    # The reporter knows better: "Send the report as it is".
    button = re.search(r'<button type="submit" name="(casualties_confirmed)" value="(yes)"', html)
    assert button, "the question offers to send as it is"
    sent = reporter_client.post("/reports/new", data=form_fields(token, submission_id, **TWO_KILLED,
                                                                  casualties_confirmed="yes"))
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/receipt")
    report = db.session.scalar(select(Report))
    assert report is not None
    assert (report.killed_women, report.total(Harm.KILLED)) == (0, 0), "the table is kept as typed"
    assert [v.harm.value for v in report.victims] == ["killed", "killed"]
    assert report.casualty_total == 2


def test_form_that_agrees_or_lists_fewer_people_is_sent_at_once(reporter_client: Any) -> None:
    """The list is optional: fewer people listed than counted is no disagreement."""
    _, token, submission_id = page_of(reporter_client)
    fewer = {"killed_women": "5", "victims-1-name": "", "victims-1-age_band": "", "victims-1-sex": "unknown",
             "victims-1-harm": "", "victims-1-civilian_status": "unknown", "victims-1-occupation": "none_given"}
    sent = reporter_client.post("/reports/new", data=form_fields(token, submission_id, **fewer))
    assert sent.status_code == 302
    report = db.session.scalar(select(Report))
    assert report is not None and report.casualty_total == 5 + 1  # five killed, one injured boy


def test_the_queue_counts_the_larger_of_the_table_and_the_list_for_api_reports(app: Any, reporter: Any,
                                                                             verifier: Any) -> None:
    """Two people listed as killed over a table of zeros sorts as two killed, above one killed,
    whether the report came through the API or not."""
    api = app.test_client()
    headers = {"Authorization": f"Bearer {make_token(reporter)}"}
    bodies = {
        "none": complete_report(killed={}, injured={}, victims=[]),
        "one counted": complete_report(killed={"men": 1}, injured={}, victims=[]),
        "two listed": complete_report(killed={}, injured={}, victims=[VICTIM, {**VICTIM, "sex": "male"}]),
        "three injured, one listed": complete_report(killed={}, injured={"boys": 3},
                                                     victims=[{**VICTIM, "harm": "injured"}]),
    }
    ids = {}
    for key, body in bodies.items():
        idempotency_key = "casualties-" + key.replace(" ", "-").replace(",", "")
        created = api.post("/api/v1/reports", json=body, headers={**headers, "Idempotency-Key": idempotency_key})
        assert created.status_code in (201, 202), created.get_data(as_text=True)
        ids[key] = created.get_json()["id"]
    for report_id in file_accepted(app):
        process_report(db.session, app.config, report_id)
        db.session.commit()
    totals = dict(db.session.execute(select(Report.public_id, Report.casualty_total)).all())
    assert {key: totals[ids[key]] for key in ids} == {"none": 0, "one counted": 1, "two listed": 2,
                                                      "three injured, one listed": 3}
    db.session.remove()

    queue = signed_in(app, verifier)
    html = queue.get("/queue/").get_data(as_text=True)
    assert ids_in(html) == [ids["three injured, one listed"], ids["two listed"], ids["one counted"], ids["none"]]
    # The queue's Killed column says what the report says at least, and that it comes from the list.
    row = html.split(f'/queue/reports/{ids["two listed"]}"', 1)[1].split("</tr>", 1)[0]
    assert re.search(r"<td>2 <small[^>]*>\(listed\)</small></td>", row), row


def test_the_migration_recomputes_the_priority_of_reports_already_stored(app_config: dict[str, Any],
                                                                        tmp_path: Any) -> None:
    """Reports stored before the reconciliation get the priority they should have had (and back)."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from intake.app import create_app
    from intake.cli import alembic_config, upgrade_database
    from intake.enums import Role
    from tests.conftest import make_org, make_user
    from tests.test_verify import triaged_report

    url = f"sqlite:///{tmp_path / 'stored.sqlite3'}"
    upgrade_database(url)
    app = create_app({**app_config, "DATABASE_URL": url})
    with app.app_context():
        reporter = make_user(make_org("Stored before"), Role.REPORTER)
        report = triaged_report(app, reporter, killed={}, injured={"men": 1},
                                victims=[VICTIM, {**VICTIM, "sex": "male"}])
        report_id = report.id
        db.session.remove()
        db.engine.dispose()

    def stored_total() -> int:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT casualty_total FROM reports WHERE id = :id"),
                                        {"id": report_id}).scalar_one())
        finally:
            engine.dispose()

    assert stored_total() == 3
    command.downgrade(alembic_config(url), "0015g")
    assert stored_total() == 1, "before: the table only"
    command.upgrade(alembic_config(url), "head")
    assert stored_total() == 3, "two killed listed over a table of zeros, and one injured"


@pytest.mark.browser
def test_the_form_says_live_when_the_people_listed_outnumber_the_table(page: Any, reporter: Any) -> None:  # noqa: F811
    sign_in_and_open_form(page, reporter.email)
    check = page.locator("#casualty-check")
    expect(check).to_be_hidden()
    page.locator("#victims-0-harm").select_option("killed")
    expect(check).to_be_visible()
    expect(check).to_contain_text("Killed: 1 listed one by one, 0 in the table.")
    expect(check).to_have_attribute("role", "status")
    page.get_by_label("Killed — Women").fill("1")
    expect(check).to_be_hidden()

    tap(page, page.get_by_role("button", name="Add another person"))
    page.locator("#victims-1-harm").select_option("killed")
    expect(check).to_contain_text("Killed: 2 listed one by one, 1 in the table.")
    page.locator("#victims-1-harm").select_option("missing")
    expect(check).to_contain_text("Missing: 1 listed one by one, 0 in the table.")
    expect(check).not_to_contain_text("Killed")
    tap(page, page.locator('.rows[data-list="victims"] > fieldset.row').nth(1)
        .get_by_role("button", name="Remove this row"))
    expect(check).to_be_hidden()
