"""Configuration comes from the environment, and the app fails closed without a real secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from intake import create_app, crypto
from intake.config import ConfigError, create_secret_key_file, from_environment


def base(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite3'}", "INSTANCE_PATH": str(tmp_path / "i"), **extra}


@pytest.mark.parametrize("secret", [None, "", "dev", "change-me", "short-but-not-default"])
def test_refuses_to_start_without_a_real_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                secret: str | None) -> None:
    """Outside debug and tests a missing, default or short secret stops the app from starting."""
    monkeypatch.delenv("INTAKE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="INTAKE_SECRET_KEY"):
        create_app(base(tmp_path, SECRET_KEY=secret))


def test_starts_with_a_secret_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """INTAKE_SECRET_KEY, INTAKE_DATABASE_URL and INTAKE_BROKER_URL are read from the environment."""
    monkeypatch.setenv("INTAKE_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("INTAKE_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    monkeypatch.setenv("INTAKE_BROKER_URL", "redis://broker.internal:6379/3")
    monkeypatch.setenv("INTAKE_INSTANCE_PATH", str(tmp_path / "inst"))
    master = crypto.new_master_key()
    monkeypatch.setenv("INTAKE_MASTER_KEY", master)
    app = create_app()
    assert app.config["SECRET_KEY"] == "s" * 48
    assert app.extensions["intake_keys"].keyring().keys == (master.encode(),)
    assert app.config["DATABASE_URL"].endswith("env.sqlite3")
    assert app.extensions["celery"].conf.broker_url == "redis://broker.internal:6379/3"
    assert app.instance_path == str(tmp_path / "inst")
    assert app.config["UPLOAD_PATH"] == str(tmp_path / "inst" / "uploads")


def test_embedded_default_uses_the_instance_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing configured: SQLite and the filesystem broker inside the instance folder, owner-only."""
    for name in list(os.environ):
        if name.startswith("INTAKE_"):
            monkeypatch.delenv(name)
    instance = tmp_path / "instance"
    monkeypatch.setenv("INTAKE_INSTANCE_PATH", str(instance))
    key_file, created = create_secret_key_file(instance)
    assert created and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert crypto.create_master_key_file(instance / "master_key")
    assert stat.S_IMODE((instance / "master_key").stat().st_mode) == 0o600
    app = create_app()
    assert app.extensions["intake_keys"].path == instance / "master_key"
    assert app.config["SECRET_KEY"] == key_file.read_text()
    assert app.config["DATABASE_URL"] == f"sqlite:///{instance / 'intake.sqlite3'}"
    celery = app.extensions["celery"]
    assert celery.conf.broker_url == "filesystem://"
    assert celery.conf.broker_transport_options["data_folder_in"] == str(instance / "broker" / "queue")
    assert create_secret_key_file(instance) == (key_file, False), "an existing key is never replaced"


@pytest.mark.parametrize("master", [None, "", "not-a-key", "c2hvcnQ="])
def test_refuses_to_start_without_a_real_master_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    master: str | None) -> None:
    """Outside debug and tests, no master key (or a malformed one) stops the app: it never invents one."""
    for name in list(os.environ):
        if name.startswith("INTAKE_"):
            monkeypatch.delenv(name)
    if master is not None:
        monkeypatch.setenv("INTAKE_MASTER_KEY", master)
    with pytest.raises(ConfigError, match="master key"):
        create_app(base(tmp_path, SECRET_KEY="s" * 48))
    assert not (tmp_path / "i" / "master_key").exists()


def test_master_keys_from_a_mounted_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """INTAKE_MASTER_KEY_FILE names a secret file: newest key first, comments allowed."""
    new, old = crypto.new_master_key(), crypto.new_master_key()
    secret = tmp_path / "secret"
    secret.write_text(f"# rotated in November\n{new}\n{old}\n")
    monkeypatch.setenv("INTAKE_MASTER_KEY_FILE", str(secret))
    monkeypatch.delenv("INTAKE_MASTER_KEY", raising=False)
    keyring = create_app(base(tmp_path, SECRET_KEY="s" * 48)).extensions["intake_keys"].keyring()
    assert keyring.keys == (new.encode(), old.encode())
    assert keyring.primary_id == crypto.master_key_id(new.encode())


def test_nested_settings_and_types_from_the_environment() -> None:
    """INTAKE_A__B sets key B of A; numbers and booleans are parsed, URLs and secrets kept as text."""
    settings = from_environment({
        "INTAKE_MAX_FILE_BYTES": "1048576",
        "INTAKE_SESSION_COOKIE_SECURE": "false",
        "INTAKE_ARGON2_PARAMS__time_cost": "2",
        "INTAKE_SECRET_KEY": "123456",
        "INTAKE_DATABASE_URL": "postgresql+psycopg://u@h/db",
        "OTHER": "ignored",
    })
    assert settings == {
        "MAX_FILE_BYTES": 1048576,
        "SESSION_COOKIE_SECURE": False,
        "ARGON2_PARAMS": {"time_cost": 2},
        "SECRET_KEY": "123456",
        "DATABASE_URL": "postgresql+psycopg://u@h/db",
    }


def test_celery_is_set_for_at_least_once_work(tmp_path: Path) -> None:
    """Messages are acknowledged after the task, given back when a worker dies, one at a time."""
    conf = create_app(base(tmp_path, TESTING=True, SECRET_KEY="t" * 40)).extensions["celery"].conf
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_ignore_result is True


def test_redis_redelivers_only_after_the_longest_task(tmp_path: Path) -> None:
    """The visibility timeout outlasts the task time limit, so a slow task is never run twice at once."""
    app = create_app(base(tmp_path, TESTING=True, SECRET_KEY="t" * 40, BROKER_URL="redis://127.0.0.1:6379/9"))
    conf = app.extensions["celery"].conf
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit > conf.task_soft_time_limit
