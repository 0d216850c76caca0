"""The `intake` command: organisations, users, tokens, and `serve` running the web app and a worker."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from intake.accounts import authenticate, user_for_token
from intake.cli import main
from intake.enums import Role
from intake.extensions import db
from intake.models import User
from tests.conftest import ROOT, SECRET, wait_for


@pytest.fixture
def run(app: Any, app_config: dict[str, Any]) -> Any:
    """Invoke the CLI against the test database, as an operator would with INTAKE_* variables."""
    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app_config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app_config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app_config["INSTANCE_PATH"],
           "INTAKE_ARGON2_PARAMS__time_cost": "1", "INTAKE_ARGON2_PARAMS__memory_cost": "8",
           "INTAKE_ARGON2_PARAMS__parallelism": "1"}

    def invoke(*args: str, stdin: str | None = None) -> Any:
        return CliRunner(env=env).invoke(main, list(args), input=stdin, catch_exceptions=False)

    return invoke


def test_org_user_and_token_lifecycle(run: Any, app: Any) -> None:
    """An operator creates an organisation, users (password typed or generated) and an API token."""
    assert run("org", "create", "Field Monitors").exit_code == 0
    duplicate = run("org", "create", "field monitors")
    assert duplicate.exit_code == 1 and "exists already" in duplicate.output

    typed = run("user", "create", "Ana@Example.org", "--org", "Field Monitors", "--role", "verifier",
                "--password-stdin", stdin="a long typed passphrase\n")
    assert typed.exit_code == 0 and "Password" not in typed.output
    generated = run("user", "create", "field@example.org", "--org", "Field Monitors", "--role", "reporter")
    assert generated.exit_code == 0
    password = generated.output.split("Password (shown once, store it safely): ")[1].split()[0]

    with app.app_context():
        assert authenticate(db.session, "ana@example.org", "a long typed passphrase") is not None
        reporter = authenticate(db.session, "field@example.org", password)
        assert reporter is not None and reporter.role == Role.REPORTER
        db.session.rollback()

    token = run("token", "create", "field@example.org").stdout.strip()
    with app.app_context():
        user = user_for_token(db.session, token)
        assert user is not None and user.email == "field@example.org"
        db.session.rollback()


def test_cli_errors_are_clear(run: Any) -> None:
    """Unknown organisations, short passwords and unknown users are refused with a reason."""
    assert "No organisation named" in run("user", "create", "x@example.org", "--org", "Nope", "--role",
                                          "reporter").output
    run("org", "create", "Org A")
    short = run("user", "create", "x@example.org", "--org", "Org A", "--role", "reporter", "--password-stdin",
                stdin="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    assert run("token", "create", "ghost@example.org").exit_code == 1
    bad_role = run("user", "create", "y@example.org", "--org", "Org A", "--role", "superuser")
    assert bad_role.exit_code == 2
    assert db.session.scalar(select(User).where(User.email == "x@example.org")) is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310  (our own local server)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}


@pytest.mark.worker
def test_init_and_serve_run_the_embedded_default(tmp_path: Path) -> None:
    """`intake init` then `intake serve` give a web app and a live worker on SQLite and the filesystem broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(INTAKE_INSTANCE_PATH=str(tmp_path / "instance"), INTAKE_WORKER_HEARTBEAT_SECONDS="1")
    intake = str(Path(sys.executable).parent / "intake")
    init = subprocess.run([intake, "init"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    key = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    port = free_port()
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115  (closed below)
    server = subprocess.Popen([intake, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Two workers (text and media) each load the text engine before they are ready.
        status, body = wait_for(lambda: (r := get_json(f"http://127.0.0.1:{port}/healthz"))[0] == 200 and r,
                                timeout=180)
        assert body["checks"]["worker"]["ok"] is True
        printed = (tmp_path / "serve.log").read_text()
        assert f"http://localhost:{port}/" in printed and "intake user create" in printed
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
            log.close()
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()[-2000:]
    # Both children are gone: nothing answers on the port any more.
    assert get_json(f"http://127.0.0.1:{port}/healthz")[0] == 0
