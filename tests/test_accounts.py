"""Accounts' life cycle (own password, forced change of a printed password, deactivation, token
revocation and expiry) and the sign-in throttle that neither tells who has an account nor lets a
stranger keep a verifier out. Through the HTTP interface and the `intake` command."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from intake.cli import main
from intake.enums import AuditAction, Role
from intake.extensions import db
from intake.models import ApiToken, SignInThrottle, User, utcnow
from tests.conftest import (
    PASSWORD,
    SECRET,
    complete_report,
    csrf_token,
    enter_code,
    make_org,
    make_token,
    make_user,
    password_step,
    sign_in,
    totp_code,
)
from tests.test_second_factor import entries, user_row

NEW_PASSWORD = "a brand new passphrase of mine"


@pytest.fixture
def run(app: Any) -> Any:
    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app.config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app.config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app.instance_path}

    def invoke(*args: str, stdin: str | None = None) -> Any:
        return CliRunner(env=env).invoke(main, list(args), input=stdin, catch_exceptions=False)

    return invoke


def change_password(client: Any, current: str, new: str, confirm: str | None = None) -> Any:
    page = client.get("/account/password")
    assert page.status_code == 200
    return client.post("/account/password", data={
        "current_password": current, "new_password": new, "confirm": new if confirm is None else confirm,
        "csrf_token": csrf_token(page.get_data(as_text=True))})


def api_post(client: Any, token: str, key: str) -> Any:
    return client.post("/api/v1/reports", json=complete_report(),
                       headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})


# ---- own password ---------------------------------------------------------------------------------


def test_a_printed_password_must_be_changed_before_anything_opens(app: Any, client: Any, org: Any, run: Any) -> None:
    created = run("user", "create", "field.worker@example.org", "--org", org.name, "--role", "reporter")
    assert created.exit_code == 0 and "choose their own password" in created.output
    printed = created.output.split("Password (shown once, store it safely): ")[1].split()[0]
    response = password_step(client, "field.worker@example.org", printed)
    assert response.status_code == 302
    for url in ("/my-reports", "/reports/new", "/account", "/"):
        page = client.get(url)
        assert page.status_code == 302 and urlsplit(page.headers["Location"]).path == "/account/password", url
    assert client.get("/").headers["Location"].endswith("/account/password")
    assert "Choose your own" in client.get("/account/password").get_data(as_text=True)

    assert change_password(client, printed, "short").status_code == 200  # refused by the form
    mismatch = change_password(client, printed, NEW_PASSWORD, "something else entirely")
    assert "not the same" in mismatch.get_data(as_text=True)
    wrong = change_password(client, "not the printed one", NEW_PASSWORD)
    assert wrong.status_code == 400 and "current password is not right" in wrong.get_data(as_text=True)
    same = change_password(client, printed, printed)
    assert same.status_code == 400 and "must differ" in same.get_data(as_text=True)

    done = change_password(client, printed, NEW_PASSWORD)
    assert done.status_code == 302
    assert client.get("/my-reports").status_code == 200
    assert user_row("field.worker@example.org").must_change_password is False
    [entry] = entries(AuditAction.PASSWORD_CHANGED)
    assert entry.detail == {"first_sign_in": True, "other_sessions_ended": 0}
    logged = repr([(e.detail, e.target_id) for e in entries()])
    assert printed not in logged and NEW_PASSWORD not in logged

    again = app.test_client()
    assert password_step(again, "field.worker@example.org", printed).status_code == 401
    assert password_step(again, "field.worker@example.org", NEW_PASSWORD).status_code == 302
    assert again.get("/my-reports").status_code == 200


def test_a_typed_initial_password_must_be_changed_too_unless_it_is_declared_final(client: Any, org: Any,
                                                                                   run: Any) -> None:
    """Whoever typed a password into `user create --password-stdin` knows it: the user replaces it at the
    first sign-in, like a printed one. `--password-final` (automated accounts) says it is their own."""
    typed = run("user", "create", "typed@example.org", "--org", org.name, "--role", "reporter", "--password-stdin",
                stdin=NEW_PASSWORD + "\n")
    assert typed.exit_code == 0
    assert password_step(client, "typed@example.org", NEW_PASSWORD).status_code == 302
    page = client.get("/my-reports")
    assert page.status_code == 302 and urlsplit(page.headers["Location"]).path == "/account/password"

    final = run("user", "create", "robot@example.org", "--org", org.name, "--role", "reporter", "--password-stdin",
                "--password-final", stdin=NEW_PASSWORD + "\n")
    assert final.exit_code == 0 and user_row("robot@example.org").must_change_password is False
    alone = run("user", "create", "x@example.org", "--org", org.name, "--role", "reporter", "--password-final")
    assert alone.exit_code != 0 and "--password-stdin" in alone.output


def test_a_privileged_user_changes_the_printed_password_after_the_second_factor(client: Any, org: Any) -> None:
    verifier = make_user(org, Role.VERIFIER)
    db.session.execute(update(User).where(User.id == verifier.id).values(must_change_password=True))
    db.session.commit()
    assert sign_in(client, verifier.email).headers["Location"].endswith("/queue/")
    assert client.get("/queue/").headers["Location"].endswith("/account/password?next=/queue/")
    assert change_password(client, PASSWORD, NEW_PASSWORD).status_code == 302
    assert client.get("/queue/").status_code == 200


def test_the_page_asked_for_opens_once_the_forced_password_change_is_done(client: Any, org: Any) -> None:
    """A link followed before the first password change (a report named in a message) is not lost on
    the way: the change page carries it, and only as a path of this site."""
    verifier = make_user(org, Role.VERIFIER)
    db.session.execute(update(User).where(User.id == verifier.id).values(must_change_password=True))
    db.session.commit()
    sign_in(client, verifier.email)
    asked = client.get("/queue/?state=triage")
    assert asked.status_code == 302
    change_page = asked.headers["Location"]
    assert urlsplit(change_page).path == "/account/password"
    page = client.get(change_page)
    done = client.post(change_page, data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
        "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert done.status_code == 302 and done.headers["Location"] == "/queue/?state=triage"

    other = make_user(org, Role.VERIFIER)
    db.session.execute(update(User).where(User.id == other.id).values(must_change_password=True))
    db.session.commit()
    elsewhere = client.application.test_client()
    sign_in(elsewhere, other.email)
    page = elsewhere.get("/account/password?next=https://evil.example/")
    done = elsewhere.post("/account/password?next=https://evil.example/", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
        "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert done.status_code == 302 and "evil" not in done.headers["Location"]


def test_changing_the_password_signs_out_every_other_browser(app: Any, client: Any, reporter: Any) -> None:
    other = app.test_client()
    assert sign_in(other, reporter.email).status_code == 302
    assert sign_in(client, reporter.email).status_code == 302
    assert change_password(client, PASSWORD, NEW_PASSWORD).status_code == 302
    assert other.get("/my-reports").status_code == 302
    assert client.get("/my-reports").status_code == 200
    [entry] = entries(AuditAction.PASSWORD_CHANGED)
    assert entry.actor_id == reporter.public_id and entry.detail == {"first_sign_in": False,
                                                                     "other_sessions_ended": 1}


# ---- deactivation and tokens -----------------------------------------------------------------------


def test_deactivation_stops_sessions_and_tokens_at_once(app: Any, client: Any, reporter: Any, run: Any) -> None:
    token = make_token(reporter)
    assert api_post(client, token, "before-00001").status_code == 201
    browser = app.test_client()
    assert sign_in(browser, reporter.email).status_code == 302

    result = run("user", "deactivate", reporter.email)
    assert result.exit_code == 0, result.output
    assert browser.get("/my-reports").status_code == 302
    assert api_post(client, token, "after-000001").status_code == 401
    assert password_step(app.test_client(), reporter.email).status_code == 401
    assert run("user", "deactivate", reporter.email).exit_code == 1
    assert run("token", "create", reporter.email).exit_code == 1

    assert run("user", "activate", reporter.email).exit_code == 0
    assert password_step(app.test_client(), reporter.email).status_code == 302
    assert api_post(client, token, "after-000002").status_code == 401  # old tokens stay revoked
    [off] = entries(AuditAction.USER_DEACTIVATED)
    assert off.target_id == reporter.public_id and off.detail == {"via": "cli", "sessions_ended": 1,
                                                                  "tokens_revoked": 1}
    [on] = entries(AuditAction.USER_ACTIVATED)
    assert on.detail == {"via": "cli"}


def test_an_admins_account_page_points_to_the_users_page(app: Any, org: Any) -> None:
    """The account page told admins that accounts are managed with the command line only, though the
    Users page deactivates, reactivates, resets second factors and revokes tokens (issue 12, item 5)."""
    admin = app.test_client()
    assert sign_in(admin, make_user(org, Role.ADMIN).email).status_code == 302
    page = admin.get("/account").get_data(as_text=True)
    assert "managed with the intake command for now" not in page
    assert 'href="/admin/users"' in page.split("<main", 1)[1]


def test_admin_deactivates_activates_and_revokes_tokens(app: Any, client: Any, org: Any, reporter: Any) -> None:
    token = make_token(reporter)
    admin_user = make_user(org, Role.ADMIN)
    admin = app.test_client()
    assert sign_in(admin, admin_user.email).status_code == 302
    page = admin.get("/admin/users").get_data(as_text=True)
    [row] = db.session.scalars(select(ApiToken).where(ApiToken.user_id == reporter.id))
    db.session.rollback()
    assert f"{row.prefix}…" in page
    revoke = admin.post(f"/admin/users/{reporter.public_id}/tokens/{row.id}/revoke",
                        data={"csrf_token": csrf_token(page)})
    assert revoke.status_code == 302
    assert api_post(client, token, "revoked-0001").status_code == 401
    [revoked] = entries(AuditAction.TOKEN_REVOKED)
    assert revoked.actor_id == admin_user.public_id and revoked.target_id == row.prefix
    assert revoked.detail == {"user": reporter.public_id, "via": "admin"}

    browser = app.test_client()
    assert sign_in(browser, reporter.email).status_code == 302
    assert admin.post(f"/admin/users/{reporter.public_id}/deactivate",
                      data={"csrf_token": csrf_token(page)}).status_code == 302
    assert browser.get("/my-reports").status_code == 302
    assert "Deactivated" in admin.get("/admin/users").get_data(as_text=True)
    assert admin.post(f"/admin/users/{reporter.public_id}/activate",
                      data={"csrf_token": csrf_token(page)}).status_code == 302
    assert user_row(reporter.email).active is True
    # Not themselves, and nobody of another organisation; other roles get 404.
    assert admin.post(f"/admin/users/{admin_user.public_id}/deactivate",
                      data={"csrf_token": csrf_token(page)}).status_code == 302
    assert user_row(admin_user.email).active is True
    stranger = make_user(make_org("Other NGO"), Role.REPORTER)
    stranger_token = make_token(stranger)
    [stranger_row] = db.session.scalars(select(ApiToken).where(ApiToken.user_id == stranger.id))
    db.session.rollback()
    for url in (f"/admin/users/{stranger.public_id}/deactivate",
                f"/admin/users/{stranger.public_id}/tokens/{stranger_row.id}/revoke",
                f"/admin/users/{reporter.public_id}/tokens/{stranger_row.id}/revoke"):
        assert admin.post(url, data={"csrf_token": csrf_token(page)}).status_code == 404, url
    assert api_post(client, stranger_token, "stranger-001").status_code == 201
    verifier = make_user(org, Role.VERIFIER)
    other = app.test_client()
    assert sign_in(other, verifier.email).status_code == 302
    token_page = csrf_token(other.get("/account").get_data(as_text=True))
    assert other.post(f"/admin/users/{reporter.public_id}/deactivate",
                      data={"csrf_token": token_page}).status_code == 404
    assert user_row(reporter.email).active is True


def test_tokens_expire_and_the_command_line_lists_and_revokes_them(app: Any, client: Any, reporter: Any,
                                                                   run: Any) -> None:
    created = run("token", "create", reporter.email, "--expires", "30d")
    assert created.exit_code == 0
    token = created.stdout.strip()
    assert re.fullmatch(r"itk_[\w-]+", token)
    [row] = db.session.scalars(select(ApiToken))
    assert row.expires_at is not None
    assert dt.timedelta(days=29) < row.expires_at - utcnow() <= dt.timedelta(days=30)
    db.session.rollback()
    assert api_post(client, token, "expiry-00001").status_code == 201
    db.session.execute(update(ApiToken).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()
    assert api_post(client, token, "expiry-00002").status_code == 401
    assert client.get("/api/v1/reports/00000000-0000-0000-0000-000000000000",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 401

    dated = run("token", "create", reporter.email, "--expires", "2099-01-31")
    assert dated.exit_code == 0 and "2099-01-31" in dated.stderr
    default = run("token", "create", reporter.email)
    assert default.exit_code == 0 and "Expires:" in default.stderr
    never = run("token", "create", reporter.email, "--expires", "never")
    assert "Expires: never" in never.stderr
    assert run("token", "create", reporter.email, "--expires", "yesterday").exit_code == 1
    assert run("token", "create", reporter.email, "--expires", "2001-01-01").exit_code == 1

    listing = run("token", "list", reporter.email).output
    assert listing.count("itk_") == 4 and "expired" in listing and token not in listing
    fresh = dated.stdout.strip()
    assert api_post(client, fresh, "dated-000001").status_code == 201
    assert run("token", "revoke", fresh[:10]).exit_code == 0
    assert api_post(client, fresh, "dated-000002").status_code == 401
    assert run("token", "revoke", fresh).exit_code == 1  # revoked already
    assert run("token", "revoke", "itk_nothing").exit_code == 1
    assert run("token", "revoke", "--all", reporter.email).exit_code == 0
    assert api_post(client, never.stdout.strip(), "never-000001").status_code == 401
    assert "revoked" in run("token", "list", reporter.email).output
    created_entries = entries(AuditAction.TOKEN_CREATED)
    assert len(created_entries) == 4 and created_entries[-1].detail == {
        "user": reporter.public_id, "via": "cli", "scope": "submit", "expires": "never"}
    assert len(entries(AuditAction.TOKEN_REVOKED)) == 4  # one by prefix, three by --all


def test_the_default_token_lifetime_is_configurable(app: Any, reporter: Any) -> None:
    from intake.accounts import token_expiry

    now = utcnow()
    assert token_expiry(None, 10, now) == now + dt.timedelta(days=10)
    assert token_expiry(None, 0, now) is None
    assert token_expiry("7", 10, now) == now + dt.timedelta(days=7)


# ---- the throttle tells nothing and locks nobody out ---------------------------------------------------


def _answer(client: Any, email: str, password: str) -> tuple[int, str]:
    """The status and the page's words, without the typed address and the per-page CSRF token."""
    response = password_step(client, email, password)
    text = response.get_data(as_text=True).replace(email, "EMAIL")
    return response.status_code, re.sub(r'name="csrf_token"[^>]*>', "", text)


def test_known_and_unknown_addresses_get_the_same_answers(app: Any, org: Any, reporter: Any) -> None:
    """Whatever the number of wrong passwords, an address with an account and one without get the
    same status and the same words."""
    known, unknown = app.test_client(), app.test_client()
    for attempt in range(9):
        k = _answer(known, reporter.email, f"wrong guess {attempt}")
        u = _answer(unknown, "nobody.here@example.org", f"wrong guess {attempt}")
        assert k == u, attempt
    assert "Wait" in k[1]


def test_a_stranger_cannot_keep_a_verifier_out(app: Any, org: Any) -> None:
    """Dozens of wrong passwords for a verifier's address from elsewhere: the verifier, from their
    own machine, signs in with password and code as ever."""
    verifier = make_user(org, Role.VERIFIER)
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.66"
    for attempt in range(20):
        password_step(stranger, verifier.email, f"guess {attempt} abcdef")
        db.session.execute(update(SignInThrottle).values(blocked_until=None))  # the stranger waits out every pause
        db.session.commit()
    own = app.test_client()
    own.environ_base["REMOTE_ADDR"] = "192.0.2.20"
    assert password_step(own, verifier.email).headers["Location"].endswith("/sign-in/code")
    assert enter_code(own, totp_code(verifier.email)).status_code == 302
    assert own.get("/queue/").status_code == 200
    assert entries(AuditAction.LOCKED) == []


def test_wrong_codes_lock_the_account_but_only_the_right_password_hears_of_it(app: Any, org: Any) -> None:
    """Someone who has the password and guesses codes locks the account; someone without the
    password cannot tell the account from one that does not exist."""
    verifier = make_user(org, Role.VERIFIER)
    db.session.execute(update(User).where(User.id == verifier.id)
                       .values(locked_until=utcnow() + dt.timedelta(minutes=10)))
    db.session.commit()
    stranger = app.test_client()
    status, words = _answer(stranger, verifier.email, "not the password")
    assert status == 401 and "not right" in words and "paused" not in words
    right = password_step(app.test_client(), verifier.email)
    assert right.status_code == 401 and "paused" in right.get_data(as_text=True)


def test_known_and_unknown_addresses_cost_the_same_work(app: Any, org: Any, reporter: Any, monkeypatch: Any) -> None:
    """The same number of Argon2 verifications and audit entries on every path, for an address with an
    account and one without: wrong, wrong again until the wait, and while waiting."""
    from argon2 import PasswordHasher

    from intake import accounts
    from tests.conftest import FAST_ARGON2

    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            calls.append(str(password))
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "_hasher", Counting(**FAST_ARGON2))
    known = reporter.email
    shapes = {}
    for email in (known, "nobody.here@example.org"):
        browser = app.test_client()
        shape = []
        for attempt in range(8):
            before_calls, before_entries = len(calls), len(entries())
            password_step(browser, email, f"wrong guess {attempt}")
            shape.append((len(calls) - before_calls, len(entries()) - before_entries))
        shapes[email] = shape
    assert shapes[known] == shapes["nobody.here@example.org"]
    assert all(verifications == 1 for verifications, _ in shapes[known])


def test_a_stolen_session_is_no_way_to_guess_the_password(app: Any, client: Any, reporter: Any) -> None:
    """Wrong current passwords on the change page count like wrong passwords at sign-in."""
    assert sign_in(client, reporter.email).status_code == 302
    for attempt in range(6):
        assert change_password(client, f"guess {attempt} abcdefg", NEW_PASSWORD).status_code == 400
    waiting = change_password(client, PASSWORD, NEW_PASSWORD)
    assert waiting.status_code == 400 and "wait" in waiting.get_data(as_text=True)
    assert password_step(app.test_client(), reporter.email, NEW_PASSWORD).status_code == 401
    failed = [e for e in entries(AuditAction.SIGN_IN_FAILED) if e.detail.get("factor") == "current_password"]
    assert len(failed) == 6 and failed[-1].detail["failures"] == 6
    assert entries(AuditAction.PASSWORD_CHANGED) == []
