"""Evidence packs (intake/evidence): a TB2 with a Canadian MX-15D, packed per country and per
component in each tier, verified offline; tampering fails; builds repeat byte for byte; only
coordinators build, restricted only with a reason, and another organisation's incidents never appear."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.enums import Grade, Role, SourceReliability
from intake.evidence import PackSpec, PackTier, Selector, build_pack, verify_bag
from intake.evidence.selector import country_code
from intake.extensions import db
from intake.incidents import create_incident
from intake.models import AuditEntry, Organisation, Report, User, utcnow
from intake.pipeline import process_report
from intake.review import Checklist, claim_report, grade_report, sign_off
from tests.conftest import complete_report, file_accepted, jpeg_bytes, make_org, make_token, make_user
from tests.test_cli import run  # noqa: F401  (the fixture that runs `intake` against the test database)
from tests.test_verify import signed_in

CHECKED = Checklist(location_verified=True, time_verified=True, media_authentic=True, weapon_checked=True,
                    independent_sources=2)
SENSOR = [{"kind": "targeting_sensor", "model": "MX 15D", "manufacturer": "L3Harris Wescam",
           "country_of_manufacture": "CA"}]


def filed(app: Any, reporter: User, photo: bytes | None = None, **overrides: Any) -> Report:
    """A report sent through the JSON API (with a photo of its markings), filed and processed."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    api = app.test_client()
    headers = {"Authorization": f"Bearer {make_token(reporter)}"}
    created = api.post("/api/v1/reports", json=complete_report(**overrides),
                       headers={**headers, "Idempotency-Key": f"pack-{utcnow().timestamp()}"})
    assert created.status_code == 201, created.get_data(as_text=True)
    public_id = created.get_json()["id"]
    if photo is not None:
        boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(photo), filename="plate.jpg")})
        uploaded = api.post(f"/api/v1/reports/{public_id}/attachments", data=body, headers=headers,
                            content_type=f"multipart/form-data; boundary={boundary}")
        assert uploaded.status_code == 201, uploaded.get_data(as_text=True)
    file_accepted(app)
    report = db.session.scalar(select(Report).where(Report.public_id == public_id))
    assert report is not None
    with app.test_request_context():
        process_report(db.session, app.config, report.id)
        db.session.commit()
    return db.session.scalar(select(Report).where(Report.public_id == public_id))  # type: ignore[return-value]


def verified_in_incident(app: Any, report: Report, verifier: User, second: User | None,
                         grade: Grade = Grade.CONFIRMED) -> str:
    """Claimed, checked and graded by `verifier`, signed off by `second` (a confirmed grade), then
    made an incident of its own; the incident's public id."""
    with app.test_request_context():
        row = db.session.get(Report, report.id)
        grader = db.session.get(User, verifier.id)
        claim_report(db.session, row, grader)
        grade_report(db.session, row, grader, CHECKED, grade, SourceReliability.B)
        db.session.commit()
        if second is not None:
            sign_off(db.session, row, db.session.get(User, second.id))
            db.session.commit()
        incident = create_incident(db.session, grader, row)
        db.session.commit()
        return incident.public_id


@pytest.fixture
def evidence(app: Any, org: Organisation) -> dict[str, Any]:
    """Two strikes by a TB2 carrying an MX-15D (L3Harris Wescam, Canada), each with a photo of the
    data plate, graded confirmed and signed off; one TB2 strike graded fair only (one person); one
    strike by another drone; and another organisation's TB2 strike with an MX-15D."""
    reporter, verifier = make_user(org, Role.REPORTER), make_user(org, Role.VERIFIER)
    coordinator = make_user(org, Role.COORDINATOR)
    first = filed(app, reporter, jpeg_bytes((96, 64)), components=SENSOR, markings="WESCAM MX-15D S/N 1234 06/2020")
    second = filed(app, reporter, jpeg_bytes((80, 60)), components=SENSOR, occurred_on="2026-04-02",
                   locality="Goris", admin2="Goris", killed={"men": 6, "women": 5}, injured={"girls": 1},
                   markings="")
    single = filed(app, reporter, None, components=SENSOR, occurred_on="2026-04-20")
    other_drone = filed(app, reporter, None, platform_model="Shahed-136", munition_model="",
                        components=[{"kind": "engine", "model": "MD550", "manufacturer": "Mado",
                                     "country_of_manufacture": "IR"}])
    ids = {"first": verified_in_incident(app, first, verifier, coordinator),
           "second": verified_in_incident(app, second, verifier, coordinator),
           "single": verified_in_incident(app, single, verifier, None, Grade.FAIR),
           "other_drone": verified_in_incident(app, other_drone, verifier, coordinator)}
    outsiders = make_org("Neighbouring NGO")
    out_reporter, out_verifier = make_user(outsiders, Role.REPORTER), make_user(outsiders, Role.VERIFIER)
    theirs = filed(app, out_reporter, None, components=SENSOR, locality="Tegh")
    ids["outsider"] = verified_in_incident(app, theirs, out_verifier, make_user(outsiders, Role.COORDINATOR))
    # The public record of the export: seven MX-15D permitted from Canada to Baykar in Turkey.
    from intake.transfers import TransferIn, create_transfer

    with app.app_context():
        create_transfer(db.session, org.id, None, TransferIn.model_validate({
            "exporting_state": "CA", "importing_state": "TR", "end_user": "Baykar", "designation": "MX 15D",
            "quantity": 7, "date": "2020-05", "source_kind": "permit_list",
            "source_citation": "Export permits released under the Access to Information Act, row 12"}))
        db.session.commit()
    return {"org": org, "coordinator": coordinator, "verifier": verifier, "reporter": reporter, "ids": ids,
            "reports": {"first": first.public_id, "second": second.public_id}}


def build(app: Any, org: Organisation, out: Path, tier: str = "public", reason: str | None = None,
          built_at: dt.datetime | None = None, since: str | None = None, until: str | None = None,
          **selector: str) -> Path:
    ((kind, value),) = selector.items()
    with app.app_context():
        organisation = db.session.get(Organisation, org.id)
        chosen = Selector.parse(kind, value, since, until)
        pack = build_pack(db.session, app.config, organisation, PackSpec(chosen, PackTier(tier), reason),
                          out, actor=None, via="test", built_at=built_at or utcnow())
        db.session.commit()
    assert pack.path is not None
    return pack.path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def incidents_in(bag: Path) -> set[str]:
    return {r["incident_id"] for r in rows(bag / "data" / "incidents.csv")}


def test_catalogue_names_match_whatever_their_spelling() -> None:
    for typed in ("MX-15D", "MX 15D", "mx15d"):
        assert Selector.parse("component", typed).matches("MX-15D", None, None, "component")
    assert not Selector.parse("component", "MX-15D").matches("MX-25D", None, None, "component")
    assert not Selector.parse("component", "TB2").matches("Bayraktar TB2", None, None, "component")
    assert Selector.parse("platform", "tb2").matches("Bayraktar TB2", None, None, "platform")
    assert {country_code(c) for c in ("CA", "ca", "Canada", "canada")} == {"CA"}
    assert Selector.parse("manufacturer", "L3Harris").matches("", "L3Harris Wescam", None, "component")
    with pytest.raises(ValueError, match="not a country"):
        Selector.parse("country", "Atlantis")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        Selector.parse("country", "CA", "14 March")


@pytest.mark.parametrize("tier", ["public", "partner", "restricted"])
def test_a_pack_per_country_and_per_component_verifies_and_tampering_fails(
        app: Any, evidence: dict[str, Any], tmp_path: Path, run: Any, tier: str) -> None:  # noqa: F811
    """The pack for Canada and for the MX-15D holds the two signed-off TB2 strikes, never the
    fair-only one, the other drone or the other organisation's; `intake pack verify` passes, and
    fails when one byte of one file changes or a custody line goes."""
    org, ids = evidence["org"], evidence["ids"]
    reason = "Trace request to the manufacturer needs the data plate originals." if tier == "restricted" else None
    args = ["--reason", reason] if reason else []
    for option, value in (("--country", "Canada"), ("--component", "MX-15D")):
        result = run("pack", "build", "--org", org.name, option, value, "--tier", tier, "--out",
                     str(tmp_path / option.strip("-")), *args)
        assert result.exit_code == 0, result.output
        bag = Path(result.output.strip().splitlines()[-1])
        assert bag.is_dir() and bag.name.startswith(f"pack-{option.strip('-')}-")
        assert incidents_in(bag) == {ids["first"], ids["second"]}
        assert run("pack", "verify", str(bag)).exit_code == 0
        names = {p.relative_to(bag).as_posix() for p in bag.rglob("*") if p.is_file()}
        assert {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt", "data/dossier.pdf",
                "data/items.csv", "data/markings.csv", "data/incidents.csv", "data/incidents.hxl.csv",
                "data/incidents.geojson", "data/casualties_aggregate.csv", "data/sources.csv", "data/grading.csv",
                "data/transfers.csv", "data/custody.jsonl", "data/media/index.csv"} <= names
        working = [n for n in names if n.startswith("data/media/working/")]
        originals = [n for n in names if n.startswith("data/media/originals/")]
        assert len(working) == 2 and (len(originals) == 2) == (tier == "restricted")
        index = rows(bag / "data" / "media" / "index.csv")
        assert all(r["original_sha256"] for r in index) == (tier != "public")
        info = (bag / "bag-info.txt").read_text()
        assert f"Pack-Tier: {tier}" in info and "Source-Organization: Relief Monitors" in info
        assert "Pack-Suppressed:" in info and "Bagging-Date:" in info
        # The transfer record, and the diversion it indicates: the reports say AZ used the TB2 and its
        # sensor; the permit names Baykar in TR.
        assert (bag / "data" / "transfers.csv").read_text().startswith("transfer_id,exporting_state")
        [transfer] = rows(bag / "data" / "transfers.csv")
        assert (transfer["exporting_state"], transfer["importing_state"], transfer["authorised_end_user"],
                transfer["item"], transfer["quantity"], transfer["date"]) == ("CA", "TR", "Baykar", "MX-15D", "7",
                                                                              "2020-05")
        assert transfer["diversion_indicator"] == "yes"
        assert "AZ" in transfer["reasoning"] and "neither the importing state nor" in transfer["reasoning"]
        body = "".join(p.read_text(errors="ignore") for p in bag.rglob("*.csv")) + (bag / "data" /
                                                                                   "custody.jsonl").read_text()
        for never in ("Anahit", "Petrosyan", "Gor Hakobyan", "+374", "bakery queue", "t.me"):
            assert never not in body, never
        assert ("39.5057" in body) == (tier == "restricted"), "exact places only in the restricted tier"
        events = [json.loads(line)["event"] for line in (bag / "data" / "custody.jsonl").read_text().splitlines()]
        assert {"received", "hashed", "derived", "graded", "signed off", "exported"} <= set(events)
        assert ("revealed" in events) == (tier == "restricted") and events[-1] == "exported"
        items = rows(bag / "data" / "items.csv")
        sensor = next(i for i in items if i["role"] == "component")
        assert (sensor["designation_as_assessed"], sensor["country_as_reported"]) == ("MX-15D", "CA")
        platform = next(i for i in items if i["role"] == "platform")
        assert (platform["manufacturer_as_assessed"], platform["country_as_assessed"]) == ("Baykar", "TR")
        by_id = {r["incident_id"]: r for r in rows(bag / "data" / "incidents.csv")}
        # One man and one woman killed: the public tier says "<5", by the exports' one policy.
        assert by_id[ids["first"]]["killed_total"] == ("<5" if tier == "public" else "2")
        assert by_id[ids["first"]]["occurred_on"] == ("2026-03" if tier == "public" else "2026-03-14")
        aggregate = rows(bag / "data" / "casualties_aggregate.csv")
        assert {a["period"] for a in aggregate} == {"2026-03", "2026-04"}
        assert next(a for a in aggregate if a["period"] == "2026-04")["killed_total"] == "11"
        grading = rows(bag / "data" / "grading.csv")
        assert {(g["graded_by_role"], g["signed_off_by_role"]) for g in grading} == {("verifier", "coordinator")}

    db.session.remove()
    reveals = db.session.scalars(select(AuditEntry).where(AuditEntry.action.in_(
        ["report.original_downloaded", "report.revealed"]))).all()
    if tier == "restricted":
        # Each original and each exact place of each build (two builds, two reports): audited with the reason.
        assert len(reveals) == 8 and {e.detail["reason"] for e in reveals} == {reason}
        assert {e.detail["via"] for e in reveals} == {"pack"}
        refused = run("pack", "build", "--org", org.name, "--country", "CA", "--tier", "restricted", "--out",
                      str(tmp_path / "no-reason"))
        assert refused.exit_code != 0 and "reason" in refused.output
    else:
        assert reveals == []
    assert len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "pack.built")).all()) == 2

    # One byte of one file changed: verify names the file.
    tampered = tmp_path / "tampered"
    shutil.copytree(bag, tampered)
    target = tampered / "data" / "incidents.csv"
    data = bytearray(target.read_bytes())
    data[-3] ^= 0x01
    target.write_bytes(bytes(data))
    failed = run("pack", "verify", str(tampered))
    assert failed.exit_code != 0 and "data/incidents.csv" in failed.output
    # A custody line removed, manifests made to match: the chain names the line.
    cut = tmp_path / "cut"
    shutil.copytree(bag, cut)
    log = cut / "data" / "custody.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:1] + lines[2:]))
    import bagit

    bagit.Bag(str(cut)).save(manifests=True)
    failed = run("pack", "verify", str(cut))
    assert failed.exit_code != 0 and "custody.jsonl line 2" in failed.output


def test_two_builds_are_the_same_but_for_the_build_time(app: Any, evidence: dict[str, Any], tmp_path: Path) -> None:
    org = evidence["org"]
    one = build(app, org, tmp_path / "one", built_at=dt.datetime(2026, 6, 1, 9, 0, 0, tzinfo=dt.UTC), country="CA")
    two = build(app, org, tmp_path / "two", built_at=dt.datetime(2026, 6, 1, 17, 30, 5, tzinfo=dt.UTC),
                country="CA")
    assert one.name == two.name
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    differ = [f.as_posix() for f in files if (one / f).read_bytes() != (two / f).read_bytes()]
    # The build time is in bag-info's Bagging-Date and the custody log's last line (the export):
    # those two files, and the manifests that hash them, are all that differ.
    assert set(differ) <= {"bag-info.txt", "data/custody.jsonl", "manifest-sha256.txt", "tagmanifest-sha256.txt"}
    first, later = ((d / "data" / "custody.jsonl").read_text().splitlines() for d in (one, two))
    assert first[:-1] == later[:-1]
    last = [json.loads(x) for x in (first[-1], later[-1])]
    assert [{k: v for k, v in x.items() if k not in ("time", "hash")} for x in last][0] == \
        [{k: v for k, v in x.items() if k not in ("time", "hash")} for x in last][1]
    info = [(d / "bag-info.txt").read_text().splitlines() for d in (one, two)]
    assert [a for a, b in zip(*info, strict=True)
            if a != b and not a.startswith(("Bagging-Date", "Pack-Custody-Head"))] == []
    assert verify_bag(one) is None and verify_bag(two) is None


def test_only_coordinators_build_and_restricted_needs_a_reason(app: Any, evidence: dict[str, Any],
                                                              client: Any) -> None:
    """Reporters and verifiers get no pack page (404, as every page they may not use); a coordinator's
    restricted request without a reason is refused with the form kept; with one, the reason is audited."""
    org, coordinator = evidence["org"], evidence["coordinator"]
    for user in (evidence["reporter"], evidence["verifier"]):
        browser = signed_in(app, user)
        assert browser.get("/packs/new?country=CA").status_code == 404
        assert browser.post("/packs/", data={"kind": "country", "value": "CA"}).status_code in (400, 404)
    browser = signed_in(app, coordinator)
    page = browser.get("/packs/new?country=CA&from=2026-01-01")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="CA"' in html and 'value="2026-01-01"' in html
    from tests.conftest import csrf_token

    token = csrf_token(html)
    refused = browser.post("/packs/", data={"csrf_token": token, "kind": "country", "value": "CA",
                                            "tier": "restricted", "reason": ""})
    assert refused.status_code == 422 and 'value="CA"' in refused.get_data(as_text=True)
    accepted = browser.post("/packs/", data={"csrf_token": token, "kind": "country", "value": "CA",
                                             "tier": "restricted", "reason": "Originals for the trace request."})
    assert accepted.status_code == 302
    db.session.remove()
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "pack.requested")).all()
    assert entry.detail["reason"] == "Originals for the trace request." and entry.detail["tier"] == "restricted"
    assert entry.actor_id == coordinator.public_id
    assert org.name == "Relief Monitors"


def test_a_worker_builds_the_job_and_the_coordinator_downloads_the_zip(app: Any, app_config: dict[str, Any],
                                                                       evidence: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    """The page queues a job holding only its id; a real worker consuming the media queue alone
    builds it; the page shows it done; the zip downloads (audited) and verifies once unpacked;
    another organisation's coordinator gets 404 for the job and its download."""
    from intake.evidence.bag import unzip_bag
    from intake.models import PackJob
    from tests.conftest import csrf_token, running_worker, wait_for

    browser = signed_in(app, evidence["coordinator"])
    token = csrf_token(browser.get("/packs/new?component=MX-15D").get_data(as_text=True))
    with running_worker(app_config, tmp_path / "worker.log", "-Q", "media"):
        response = browser.post("/packs/", data={"csrf_token": token, "kind": "component", "value": "MX-15D",
                                                 "tier": "partner"})
        assert response.status_code == 302
        job_url = response.headers["Location"]

        def done() -> PackJob | None:
            db.session.remove()
            job = db.session.scalar(select(PackJob))
            return job if job is not None and job.state in ("done", "failed") else None

        job = wait_for(done, timeout=180)
    assert job.state == "done", job.error
    page = browser.get(job_url).get_data(as_text=True)
    assert "100%" in page and "Download the pack" in page
    download = browser.get(job_url.rstrip("/") + "/download")
    assert download.status_code == 200 and download.headers["Content-Type"] == "application/zip"
    bag = unzip_bag(download.get_data(), tmp_path / "unzipped")
    assert verify_bag(bag) is None and incidents_in(bag) == {evidence["ids"]["first"], evidence["ids"]["second"]}
    db.session.remove()
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "pack.downloaded")).all()
    (built,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "pack.built")).all()
    assert built.actor_id == evidence["coordinator"].public_id and built.detail["tier"] == "partner"
    log = (tmp_path / "worker.log").read_text()
    assert f"pack job {job.id}: done" in log and "MX-15D" not in log
    outsider = signed_in(app, make_user(make_org("Other NGO"), Role.COORDINATOR))
    assert outsider.get(job_url).status_code == 404
    assert outsider.get(job_url.rstrip("/") + "/download").status_code == 404

    # Past its keeping time the sweep erases it: file and key gone, no download.
    from intake.evidence.jobs import expire_packs, pack_dir

    stored = pack_dir(app.config) / (job.storage_name or "")
    assert stored.is_file() and b"custody.jsonl" not in stored.read_bytes(), "the zip is stored sealed"
    with app.app_context():
        assert expire_packs(db.session, app.config, utcnow() + dt.timedelta(days=8)) == 1
        db.session.commit()
    assert not stored.exists()
    assert browser.get(job_url.rstrip("/") + "/download").status_code == 404
    assert "erased after its keeping time" in browser.get(job_url).get_data(as_text=True)


def test_another_organisations_incidents_never_appear(app: Any, evidence: dict[str, Any], tmp_path: Path) -> None:
    with app.app_context():
        theirs = db.session.scalar(select(Organisation).where(Organisation.name == "Neighbouring NGO"))
    bag = build(app, theirs, tmp_path, tier="partner", component="MX-15D")
    assert incidents_in(bag) == {evidence["ids"]["outsider"]}
    ours = build(app, evidence["org"], tmp_path / "ours", tier="partner", platform="TB2")
    assert evidence["ids"]["outsider"] not in incidents_in(ours)
    assert incidents_in(ours) == {evidence["ids"]["first"], evidence["ids"]["second"]}
    march = build(app, evidence["org"], tmp_path / "march", manufacturer="l3harris wescam", until="2026-03-31")
    assert incidents_in(march) == {evidence["ids"]["first"]}
    april = build(app, evidence["org"], tmp_path / "april", country="canada", since="2026-04-01")
    assert incidents_in(april) == {evidence["ids"]["second"]}
    iranian = build(app, evidence["org"], tmp_path / "ir", tier="partner", country="IR")
    assert incidents_in(iranian) == {evidence["ids"]["other_drone"]}


def test_a_verifiers_assessment_of_a_component_and_its_markings_reach_the_partner_pack(
        app: Any, org: Organisation, tmp_path: Path) -> None:
    """The sensor was reported as made in the US; the verifier corrects it to Canada at review (through
    the review page's form), linking the photo of its data plate. The pack for Canada finds it by the
    assessed country, keeps both values apart in items.csv, and markings.csv carries the sensor's own
    markings, serial, CAGE code and date of manufacture with the SHA-256 of the photo linked to it."""
    from intake.models import Attachment
    from tests.conftest import csrf_token
    from tests.test_items import MX15D

    reporter, verifier = make_user(org, Role.REPORTER), make_user(org, Role.VERIFIER)
    coordinator = make_user(org, Role.COORDINATOR)
    report = filed(app, reporter, jpeg_bytes((96, 64)), components=[MX15D], markings="")
    browser = signed_in(app, verifier)
    token = csrf_token(browser.get("/account").get_data(as_text=True))
    assert browser.post(f"/queue/reports/{report.public_id}/claim",
                        data={"csrf_token": token}).status_code == 302
    with app.app_context():
        row = db.session.get(Report, report.id)
        assert row is not None
        key = f"component-{row.components[0].id}"
        photo = db.session.scalars(select(Attachment).where(Attachment.report_id == report.id)).one()
        photo_id, photo_sha = photo.public_id, photo.derivative_sha256
    assert photo_sha, "the pipeline made a working copy of the photo"
    saved = browser.post(f"/queue/reports/{report.public_id}/items/{key}", data={
        "csrf_token": token, f"item-{key}-designation": "MX-15D", f"item-{key}-manufacturer": "L3Harris Wescam",
        f"item-{key}-country": "Canada", f"item-{key}-identification_confidence": "confirmed",
        f"item-{key}-identification_basis": "remnant_photographed", f"item-{key}-files": photo_id})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with app.test_request_context():
        row = db.session.get(Report, report.id)
        grader = db.session.get(User, verifier.id)
        grade_report(db.session, row, grader, CHECKED, Grade.CONFIRMED, SourceReliability.B)
        db.session.commit()
        sign_off(db.session, row, db.session.get(User, coordinator.id))
        db.session.commit()
        incident = create_incident(db.session, grader, row).public_id
        db.session.commit()

    bag = build(app, org, tmp_path / "ca", tier="partner", country="CA")
    assert incidents_in(bag) == {incident}, "found by the assessed country: it was reported as made in the US"
    sensor = next(i for i in rows(bag / "data" / "items.csv") if i["role"] == "component")
    assert (sensor["country_as_reported"], sensor["country_as_assessed"]) == ("US", "CA")
    assert (sensor["manufacturer_as_assessed"], sensor["assessed_by"], sensor["country_basis"]) == (
        "L3Harris Wescam", "verifier", "as assessed")
    marks = [m for m in rows(bag / "data" / "markings.csv") if m["item_id"] == sensor["item_id"]]
    assert len(marks) == 1
    assert marks[0]["markings_verbatim"] == "L3HARRIS WESCAM\nMX-15D\nS/N 2006-1187"
    assert (marks[0]["serial_number"], marks[0]["part_number"], marks[0]["cage_code"]) == (
        "2006-1187", "MX15D-400", "L3C41")
    assert (marks[0]["date_of_manufacture"], marks[0]["date_basis"]) == ("2020-06", "data_plate")
    assert marks[0]["photos_sha256"] == photo_sha
    assert any((bag / "data" / "media" / "working").glob(f"{photo_sha}.*")), "the photo linked is in the bag"
    # The verifier's correction is in force: the slip does not put the sensor in a pack for the US.
    from intake.evidence.build import PackError

    with pytest.raises(PackError, match="no verified incident"):
        build(app, org, tmp_path / "us", tier="partner", country="US")
