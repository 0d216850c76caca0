"""The JSON API `/api/v1` as a partner's app sees it.

Filing a report (idempotent by key), validation that names the field and never quotes what was sent,
bearer-token access that answers 404 (never 403) to anyone but the submitting reporter, attachments
that are sniffed and size-limited without leaving refused bytes on disk, and an OpenAPI document that
matches the routes and the schema they validate with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import func, select, update
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from intake.enums import Role
from intake.extensions import db
from intake.models import ApiToken, Attachment, Report, User, utcnow
from intake.schema import SUBMISSION_ID_RE, ReportIn
from tests.conftest import all_at_once, complete_report, file_accepted, jpeg_bytes, make_org, make_token, make_user

REPORTS = "/api/v1/reports"
# Crockford's base32 without I, L, O, U, in two groups of four.
RECEIPT_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")
MB = 1024 * 1024


# ---- helpers ----------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_report(client: Any, token: str, body: Any = None, key: str | None = "key-0000001") -> Any:
    headers = bearer(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(REPORTS, json=complete_report() if body is None else body, headers=headers)


def filed(client: Any, token: str, key: str = "key-0000001") -> dict[str, Any]:
    """File a complete report and return the API's answer."""
    response = post_report(client, token, key=key)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def report_rows() -> int:
    """Reports in the database once the workers' first step has filed what the API accepted."""
    file_accepted()
    return db.session.scalar(select(func.count()).select_from(Report))  # type: ignore[return-value]


def attachment_rows() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Attachment))  # type: ignore[return-value]


def upload(client: Any, token: str, public_id: str, content: bytes, filename: str = "photo.jpg",
           **form: str) -> Any:
    # Encoded here, in memory: the test client would spool a large body to a temporary file it never
    # closes, and the ResourceWarning fails the run.
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(content), filename=filename), **form})
    return client.post(f"{REPORTS}/{public_id}/attachments", data=body, headers=bearer(token),
                       content_type=f"multipart/form-data; boundary={boundary}")


def stored_files(app: Any) -> list[Path]:
    """Every file in the upload folder, finished or partial."""
    root = Path(app.config["UPLOAD_PATH"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", jpeg_bytes())
    return buffer.getvalue()


def future_date() -> str:
    return (dt.date.today() + dt.timedelta(days=30)).isoformat()


def without(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in keys}


def api_rules(app: Any) -> dict[str, set[str]]:
    """The `api.` and `uploads.` blueprints' routes as OpenAPI paths with their methods (without the
    document itself; HEAD and OPTIONS, which Flask adds, are compared apart)."""
    rules: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("api.", "uploads.")) and rule.endpoint != "api.openapi":
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            rules.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    return rules


def component_validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for one of the document's component schemas, its `#/components/...` refs resolved."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    Draft202012Validator.check_schema(document["components"]["schemas"][name])
    return Draft202012Validator(schema)


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def token(reporter: User) -> str:
    return make_token(reporter)


@pytest.fixture
def report(client: Any, token: str) -> dict[str, Any]:
    return filed(client, token)


@pytest.fixture
def openapi(client: Any) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


# ---- filing a report --------------------------------------------------------------------------


def test_complete_report_is_received_with_receipt_code_and_location(client: Any, token: str) -> None:
    """A complete report gets 201, status `received`, an XXXX-XXXX receipt and a Location to read it at."""
    response = post_report(client, token)
    assert response.status_code == 201
    body = response.get_json()
    assert RECEIPT_RE.fullmatch(body["receipt_code"])
    assert body["status"] == "received"
    assert body["channel"] == "api"
    assert uuid.UUID(body["id"]).version == 4
    assert response.headers["Location"].endswith(f"/api/v1/reports/{body['id']}")
    assert client.get(response.headers["Location"], headers=bearer(token)).status_code == 200


def test_get_returns_exactly_what_the_reporter_sent(client: Any, token: str) -> None:
    """GET shows the submitting reporter every value sent: names, phones, counts by group, components."""
    sent = complete_report()
    created = post_report(client, token, sent).get_json()
    response = client.get(f"{REPORTS}/{created['id']}", headers=bearer(token))
    assert response.status_code == 200
    got = response.get_json()
    assert (got["id"], got["receipt_code"]) == (created["id"], created["receipt_code"])
    assert got["status"] == "received"
    submitted = got["submitted"]
    nested = {"killed", "injured", "missing", "victims", "objects_damaged", "components", "witnesses",
              "links"}
    for key, value in sent.items():
        if key == "occurred_time":
            assert submitted[key] in ("06:40", "06:40:00")
        elif key not in nested:
            assert submitted[key] == value, key
    assert submitted["killed"] == {"men": 1, "women": 1, "boys": 0, "girls": 0, "unknown": 0}
    assert submitted["injured"] == {"men": 0, "women": 0, "boys": 2, "girls": 0, "unknown": 0}
    assert submitted["missing"] == {"men": 0, "women": 0, "boys": 0, "girls": 0, "unknown": 0}
    assert [v["name"] for v in submitted["victims"]] == ["Anahit Petrosyan", "Aram Petrosyan"]
    for sent_victim, got_victim in zip(sent["victims"], submitted["victims"], strict=True):
        assert sent_victim.items() <= got_victim.items()
    assert submitted["victims"][0]["age_band"] == "30-44"  # derived from the age
    assert submitted["witnesses"] == sent["witnesses"]
    assert submitted["witnesses"][0]["phone"] == "+374 91 234567"
    # What was sent, and the component's fields not sent (markings, codes, date of manufacture) empty.
    assert [{k: v for k, v in c.items() if v is not None} for c in submitted["components"]] == sent["components"]
    assert submitted["objects_damaged"] == sent["objects_damaged"]
    assert submitted["links"] == sent["links"]
    assert got["attachments"] == []


# ---- idempotency ------------------------------------------------------------------------------


def test_replay_with_same_idempotency_key_returns_the_first_report(client: Any, token: str) -> None:
    """Sending again with the same Idempotency-Key answers 200 with the same report, and stores one."""
    first = post_report(client, token, key="retry-key-001")
    again = post_report(client, token, complete_report(narrative="Sent twice by a flaky network."),
                        key="retry-key-001")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["receipt_code"] == first.get_json()["receipt_code"]
    assert again.get_json()["submitted"]["narrative"] == complete_report()["narrative"]
    assert again.headers["Location"] == first.headers["Location"]
    assert report_rows() == 1


def test_replay_with_same_submission_id_in_body_returns_the_first_report(client: Any, token: str) -> None:
    """A submission_id in the body makes a replay idempotent just like the header does."""
    body = complete_report(submission_id="body-key-0001")
    first = post_report(client, token, body, key=None)
    again = post_report(client, token, body, key=None)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert report_rows() == 1


def test_header_key_and_body_submission_id_are_the_same_key(client: Any, token: str) -> None:
    """A report sent with a header key and resent with that key as submission_id is one report."""
    first = post_report(client, token, key="either-way-01")
    again = post_report(client, token, complete_report(submission_id="either-way-01"), key=None)
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert report_rows() == 1


def test_different_keys_make_different_reports(client: Any, token: str) -> None:
    """Two keys are two reports, each with its own id and receipt code."""
    one = filed(client, token, key="event-one-001")
    two = filed(client, token, key="event-two-001")
    assert one["id"] != two["id"]
    assert one["receipt_code"] != two["receipt_code"]
    assert report_rows() == 2


def test_same_key_from_another_reporter_makes_a_separate_report(client: Any, org: Any, token: str) -> None:
    """Keys are per reporter: another reporter's identical key files their own report."""
    other_token = make_token(make_user(org, Role.REPORTER))
    mine = post_report(client, token, key="shared-key-01")
    theirs = post_report(client, other_token, key="shared-key-01")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert report_rows() == 2
    assert client.get(f"{REPORTS}/{theirs.get_json()['id']}", headers=bearer(token)).status_code == 404


def test_a_refused_report_does_not_use_up_its_key(client: Any, token: str) -> None:
    """After a 422 the reporter fixes the report and resends with the same key: it is filed (201)."""
    refused = post_report(client, token, complete_report(latitude=123), key="fix-and-retry")
    assert refused.status_code == 422
    assert report_rows() == 0
    assert post_report(client, token, key="fix-and-retry").status_code == 201


def test_concurrent_submissions_with_one_key_make_one_report(app: Any, token: str) -> None:
    """20 simultaneous sends of one report with one key store one report, and none of them fails."""
    threads_count = 20
    clients = [app.test_client() for _ in range(threads_count)]

    def sender(client: Any) -> Any:
        def send() -> tuple[int, str | None]:
            response = post_report(client, token, key="race-key-0001")
            return response.status_code, (response.get_json() or {}).get("id")

        return send

    results = all_at_once([sender(client) for client in clients])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (threads_count - 1) + [201], statuses
    assert len({report_id for _, report_id in results}) == 1
    assert report_rows() == 1


# ---- validation -------------------------------------------------------------------------------

MISSING = object()

# (what is changed, the field path the error must be under, the value that must not be echoed)
INVALID_REPORTS: dict[str, tuple[dict[str, Any], str, Any]] = {
    "future date": ({"occurred_on": future_date()}, "occurred_on", future_date()),
    "date before 1900": ({"occurred_on": "1899-12-31"}, "occurred_on", "1899-12-31"),
    "not a date": ({"occurred_on": "last-tuesday-at-the-mill"}, "occurred_on", "last-tuesday-at-the-mill"),
    "latitude 123": ({"latitude": 123}, "latitude", 123),
    "longitude without latitude": ({"latitude": MISSING}, "latitude", None),
    "latitude without longitude": ({"longitude": MISSING}, "longitude", None),
    "unknown country code": ({"country": "QQ"}, "country", "QQ"),
    "placeholder country ZZ": ({"country": "ZZ"}, "country", "ZZ"),
    "unknown enum value": ({"incident_type": "orbital_laser"}, "incident_type", "orbital_laser"),
    "negative count": ({"killed": {"men": -7}}, "killed.men", -7),
    "true as a count": ({"killed": {"men": True}}, "killed.men", None),
    "unknown count group": ({"killed": {"elders": 3}}, "killed.elders", None),
    "victim age 300": ({"victims": [{"name": "Anahit", "age": 300, "harm": "killed"}]}, "victims.0.age", 300),
    "victim without harm": ({"victims": [{"name": "Anahit", "age": 34}]}, "victims.0.harm", None),
    "bad witness email": ({"witnesses": [{"name": "Gor", "email": "gor.at.secret-hideout"}]},
                          "witnesses.0.email", "gor.at.secret-hideout"),
    "bad witness phone": ({"witnesses": [{"name": "Gor", "phone": "call-me-maybe"}]},
                          "witnesses.0.phone", "call-me-maybe"),
    "bad link url": ({"links": [{"url": "ftp://leaks.example/evidence"}]}, "links.0.url",
                     "ftp://leaks.example/evidence"),
    "script link url": ({"links": [{"url": "javascript:alert(1)"}]}, "links.0.url", "javascript:alert(1)"),
    "unknown top-level key": ({"casualty_notes": "Dr. Sarkissian treated them"}, "casualty_notes",
                              "Dr. Sarkissian treated them"),
    "unknown component country": ({"components": [{"kind": "fuze", "country_of_manufacture": "QQ"}]},
                                  "components.0.country_of_manufacture", None),
}


@pytest.mark.parametrize("case", list(INVALID_REPORTS), ids=list(INVALID_REPORTS))
def test_invalid_report_is_refused_with_the_error_at_its_field(client: Any, token: str, case: str) -> None:
    """An invalid value gets 422 with a message under that field's path alone, and nothing is stored."""
    changes, path, _ = INVALID_REPORTS[case]
    body = complete_report(**{k: v for k, v in changes.items() if v is not MISSING})
    body = without(body, *(k for k, v in changes.items() if v is MISSING))
    response = post_report(client, token, body)
    assert response.status_code == 422
    answer = response.get_json()
    assert answer["error"] == "invalid"
    assert set(answer["errors"]) == {path}
    assert answer["errors"][path] and all(isinstance(m, str) and m for m in answer["errors"][path])
    assert report_rows() == 0


@pytest.mark.parametrize("case", [c for c, (_, _, value) in INVALID_REPORTS.items() if value is not None],
                         ids=[c for c, (_, _, value) in INVALID_REPORTS.items() if value is not None])
def test_errors_never_quote_the_submitted_value(client: Any, token: str, case: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Report content stays out of error answers and logs: the refused value is not repeated."""
    changes, _, value = INVALID_REPORTS[case]
    caplog.set_level(logging.DEBUG)
    response = post_report(client, token, complete_report(**changes))
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert str(value) not in text
    assert json.dumps(value) not in text
    assert str(value) not in caplog.text


def test_messages_explain_the_problem_in_words(client: Any, token: str) -> None:
    """The messages say what is wrong: the future, the range, the e-mail form, the missing pair."""
    cases = [
        (complete_report(occurred_on=future_date()), "occurred_on", "future"),
        (complete_report(latitude=123), "latitude", "90"),
        (complete_report(witnesses=[{"email": "nobody"}]), "witnesses.0.email", "e-mail"),
        (without(complete_report(), "latitude"), "latitude", "latitude and longitude"),
        (complete_report(country="QQ"), "country", "country code"),
    ]
    for body, path, words in cases:
        errors = post_report(client, token, body).get_json()["errors"]
        assert words in " ".join(errors[path]), (path, errors)


@pytest.mark.parametrize("field", ["occurred_on", "country", "incident_type", "narrative", "source_type",
                                   "consent", "risk_to_source"])
def test_missing_required_field_is_named(client: Any, token: str, field: str) -> None:
    """Leaving out a required field gets 422 saying that field is required."""
    response = post_report(client, token, without(complete_report(), field))
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {field}
    assert "required" in response.get_json()["errors"][field][0].lower()


def test_empty_report_names_every_required_field(client: Any, token: str) -> None:
    """An empty object lists every required field at once, so the client can fix them in one go."""
    response = post_report(client, token, {})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {
        "occurred_on", "country", "incident_type", "narrative", "source_type", "consent", "risk_to_source",
    }


def test_malformed_json_is_a_400(client: Any, token: str) -> None:
    """A body that is not JSON gets 400 `malformed_json`, and does not quote the body back."""
    response = client.post(REPORTS, data='{"narrative": "Anahit was', content_type="application/json",
                           headers={**bearer(token), "Idempotency-Key": "key-0000001"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_json"
    assert "Anahit" not in response.get_data(as_text=True)


def test_absurdly_nested_json_is_a_400_not_a_crash(client: Any, token: str) -> None:
    """JSON nested 100 000 deep is refused as malformed instead of exhausting the parser's stack."""
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(REPORTS, data=body, content_type="application/json",
                           headers={**bearer(token), "Idempotency-Key": "key-0000001"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_json"


def test_non_json_content_type_is_a_415(client: Any, token: str) -> None:
    """A text/plain body gets 415, even if it happens to contain JSON."""
    response = client.post(REPORTS, data=json.dumps(complete_report()), content_type="text/plain",
                           headers={**bearer(token), "Idempotency-Key": "key-0000001"})
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported_media_type"
    assert report_rows() == 0


def test_json_array_is_a_422(client: Any, token: str) -> None:
    """A JSON array instead of an object gets 422 `invalid`."""
    response = post_report(client, token, [complete_report()])
    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid"
    assert report_rows() == 0


def test_missing_idempotency_key_is_a_422_on_submission_id(client: Any, token: str) -> None:
    """Without an Idempotency-Key or a submission_id the report is refused at `submission_id`."""
    response = post_report(client, token, key=None)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["submission_id"]
    assert report_rows() == 0


@pytest.mark.parametrize("key", ["short", "x" * 65, "has space in it", "line-break\n"])
def test_malformed_idempotency_key_is_a_422_on_submission_id(client: Any, token: str, key: str) -> None:
    """A key that is too short, too long or has other characters is refused at `submission_id`."""
    response = post_report(client, token, complete_report(submission_id=key), key=None)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["submission_id"]
    assert report_rows() == 0


# ---- who may see what -------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [("post", REPORTS), ("get", f"{REPORTS}/{uuid.uuid4()}"),
                                         ("post", f"{REPORTS}/{uuid.uuid4()}/attachments")])
def test_no_token_is_a_401_with_www_authenticate(client: Any, method: str, path: str) -> None:
    """Without a bearer token every API route answers 401 and says to use Bearer."""
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer itk_not-a-real-token", "Bearer ", "Basic cmVwb3J0ZXI6cHc=",
                                    "itk_token-without-scheme"])
def test_wrong_token_is_a_401(client: Any, report: dict[str, Any], header: str) -> None:
    """An unknown token, an empty one or another scheme gets 401, and the report stays hidden."""
    response = client.get(f"{REPORTS}/{report['id']}", headers={"Authorization": header})
    assert response.status_code == 401
    assert "submitted" not in response.get_json()


def test_revoked_token_is_a_401(client: Any, token: str, report: dict[str, Any]) -> None:
    """A token that was revoked no longer reads the reporter's reports."""
    db.session.execute(update(ApiToken).values(revoked_at=utcnow()))
    db.session.commit()
    assert client.get(f"{REPORTS}/{report['id']}", headers=bearer(token)).status_code == 401


def test_revoked_token_or_deactivated_account_files_nothing(client: Any, token: str, reporter: User) -> None:
    """A revoked token, or the token of an account that was deactivated, cannot file a report."""
    db.session.execute(update(ApiToken).values(revoked_at=utcnow()))
    db.session.commit()
    assert post_report(client, token, key="revoked-key-1").status_code == 401
    fresh = make_token(reporter)
    db.session.execute(update(User).where(User.id == reporter.id).values(active=False))
    db.session.commit()
    assert post_report(client, fresh, key="inactive-key-1").status_code == 401
    assert report_rows() == 0


@pytest.mark.parametrize("body", ["{not json", '{"country": "Narnia"}'])
def test_who_asks_comes_before_what_is_wrong_with_the_report(client: Any, org: Any, body: str) -> None:
    """A broken report from an unknown token is a 401 and from an administrator a 404, not a 400/422
    that would tell a stranger how the report is checked."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": "precedence-1"}
    unknown = client.post(REPORTS, data=body, headers={**headers, **bearer("itk_" + "x" * 40)})
    assert unknown.status_code == 401 and unknown.headers["WWW-Authenticate"].startswith("Bearer")
    admin = client.post(REPORTS, data=body, headers={**headers, **bearer(make_token(make_user(org, Role.ADMIN)))})
    assert admin.status_code == 404


def test_a_submit_records_when_the_token_was_last_used(client: Any, token: str) -> None:
    """Administrators see when a token was last used: a submit records it (at most once a minute)."""
    stale = utcnow() - dt.timedelta(hours=2)
    db.session.execute(update(ApiToken).values(last_used_at=stale))
    db.session.commit()
    assert post_report(client, token).status_code == 201
    db.session.expire_all()
    used = db.session.scalar(select(ApiToken.last_used_at))
    assert used is not None and used > utcnow() - dt.timedelta(minutes=1)
    assert post_report(client, token, key="key-0000002").status_code == 201
    db.session.expire_all()
    assert db.session.scalar(select(ApiToken.last_used_at)) == used, "written at most once a minute"


def test_admin_token_reads_no_reports(client: Any, org: Any, report: dict[str, Any]) -> None:
    """An administrator's token gets 404 for a report of their own organisation, and cannot file one."""
    admin_token = make_token(make_user(org, Role.ADMIN))
    response = client.get(f"{REPORTS}/{report['id']}", headers=bearer(admin_token))
    assert response.status_code == 404
    assert "submitted" not in response.get_json()
    assert post_report(client, admin_token, key="admin-key-01").status_code == 404
    assert report_rows() == 1


def test_reporter_of_another_organisation_gets_404(client: Any, report: dict[str, Any]) -> None:
    """Another organisation's reporter gets the same 404 as for a report that does not exist."""
    outsider = make_token(make_user(make_org(), Role.REPORTER))
    existing = client.get(f"{REPORTS}/{report['id']}", headers=bearer(outsider))
    absent = client.get(f"{REPORTS}/{uuid.uuid4()}", headers=bearer(outsider))
    assert existing.status_code == absent.status_code == 404
    assert existing.get_json() == absent.get_json()


def test_verifier_of_same_organisation_gets_404_from_the_api(client: Any, verifier: User,
                                                             report: dict[str, Any]) -> None:
    """The API's GET is for the submitting reporter only: the organisation's verifier gets 404 there."""
    response = client.get(f"{REPORTS}/{report['id']}", headers=bearer(make_token(verifier)))
    assert response.status_code == 404
    assert report["receipt_code"] not in response.get_data(as_text=True)


def test_colleague_reporter_gets_404(client: Any, org: Any, report: dict[str, Any]) -> None:
    """A second reporter of the same organisation cannot read the first one's report."""
    colleague = make_token(make_user(org, Role.REPORTER))
    assert client.get(f"{REPORTS}/{report['id']}", headers=bearer(colleague)).status_code == 404


def test_report_cannot_be_read_by_receipt_code_or_internal_id(client: Any, token: str,
                                                              report: dict[str, Any]) -> None:
    """Reports are addressed by their random public id only, not by receipt code or row number."""
    row_id = db.session.scalar(select(Report.id).where(Report.public_id == report["id"]))
    for guess in (report["receipt_code"], str(row_id)):
        assert client.get(f"{REPORTS}/{guess}", headers=bearer(token)).status_code == 404


# ---- attachments ------------------------------------------------------------------------------


def test_jpeg_is_attached_with_its_hash(app: Any, client: Any, token: str, report: dict[str, Any]) -> None:
    """A real JPEG gets 201 with its SHA-256 and type, is stored byte for byte, and shows on the report."""
    content = jpeg_bytes()
    response = upload(client, token, report["id"], content, captured_at="2026-03-14T06:45",
                      description="The bakery after the strike")
    assert response.status_code == 201
    attachment = response.get_json()
    assert attachment["sha256"] == hashlib.sha256(content).hexdigest()
    assert attachment["media_type"] == "image/jpeg"
    assert attachment["size"] == len(content)
    assert attachment["captured_at"].startswith("2026-03-14T06:45")
    # Stored sealed with the report's data key: the disk holds no byte of the photo in the clear.
    (stored,) = stored_files(app)
    assert content[100:140] not in stored.read_bytes()
    with app.app_context():
        from intake.media import read_original

        row = db.session.scalar(select(Attachment))
        assert row is not None
        assert b"".join(read_original(app.config, row)) == content
    shown = client.get(f"{REPORTS}/{report['id']}", headers=bearer(token)).get_json()
    assert [a["id"] for a in shown["attachments"]] == [attachment["id"]]


def test_same_bytes_twice_are_one_attachment(app: Any, client: Any, token: str,
                                             report: dict[str, Any]) -> None:
    """Sending the same file again (under any name) answers 200 with the first attachment."""
    content = jpeg_bytes()
    first = upload(client, token, report["id"], content)
    again = upload(client, token, report["id"], content, filename="IMG_0001.jpg")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert attachment_rows() == 1
    assert len(stored_files(app)) == 1


def test_invalid_captured_at_is_a_422(app: Any, client: Any, token: str, report: dict[str, Any]) -> None:
    """A capture time that is not a date and time is refused at `captured_at`, and nothing is stored."""
    response = upload(client, token, report["id"], jpeg_bytes(), captured_at="the morning after")
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["captured_at"]
    assert "the morning after" not in response.get_data(as_text=True)
    assert stored_files(app) == []


def test_request_without_file_is_a_422(client: Any, token: str, report: dict[str, Any]) -> None:
    """A multipart request without the `file` field is refused at `file`."""
    response = client.post(f"{REPORTS}/{report['id']}/attachments", data={"description": "no file"},
                           headers=bearer(token), content_type="multipart/form-data")
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["file"]


@pytest.mark.parametrize("magic", [b"MZ\x90\x00\x03\x00\x00\x00", b"\x7fELF\x02\x01\x01\x00"],
                         ids=["exe", "elf"])
def test_program_named_photo_is_refused_by_name(app: Any, client: Any, token: str, report: dict[str, Any],
                                                magic: bytes) -> None:
    """A program renamed photo.jpg gets 422 naming photo.jpg and saying it is a program; nothing is kept."""
    response = upload(client, token, report["id"], magic + b"\x00" * 4096, filename="photo.jpg")
    assert response.status_code == 422
    message = " ".join(response.get_json()["errors"]["file"])
    assert "photo.jpg" in message
    assert "program" in message
    assert stored_files(app) == []
    assert attachment_rows() == 0


@pytest.mark.parametrize("content,filename,words", [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "map.svg", "SVG"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "map.jpg", "SVG"),
    (zip_bytes(), "photos.zip", "archive"),
    (b"Just some notes about the strike\n" * 50, "notes.txt", "not a photo"),
], ids=["svg", "svg-as-jpg", "zip", "text"])
def test_disallowed_files_are_refused(app: Any, client: Any, token: str, report: dict[str, Any],
                                      content: bytes, filename: str, words: str) -> None:
    """SVG drawings, archives and text files get 422 with the reason, and leave nothing on disk."""
    response = upload(client, token, report["id"], content, filename=filename)
    assert response.status_code == 422
    message = " ".join(response.get_json()["errors"]["file"])
    assert filename in message
    assert words in message
    assert stored_files(app) == []
    assert attachment_rows() == 0


def test_file_over_the_configured_limit_is_a_413(app: Any, client: Any, token: str,
                                                 report: dict[str, Any]) -> None:
    """A file larger than MAX_FILE_BYTES gets 413 and leaves nothing behind; one under it is stored."""
    content = jpeg_bytes((400, 300))
    app.config["MAX_FILE_BYTES"] = len(content) - 1
    response = upload(client, token, report["id"], content)
    assert response.status_code == 413
    assert response.get_json()["error"] == "upload_refused"
    assert stored_files(app) == []
    assert attachment_rows() == 0
    app.config["MAX_FILE_BYTES"] = len(content)
    assert upload(client, token, report["id"], content).status_code == 201


def test_60_mb_file_is_refused_by_the_default_25_mb_limit(app: Any, client: Any, token: str,
                                                          report: dict[str, Any]) -> None:
    """A real 60 MB upload with a JPEG start gets 413 under the default limit, and no bytes of it remain."""
    assert app.config["MAX_FILE_BYTES"] == 25 * MB
    content = jpeg_bytes() + b"\x00" * (60 * MB)
    response = upload(client, token, report["id"], content, filename="huge.jpg")
    assert response.status_code == 413
    assert "huge.jpg" in " ".join(response.get_json()["errors"]["file"])
    assert stored_files(app) == []
    assert attachment_rows() == 0


def test_upload_to_another_reporters_report_is_a_404(app: Any, client: Any, org: Any,
                                                     report: dict[str, Any]) -> None:
    """Nobody can attach files to a report they did not file: 404, and nothing is written."""
    for user in (make_user(org, Role.REPORTER), make_user(org, Role.VERIFIER),
                 make_user(make_org(), Role.REPORTER)):
        response = upload(client, make_token(user), report["id"], jpeg_bytes())
        assert response.status_code == 404
    assert stored_files(app) == []
    assert attachment_rows() == 0


# ---- the OpenAPI document ---------------------------------------------------------------------


def test_openapi_is_served_without_auth(client: Any) -> None:
    """The OpenAPI 3.1 document needs no token."""
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json()["openapi"].startswith("3.1.")


def test_openapi_paths_match_the_routes(app: Any, openapi: dict[str, Any]) -> None:
    """The document lists exactly the API routes (three, the two of resumable uploads, the two of
    exports and the transfer records), with the methods Flask serves them on."""
    documented = {path: set(operations) - {"head", "options"} for path, operations in openapi["paths"].items()}
    assert documented == api_rules(app)
    assert len(documented) == 8


def test_openapi_idempotency_key_pattern_is_the_one_enforced(openapi: dict[str, Any]) -> None:
    """The documented Idempotency-Key pattern is the one the route checks."""
    (parameter,) = openapi["paths"]["/api/v1/reports"]["post"]["parameters"]
    assert parameter["name"] == "Idempotency-Key"
    assert parameter["schema"]["pattern"] == SUBMISSION_ID_RE.pattern


def test_openapi_report_schema_accepts_a_complete_report(openapi: dict[str, Any]) -> None:
    """A complete report, as the route takes it, is valid against the documented ReportIn."""
    validator = component_validator(openapi, "ReportIn")
    assert list(validator.iter_errors(complete_report())) == []
    assert list(validator.iter_errors(complete_report(submission_id="doc-key-001"))) == []


# Refusals JSON Schema can express. A date in the future (relative to today) and an unknown but
# well-formed country code are checked by the route only.
SCHEMA_REJECTS = ["latitude 123", "longitude without latitude", "latitude without longitude",
                  "unknown enum value", "negative count", "true as a count", "unknown count group",
                  "victim age 300", "victim without harm", "bad witness email", "bad link url",
                  "script link url", "unknown top-level key", "not a date"]


@pytest.mark.parametrize("case", SCHEMA_REJECTS)
def test_openapi_report_schema_rejects_invalid_reports(openapi: dict[str, Any], case: str) -> None:
    """The documented ReportIn refuses what the route refuses, wherever JSON Schema can say so."""
    changes, _, _ = INVALID_REPORTS[case]
    body = complete_report(**{k: v for k, v in changes.items() if v is not MISSING})
    body = without(body, *(k for k, v in changes.items() if v is MISSING))
    validator = component_validator(openapi, "ReportIn")
    if case == "not a date":  # `format` only asserts when asked to
        validator = Draft202012Validator(validator.schema, format_checker=FormatChecker())
    assert list(validator.iter_errors(body)), case


@pytest.mark.parametrize("field", ["occurred_on", "country", "narrative", "consent"])
def test_openapi_report_schema_requires_what_the_route_requires(openapi: dict[str, Any], field: str) -> None:
    """A report missing a required field is invalid against the documented schema."""
    validator = component_validator(openapi, "ReportIn")
    assert list(validator.iter_errors(without(complete_report(), field)))


def test_openapi_report_properties_are_what_the_route_accepts(client: Any, token: str,
                                                              openapi: dict[str, Any]) -> None:
    """Every documented property is a key of a real report, and a report using all of them is filed."""
    schemas = openapi["components"]["schemas"]
    properties = set(schemas["ReportIn"]["properties"])
    assert properties == set(ReportIn.model_fields)
    assert properties == set(complete_report()) | {"submission_id", "missing"}
    sent = complete_report()
    for list_name, model in (("victims", "VictimIn"), ("witnesses", "WitnessIn"),
                             ("components", "ComponentIn"), ("objects_damaged", "DamagedObjectIn"),
                             ("links", "LinkIn")):
        used = set().union(*(row.keys() for row in sent[list_name]))
        assert set(schemas[model]["properties"]) == used, model
    assert set(schemas["CountsIn"]["properties"]) == {"men", "women", "boys", "girls", "unknown"}
    everything = complete_report(submission_id="all-props-01", missing={"unknown": 3})
    assert set(everything) == properties
    response = post_report(client, token, everything, key=None)
    assert response.status_code == 201
    assert response.get_json()["submitted"]["missing"]["unknown"] == 3


def test_real_responses_match_the_documented_schemas(client: Any, token: str,
                                                     openapi: dict[str, Any]) -> None:
    """The report, attachment and error answers the API gives are valid against the document."""
    report_body = filed(client, token)
    assert list(component_validator(openapi, "Report").iter_errors(report_body)) == []
    attachment = upload(client, token, report_body["id"], jpeg_bytes()).get_json()
    assert list(component_validator(openapi, "AttachmentOut").iter_errors(attachment)) == []
    error_validator = component_validator(openapi, "Error")
    for response in (post_report(client, token, complete_report(latitude=123), key="bad-key-0001"),
                     client.get(f"{REPORTS}/{uuid.uuid4()}", headers=bearer(token)),
                     client.get(f"{REPORTS}/{uuid.uuid4()}")):
        assert list(error_validator.iter_errors(response.get_json())) == [], response.status_code
