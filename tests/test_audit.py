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
    PostgreSQL the append-only and forward-only triggers are switched off for it, as its owner could."""
    engine = app.extensions["intake_engine"]
    with engine.begin() as conn:
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            conn.execute(text("ALTER TABLE audit_chain_head DISABLE TRIGGER audit_chain_head_forward_only"))
        try:
            yield conn
        finally:
            if postgres:
                conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
                conn.execute(text("ALTER TABLE audit_chain_head ENABLE TRIGGER audit_chain_head_forward_only"))


def check(app: Any) -> audit.AuditCheck:
    with app.app_context():
        result = audit.verify_chain(db.session)
        db.session.rollback()
        return result


def one_chain(app: Any) -> audit.ChainCheck:
    [chain] = check(app).chains
    return chain


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
    head = db.session.get(AuditChainHead, org.id)  # the organisation's own chain
    assert head is not None and (head.seq, head.entry_hash) == (3, last_hash)
    assert [r.chain_seq for r in rows] == [1, 2, 3] and {r.chain for r in rows} == {org.id}
    result = one_chain(app)
    assert result.intact and result.count == 3 and result.head_hash == last_hash and result.chain == org.id


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
    assert one_chain(app).head_hash in result.output


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
    result = one_chain(app)
    assert not result.intact and result.broken_seq == 4
    assert "its head records 5" in (result.problem or "")


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


# ---- one chain per organisation (issue 12, item 14) -----------------------------------------------


def test_each_organisation_has_its_own_chain(app: Any, org: Any) -> None:
    """Entries of two organisations and of none, interleaved, form three chains, each numbered from 1
    and linked only to its own entries; the log's ids still order them all."""
    other = make_org("Other NGO")
    for organisation_id in (org.id, other.id, None, org.id, other.id, org.id):
        write_entries(app, 1, organisation_id)
    rows = list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [(r.chain, r.chain_seq) for r in rows] == [(org.id, 1), (other.id, 1), (0, 1), (org.id, 2),
                                                      (other.id, 2), (org.id, 3)]
    assert rows[3].prev_hash == rows[0].entry_hash and rows[5].prev_hash == rows[3].entry_hash
    assert rows[4].prev_hash == rows[1].entry_hash
    assert {r.prev_hash for r in rows if r.chain_seq == 1} == {audit.GENESIS_HASH}
    heads = {h.id: (h.seq, h.entry_hash) for h in db.session.scalars(select(AuditChainHead))}
    assert heads == {org.id: (3, rows[5].entry_hash), other.id: (2, rows[4].entry_hash), 0: (1, rows[2].entry_hash)}
    result = check(app)
    assert result.intact and result.count == 6 and [c.chain for c in result.chains] == [0, org.id, other.id]


def test_verify_names_the_chain_of_a_changed_entry(run: Any, app: Any, org: Any) -> None:
    """A changed entry breaks its own organisation's chain only; the CLI names that chain."""
    other = make_org("Other NGO")
    for organisation_id in (org.id, other.id, org.id, other.id, None):
        write_entries(app, 1, organisation_id)
    with raw_sql(app) as conn:
        conn.execute(text("UPDATE audit_log SET target_id = 'elsewhere' WHERE chain = :c AND chain_seq = 2"),
                     {"c": other.id})
    result = check(app)
    assert [c.chain for c in result.broken] == [other.id]
    broken = result.broken[0]
    assert broken.broken_seq == 2 and broken.broken_id == 4 and "does not match its hash" in (broken.problem or "")
    assert result.chain(org.id).intact and result.chain(0).intact  # type: ignore[union-attr]
    output = run("audit", "verify")
    assert output.exit_code == 1
    assert f"chain of organisation {other.id}: BROKEN at entry 2 (log id 4)" in output.output
    assert f"chain of organisation {org.id}: 2 entries, intact" in output.output
    # The admin of the untouched organisation sees their chain intact.
    admin = make_user(org, Role.ADMIN)
    browser = app.test_client()
    sign_in(browser, admin.email)
    html = browser.get("/admin/audit").get_data(as_text=True)
    assert "BROKEN" not in html and "chain of this organisation" in html


def test_an_entry_moved_to_another_organisations_chain_is_found(app: Any, org: Any) -> None:
    other = make_org("Other NGO")
    write_entries(app, 2, org.id)
    write_entries(app, 1, other.id)
    with raw_sql(app) as conn:  # the last entry of org's chain re-labelled as the other's
        conn.execute(text("UPDATE audit_log SET organisation_id = :o WHERE seq = 2"), {"o": other.id})
    broken = check(app).broken
    assert [(c.chain, c.broken_seq) for c in broken] == [(org.id, 2)]


def test_a_savepoint_rolled_back_drops_the_entries_recorded_in_it(app: Any, org: Any) -> None:
    with app.app_context():
        audit.record("kept.before", actor=None, organisation_id=org.id)
        try:
            with db.session.begin_nested():
                audit.record("dropped", actor=None, organisation_id=org.id)
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        with db.session.begin_nested():
            audit.record("kept.after", actor=None, organisation_id=org.id)
        db.session.commit()
    actions = list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert actions == ["kept.before", "kept.after"] and check(app).intact


def test_the_head_is_taken_only_at_commit(app: Any, org: Any) -> None:
    """Recording takes no lock: the transaction's slow work before its commit holds no chain head
    (on SQLite, not even the database's write lock)."""
    write_entries(app, 1, org.id)
    with app.app_context():
        audit.record("slow.work", actor=None, organisation_id=org.id)
        db.session.flush()
        engine = app.extensions["intake_engine"]
        with engine.begin() as other:  # another writer of the same chain gets through meanwhile
            if engine.dialect.name == "postgresql":
                other.execute(text("SET LOCAL lock_timeout = '1s'"))
            other.execute(text("UPDATE audit_chain_head SET seq = seq WHERE id = :c"), {"c": org.id})
        db.session.commit()
    assert check(app).intact and check(app).count == 2


@contextmanager
def holding_chain_head(app: Any, organisation_id: int) -> Iterator[None]:
    """A transaction of `organisation_id` that has appended to its chain and stays open (held in its
    commit, as a slow transaction would hold it) until the block ends."""
    import threading

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def transaction() -> None:
        try:
            with Session(app.extensions["intake_engine"]) as session:
                def pause(session: Any, _context: Any) -> None:
                    if any(isinstance(o, AuditEntry) for o in session.new) and not holding.is_set():
                        holding.set()
                        release.wait(30)

                event.listen(session, "after_flush", pause)
                audit.record("slow.transaction", actor=None, organisation_id=organisation_id, session=session)
                session.flush()  # where the code of the day took the head
                session.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)
            holding.set()

    thread = threading.Thread(target=transaction)
    thread.start()
    try:
        assert holding.wait(30)
        assert not errors, errors
        yield
    finally:
        release.set()
        thread.join(30)
    assert not errors, errors


def audited_write_within(app: Any, organisation_id: int, timeout: str = "2s") -> None:
    """An audited write on a connection of its own that gives up after `timeout` waiting for a lock."""
    from sqlalchemy.orm import Session

    with Session(app.extensions["intake_engine"]) as session:
        session.execute(text(f"SET LOCAL lock_timeout = '{timeout}'"))
        audit.record("other.write", actor=None, organisation_id=organisation_id, session=session)
        session.commit()


def test_a_held_chain_head_does_not_block_another_organisation(app: Any, org: Any) -> None:
    """PostgreSQL: while a transaction of one organisation holds its chain head open, an audited write
    of another organisation (and of none) goes through; one of the same organisation waits."""
    require_postgres()
    from sqlalchemy.exc import OperationalError

    other = make_org("Other NGO")
    write_entries(app, 1, org.id)
    write_entries(app, 1, other.id)
    with holding_chain_head(app, org.id):
        audited_write_within(app, other.id)
        audited_write_within(app, None)  # type: ignore[arg-type]
        with pytest.raises(OperationalError, match="lock timeout"):
            audited_write_within(app, org.id, "300ms")  # the control: the head is really held
    result = check(app)
    assert result.intact and result.count == 5
    assert result.chain(org.id).count == 2 and result.chain(other.id).count == 2  # type: ignore[union-attr]


def test_a_locked_organisation_row_does_not_block_other_organisations(app: Any, org: Any) -> None:
    """PostgreSQL, the freeze of issue 12: a worker holds one organisation's row FOR UPDATE; an
    audited write of that organisation waits for the row (its entry's foreign key needs it) without
    holding any chain head, so audited writes of other organisations go through meanwhile."""
    require_postgres()
    import threading

    other = make_org("Other NGO")
    write_entries(app, 1, org.id)
    write_entries(app, 1, other.id)
    engine = app.extensions["intake_engine"]
    waiting: list[BaseException] = []
    with engine.connect() as worker:
        worker.execute(text("SELECT id FROM organisations WHERE id = :o FOR UPDATE"), {"o": org.id})

        def blocked_write() -> None:
            try:
                audited_write_within(app, org.id, "20s")
            except BaseException as exc:  # reported below
                waiting.append(exc)

        thread = threading.Thread(target=blocked_write)
        thread.start()
        with engine.connect() as probe:  # wait until it is waiting for the organisation's row
            for _ in range(100):
                if probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                                 ).scalar():
                    break
                threading.Event().wait(0.05)
        audited_write_within(app, other.id)
        audited_write_within(app, None)  # type: ignore[arg-type]
        worker.rollback()
        thread.join(30)
    assert not waiting, waiting
    assert check(app).intact and check(app).count == 5


# ---- migration 0015f: the chain before it stays verifiable history ----------------------------------


def old_canonical_hash(seq: int, at: str, organisation_id: int | None, action: str, prev_hash: str) -> str:
    """The hash as the single-chain code before 0015f computed it (canonical form 1), written out
    here independently of intake.audit."""
    import hashlib
    import json

    fields = [1, seq, at, None, None, organisation_id, action, "report", f"r-{seq}", {"n": seq}, prev_hash]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def migrated_history(url: str) -> None:
    """Entries written by the single-chain code, then migration 0015f, then new entries; tampering with
    the history afterwards is still found."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from intake.cli import upgrade_database

    upgrade_database(url, "0014")
    engine = create_engine(url)
    try:
        previous = audit.GENESIS_HASH
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO organisations (id, public_id, name, created_at) "
                              "VALUES (7, 'org-7', 'Old NGO', CURRENT_TIMESTAMP)"))
            for seq, organisation_id in ((1, 7), (2, None), (3, 7)):
                at = f"2026-11-0{seq}T10:00:00.000000Z"
                digest = old_canonical_hash(seq, at, organisation_id, "old.event", previous)
                conn.execute(text(
                    "INSERT INTO audit_log (seq, at, actor_id, actor_role, organisation_id, action, target_type, "
                    "target_id, detail, prev_hash, entry_hash) VALUES (:seq, :at, NULL, NULL, :org, 'old.event', "
                    "'report', :target, :detail, :prev, :hash)"),
                    {"seq": seq, "at": dt.datetime.fromisoformat(at), "org": organisation_id,
                     "target": f"r-{seq}", "detail": f'{{"n": {seq}}}', "prev": previous, "hash": digest})
                previous = digest
            conn.execute(text("INSERT INTO audit_chain_head (id, seq, entry_hash) VALUES (1, 3, :h)"), {"h": previous})
        upgrade_database(url)
        with Session(engine) as session:
            result = audit.verify_chain(session)
            assert result.intact and [(c.chain, c.count) for c in result.chains] == [(audit.HISTORY_CHAIN, 3)]
            assert result.chains[0].head_hash == previous
            audit.record("new.event", actor=None, organisation_id=7, session=session)
            audit.record("new.event", actor=None, session=session)
            session.commit()
            new = list(session.scalars(select(AuditEntry).where(AuditEntry.chain != audit.HISTORY_CHAIN)
                                       .order_by(AuditEntry.seq)))
            # New ids follow the old ones; each new chain starts from the history's last hash.
            assert [(e.seq, e.chain, e.chain_seq) for e in new] == [(4, 0, 1), (5, 7, 1)]
            assert {e.prev_hash for e in new} == {previous}
            result = audit.verify_chain(session)
            assert result.intact and [(c.chain, c.count) for c in result.chains] == [(-1, 3), (0, 1), (7, 1)]
            session.rollback()
        # Cut the history's end and move its head back, as its owner could: every chain after it breaks.
        postgres = engine.dialect.name == "postgresql"
        with engine.begin() as conn:
            if postgres:
                conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
                conn.execute(text("ALTER TABLE audit_chain_head DISABLE TRIGGER audit_chain_head_forward_only"))
            conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
            conn.execute(text("UPDATE audit_chain_head SET seq = 2, entry_hash = (SELECT entry_hash FROM audit_log "
                              "WHERE seq = 2) WHERE id = -1"))
            if postgres:
                conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
                conn.execute(text("ALTER TABLE audit_chain_head ENABLE TRIGGER audit_chain_head_forward_only"))
        with Session(engine) as session:
            result = audit.verify_chain(session)
            assert [(c.chain, c.broken_seq) for c in result.broken] == [(0, 1), (7, 1)]
            assert all("link to the entry before it" in (c.problem or "") for c in result.broken)
    finally:
        engine.dispose()


def test_migration_keeps_the_old_chain_as_history_on_sqlite(tmp_path: Any) -> None:
    migrated_history(f"sqlite:///{tmp_path / 'history.sqlite3'}")


def test_migration_keeps_the_old_chain_as_history_on_postgresql() -> None:
    url = require_postgres()
    from sqlalchemy import create_engine

    schema = "audit_history_check"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        migrated_history(url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def test_postgresql_refuses_to_move_a_chain_head_back(app: Any, org: Any) -> None:
    require_postgres()
    from sqlalchemy.exc import DBAPIError

    write_entries(app, 3, org.id)
    engine = app.extensions["intake_engine"]
    for statement in ("UPDATE audit_chain_head SET seq = 2", "DELETE FROM audit_chain_head",
                      "UPDATE audit_chain_head SET id = 99"):
        with pytest.raises(DBAPIError, match="audit chain head"), engine.begin() as conn:
            conn.execute(text(statement))
    assert check(app).intact


# ---- anchors: the chains' ends kept elsewhere (issue 12, item 20) -----------------------------------


def cut_end(app: Any, chain: int, keep: int) -> None:
    """Delete a chain's entries after `keep` and move its head back onto the last one kept: the
    chain then looks whole to anything that only reads the database."""
    with raw_sql(app) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE chain = :c AND chain_seq > :k"), {"c": chain, "k": keep})
        conn.execute(text("UPDATE audit_chain_head SET seq = :k, entry_hash = (SELECT entry_hash FROM audit_log "
                          "WHERE chain = :c AND chain_seq = :k) WHERE id = :c"), {"c": chain, "k": keep})


def test_anchor_prints_every_chains_end(run: Any, app: Any, org: Any, tmp_path: Any) -> None:
    import json

    write_entries(app, 3, org.id)
    write_entries(app, 2)
    kept = tmp_path / "anchors.jsonl"
    result = run("audit", "anchor", "--output", str(kept))
    assert result.exit_code == 0, result.output
    anchor = json.loads(result.output.strip())
    assert anchor["format"] == audit.ANCHOR_FORMAT and anchor["entries"] == 5 and anchor["at"].endswith("Z")
    checked = check(app)
    assert anchor["chains"] == [{"chain": c.chain, "entries": c.count, "last_id": c.last_id, "hash": c.head_hash}
                                for c in checked.chains]
    assert {c["chain"]: c["entries"] for c in anchor["chains"]} == {0: 2, org.id: 3}
    run("audit", "anchor", "-o", str(kept))  # appended: one anchor a line
    assert len(kept.read_text().splitlines()) == 2
    assert run("audit", "verify", "--anchor", str(kept)).exit_code == 0


def test_verify_with_an_anchor_finds_a_cut_end(run: Any, app: Any, org: Any, tmp_path: Any) -> None:
    """The end of a chain cut and its head moved back (triggers off): verify alone passes, verify
    against the anchor kept elsewhere fails and names the chain and what is missing."""
    other = make_org("Other NGO")
    write_entries(app, 5, org.id)
    write_entries(app, 2, other.id)
    kept = tmp_path / "anchor.json"
    assert run("audit", "anchor", "-o", str(kept)).exit_code == 0
    write_entries(app, 1, org.id)  # written after the anchor: no concern of it
    cut_end(app, org.id, 3)
    alone = run("audit", "verify")
    assert alone.exit_code == 0, alone.output
    against = run("audit", "verify", "--anchor", str(kept))
    assert against.exit_code == 1
    assert f"chain of organisation {org.id} was CUT: 5 entries anchored" in against.output
    assert "3 intact now (entries 4 to 5 removed)" in against.output
    assert f"organisation {other.id} was" not in against.output


def test_verify_with_an_anchor_finds_a_rewritten_chain(run: Any, app: Any, org: Any, tmp_path: Any) -> None:
    """An entry changed and every hash after it recomputed (head included): a consistent chain, but
    not the one anchored."""
    write_entries(app, 4, org.id)
    kept = tmp_path / "anchor.json"
    assert run("audit", "anchor", "-o", str(kept)).exit_code == 0
    with app.app_context():
        entries = list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.chain_seq)))
        previous = entries[1].entry_hash
        forged = []
        for entry in entries[2:]:
            if entry.chain_seq == 3:
                entry.action = "nothing.happened"
            entry.prev_hash = previous
            previous = audit.entry_hash(entry)
            forged.append((entry.seq, entry.action, entry.prev_hash, previous))
        db.session.rollback()
    with raw_sql(app) as conn:
        for seq, action, prev_hash, digest in forged:
            conn.execute(text("UPDATE audit_log SET action = :a, prev_hash = :p, entry_hash = :h WHERE seq = :s"),
                         {"a": action, "p": prev_hash, "h": digest, "s": seq})
        conn.execute(text("UPDATE audit_chain_head SET entry_hash = :h WHERE id = :c"), {"h": previous, "c": org.id})
    assert run("audit", "verify").exit_code == 0
    against = run("audit", "verify", "--anchor", str(kept))
    assert against.exit_code == 1 and "entry 4 is not the one anchored" in against.output


def test_verify_with_an_anchor_finds_a_chain_removed_whole(run: Any, app: Any, org: Any, tmp_path: Any) -> None:
    other = make_org("Other NGO")
    write_entries(app, 2, org.id)
    write_entries(app, 2, other.id)
    kept = tmp_path / "anchor.json"
    assert run("audit", "anchor", "-o", str(kept)).exit_code == 0
    with raw_sql(app) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE chain = :c"), {"c": other.id})
        conn.execute(text("DELETE FROM audit_chain_head WHERE id = :c"), {"c": other.id})
    assert run("audit", "verify").exit_code == 0
    against = run("audit", "verify", "--anchor", str(kept))
    assert against.exit_code == 1 and f"chain of organisation {other.id} was CUT: 2 entries" in against.output


def test_anchor_refuses_a_broken_log_and_verify_refuses_a_bad_anchor_file(run: Any, app: Any, org: Any,
                                                                         tmp_path: Any) -> None:
    write_entries(app, 3, org.id)
    for content in ("", "not json\n", '{"format": "something else"}\n', '{"format": "intake-audit-anchor/1"}\n',
                    '{"format": "intake-audit-anchor/1", "chains": [{"chain": "x"}]}\n'):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        result = run("audit", "verify", "--anchor", str(bad))
        assert result.exit_code == 1 and "anchor" in result.output, (content, result.output)
        assert "Traceback" not in result.output
    with raw_sql(app) as conn:
        conn.execute(text("UPDATE audit_log SET target_id = 'elsewhere' WHERE chain_seq = 2"))
    result = run("audit", "anchor")
    assert result.exit_code == 1 and "no anchor made" in result.output and "BROKEN at entry 2" in result.output
