"""The migrations' head matches the models, on SQLite and on PostgreSQL, and can be undone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from intake.cli import alembic_config, upgrade_database
from intake.db import Base
from tests.conftest import require_postgres

SCHEMA = "migration_check"


def differences(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def check_round_trip(url: str) -> None:
    upgrade_database(url)
    assert differences(url) == [], "models and migrations disagree: write a migration"
    command.downgrade(alembic_config(url), "base")
    engine = create_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade_database(url)
    assert differences(url) == []


def test_migrations_match_models_on_sqlite(tmp_path: Path) -> None:
    """A fresh SQLite database migrated to head has exactly the models' schema; down and up again works."""
    check_round_trip(f"sqlite:///{tmp_path / 'm.sqlite3'}")


def test_migrations_match_models_on_postgresql() -> None:
    """The same on PostgreSQL, in a schema of its own."""
    url = require_postgres()
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    scoped = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{SCHEMA}"
    try:
        check_round_trip(scoped)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()


def test_one_head() -> None:
    """Migrations form one line: no branch was left unmerged."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


@pytest.mark.parametrize("revision", ["0001"])
def test_first_revision_is_the_base(revision: str) -> None:
    """The first migration creates the schema from nothing."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_revision(revision).down_revision is None
