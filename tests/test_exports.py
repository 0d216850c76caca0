"""Open exports (intake/exports): four formats over reports or incidents, two tiers, one policy.

The public tier must not let anyone single out a person: a village where one child was killed
exports exactly as a village where one man was killed, in every format. Every format validates:
GeoJSON against RFC 7946's rules, HXL with libhxl, the CSVs re-read with their column sets.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import h3
import hxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from intake.enums import Grade, ReportState, Role, SourceReliability
from intake.exports.formats import acled_columns, columns
from intake.exports.policy import GROUPS, K, Of, check_public, suppress_counts
from intake.extensions import db
from intake.incidents import create_incident
from intake.models import AuditEntry, Report, User
from tests.conftest import make_org, make_user
from tests.test_cli import run  # noqa: F401,F811  (the fixture that runs `intake` against the test database)
from tests.test_verify import signed_in, triaged_report

FORMATS = ("csv", "geojson", "hxl", "acled")
CHILD = {"name": "Nare Sargsyan", "age": 7, "sex": "female", "harm": "killed", "civilian_status": "civilian",
         "occupation": "student"}
MAN = {"name": "Vardan Sargsyan", "age": 41, "sex": "male", "harm": "killed", "civilian_status": "civilian",
       "occupation": "farmer"}


def verified(app: Any, reporter: User, grade: str = "fair", reliability: str = "B", **overrides: Any) -> Report:
    """A report filed, processed by the pipeline, and verified with a grade."""
    report = triaged_report(app, reporter, **overrides)
    db.session.execute(update(Report).where(Report.id == report.id).values(
        state=ReportState.VERIFIED, grade=Grade(grade), source_reliability=SourceReliability(reliability)))
    db.session.commit()
    return report


def village(app: Any, reporter: User, victim: dict[str, Any], killed: dict[str, int]) -> Report:
    """A small village (Tegh, in Goris district) where one person was killed, the only report there."""
    return verified(app, reporter, locality="Tegh", admin2="Goris", latitude=39.5591, longitude=46.5036,
                    killed=killed, injured={}, victims=[victim], displaced=None, occurred_on="2026-03-14",
                    occurred_time="06:40", narrative="The strike hit the house at the edge of the village.")


def linked(app: Any, report: Report, verifier: User) -> str:
    with app.test_request_context():
        incident = create_incident(db.session, db.session.get(User, verifier.id), db.session.get(Report, report.id))
        db.session.commit()
        return incident.public_id


def download(browser: Any, fmt: str, of: str = "reports", tier: str = "public") -> Any:
    return browser.get(f"/exports/download?format={fmt}&of={of}&tier={tier}")


def parse(fmt: str, body: str) -> list[dict[str, Any]]:
    """The rows of an export as dicts (GeoJSON: each feature's properties)."""
    if fmt == "geojson":
        return [f["properties"] for f in json.loads(body)["features"]]
    lines = body.splitlines()
    if fmt == "hxl":
        lines = lines[:1] + lines[2:]  # the tag row is row 2
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


# Fields that differ between any two reports whatever they say (random ids, times of writing).
IDS = {"report_id", "incident_id", "event_id_cnty", "timestamp", "id"}


def anonymous(fmt: str, body: str) -> Any:
    if fmt == "geojson":
        document = json.loads(body)
        for f in document["features"]:
            f.pop("id")
            for key in IDS:
                f["properties"].pop(key, None)
        document.pop("intake_notes")
        return document
    return [{k: v for k, v in row.items() if k not in IDS} for row in parse(fmt, body)]


def test_no_public_output_lets_anyone_single_out_the_child(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    """A village where one girl of seven was killed exports, in every format and over reports or
    incidents, exactly as the same village where one man was killed: no per-victim row, counts
    "<5" in every group, the month only, the district and a 36 km² cell only."""
    child_report = village(app, reporter, CHILD, {"girls": 1})
    linked(app, child_report, verifier)
    other = make_org("Neighbouring NGO")
    other_reporter, other_verifier = make_user(other, Role.REPORTER), make_user(other, Role.VERIFIER)
    man_report = village(app, other_reporter, MAN, {"men": 1})
    linked(app, man_report, other_verifier)
    ours, theirs = signed_in(app, make_user(org, Role.COORDINATOR)), signed_in(app, make_user(other, Role.COORDINATOR))
    for of in ("reports", "incidents"):
        for fmt in FORMATS:
            response = download(ours, fmt, of)
            assert response.status_code == 200, (fmt, of)
            body = response.get_data(as_text=True)
            for never in ("Nare", "Sargsyan", "Tegh", "female", "student", ":5-11", "39.5591", "46.5036",
                          "edge of the village"):
                assert never not in body, (fmt, of, never)
            (row,) = parse(fmt, body)
            if fmt == "acled":
                assert row["fatalities"] == "<5" and row["civilian_fatalities"] == "<5"
                assert (row["event_date"], row["time_precision"], row["geo_precision"]) == ("2026-03-01", "3", "2")
                assert row["location"] == "Goris" and row["inter2"] == "7" and row["timestamp"] == ""
            else:
                assert {row[f"killed_{g}"] for g in GROUPS} == {"<5"}, (fmt, of)
                assert row["killed_total"] == "<5" and row["civilians_killed"] == "<5"
                assert row["occurred_on"] == "2026-03" and str(row["time_precision"]) == "3"
                assert not row.get("victims") and not row.get("locality") and not row.get("occurred_time")
                assert row["admin2"] == "Goris" and h3.get_resolution(row["location_cell"]) == 6
            assert anonymous(fmt, body) == anonymous(fmt, download(theirs, fmt, of).get_data(as_text=True)), \
                f"{fmt} over {of}: the child's village can be told from the man's"
    db.session.remove()
    entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export.csv")))
    assert len(entries) == 16 and {e.detail["rows"] for e in entries} == {1}
    assert {(e.detail["format"], e.detail["of"], e.detail["tier"]) for e in entries
            if e.organisation_id == org.id} == {(f, o, "public") for f in FORMATS for o in ("reports", "incidents")}


def geojson_problems(document: dict[str, Any]) -> list[str]:
    """RFC 7946's rules for what the export writes: one FeatureCollection of Features; no `crs`
    (section 4); positions [longitude, latitude] within WGS 84's ranges with at most 7 decimals
    (sections 3.1.1 and 11.2); Polygon rings closed, with four positions or more, the exterior
    counter-clockwise (3.1.6); geometry an object or null (3.2)."""
    problems = []
    if document.get("type") != "FeatureCollection" or not isinstance(document.get("features"), list):
        problems.append("not a FeatureCollection")
    if "crs" in document:
        problems.append("crs member")
    for n, f in enumerate(document.get("features", [])):
        if f.get("type") != "Feature" or "properties" not in f or "geometry" not in f:
            problems.append(f"feature {n} malformed")
        if "crs" in f:
            problems.append(f"feature {n} has crs")
        geometry = f.get("geometry")
        if geometry is None:
            continue
        if geometry.get("type") != "Polygon":
            problems.append(f"feature {n}: {geometry.get('type')}")
            continue
        for r, ring in enumerate(geometry["coordinates"]):
            if len(ring) < 4 or ring[0] != ring[-1]:
                problems.append(f"feature {n} ring {r} not a closed linear ring")
            for lon, lat in ring:
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    problems.append(f"feature {n}: position out of range")
                for value in (lon, lat):
                    if len(repr(float(value)).split(".")[1]) > 7:
                        problems.append(f"feature {n}: more than 7 decimals")
            area = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:], strict=False))
            if r == 0 and area <= 0:
                problems.append(f"feature {n}: exterior ring clockwise")
    return problems


# libhxl's core schema with one change: a count of people may read "<5" or "x" (suppressed).
HXL_SCHEMA = [["#valid_tag", "#valid_datatype", "#valid_value+regex", "#valid_severity"],
              ["#affected", "", r"^([0-9]+|<5|x)$", "error"], ["#x_missing", "", r"^([0-9]+|<5|x)$", "error"],
              ["#geo+lat", "number", "", "error"], ["#geo+lon", "number", "", "error"],
              ["#date", "date", "", "error"], ["#country+code", "", r"^[A-Z]{2}$", "error"]]


def hxl_issues(data: bytes) -> list[Any]:
    """libhxl's validation report of an HXL export: its issues, none when valid."""
    report = hxl.validate(hxl.data(io.BytesIO(data), hxl.InputOptions(allow_local=True)), schema=hxl.data(HXL_SCHEMA))
    return list(report["issues"])


def test_every_format_validates_and_keeps_large_counts(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    """GeoJSON passes RFC 7946's rules, HXL reads in libhxl with every tag as written and passes its
    validation, the CSVs re-read with their column sets; counts of five and more are kept, and a
    small count beside them is hidden with enough of its neighbours that the total gives nothing."""
    big = verified(app, reporter, grade="confirmed", reliability="A", admin2="Sisian",
                   killed={"men": 12, "women": 9, "boys": 6, "girls": 5}, injured={"men": 10, "girls": 1})
    incident_id = linked(app, big, verifier)
    verified(app, reporter, risk_to_source="high")  # never exported
    browser = signed_in(app, make_user(org, Role.COORDINATOR))
    for of in ("reports", "incidents"):
        geo = download(browser, "geojson", of)
        assert geo.headers["Content-Type"] == "application/geo+json"
        document = json.loads(geo.get_data(as_text=True))
        assert geojson_problems(document) == []
        (feature,) = document["features"]
        assert h3.get_resolution(feature["properties"]["location_cell"]) == 6
        assert document["intake_notes"]["k_anonymity_check"] == "passed"

        body = download(browser, "csv", of).get_data(as_text=True)
        header = next(csv.reader(io.StringIO(body)))
        assert header == [name for name, _tag in columns(Of(of))]
        (row,) = parse("csv", body)
        assert [row[f"killed_{g}"] for g in ("men", "women", "boys", "girls")] == ["12", "9", "6", "5"]
        assert row["killed_total"] == "32" and row["occurred_on"] == "2026-03-14" and row["time_precision"] == "1"
        # One girl injured beside ten men: the men's count is withheld too, else 11 - 10 would give her away.
        assert (row["injured_men"], row["injured_girls"], row["injured_total"]) == ("x", "<5", "11")
        assert row["grade"] == "confirmed" and row["source_reliability"] == "A"
        assert row["incident_id"] == incident_id
        assert row["date_precision"] == "exact" and row["geo_precision"] == "2"

        acled = download(browser, "acled", of).get_data(as_text=True)
        assert next(csv.reader(io.StringIO(acled))) == acled_columns()
        (event,) = parse("acled", acled)
        assert event["sub_event_type"] == "Air/drone strike" and event["event_type"] == "Explosions/Remote violence"
        assert (event["fatalities"], event["civilian_fatalities"], event["inter2"]) == ("32", "32", "7")
        assert event["iso"] == "051" and event["country"] == "Armenia" and event["actor2"] == "Civilians (Armenia)"
        assert math.isclose(float(event["latitude"]), h3.cell_to_latlng(row["location_cell"])[0], abs_tol=1e-5)

        tagged = download(browser, "hxl", of).get_data()
        source = hxl.data(io.BytesIO(tagged), hxl.InputOptions(allow_local=True))
        assert [c.display_tag for c in source.columns] == [tag for _name, tag in columns(Of(of))]
        assert all(c.display_tag.startswith("#") and c.display_tag == c.display_tag.lower() for c in source.columns)
        (hrow,) = list(source)
        assert hrow.get("#affected+killed+m+adults") == "12" and hrow.get("#x_grading") == "confirmed"
        assert hrow.get("#affected+injured+f+children") == "<5"
        assert hxl_issues(tagged) == []
        assert hxl_issues(tagged.replace(b",12,", b",twelve,", 1)) != [], "the validation can fail"


def test_the_partner_tier_has_item_level_detail_but_no_exact_place(app: Any, org: Any, reporter: Any) -> None:
    verified(app, reporter, killed={"girls": 1}, injured={}, victims=[CHILD], locality="Tegh")
    browser = signed_in(app, make_user(org, Role.COORDINATOR))
    response = download(browser, "csv", "reports", "partner")
    (row,) = parse("csv", response.get_data(as_text=True))
    assert row["victims"] == "killed:female:5-11:civilian" and row["locality"] == "Tegh"
    assert row["killed_girls"] == "1" and row["occurred_on"] == "2026-03-14" and row["occurred_time"] == "06:00:00"
    assert "Nare" not in response.get_data(as_text=True) and "39.5057" not in response.get_data(as_text=True)
    notes = browser.get("/exports/notes?format=csv&of=reports&tier=partner").get_json()
    assert notes["tier"] == "partner" and notes["k_anonymity_check"] == "not applied (partner tier)"


def test_an_export_that_fails_the_check_is_blocked_and_releases_nothing(app: Any, org: Any, reporter: Any,
                                                                         monkeypatch: Any) -> None:
    """Were the suppression to miss a small count, the k-anonymity check stops the export: 409, no
    file, no audit entry."""
    from intake.exports import policy

    verified(app, reporter, killed={"girls": 1}, injured={}, victims=[CHILD])
    monkeypatch.setattr(policy, "suppress_counts", lambda cells, stats=None: (dict(cells), sum(cells.values())))
    browser = signed_in(app, make_user(org, Role.COORDINATOR))
    for fmt in FORMATS:
        response = download(browser, fmt)
        assert response.status_code == 409, fmt
        assert "blocked" in response.get_data(as_text=True) and "Content-Disposition" not in response.headers
    assert browser.get("/exports/notes?format=csv&of=reports&tier=public").status_code == 409
    db.session.remove()
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export.csv")).all() == []


def test_an_organisation_exports_only_its_own_and_only_coordinators_export(app: Any, org: Any, reporter: Any,
                                                                            verifier: Any) -> None:
    verified(app, reporter)
    triaged_report(app, reporter)  # not verified: not exported
    assert signed_in(app, verifier).get("/exports/").status_code == 404
    assert download(signed_in(app, verifier), "csv").status_code == 404
    outsider = signed_in(app, make_user(make_org("Other NGO"), Role.COORDINATOR))
    assert parse("csv", download(outsider, "csv").get_data(as_text=True)) == []
    mine = signed_in(app, make_user(org, Role.COORDINATOR))
    page = mine.get("/exports/")
    assert page.status_code == 200 and "What is suppressed, and why" in page.get_data(as_text=True)
    assert len(parse("csv", download(mine, "csv").get_data(as_text=True))) == 1
    assert download(mine, "xlsx").status_code == 400 and download(mine, "csv", tier="secret").status_code == 400


def test_partners_download_with_a_read_only_token(app: Any, org: Any, reporter: Any, client: Any) -> None:
    from intake.accounts import AccountError, create_token

    verified(app, reporter, killed={"men": 6}, injured={})
    coordinator = make_user(org, Role.COORDINATOR)
    public = create_token(db.session, coordinator, scope="export:public", via="test")
    partner = create_token(db.session, coordinator, scope="export:partner", via="test")
    submit = create_token(db.session, coordinator)
    with pytest.raises(AccountError):
        create_token(db.session, reporter, scope="export:public")
    db.session.commit()

    def get(token: str, url: str) -> Any:
        return client.get(url, headers={"Authorization": f"Bearer {token}"})

    response = get(public, "/api/v1/exports/reports?format=geojson")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/geo+json"
    (feature,) = json.loads(response.get_data(as_text=True))["features"]
    assert feature["properties"]["killed_men"] == 6
    refused = get(public, "/api/v1/exports/reports?format=csv&tier=partner")
    assert refused.status_code == 403 and refused.get_json()["error"] == "insufficient_scope"
    assert get(partner, "/api/v1/exports/incidents?format=csv&tier=partner").status_code == 200
    assert get(partner, "/api/v1/exports/reports/notes?format=acled").get_json()["suppressed"]["rows"] == 1
    assert get(submit, "/api/v1/exports/reports?format=csv").status_code == 403
    assert get(public, "/api/v1/exports/reports?format=pdf").status_code == 400
    assert get(public, "/api/v1/exports/everything?format=csv").status_code == 400
    # Read-only: it neither files nor reads reports.
    filed = client.post("/api/v1/reports", json={}, headers={"Authorization": f"Bearer {public}"})
    assert filed.status_code == 403
    db.session.remove()
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export.csv")).all()
    assert {(e.detail["via"], e.detail["tier"], e.actor_id) for e in entries} == {
        ("api", "public", coordinator.public_id), ("api", "partner", coordinator.public_id)}


def test_intake_export_writes_the_file_and_its_notes(app: Any, org: Any, reporter: Any, tmp_path: Any,
                                                     run: Any) -> None:  # noqa: F811
    verified(app, reporter, killed={"girls": 1}, injured={}, victims=[CHILD])
    out = tmp_path / "incidents.hxl.csv"
    result = run("export", "--org", org.name, "--format", "hxl", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Wrote 1 reports (public tier, hxl)" in result.output
    (row,) = parse("hxl", out.read_text())
    assert row["killed_girls"] == "<5" and row["occurred_on"] == "2026-03"
    notes = json.loads((tmp_path / "incidents.hxl.csv.notes.json").read_text())
    assert notes["suppressed"]["cells_below_5"] == 1 and notes["suppressed"]["dates_to_month"] == 1
    assert not (tmp_path / "incidents.hxl.csv.partial").exists()
    bad = run("export", "--org", "Nobody", "--format", "csv", "--out", str(out))
    assert bad.exit_code != 0 and "No organisation" in bad.output
    db.session.remove()
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export.csv")).all()
    assert entry.actor_id is None and entry.detail["via"] == "cli" and entry.detail["rows"] == 1


# ---- the policy itself ---------------------------------------------------------------------------


def test_the_check_finds_what_a_reader_could_work_out() -> None:
    row = {"occurred_on": "2026-03", **{f"{h}_{g}": 0 for h in ("killed", "injured", "missing") for g in GROUPS},
           "killed_total": 0, "injured_total": 0, "missing_total": 0}
    assert check_public(row, 1) == []
    assert check_public({**row, "killed_girls": 2, "killed_total": 2}, 1) != []
    # Ten men shown, the rest hidden, a total of 11: one person in the hidden groups.
    hidden = {**row, "killed_men": 10, **{f"killed_{g}": "<5" for g in GROUPS[1:]}, "killed_total": 11,
              "occurred_on": "2026-03-14"}
    assert any("total minus" in p for p in check_public(hidden, 3))
    assert any("finer than the month" in p for p in check_public({**row, "killed_total": "<5",
                                                                  "occurred_on": "2026-03-14"}, 1))
    assert check_public({**row, "locality": "Tegh"}, 1) == ["row 1: locality is not released in the public tier"]
    assert check_public({**row, "cell": h3.latlng_to_cell(39.5, 46.4, 8)}, 1) != []


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({g: st.integers(0, 40) for g in GROUPS}))
def test_suppressed_counts_always_pass_the_check(cells: dict[str, int]) -> None:
    shown, total = suppress_counts(cells)
    row = {"occurred_on": "2026-03", **{f"killed_{g}": v for g, v in shown.items()}, "killed_total": total,
           **{f"{h}_{g}": 0 for h in ("injured", "missing") for g in GROUPS}, "injured_total": 0, "missing_total": 0}
    assert check_public(row, 1) == []
    # Whatever is hidden adds up to 0 or at least K (a reader gets nothing under K from the total).
    hidden = sum(cells[g] for g in GROUPS if not isinstance(shown[g], int))
    assert hidden == 0 or hidden >= K or total == "<5"


def test_the_user_of_the_weapon_in_force_is_in_the_csv_hxl_and_acled(app: Any, org: Any, reporter: Any) -> None:
    """The state a report names as the weapon's user, and the verifier's assessment over it once made:
    the CSV's used_by columns, HXL's #group tags, ACLED's actor1 with inter1 8 (forces outside their
    own country) and interaction 78; a report naming nobody leaves actor1 blank."""
    big = {"killed": {"men": 12, "women": 9}, "injured": {}}
    named = verified(app, reporter, admin2="Sisian", used_by="TR", **big)
    db.session.execute(update(Report).where(Report.id == named.id).values(used_by_assessed="AZ"))
    db.session.commit()
    verified(app, reporter, admin2="Goris", used_by=None, **big)
    browser = signed_in(app, make_user(org, Role.COORDINATOR))
    rows = {r["admin2"]: r for r in parse("csv", download(browser, "csv").get_data(as_text=True))}
    assert (rows["Sisian"]["used_by"], rows["Sisian"]["used_by_name"], rows["Sisian"]["used_by_basis"]) == (
        "AZ", "Azerbaijan", "assessed")
    assert (rows["Goris"]["used_by"], rows["Goris"]["used_by_basis"]) == ("", "")
    events = {e["admin2"]: e for e in parse("acled", download(browser, "acled").get_data(as_text=True))}
    assert (events["Sisian"]["actor1"], events["Sisian"]["inter1"], events["Sisian"]["interaction"]) == (
        "Military Forces of Azerbaijan", "8", "78")
    assert (events["Goris"]["actor1"], events["Goris"]["inter1"], events["Goris"]["interaction"]) == ("", "", "")
    source = hxl.data(io.BytesIO(download(browser, "hxl").get_data()), hxl.InputOptions(allow_local=True))
    assert sorted(r.get("#group+name") or "" for r in source) == ["", "Azerbaijan"]
