"""The audit log: hash chain, tamper detection, concurrency, no identities, and the admin page."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from intake import audit
from intake.enums import AuditAction, Role
from intake.extensions import db
from intake.models import AuditChainHead, AuditEntry
from tests.conftest import (
    PASSWORD,
    SECRET,
    all_at_once,
    csrf_token,
    make_org,
    make_user,
    password_step,
    require_postgres,
    sign_in,
)


@pytest.fixture
def run(app: Any, app_config: dict[str, Any]) -> Any:
    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app_config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app_config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app_config["INSTANCE_PATH"],
           "INTAKE_ARGON2_PARAMS__time_cost": "1", "INTAKE_ARGON2_PARAMS__memory_cost": "8",
           "INTAKE_ARGON2_PARAMS__parallelism": "1"}

    def invoke(*args: str, stdin: str | None = None) -> Any:
        return CliRunner(env=env).invoke(main_command(), list(args), input=stdin, catch_exceptions=False)

    return invoke


def main_command() -> Any:
    from intake.cli import main

    return main


def write_entries(app: Any, count: int, organisation_id: int | None = None) -> None:
    with app.app_context():
        for i in range(count):
            audit.record("test.event", actor=None, organisation_id=organisation_id, target_type="report",
                         target_id=f"r-{i}", detail={"n": i, "field": "witness.name", "ok": True, "none": None})
        db.session.commit()


@contextmanager
def raw_sql(app: Any) -> Iterator[Any]:
    """A connection that writes the tables directly, as someone with the database would; on
    PostgreSQL the append-only trigger is switched off for it, as its owner could."""
    engine = app.extensions["intake_engine"]
    with engine.begin() as conn:
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        try:
            yield conn
        finally:
            if postgres:
                conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))


def check(app: Any) -> audit.ChainCheck:
    with app.app_context():
        result = audit.verify_chain(db.session)
        db.session.rollback()
        return result


# ---- the chain ---------------------------------------------------------------------------------


def test_entries_form_a_chain(app: Any, org: Any) -> None:
    """Each entry names the one before it by hash; the first names the genesis hash."""
    write_entries(app, 3, org.id)
    rows = list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert rows[1].prev_hash == rows[0].entry_hash and rows[2].prev_hash == rows[1].entry_hash
    assert all(audit.entry_hash(r) == r.entry_hash for r in rows)
    assert rows[1].detail == {"n": 1, "field": "witness.name", "ok": True, "none": None}
    last_hash = rows[2].entry_hash
    head = db.session.get(AuditChainHead, audit.HEAD_ROW)
    assert head is not None and (head.seq, head.entry_hash) == (3, last_hash)
    result = check(app)
    assert result.intact and result.count == 3 and result.head_hash == last_hash


def test_record_joins_the_callers_transaction(app: Any, verifier: Any) -> None:
    """record() does not commit: a rolled-back action leaves no entry, and the chain stays whole."""
    with app.app_context():
        entry = audit.record("test.event", actor=verifier, target_type="report", target_id="x")
        assert entry.organisation_id == verifier.organisation_id and entry.actor_role == "verifier"
        db.session.rollback()
    assert db.session.scalar(select(AuditEntry)) is None
    write_entries(app, 2)
    assert check(app).intact and check(app).count == 2


def test_record_refuses_identifying_keys_and_odd_values(app: Any) -> None:
    with app.app_context():
        for detail in ({"email": "a@example.org"}, {"password": "x"}, {"name": "Gor"}, {"Phone": "1"},
                       {"n": [1, 2]}, {"n": {"a": 1}}, {"bad key": 1}, {"reason": "x" * 1001},
                       {f"k{i}": i for i in range(13)}):
            with pytest.raises(audit.AuditError):
                audit.record("test.event", actor=None, detail=detail)  # type: ignore[arg-type]
        db.session.rollback()


def test_record_works_outside_a_request_with_its_own_session(app: Any) -> None:
    """Workers and the CLI pass their own session."""
    from sqlalchemy.orm import Session

    with Session(app.extensions["intake_engine"]) as session:
        audit.record("worker.event", actor=None, detail={"report_id": 7}, session=session)
        audit.record("worker.event", actor=None, detail={"report_id": 8}, session=session)
        session.commit()
    assert check(app).count == 2


def test_concurrent_appends_do_not_fork_the_chain(app: Any, org: Any) -> None:
    """Transactions appending at the same moment each get their own place in one chain.

    On PostgreSQL they wait for the chain head's row lock; on SQLite for the write lock."""
    write_entries(app, 1)  # the head row exists; the race is over extending it

    def append(i: int) -> None:
        with app.app_context():
            audit.record("race.event", actor=None, organisation_id=org.id, detail={"thread": i})
            # Hold the lock for a moment, as a request doing more work would.
            db.session.execute(text("SELECT 1"))
            db.session.commit()
            db.session.remove()

    all_at_once([lambda i=i: append(i) for i in range(8)])
    result = check(app)
    assert result.intact, result
    assert result.count == 9
    seqs = list(db.session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
    assert seqs == list(range(1, 10))


def test_the_first_appends_to_an_empty_log_race_safely(app: Any) -> None:
    """Even the very first entries, when the head row does not exist yet."""
    def append(i: int) -> None:
        with app.app_context():
            audit.record("race.event", actor=None, detail={"thread": i})
            db.session.commit()
            db.session.remove()

    all_at_once([lambda i=i: append(i) for i in range(6)])
    result = check(app)
    assert result.intact and result.count == 6, result


# ---- tamper detection --------------------------------------------------------------------------


def test_cli_verify_passes_an_intact_log(run: Any, app: Any) -> None:
    write_entries(app, 4)
    result = run("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "intact: 4 entries" in result.output
    assert check(app).head_hash in result.output


def test_cli_verify_passes_an_empty_log(run: Any) -> None:
    result = run("audit", "verify")
    assert result.exit_code == 0 and "intact: 0 entries" in result.output


@pytest.mark.parametrize("change", [
    "UPDATE audit_log SET detail = '{\"n\": 99, \"field\": \"witness.name\", \"ok\": true, \"none\": null}' "
    "WHERE seq = 3",
    "UPDATE audit_log SET action = 'nothing.happened' WHERE seq = 3",
    "UPDATE audit_log SET actor_id = 'someone-else' WHERE seq = 3",
])
def test_cli_verify_names_a_changed_entry(run: Any, app: Any, change: str) -> None:
    """A past entry changed directly in the database is found and named."""
    write_entries(app, 5)
    with raw_sql(app) as conn:
        conn.execute(text(change))
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN at entry 3" in result.output and "does not match its hash" in result.output
    assert "2 entries before it are intact" in result.output


def test_cli_verify_names_an_entry_whose_hashes_were_recomputed(run: Any, app: Any) -> None:
    """Rewriting an entry and its own hash breaks the link from the entry after it."""
    write_entries(app, 5)
    with app.app_context():
        entry = db.session.get(AuditEntry, 2)
        assert entry is not None
        entry.action = "nothing.happened"
        forged = audit.entry_hash(entry)
        db.session.rollback()
    with raw_sql(app) as conn:
        conn.execute(text("UPDATE audit_log SET action = 'nothing.happened', entry_hash = :h WHERE seq = 2"),
                     {"h": forged})
    result = run("audit", "verify")
    assert result.exit_code == 1 and "BROKEN at entry 3" in result.output
    assert "link to the entry before it" in result.output


def test_cli_verify_notices_a_removed_entry(run: Any, app: Any) -> None:
    write_entries(app, 5)
    with raw_sql(app) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN at entry 4" in result.output and "entry 3 is missing" in result.output


def test_verify_notices_entries_cut_off_the_end(app: Any) -> None:
    write_entries(app, 5)
    with raw_sql(app) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    result = check(app)
    assert not result.intact and result.broken_seq == 4
    assert "chain head records 5" in (result.problem or "")


def test_postgresql_refuses_changes_to_the_log(app: Any) -> None:
    """On PostgreSQL a trigger keeps the log append-only against the application's own slips."""
    require_postgres()
    from sqlalchemy.exc import DBAPIError

    write_entries(app, 2)
    engine = app.extensions["intake_engine"]
    for statement in ("UPDATE audit_log SET action = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert check(app).intact


# ---- what the log holds --------------------------------------------------------------------------


def test_the_log_holds_no_identifying_values(app: Any, client: Any, org: Any, reporter: Any, run: Any) -> None:
    """After sign-ins (good, bad, unknown), enrolment, recovery codes, CLI user creation and a reset,
    no e-mail, password, secret or recovery code appears anywhere in the audit tables."""
    from tests.test_second_factor import enrol, sign_out
    from tests.test_second_factor import enter_code as code_step

    verifier = make_user(org, Role.VERIFIER, "canary.verifier@example.org", enrolled=False)
    password_step(client, "canary.unknown@example.org", "canary-password-1")
    password_step(client, verifier.email, "canary-password-2")
    password_step(client, verifier.email)
    secret, codes = enrol(client, verifier.email)
    sign_out(client)
    password_step(client, verifier.email)
    code_step(client, codes[0])
    sign_out(client)
    run("user", "create", "canary.created@example.org", "--org", org.name, "--role", "coordinator",
        "--password-stdin", stdin="canary-password-3\n")
    run("user", "reset-2fa", verifier.email)

    engine = app.extensions["intake_engine"]
    with engine.connect() as conn:
        dump = repr(conn.execute(text("SELECT * FROM audit_log")).all())
        dump += repr(conn.execute(text("SELECT * FROM audit_chain_head")).all())
    assert len(re.findall(r"auth\.sign_in_failed", dump)) == 2
    for canary in ("canary", "@example.org", PASSWORD, "canary-password", secret, *codes,
                   *(c.replace("-", "") for c in codes), org.name):
        assert canary not in dump, canary
    actions = {e.action for e in db.session.scalars(select(AuditEntry))}
    assert {AuditAction.SIGN_IN_FAILED, AuditAction.SECOND_FACTOR_ENROLLED, AuditAction.RECOVERY_CODE_USED,
            AuditAction.SIGN_OUT, AuditAction.USER_CREATED, AuditAction.SECOND_FACTOR_RESET,
            AuditAction.SIGN_IN} <= actions


# ---- the admin page ----------------------------------------------------------------------------


@pytest.fixture
def admin_client(app: Any, org: Any) -> tuple[Any, Any]:
    admin = make_user(org, Role.ADMIN, "admin@example.org")
    browser = app.test_client()
    assert sign_in(browser, admin.email).status_code == 302
    return browser, admin


def seqs_on(html: str) -> list[int]:
    return [int(n) for n in re.findall(r"<tr>\s*<td>(\d+)</td>", html)]


def test_admin_reads_own_organisations_log_with_filters_and_pages(app: Any, org: Any, reporter: Any,
                                                                 admin_client: tuple[Any, Any]) -> None:
    browser, admin = admin_client
    app.config["AUDIT_PAGE_SIZE"] = 4
    other = make_org("Other NGO")
    write_entries(app, 3, other.id)  # another organisation's: never shown here
    password_step(app.test_client(), reporter.email, "a wrong password")
    sign_in(app.test_client(), reporter.email)
    write_entries(app, 5, org.id)
    own = {e.seq for e in db.session.scalars(select(AuditEntry).where(
        (AuditEntry.organisation_id == org.id) | AuditEntry.organisation_id.is_(None)))}

    seen: list[int] = []
    url = "/admin/audit"
    while url:
        response = browser.get(url)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "chain of" in html and "is intact" in html
        seen += seqs_on(html)
        older = re.search(r'href="(/admin/audit\?before=[^"]+)"', html)
        url = older.group(1).replace("&amp;", "&") if older else ""
    assert seen == sorted(own, reverse=True) and len(seen) > 4

    failed = browser.get(f"/admin/audit?action={AuditAction.SIGN_IN_FAILED.value}").get_data(as_text=True)
    assert len(seqs_on(failed)) == 1 and "Sign-in failed" in failed and reporter.email in failed
    # A person: what they did (signed in) and what concerned them (a failed attempt on their account).
    by_person = browser.get(f"/admin/audit?person={reporter.email}").get_data(as_text=True)
    assert len(seqs_on(by_person)) == 2 and "Signed in" in by_person and "Sign-in failed" in by_person
    assert seqs_on(browser.get(f"/admin/audit?person={reporter.public_id}").get_data(as_text=True)) == \
        seqs_on(by_person)
    assert "No entries match" in browser.get("/admin/audit?person=nobody@example.org").get_data(as_text=True)
    today = dt.datetime.now(dt.UTC).date()
    assert seqs_on(browser.get(f"/admin/audit?since={today}&until={today}").get_data(as_text=True))
    tomorrow = today + dt.timedelta(days=1)
    assert "No entries match" in browser.get(f"/admin/audit?since={tomorrow}").get_data(as_text=True)
    assert browser.get("/admin/audit?since=yesterday").status_code == 400
    assert browser.get("/admin/audit?before=x").status_code == 400


def test_admin_page_shows_a_broken_chain(app: Any, org: Any, admin_client: tuple[Any, Any]) -> None:
    browser, _ = admin_client
    write_entries(app, 3, org.id)
    with raw_sql(app) as conn:
        conn.execute(text("UPDATE audit_log SET target_id = 'elsewhere' WHERE seq = 2"))
    html = browser.get("/admin/audit").get_data(as_text=True)
    assert "BROKEN at entry 2" in html


def test_an_admin_of_another_organisation_sees_none_of_it(app: Any, org: Any, reporter: Any,
                                                          admin_client: tuple[Any, Any]) -> None:
    sign_in(app.test_client(), reporter.email)
    outsider = make_user(make_org("Other NGO"), Role.ADMIN)
    browser = app.test_client()
    assert sign_in(browser, outsider.email).status_code == 302
    html = browser.get("/admin/audit").get_data(as_text=True)
    assert reporter.email not in html and reporter.public_id not in html
    assert "admin@example.org" not in html
    # Their own sign-in is there.
    assert "Signed in" in html


def test_cli_user_creation_is_audited(run: Any, org: Any) -> None:
    assert run("user", "create", "new@example.org", "--org", org.name, "--role", "verifier").exit_code == 0
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.USER_CREATED))
    assert entry.organisation_id == org.id and entry.actor_id is None
    assert entry.detail == {"role": "verifier", "via": "cli"}


def test_sign_out_is_audited(client: Any, verifier: Any) -> None:
    sign_in(client, verifier.email)
    token = csrf_token(client.get("/account").get_data(as_text=True))
    client.post("/sign-out", data={"csrf_token": token})
    actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert actions[-2:] == [AuditAction.SIGN_IN, AuditAction.SIGN_OUT]
