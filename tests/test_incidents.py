"""Incidents and duplicate suggestions, through the pages verifiers use.

The workers suggest likely duplicates of every report (same strike: close in time and place, same
weapon; or the same photo); verifiers link reports into incidents from the review page, unlink,
merge, reconcile the casualty figures, and read the weapons identified across an incident's reports.
"""

from __future__ import annotations

import io
import re
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from intake.duplicates import find_duplicates
from intake.enums import DuplicateReason, Role
from intake.extensions import db
from intake.models import AuditEntry, DuplicateSuggestion, Incident, IncidentLink, Report
from intake.pipeline import process_report
from tests.conftest import SECRET, complete_report, csrf_token, jpeg_bytes, make_org, make_token, make_user
from tests.test_verify import signed_in, triaged_report

# Khndzoresk (the complete report's place) and a point about 400 m from it.
HERE = {"latitude": 39.5057, "longitude": 46.4362}
NEXT_DOOR = {"latitude": 39.5090, "longitude": 46.4380}
# Yerevan: 200 km away.
FAR = {"latitude": 40.1811, "longitude": 44.5136, "locality": "Yerevan", "admin2": "Kentron", "admin1": "Yerevan"}
SAME_STRIKE = {**NEXT_DOOR, "occurred_on": "2026-03-15", "occurred_time": None, "locality": "Khndzoresk village",
               "narrative": "A drone hit the bakery queue on the main street at dawn; two people died.",
               "platform_model": None, "munition_model": "mam-l", "components": []}
UNRELATED = {"incident_type": "shelling", "delivery_platform": "artillery", "platform_model": None,
             "munition_type": None, "munition_model": None, "components": [],
             "narrative": "Shells fell on the school yard in the afternoon."}


def page(browser: Any, report: Report) -> str:
    response = browser.get(f"/queue/reports/{report.public_id}")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def panel(html: str) -> str:
    """The review page's section on incidents and duplicates."""
    start = html.index('<section class="incident-panel"')
    return html[start:html.index("</section>", start)]


def suggested_ids(html: str) -> list[str]:
    return re.findall(r'<li class="suggestion">\s*<a href="/queue/reports/([0-9a-f-]{36})"', panel(html))


def reasons_for(html: str, other: Report) -> set[str]:
    section = panel(html)
    start = section.index(f'/queue/reports/{other.public_id}"')
    end = section.find('<li class="suggestion">', start)
    return set(re.findall(r'data-reason="([a-z_]+)"', section[start:end if end > 0 else None]))


def post(browser: Any, url: str, **fields: Any) -> Any:
    token = csrf_token(browser.get("/account").get_data(as_text=True))
    return browser.post(url, data={"csrf_token": token, **fields})


def link_with(browser: Any, report: Report, other: Report) -> Any:
    """The one click on a suggestion: "Link into the same incident"."""
    html = page(browser, report)
    assert f'name="other" value="{other.public_id}"' in panel(html), "the suggestion offers the link"
    return post(browser, "/incidents/link", report=report.public_id, other=other.public_id)


def incident_of(app: Any, report: Report) -> Incident | None:
    with app.app_context():
        found = db.session.scalar(select(Incident).join(IncidentLink).where(IncidentLink.report_id == report.id))
        db.session.expunge_all()
        return found


def report_with_photo(app: Any, reporter: Any, photo: bytes, key: str, **overrides: Any) -> Report:
    """A report sent through the API with a photo, then processed by the pipeline."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    headers = {"Authorization": f"Bearer {make_token(reporter)}"}
    api = app.test_client()
    created = api.post("/api/v1/reports", json=complete_report(**overrides),
                       headers={**headers, "Idempotency-Key": key})
    assert created.status_code == 201
    public_id = created.get_json()["id"]
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(photo), filename="IMG_0001.jpg")})
    uploaded = api.post(f"/api/v1/reports/{public_id}/attachments", data=body, headers=headers,
                        content_type=f"multipart/form-data; boundary={boundary}")
    assert uploaded.status_code == 201
    with app.app_context():
        report = db.session.scalar(select(Report).where(Report.public_id == public_id))
        assert report is not None
        process_report(db.session, app.config, report.id)
        db.session.commit()
        db.session.expunge_all()
        return report


def audit_actions(app: Any) -> list[tuple[str, str | None, dict[str, Any]]]:
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("incident.%"))
                                     .order_by(AuditEntry.seq))
        return [(e.action, e.target_id, dict(e.detail)) for e in entries]


def audit_verify(app_config: dict[str, Any]) -> Any:
    from intake.cli import main

    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app_config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app_config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app_config["INSTANCE_PATH"]}
    return CliRunner(env=env).invoke(main, ["audit", "verify"], catch_exceptions=False)


# ---- duplicate suggestions ----------------------------------------------------------------------


def test_two_reports_of_the_same_strike_are_suggested_for_each_other_with_reasons(app: Any, reporter: Any,
                                                                                verifier: Any) -> None:
    """A day apart, 400 m apart, the same munition (spelt differently) and a similar account: each is
    suggested on the other's page with its reasons. The same strike in another town, or a month later
    at the same place, is not."""
    first = triaged_report(app, reporter, **HERE)
    second = triaged_report(app, reporter, **SAME_STRIKE)
    far = triaged_report(app, reporter, **FAR)
    later = triaged_report(app, reporter, **HERE, occurred_on="2026-04-20")
    browser = signed_in(app, verifier)
    html = page(browser, first)
    assert suggested_ids(html) == [second.public_id]
    assert {"same_time", "nearby", "same_type", "same_munition", "similar_account"} <= reasons_for(html, second)
    assert "Same munition model" in panel(html) and "Nearby, within both reports" in panel(html)
    assert "Khndzoresk village" in panel(html), "the other report's publishable place is shown"
    assert first.public_id in suggested_ids(page(browser, second))
    for lonely in (far, later):
        assert first.public_id not in suggested_ids(page(browser, lonely))
        assert lonely.public_id not in suggested_ids(html)


def test_suggestions_are_replaced_not_piled_up_when_the_pipeline_runs_again(app: Any, reporter: Any) -> None:
    """The step is idempotent: a second run leaves the same suggestions, once."""
    first = triaged_report(app, reporter, **HERE)
    second = triaged_report(app, reporter, **SAME_STRIKE)
    with app.app_context():
        for _ in range(2):
            process_report(db.session, app.config, second.id)
            process_report(db.session, app.config, first.id)
            db.session.commit()
        rows = db.session.scalars(select(DuplicateSuggestion)).all()
        assert len(rows) == 1 and {rows[0].report_id, rows[0].candidate_id} == {first.id, second.id}
        assert all(isinstance(code, str) for code in rows[0].reasons)


def test_an_identical_photo_alone_is_suggested(app: Any, reporter: Any, verifier: Any) -> None:
    """The same photo sent with two reports that share nothing else (far apart, months apart, another
    type): suggested, with the file as the only reason. A different photo (with a report of another
    strike) is not."""
    photo = jpeg_bytes((80, 60))
    first = report_with_photo(app, reporter, photo, "photo-0001")
    forwarded = report_with_photo(app, reporter, photo, "photo-0002", **FAR, **UNRELATED, occurred_on="2026-07-02")
    other_photo = report_with_photo(app, reporter, jpeg_bytes((81, 60)), "photo-0003", **UNRELATED,
                                    occurred_on="2026-03-14")
    html = page(signed_in(app, verifier), forwarded)
    assert first.public_id in suggested_ids(html)
    assert reasons_for(html, first) == {"same_media"}
    assert "Likeness 100 / 100" in panel(html)
    assert other_photo.public_id not in suggested_ids(html)


def test_a_date_known_only_within_a_month_widens_the_window(app: Any, reporter: Any, verifier: Any) -> None:
    """Four weeks apart, at the same place with the same weapon: suggested when one report gives its date
    "within a month", not when both say "exact day" (nor six days apart, both exact)."""
    first = triaged_report(app, reporter, **HERE)
    vague = triaged_report(app, reporter, **HERE, occurred_on="2026-04-10", date_precision="month",
                           narrative="Something hit the market, we do not know the day.")
    exact = triaged_report(app, reporter, **HERE, occurred_on="2026-04-10",
                           narrative="Something hit the market, we do not know the day.")
    week_apart = triaged_report(app, reporter, **HERE, occurred_on="2026-03-20",
                                narrative="Something hit the market, we do not know the day.")
    shown = suggested_ids(page(signed_in(app, verifier), first))
    assert vague.public_id in shown
    assert exact.public_id not in shown and week_apart.public_id not in shown
    with app.app_context():
        report = db.session.get(Report, first.id)
        assert report is not None
        found = {c.facts.id: c.reasons for c in find_duplicates(db.session, report)}
        assert DuplicateReason.SAME_TIME in found[vague.id]


def test_reports_without_a_map_point_are_compared_by_district(app: Any, reporter: Any, verifier: Any) -> None:
    """No coordinates: the same district (admin2) in the same window stands in for the cell."""
    first = triaged_report(app, reporter, latitude=None, longitude=None, location_precision="town")
    second = triaged_report(app, reporter, latitude=None, longitude=None, location_precision="district",
                            locality=None, occurred_on="2026-03-15")
    elsewhere = triaged_report(app, reporter, latitude=None, longitude=None, admin2="Sisian", locality="Sisian")
    html = page(signed_in(app, verifier), first)
    assert second.public_id in suggested_ids(html)
    assert "same_area" in reasons_for(html, second)
    assert elsewhere.public_id not in suggested_ids(html)


def test_another_organisations_reports_are_never_suggested(app: Any, reporter: Any, verifier: Any) -> None:
    first = triaged_report(app, reporter, **HERE)
    outsider = make_user(make_org("Other NGO"), Role.REPORTER)
    theirs = triaged_report(app, outsider, **SAME_STRIKE)
    assert theirs.public_id not in page(signed_in(app, verifier), first)
    with app.app_context():
        assert db.session.scalars(select(DuplicateSuggestion)).all() == []


# ---- incidents ----------------------------------------------------------------------------------


def test_link_reconcile_unlink_and_merge(app: Any, org: Any, reporter: Any, verifier: Any,
                                         app_config: dict[str, Any]) -> None:
    """The whole life of an incident, as a verifier clicks through it, every step audited."""
    first = triaged_report(app, reporter, **HERE)
    second = triaged_report(app, reporter, **SAME_STRIKE, killed={"men": 2, "women": 1}, injured={"girls": 1})
    elsewhere = triaged_report(app, reporter, **FAR)
    browser = signed_in(app, verifier)

    # One click on the suggestion: a new incident holds both.
    linked = link_with(browser, first, second)
    assert linked.status_code == 302 and linked.headers["Location"].endswith(f"/queue/reports/{first.public_id}")
    incident = incident_of(app, first)
    assert incident is not None and incident_of(app, second) is not None
    assert incident_of(app, second).id == incident.id  # type: ignore[union-attr]
    html = page(browser, first)
    assert "Part of the incident" in panel(html) and incident.public_id in panel(html)
    assert suggested_ids(html) == [], "a report already in the same incident is no longer suggested"

    # The incident page: both reports' facts, the counts side by side, the weapons.
    shown = browser.get(f"/incidents/{incident.public_id}").get_data(as_text=True)
    assert incident.title in shown and "Drone strike" in incident.title and "2026-03-14" in incident.title
    for fact in ("Khndzoresk village", "Khndzoresk", first.public_id, second.public_id, "Bayraktar TB2",
                 "MAM-L", "MX-15D", "L3Harris Wescam", "CA", "Targeting sensor"):
        assert fact in shown, fact
    assert re.search(r"<td>2<br><small>Men 1, Women 1</small></td>", shown), "first report: 2 killed"
    assert re.search(r"<td>3<br><small>Men 2, Women 1</small></td>", shown), "second report: 3 killed"
    assert "<td>2–3</td>" in shown, "the range across reports"
    for withheld in ("Anahit Petrosyan", "Gor Hakobyan", "+374 91 234567", "39.5057", "t.me/example"):
        assert withheld not in shown, withheld
    assert "Best grade its verified reports support: <strong>none yet</strong>" in shown

    # The incident carries the best grade its verified reports support; an unsigned "confirmed" does not count.
    from intake.enums import Grade, ReportState

    with app.app_context():
        for report, grade, pending in ((first, Grade.WEAK, False), (second, Grade.CONFIRMED, True)):
            row = db.session.get(Report, report.id)
            assert row is not None
            row.state, row.grade, row.sign_off_pending = ReportState.VERIFIED, grade, pending
        db.session.commit()
    shown = browser.get(f"/incidents/{incident.public_id}").get_data(as_text=True)
    assert "Best grade its verified reports support: <strong>Weak</strong>" in shown
    with app.app_context():
        row = db.session.get(Report, second.id)
        assert row is not None
        row.sign_off_pending = False
        db.session.commit()
    shown = browser.get(f"/incidents/{incident.public_id}").get_data(as_text=True)
    assert "Best grade its verified reports support: <strong>Confirmed</strong>" in shown
    assert re.search(r"<td><bdi>MAM-L</bdi></td>.*?<td>2</td>", shown, re.S), "both reports name the munition"

    # Reconcile: a wrong figure keeps what was typed; a good one is recorded with its note.
    refused = post(browser, f"/incidents/{incident.public_id}/figures", killed="-1", injured="1", missing="0",
                   note="Hospital list checked")
    assert refused.status_code == 422 and "Hospital list checked" in refused.get_data(as_text=True)
    recorded = post(browser, f"/incidents/{incident.public_id}/figures", killed="3", injured="1", missing="0",
                    note="Hospital list checked against both accounts")
    assert recorded.status_code == 302
    shown = browser.get(f"/incidents/{incident.public_id}").get_data(as_text=True)
    assert re.search(r'<tr class="reconciled"><th scope="row">Reconciled</th><td>3</td><td>1</td><td>0</td>', shown)
    assert "Hospital list checked against both accounts" in shown
    listed = browser.get("/incidents/").get_data(as_text=True)
    assert incident.title in listed and "<td>2</td>" in listed and "<td>3</td>" in listed

    # Unlink the second report; it can be linked anew into its own incident, then merged back.
    unlinked = post(browser, f"/incidents/{incident.public_id}/unlink", report=second.public_id, back="incident")
    assert unlinked.status_code == 302
    assert incident_of(app, second) is None
    assert second.public_id not in browser.get(f"/incidents/{incident.public_id}").get_data(as_text=True)
    assert post(browser, "/incidents/link", report=elsewhere.public_id).status_code == 302
    assert post(browser, "/incidents/link", report=second.public_id, other=elsewhere.public_id).status_code == 302
    other = incident_of(app, elsewhere)
    assert other is not None and other.id != incident.id and incident_of(app, second).id == other.id  # type: ignore[union-attr]
    merged = post(browser, f"/incidents/{incident.public_id}/merge", other=other.public_id, back="incident")
    assert merged.status_code == 302
    for report in (first, second, elsewhere):
        assert incident_of(app, report).id == incident.id  # type: ignore[union-attr]
    gone = browser.get(f"/incidents/{other.public_id}")
    assert gone.status_code == 302 and gone.headers["Location"].endswith(f"/incidents/{incident.public_id}")
    assert other.title not in browser.get("/incidents/").get_data(as_text=True), "the merged one is closed"

    actions = audit_actions(app)
    assert [a for a, _t, _d in actions] == [
        "incident.created", "incident.report_linked", "incident.report_linked", "incident.figures_reconciled",
        "incident.report_unlinked", "incident.created", "incident.report_linked", "incident.report_linked",
        "incident.merged",
    ]
    assert ("incident.figures_reconciled", incident.public_id, {"killed": 3, "injured": 1, "missing": 0}) in actions
    assert ("incident.merged", incident.public_id,
            {"merged": other.public_id, "reports_moved": 2, "figures_from_merged": False}) in actions
    assert all("Hospital" not in str(detail) for _a, _t, detail in actions), "the note stays out of the log"
    result = audit_verify(app_config)
    assert result.exit_code == 0 and "intact" in result.output


def test_a_report_belongs_to_one_incident_at_most(app: Any, reporter: Any, verifier: Any) -> None:
    """Linking a report that is in another incident is refused with an explanation; nothing changes."""
    first = triaged_report(app, reporter, **HERE)
    second = triaged_report(app, reporter, **FAR)
    browser = signed_in(app, verifier)
    post(browser, "/incidents/link", report=first.public_id)
    post(browser, "/incidents/link", report=second.public_id)
    target = incident_of(app, second)
    assert target is not None
    refused = post(browser, "/incidents/link", report=first.public_id, incident=target.public_id)
    assert refused.status_code == 302
    assert "already part of another incident" in page(browser, first)
    assert incident_of(app, first).id != target.id  # type: ignore[union-attr]
    refused = post(browser, "/incidents/link", report=first.public_id, other=second.public_id)
    assert "merge the incidents instead" in page(browser, first)


def test_coordinators_work_on_incidents_too(app: Any, org: Any, reporter: Any) -> None:
    first = triaged_report(app, reporter, **HERE)
    second = triaged_report(app, reporter, **SAME_STRIKE)
    browser = signed_in(app, make_user(org, Role.COORDINATOR))
    assert link_with(browser, first, second).status_code == 302
    incident = incident_of(app, first)
    assert incident is not None
    assert browser.get(f"/incidents/{incident.public_id}").status_code == 200


def test_other_organisations_and_reporters_get_404_on_every_incident_route(app: Any, org: Any, reporter: Any,
                                                                           verifier: Any) -> None:
    first = triaged_report(app, reporter, **HERE)
    second = triaged_report(app, reporter, **SAME_STRIKE)
    mine = signed_in(app, verifier)
    link_with(mine, first, second)
    post(mine, "/incidents/link", report=triaged_report(app, reporter, **FAR).public_id)
    incident = incident_of(app, first)
    assert incident is not None
    other_org = make_org("Other NGO")
    outsider_report = triaged_report(app, make_user(other_org, Role.REPORTER), **SAME_STRIKE)
    before = audit_actions(app)
    for user in (make_user(other_org, Role.VERIFIER), make_user(other_org, Role.COORDINATOR), reporter,
                 make_user(org, Role.ADMIN)):
        browser = signed_in(app, user)
        listed = browser.get("/incidents/")
        assert listed.status_code == 404 or incident.title not in listed.get_data(as_text=True)
        if user.role in (Role.REPORTER, Role.ADMIN):
            assert listed.status_code == 404
        assert browser.get(f"/incidents/{incident.public_id}").status_code == 404
        for url, fields in (
            ("/incidents/link", {"report": first.public_id}),
            ("/incidents/link", {"report": outsider_report.public_id, "other": first.public_id}),
            ("/incidents/link", {"report": outsider_report.public_id, "incident": incident.public_id}),
            (f"/incidents/{incident.public_id}/unlink", {"report": first.public_id}),
            (f"/incidents/{incident.public_id}/merge", {"other": incident.public_id}),
            (f"/incidents/{incident.public_id}/figures", {"killed": "1", "injured": "0", "missing": "0",
                                                         "note": "not theirs to say"}),
        ):
            assert post(browser, url, **fields).status_code == 404, (user.role, url, fields)
    assert audit_actions(app) == before, "nothing happened"
    assert incident_of(app, outsider_report) is None


def test_markup_typed_into_reports_is_text_on_incident_pages(app: Any, reporter: Any, verifier: Any) -> None:
    """A script in a place name, a weapon model or a component stays text in the incident's title, its
    page, the list and the review page's section; every form on them carries a CSRF token."""
    payload = '"><script>alert(1)</script>'
    first = triaged_report(app, reporter, **HERE, locality=payload, munition_model=payload,
                           components=[{"kind": "fuze", "model": payload, "manufacturer": payload}])
    second = triaged_report(app, reporter, **SAME_STRIKE)
    browser = signed_in(app, verifier)
    link_with(browser, second, first)
    incident = incident_of(app, first)
    assert incident is not None and payload in incident.title
    for url in (f"/incidents/{incident.public_id}", "/incidents/", f"/queue/reports/{first.public_id}",
                f"/queue/reports/{second.public_id}"):
        html = browser.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
        assert " style=" not in html and not re.search(r"\son[a-z]+=", html), url
        mine = panel(html) if url.startswith("/queue/") else html
        for form in re.findall(r'<form[^>]*method="post".*?</form>', mine, re.S):
            assert 'name="csrf_token"' in form, url
