"""Sessions that live on the server: ended by sign-out and by changes to the account, with idle and
absolute lifetimes for every role, bound to the device without trusting X-Forwarded-For, and a
cookie that holds nothing of the client's address. Through the HTTP interface."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import select

from intake.enums import AuditAction, Role
from intake.extensions import db
from intake.models import UserSession
from tests.conftest import csrf_token, make_user, password_step, sign_in
from tests.test_second_factor import age_session, entries, sign_out
from tests.test_verify import triaged_report

COOKIE = "session"


def saved_cookie(client: Any) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return str(cookie.value)


def browser_with(app: Any, cookie: str, **environ: str) -> Any:
    """Another browser that replays a copied session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, cookie)
    other.environ_base.update(environ)
    return other


def open_rows() -> list[UserSession]:
    db.session.rollback()
    rows = list(db.session.scalars(select(UserSession).where(UserSession.ended_at.is_(None))))
    db.session.rollback()
    return rows


def test_a_cookie_saved_before_sign_out_opens_nothing_after(app: Any, client: Any, verifier: Any,
                                                             reporter: Any) -> None:
    triaged_report(app, reporter)
    assert sign_in(client, verifier.email).status_code == 302
    assert client.get("/queue/").status_code == 200
    copy = saved_cookie(client)
    sign_out(client)
    replay = browser_with(app, copy)
    assert replay.get("/queue/").status_code == 302
    assert replay.get("/queue/export.csv").status_code == 302
    assert open_rows() == []
    [row] = db.session.scalars(select(UserSession))
    assert row.end_reason == "signed_out"
    db.session.rollback()


def test_the_cookie_carries_a_random_id_and_nothing_of_the_address(app: Any, client: Any, verifier: Any) -> None:
    """Flask-Login's "strong" protection put a hash of the client's address and agent in the cookie;
    the device binding now lives only in the database, as a keyed hash."""
    address = "203.0.113.77"
    client.environ_base["REMOTE_ADDR"] = address
    assert sign_in(client, verifier.email).status_code == 302
    data = app.session_interface.get_signing_serializer(app).loads(saved_cookie(client))
    assert "_id" not in data
    assert set(data) <= {"_sid", "_user_id", "_fresh", "_flashes", "csrf_token"}
    text = repr(data)
    assert address not in text
    agent = client.get("/queue/").request.user_agent.string
    for value in (address, f"{address}|{agent}"):
        for digest in (hashlib.sha512, hashlib.sha256, hashlib.sha1, hashlib.md5):
            assert digest(value.encode()).hexdigest() not in text
    [row] = open_rows()
    assert address not in row.device_digest and len(row.device_digest) == 32
    assert row.token_hash == hashlib.sha256(data["_sid"].encode()).hexdigest()


def test_a_copied_cookie_with_a_forged_forwarded_for_is_refused(app: Any, client: Any, verifier: Any) -> None:
    """X-Forwarded-For is the client's to write: with no proxy configured it does not make another
    machine look like the one that signed in."""
    client.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    assert sign_in(client, verifier.email).status_code == 302
    assert client.get("/queue/", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 200
    thief = browser_with(app, saved_cookie(client), REMOTE_ADDR="198.51.100.9")
    assert thief.get("/queue/", headers={"X-Forwarded-For": "192.0.2.10"}).status_code == 302
    assert client.get("/queue/").status_code == 302  # the session is dropped, not only refused once


def test_behind_a_configured_proxy_the_forwarded_address_counts(app: Any, client: Any, verifier: Any) -> None:
    app.config["PROXY_HOPS"] = 1
    from intake import create_app
    from tests.conftest import SECRET

    proxied = create_app({**{k: app.config[k] for k in ("TESTING", "DATABASE_URL", "BROKER_URL",
                                                        "SESSION_COOKIE_SECURE", "ARGON2_PARAMS")},
                          "SECRET_KEY": SECRET, "INSTANCE_PATH": app.instance_path, "PROXY_HOPS": 1})
    try:
        browser = proxied.test_client()
        browser.environ_base["REMOTE_ADDR"] = "10.0.0.2"  # the proxy
        forwarded = {"X-Forwarded-For": "192.0.2.10"}
        page = browser.get("/sign-in", headers=forwarded)
        browser.post("/sign-in", headers=forwarded, data={"email": verifier.email, "password": "x" * 12,
                                                          "csrf_token": csrf_token(page.get_data(as_text=True))})
        [failed] = entries(AuditAction.SIGN_IN_FAILED)
        assert failed.detail == {"factor": "password", "failures": 1}
        # The same typed address from another forwarded client is another (address, client) pair.
        from intake.models import SignInThrottle

        browser.post("/sign-in", headers={"X-Forwarded-For": "192.0.2.11"},
                     data={"email": verifier.email, "password": "y" * 12,
                           "csrf_token": csrf_token(page.get_data(as_text=True))})
        assert len(list(db.session.scalars(select(SignInThrottle)))) == 2
        db.session.rollback()
    finally:
        db.dispose(proxied)


def test_a_role_change_ends_the_session_everywhere(app: Any, client: Any, verifier: Any) -> None:
    """Verifier to coordinator: the old code-passed session does not carry over to the new role."""
    from click.testing import CliRunner

    from intake.cli import main
    from tests.conftest import SECRET

    assert sign_in(client, verifier.email).status_code == 302
    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app.config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app.config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app.instance_path}
    result = CliRunner(env=env).invoke(main, ["user", "set-role", verifier.email, "coordinator"],
                                       catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert client.get("/queue/").status_code == 302
    assert open_rows() == []


def test_reporters_sessions_have_an_idle_and_an_absolute_lifetime(app: Any, client: Any, reporter: Any) -> None:
    assert sign_in(client, reporter.email).status_code == 302
    age_session(client, 2 * 24 * 3600)  # two days idle: still in
    assert client.get("/my-reports").status_code == 200
    age_session(client, 3 * 24 * 3600 + 60)
    ended = client.get("/my-reports")
    assert ended.status_code == 302 and "/sign-in" in ended.headers["Location"]
    [idle] = entries(AuditAction.IDLE_TIMEOUT)
    assert idle.actor_id == reporter.public_id and idle.detail == {"idle_minutes": 3 * 24 * 60}

    app.config.update(REPORTER_SESSION_MAX_SECONDS=3600)
    assert sign_in(client, reporter.email).status_code == 302
    age_session(client, 3601, column="created_at")  # in use all along, but an hour old
    assert client.get("/my-reports").status_code == 302
    [expired] = entries(AuditAction.SESSION_EXPIRED)
    assert expired.actor_id == reporter.public_id and expired.detail == {"hours": 1}


def test_privileged_sessions_also_end_after_their_absolute_lifetime(client: Any, verifier: Any) -> None:
    assert sign_in(client, verifier.email).status_code == 302
    age_session(client, 11 * 3600, column="created_at")
    assert client.get("/queue/").status_code == 200
    age_session(client, 3600 + 60, column="created_at")
    ended = client.get("/queue/")
    assert ended.status_code == 302
    assert "at most 12 hours" in client.get(ended.headers["Location"]).get_data(as_text=True)


def test_each_sign_in_is_its_own_session_and_sign_out_ends_only_it(app: Any, org: Any) -> None:
    verifier = make_user(org, Role.VERIFIER)
    first, second = app.test_client(), app.test_client()
    assert sign_in(first, verifier.email).status_code == 302
    assert sign_in(second, verifier.email).status_code == 302
    assert len(open_rows()) == 2
    sign_out(first)
    assert first.get("/queue/").status_code == 302
    assert second.get("/queue/").status_code == 200


def test_the_session_id_changes_when_the_second_factor_is_passed(app: Any, client: Any, verifier: Any) -> None:
    """Whoever saw the id of a session that only knew the password does not get the signed-in one."""
    password_step(client, verifier.email)
    before = saved_cookie(client)
    from tests.conftest import enter_code, totp_code

    assert enter_code(client, totp_code(verifier.email)).status_code == 302
    assert browser_with(app, before).get("/queue/").status_code == 302
    assert client.get("/queue/").status_code == 200


def test_a_session_row_from_another_user_is_not_a_way_in(app: Any, client: Any, reporter: Any,
                                                         verifier: Any) -> None:
    """A cookie naming one user but carrying another user's session id opens nothing."""
    assert sign_in(client, reporter.email).status_code == 302
    with client.session_transaction() as session:
        session["_user_id"] = verifier.public_id
    assert client.get("/queue/").status_code == 302
    assert client.get("/my-reports").status_code == 302


def test_ended_rows_record_why(client: Any, reporter: Any) -> None:
    assert sign_in(client, reporter.email).status_code == 302
    age_session(client, 4 * 24 * 3600)
    client.get("/my-reports")
    [row] = db.session.scalars(select(UserSession))
    assert row.end_reason == "idle" and row.ended_at is not None
    assert row.ended_at - row.last_seen_at > dt.timedelta(days=3)
    db.session.rollback()
