"""The second factor, lockout, rate limits and idle timeout, through the HTTP interface.

Codes are computed with pyotp from the secret the server holds, as the person's phone would.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update

from intake import create_app
from intake.enums import AuditAction, Role
from intake.extensions import db
from intake.models import AuditEntry, RecoveryCode, User, UserSession
from tests.conftest import (
    PASSWORD,
    csrf_token,
    enter_code,
    make_org,
    make_user,
    password_step,
    require_redis,
    sign_in,
    totp_code,
)
from tests.test_verify import triaged_report

PRIVILEGED_PAGES = ("/queue/", "/queue/held", "/reports/new", "/my-reports", "/account", "/admin/audit",
                    "/admin/users")


def entries(action: str | None = None) -> list[AuditEntry]:
    db.session.rollback()
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if action:
        query = query.where(AuditEntry.action == action)
    found = list(db.session.scalars(query))
    db.session.rollback()
    return found


def user_row(email: str) -> User:
    db.session.rollback()
    user = db.session.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


def enrol(client: Any, email: str) -> tuple[str, list[str]]:
    """Walk through enrolment after the password step; the secret and the recovery codes shown."""
    page = client.get("/sign-in/enrol")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    shown = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)
    assert shown, html
    secret = shown.group(1).replace(" ", "")
    assert user_row(email).totp_secret is None  # the account's secret is written only on confirmation
    code = pyotp.TOTP(secret).now()
    done = client.post("/sign-in/enrol", data={"code": code, "csrf_token": csrf_token(html)})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert user_row(email).totp_secret == secret
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.get_data(as_text=True))
    return secret, codes


def shown_secret(html: str) -> str:
    shown = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)
    assert shown, html
    return shown.group(1).replace(" ", "")


def age_session(client: Any, seconds: int, *, column: str = "last_seen_at") -> None:
    """Move this browser's session row `seconds` into the past (its last use, or its start)."""
    from intake.user_sessions import _digest

    with client.session_transaction() as session:
        token = session["_sid"]
    record = db.session.scalar(select(UserSession).where(UserSession.token_hash == _digest(token)))
    assert record is not None
    setattr(record, column, getattr(record, column) - dt.timedelta(seconds=seconds))
    db.session.commit()


def sign_out(client: Any) -> None:
    page = client.get("/account")
    response = client.post("/sign-out", data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302


def assert_signed_out_everywhere(client: Any, *, secret_text: str | None = None) -> None:
    for url in PRIVILEGED_PAGES:
        response = client.get(url)
        assert response.status_code in (302, 404), (url, response.status_code)
        if response.status_code == 302:
            assert "/sign-in" in response.headers["Location"], url
        if secret_text:
            assert secret_text not in response.get_data(as_text=True)


# ---- enrolment ---------------------------------------------------------------------------------


def test_enrolment_end_to_end(app: Any, client: Any, org: Any, reporter: Any) -> None:
    """A new verifier is sent to enrolment, sees nothing before it, scans a QR code, confirms with a
    code, gets ten recovery codes (stored hashed) and then reaches the queue."""
    report = triaged_report(app, reporter, locality="Khndzoresk")
    verifier = make_user(org, Role.VERIFIER, "new.verifier@example.org", enrolled=False)
    response = password_step(client, verifier.email)
    assert response.status_code == 302 and response.headers["Location"].endswith("/sign-in/enrol")
    assert_signed_out_everywhere(client, secret_text="Khndzoresk")
    assert client.get(f"/queue/reports/{report.public_id}").status_code == 302
    assert client.get("/sign-in/code").headers["Location"].endswith("/sign-in/enrol")

    page = client.get("/sign-in/enrol")
    html = page.get_data(as_text=True)
    assert '<img class="qr" src="/sign-in/enrol/qr.svg"' in html
    assert "img-src 'self'" in page.headers["Content-Security-Policy"]  # no data: URL needed
    qr = client.get("/sign-in/enrol/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    assert qr.headers["Cache-Control"] == "no-store"
    assert qr.data.startswith(b"<svg") and b"<script" not in qr.data
    # Reloading the page keeps the secret the phone may have scanned already.
    first_secret = shown_secret(html)
    assert shown_secret(client.get("/sign-in/enrol").get_data(as_text=True)) == first_secret

    wrong = client.post("/sign-in/enrol", data={"code": "000000", "csrf_token": csrf_token(html)})
    assert wrong.status_code == 401 and "That code is not right" in wrong.get_data(as_text=True)

    secret, codes = enrol(client, verifier.email)
    assert secret == first_secret
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = list(db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == verifier.id)))
    assert len(stored) == 10
    for row in stored:
        assert not any(code.replace("-", "") in row.code_hash or code in row.code_hash for code in codes)
        assert len(row.code_hash) == 64 and len(row.salt) == 32
    assert len({row.salt for row in stored}) == 10

    queue = client.get("/queue/")
    assert queue.status_code == 200 and report.public_id in queue.get_data(as_text=True)
    # The QR code is gone once enrolment is done.
    assert client.get("/sign-in/enrol/qr.svg").status_code == 404
    [enrolled] = entries(AuditAction.SECOND_FACTOR_ENROLLED)
    assert enrolled.actor_id == verifier.public_id and enrolled.detail == {"recovery_codes": 10}
    [signed_in] = entries(AuditAction.SIGN_IN)
    assert signed_in.detail == {"method": "enrolment"}

    # Next time: the code from the app.
    sign_out(client)
    assert password_step(client, verifier.email).headers["Location"].endswith("/sign-in/code")
    assert enter_code(client, totp_code(verifier.email, offset_steps=1)).status_code == 302
    assert client.get("/queue/").status_code == 200


def test_qr_code_is_only_for_the_person_enrolling(client: Any, org: Any, verifier: Any) -> None:
    """No QR code without a pending enrolment: signed out, or already enrolled."""
    assert client.get("/sign-in/enrol/qr.svg").status_code == 404
    password_step(client, verifier.email)
    assert client.get("/sign-in/enrol/qr.svg").status_code == 404
    assert client.get("/sign-in/enrol").headers["Location"].endswith("/sign-in/code")


def test_reporters_sign_in_with_the_password_alone(client: Any, reporter: Any) -> None:
    """The second factor is for privileged roles; reporters keep signing in as before."""
    response = password_step(client, reporter.email)
    assert response.status_code == 302 and response.headers["Location"].endswith("/my-reports")
    assert client.get("/my-reports").status_code == 200


# ---- a password alone opens nothing -----------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VERIFIER, Role.COORDINATOR, Role.ADMIN])
def test_password_alone_opens_no_page(app: Any, client: Any, org: Any, reporter: Any, role: Role) -> None:
    """After the right password, before the code, every page treats the user as signed out."""
    report = triaged_report(app, reporter, locality="Khndzoresk")
    user = make_user(org, role)
    response = password_step(client, user.email)
    assert response.headers["Location"].endswith("/sign-in/code")
    assert_signed_out_everywhere(client, secret_text="Khndzoresk")
    assert client.get(f"/queue/reports/{report.public_id}").status_code == 302


def test_a_session_without_the_second_factor_stamp_is_refused(app: Any, client: Any, verifier: Any,
                                                              reporter: Any) -> None:
    """A session naming a verifier but without the second factor's stamp (as a password-only sign-in
    would have made before this change) is no signed-in user."""
    report = triaged_report(app, reporter)
    with client.session_transaction() as session:
        session["_user_id"] = verifier.public_id
        session["_fresh"] = True
    assert_signed_out_everywhere(client)
    assert client.get(f"/queue/reports/{report.public_id}").status_code != 200


def test_roles_required_checks_the_second_factor_itself(app: Any, verifier: Any) -> None:
    """Even if the user loader let such a user through, roles_required answers 404."""
    from flask_login import login_user

    from intake.web.verify import queue

    with app.test_request_context("/queue/"):
        login_user(verifier)
        with pytest.raises(Exception) as refused:
            queue()
        assert getattr(refused.value, "code", None) == 404


# ---- codes -------------------------------------------------------------------------------------


def test_recovery_code_works_once(client: Any, org: Any) -> None:
    """A recovery code signs in in place of the app's code, once; its use is audited."""
    verifier = make_user(org, Role.VERIFIER, enrolled=False)
    password_step(client, verifier.email)
    _, codes = enrol(client, verifier.email)
    sign_out(client)

    password_step(client, verifier.email)
    used = enter_code(client, codes[3].upper().replace("-", " "))  # typed loosely from paper
    assert used.status_code == 302
    page = client.get(used.headers["Location"])
    assert page.status_code == 200 and "9 are left" in page.get_data(as_text=True)
    sign_out(client)

    password_step(client, verifier.email)
    again = enter_code(client, codes[3])
    assert again.status_code == 401
    [entry] = entries(AuditAction.RECOVERY_CODE_USED)
    assert entry.actor_id == verifier.public_id and entry.detail == {"remaining": 9}
    assert entries(AuditAction.SIGN_IN)[-1].detail == {"method": "recovery_code"}


def test_a_code_is_good_only_once(client: Any, verifier: Any) -> None:
    """The same TOTP code, entered again in its window (a shoulder-surfer's replay), is refused."""
    code = totp_code(verifier.email)
    password_step(client, verifier.email)
    assert enter_code(client, code).status_code == 302
    sign_out(client)
    password_step(client, verifier.email)
    replay = enter_code(client, code)
    assert replay.status_code == 401
    assert "used already" in replay.get_data(as_text=True)
    # An older code than the last one used is refused too; the next one is accepted.
    assert enter_code(client, totp_code(verifier.email, offset_steps=-1)).status_code == 401
    assert enter_code(client, totp_code(verifier.email, offset_steps=1)).status_code == 302


def test_codes_far_from_now_are_refused(client: Any, verifier: Any) -> None:
    """Only the step before, now and the step after count."""
    password_step(client, verifier.email)
    assert enter_code(client, totp_code(verifier.email, offset_steps=3)).status_code == 401
    assert enter_code(client, totp_code(verifier.email, offset_steps=-3)).status_code == 401
    assert enter_code(client, totp_code(verifier.email)).status_code == 302


def test_the_code_step_expires(client: Any, verifier: Any, app: Any) -> None:
    """A password accepted long ago does not wait for its code forever."""
    password_step(client, verifier.email)
    age_session(client, 601, column="created_at")
    response = client.get("/sign-in/code")
    assert response.status_code == 302 and response.headers["Location"].endswith("/sign-in")
    assert "ran out" in client.get("/sign-in").get_data(as_text=True)
    assert client.get("/queue/").status_code == 302


# ---- lockout ------------------------------------------------------------------------------------


def test_six_wrong_codes_lock_the_account_and_the_log_shows_it(client: Any, verifier: Any) -> None:
    """Six wrong codes in a row lock sign-in for a while, even with the right password and code."""
    password_step(client, verifier.email)
    for attempt in range(5):
        assert enter_code(client, "123456" if attempt % 2 else "wrong-code").status_code == 401
    locked = enter_code(client, "654321")
    assert locked.status_code == 302 and locked.headers["Location"].endswith("/sign-in")
    assert "paused" in client.get("/sign-in").get_data(as_text=True)

    again = password_step(client, verifier.email)
    assert again.status_code == 401 and "paused" in again.get_data(as_text=True)
    assert client.get("/sign-in/code").status_code == 302  # nothing pending
    assert client.get("/queue/").status_code == 302

    failures = entries(AuditAction.SIGN_IN_FAILED)
    assert [e.detail.get("factor") for e in failures] == ["totp"] * 6 + ["password"]
    assert failures[-1].detail.get("locked") is True
    [lock] = entries(AuditAction.LOCKED)
    assert lock.target_type == "user" and lock.target_id == verifier.public_id
    assert lock.detail == {"after": "totp", "minutes": 15}
    assert lock.organisation_id == verifier.organisation_id

    # When the lock runs out, signing in works again.
    db.session.execute(update(User).where(User.id == verifier.id)
                       .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    db.session.commit()
    assert sign_in(client, verifier.email).status_code == 302
    assert client.get("/queue/").status_code == 200
    assert user_row(verifier.email).failed_sign_ins == 0


def test_six_wrong_passwords_slow_that_client_down_only(app: Any, client: Any, reporter: Any) -> None:
    """Six wrong passwords from one client for one address make that client wait (even with the
    right password); the account itself is not locked: from another address its owner signs in.
    The attempted passwords are nowhere in the log."""
    attempts = [f"guess number {i} xyz" for i in range(6)]
    for guess in attempts:
        assert password_step(client, reporter.email, guess).status_code == 401
    right = password_step(client, reporter.email)
    assert right.status_code == 401 and "Wait 30 seconds" in right.get_data(as_text=True)
    [throttled] = entries(AuditAction.SIGN_IN_THROTTLED)
    assert throttled.detail == {"failures": 6, "seconds": 30} and throttled.target_id == reporter.public_id
    assert entries(AuditAction.LOCKED) == []
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    assert password_step(owner, reporter.email).status_code == 302
    logged = repr([(e.actor_id, e.target_id, e.detail) for e in entries()])
    assert not any(guess in logged for guess in attempts) and PASSWORD not in logged
    assert reporter.email not in logged


def test_lock_duration_and_attempts_are_configurable(app: Any, client: Any, reporter: Any) -> None:
    """LOCKOUT_ATTEMPTS wrong passwords start the wait (30 s), each further one doubles it, up to
    LOCKOUT_SECONDS."""
    from intake.models import SignInThrottle

    app.config.update(LOCKOUT_ATTEMPTS=2, LOCKOUT_SECONDS=100)
    password_step(client, reporter.email, "wrong password one")
    password_step(client, reporter.email, "wrong password two")
    for _ in range(3):
        db.session.execute(update(SignInThrottle).values(blocked_until=dt.datetime.now(dt.UTC)))
        db.session.commit()
        password_step(client, reporter.email, "wrong password again")
    waits = [e.detail["seconds"] for e in entries(AuditAction.SIGN_IN_THROTTLED)]
    assert waits == [30, 60, 100, 100]
    [row] = db.session.scalars(select(SignInThrottle))
    assert row.blocked_until is not None
    assert dt.timedelta(seconds=90) < row.blocked_until - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=100)
    db.session.rollback()


def test_a_right_password_does_not_reset_the_count_of_wrong_codes(client: Any, verifier: Any) -> None:
    """Signing in again with the password between wrong codes does not buy more guesses."""
    for _ in range(2):
        password_step(client, verifier.email)
        for _ in range(3):
            enter_code(client, "000000")
    assert entries(AuditAction.LOCKED)
    assert password_step(client, verifier.email).status_code == 401


def test_failed_sign_in_of_an_unknown_address_is_logged_without_it(client: Any, org: Any) -> None:
    password_step(client, "nobody.known@example.org", "some password here")
    [entry] = entries(AuditAction.SIGN_IN_FAILED)
    assert entry.actor_id is None and entry.target_id is None and entry.organisation_id is None
    assert entry.detail == {"factor": "password", "failures": 1, "account": "unknown"}
    assert "nobody.known" not in repr(entry.__dict__)


def test_admin_unlocks_an_account(app: Any, client: Any, org: Any, reporter: Any) -> None:
    db.session.execute(update(User).where(User.id == reporter.id)
                       .values(locked_until=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)))
    db.session.commit()
    assert password_step(client, reporter.email).status_code == 401
    admin = app.test_client()
    assert sign_in(admin, make_user(org, Role.ADMIN).email).status_code == 302
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "Locked after failed attempts" in page
    admin.post(f"/admin/users/{reporter.public_id}/unlock", data={"csrf_token": csrf_token(page)})
    assert password_step(client, reporter.email).status_code == 302
    [entry] = entries(AuditAction.USER_UNLOCKED)
    assert entry.target_id == reporter.public_id and entry.detail == {"via": "admin"}


# ---- rate limits -------------------------------------------------------------------------------


def test_sign_in_is_rate_limited_per_client(app: Any, client: Any, reporter: Any) -> None:
    app.config["SIGN_IN_RATE_LIMIT"] = "3 per minute"
    for _ in range(3):
        password_step(client, "someone@example.org", "not the password")
    limited = password_step(client, reporter.email)
    assert limited.status_code == 429
    assert "Too many attempts" in limited.get_data(as_text=True)
    # Another client address is counted apart.
    other = client.post("/sign-in", environ_base={"REMOTE_ADDR": "192.0.2.7"}, data={})
    assert other.status_code != 429


def test_second_factor_is_rate_limited_per_account(app: Any, verifier: Any) -> None:
    """Guessing codes from many addresses still meets the per-account limit."""
    app.config["SECOND_FACTOR_RATE_LIMIT"] = "3 per minute"
    app.config["LOCKOUT_ATTEMPTS"] = 100
    statuses = []
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = address
        password_step(browser, verifier.email)
        statuses.append(enter_code(browser, "000000").status_code)
    assert statuses == [401, 401, 401, 429]


def test_rate_limit_storage_in_redis_holds_no_address_or_e_mail(app_config: dict[str, Any], reporter: Any) -> None:
    """With Redis as the limiter's storage, its keys are hashes: no client address, no e-mail."""
    import redis

    url = require_redis()
    application = create_app({**app_config, "RATELIMIT_STORAGE_URI": url})
    browser = application.test_client()
    browser.environ_base["REMOTE_ADDR"] = "198.51.100.23"
    password_step(browser, reporter.email, "not the password at all")
    password_step(browser, reporter.email)
    client = redis.Redis.from_url(url)
    try:
        keys = [key.decode() for key in client.keys("*")]
        limiter_keys = [key for key in keys if "intake" in key and "sign_in" in key]
        assert limiter_keys, keys
        dump = " ".join(keys) + " ".join(str(client.dump(key)) for key in keys)
        for identity in ("198.51.100.23", reporter.email, reporter.public_id, "example.org"):
            assert identity not in dump
    finally:
        client.close()
        db.dispose(application)


# ---- idle timeout -------------------------------------------------------------------------------


def test_privileged_sessions_end_after_30_idle_minutes(client: Any, verifier: Any) -> None:
    sign_in(client, verifier.email)
    assert client.get("/queue/").status_code == 200
    age_session(client, 29 * 60)  # active 29 minutes ago: still fine, and the clock restarts
    assert client.get("/queue/").status_code == 200
    age_session(client, 31 * 60)
    ended = client.get("/queue/")
    assert ended.status_code == 302 and "/sign-in" in ended.headers["Location"]
    assert "without activity" in client.get(ended.headers["Location"]).get_data(as_text=True)
    assert client.get("/queue/").status_code == 302
    [entry] = entries(AuditAction.IDLE_TIMEOUT)
    assert entry.actor_id == verifier.public_id and entry.detail == {"idle_minutes": 30}


def test_idle_timeout_is_configurable(app: Any, client: Any, verifier: Any) -> None:
    app.config["IDLE_TIMEOUT_SECONDS"] = 60
    sign_in(client, verifier.email)
    age_session(client, 61)
    assert client.get("/queue/").status_code == 302


def test_reporter_sessions_keep_their_behaviour(client: Any, reporter: Any) -> None:
    """Reporters on slow links are not signed out for being idle."""
    sign_in(client, reporter.email)
    with client.session_transaction() as session:
        assert "_seen" not in session and "_2fa" not in session
    assert client.get("/my-reports").status_code == 200


# ---- re-enrolment ---------------------------------------------------------------------------------


def test_admin_resets_a_second_factor(app: Any, client: Any, org: Any, verifier: Any) -> None:
    """An admin resets a verifier's factor: the verifier's open session ends, the next sign-in
    enrols again, and the log says who did it."""
    assert sign_in(client, verifier.email).status_code == 302
    admin_user = make_user(org, Role.ADMIN)
    admin = app.test_client()
    assert sign_in(admin, admin_user.email).status_code == 302
    page = admin.get("/admin/users").get_data(as_text=True)
    assert verifier.email in page
    response = admin.post(f"/admin/users/{verifier.public_id}/reset-second-factor",
                          data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert user_row(verifier.email).totp_secret is None
    assert client.get("/queue/").status_code == 302  # the old session ended
    assert password_step(client, verifier.email).headers["Location"].endswith("/sign-in/enrol")
    [entry] = entries(AuditAction.SECOND_FACTOR_RESET)
    assert entry.actor_id == admin_user.public_id and entry.actor_role == "admin"
    assert entry.target_id == verifier.public_id and entry.detail == {"via": "admin", "sessions_ended": 1}

    # Not their own, and not a user of another organisation.
    own = admin.post(f"/admin/users/{admin_user.public_id}/reset-second-factor",
                     data={"csrf_token": csrf_token(page)})
    assert own.status_code == 302 and user_row(admin_user.email).totp_secret is not None
    stranger = make_user(make_org("Other NGO"), Role.VERIFIER)
    assert admin.post(f"/admin/users/{stranger.public_id}/reset-second-factor",
                      data={"csrf_token": csrf_token(page)}).status_code == 404
    assert admin.post(f"/admin/users/{stranger.public_id}/unlock",
                      data={"csrf_token": csrf_token(page)}).status_code == 404
    assert stranger.email not in admin.get("/admin/users").get_data(as_text=True)
    assert user_row(stranger.email).totp_secret is not None


def test_admin_pages_are_404_for_every_other_role(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    coordinator = make_user(org, Role.COORDINATOR)
    for user in (reporter, verifier, coordinator):
        browser = app.test_client()
        assert sign_in(browser, user.email).status_code == 302
        token = csrf_token(browser.get("/account").get_data(as_text=True))
        for url in ("/admin/audit", "/admin/users"):
            assert browser.get(url).status_code == 404, (user.role, url)
        for action in ("reset-second-factor", "unlock"):
            assert browser.post(f"/admin/users/{reporter.public_id}/{action}",
                                data={"csrf_token": token}).status_code == 404
    assert entries(AuditAction.SECOND_FACTOR_RESET) == []


def test_cli_reset_2fa_set_role_and_unlock(app: Any, app_config: dict[str, Any], client: Any, org: Any,
                                           reporter: Any, verifier: Any) -> None:
    from click.testing import CliRunner

    from intake.cli import main
    from tests.conftest import SECRET

    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app_config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app_config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app_config["INSTANCE_PATH"]}

    def run(*args: str) -> Any:
        return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)

    result = run("user", "reset-2fa", verifier.email.upper())
    assert result.exit_code == 0, result.output
    assert user_row(verifier.email).totp_secret is None
    assert password_step(client, verifier.email).headers["Location"].endswith("/sign-in/enrol")
    assert run("user", "reset-2fa", "ghost@example.org").exit_code == 1

    # A reporter made a verifier: their open session ends, and they must enrol.
    browser = app.test_client()
    assert sign_in(browser, reporter.email).status_code == 302
    assert run("user", "set-role", reporter.email, "verifier").exit_code == 0
    assert browser.get("/my-reports").status_code == 302
    assert password_step(browser, reporter.email).headers["Location"].endswith("/sign-in/enrol")
    assert run("user", "set-role", reporter.email, "verifier").exit_code == 1

    assert run("user", "unlock", reporter.email).exit_code == 0
    reset, role, unlocked = (entries(a) for a in (AuditAction.SECOND_FACTOR_RESET, AuditAction.ROLE_CHANGED,
                                                  AuditAction.USER_UNLOCKED))
    assert reset[0].actor_id is None and reset[0].detail == {"via": "cli", "sessions_ended": 0}
    assert role[0].detail == {"from": "reporter", "to": "verifier", "via": "cli"}
    assert unlocked[0].target_id == reporter.public_id


def test_new_pages_carry_no_inline_script_and_csrf_on_every_form(app: Any, client: Any, org: Any) -> None:
    """Enrolment, recovery codes, code entry and the admin pages follow the CSP and carry CSRF tokens."""
    verifier = make_user(org, Role.VERIFIER, enrolled=False)
    password_step(client, verifier.email)
    pages = {"/sign-in/enrol": client.get("/sign-in/enrol").get_data(as_text=True)}
    html = pages["/sign-in/enrol"]
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")  # type: ignore[union-attr]
    pages["recovery codes"] = client.post("/sign-in/enrol", data={
        "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(html)}).get_data(as_text=True)
    sign_out(client)
    password_step(client, verifier.email)
    pages["/sign-in/code"] = client.get("/sign-in/code").get_data(as_text=True)
    admin = app.test_client()
    sign_in(admin, make_user(org, Role.ADMIN).email)
    for url in ("/admin/audit", "/admin/users", "/account"):
        response = admin.get(url)
        assert response.headers["Cache-Control"] == "no-store"
        pages[url] = response.get_data(as_text=True)
    for name, html in pages.items():
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), name
        assert not re.search(r"\son[a-z]+=", html), name
        assert " style=" not in html and "<style" not in html, name
        for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", html, re.S):
            assert 'name="csrf_token"' in form, name


def test_the_same_code_raced_from_two_browsers_signs_in_once(app: Any, org: Any) -> None:
    """Two sign-ins racing with one recovery code, or one TOTP code: exactly one gets in."""
    from tests.conftest import all_at_once

    verifier = make_user(org, Role.VERIFIER, enrolled=False)
    first = app.test_client()
    password_step(first, verifier.email)
    _, codes = enrol(first, verifier.email)
    for code in (codes[0], totp_code(verifier.email, offset_steps=1)):
        browsers = [app.test_client() for _ in range(2)]
        tokens = []
        for browser in browsers:
            password_step(browser, verifier.email)
            tokens.append(csrf_token(browser.get("/sign-in/code").get_data(as_text=True)))
        results = all_at_once([
            lambda b=b, t=t, c=code: b.post("/sign-in/code", data={"code": c, "csrf_token": t}).status_code
            for b, t in zip(browsers, tokens, strict=True)])
        assert sorted(results) == [302, 401], (code, results)


# ---- the enrolment key belongs to one sign-in ----------------------------------------------------------


def test_an_enrolment_key_seen_first_by_someone_else_is_worth_nothing(app: Any, org: Any) -> None:
    """Someone who knows the initial password opens the enrolment page before the user: the key
    they see is theirs alone. The user's own sign-in gets another one, and once the user has
    confirmed it, codes of the first key sign nobody in."""
    verifier = make_user(org, Role.VERIFIER, "fresh.verifier@example.org", enrolled=False)
    early = app.test_client()
    early.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    password_step(early, verifier.email)
    captured = shown_secret(early.get("/sign-in/enrol").get_data(as_text=True))
    assert user_row(verifier.email).totp_secret is None

    user = app.test_client()
    password_step(user, verifier.email)
    own = shown_secret(user.get("/sign-in/enrol").get_data(as_text=True))
    assert own != captured
    # The QR code of each sign-in is its own key.
    assert captured.encode() not in user.get("/sign-in/enrol/qr.svg").data
    secret, codes = enrol(user, verifier.email)
    assert secret == own and user_row(verifier.email).totp_secret == own

    # The early browser's pending sign-in cannot confirm its key any more.
    html = early.get("/sign-in/enrol")
    assert html.status_code == 302 and html.headers["Location"].endswith("/sign-in/code")
    later = app.test_client()
    password_step(later, verifier.email)
    assert enter_code(later, pyotp.TOTP(captured).now()).status_code == 401
    assert later.get("/queue/").status_code == 302


def test_a_new_sign_in_gets_a_new_enrolment_key(app: Any, client: Any, org: Any) -> None:
    verifier = make_user(org, Role.VERIFIER, enrolled=False)
    password_step(client, verifier.email)
    html = client.get("/sign-in/enrol").get_data(as_text=True)
    first = shown_secret(html)
    assert client.post("/sign-out", data={"csrf_token": csrf_token(html)}).status_code == 302
    password_step(client, verifier.email)
    second = shown_secret(client.get("/sign-in/enrol").get_data(as_text=True))
    assert first != second
    stale = client.post("/sign-in/enrol", data={"code": pyotp.TOTP(first).now(), "csrf_token": csrf_token(
        client.get("/sign-in/enrol").get_data(as_text=True))})
    assert stale.status_code == 401
    assert user_row(verifier.email).totp_confirmed_at is None
