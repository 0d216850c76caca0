"""The database handle shared by the web app and the workers.

Plain SQLAlchemy 2: one engine per process, one scoped session per request or task. Transaction
boundaries (commit/rollback) are written in views and tasks, never inside model helpers.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

# Constraint names are explicit so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the worker process write while the web app reads; the busy timeout turns a brief
    # lock held by the other process into a short wait instead of "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url` with the settings each backend needs."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pool_pre_ping: a database that restarted costs one reconnect, not a failed request.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Database:
    """Engine and scoped session for one Flask app (web process or worker)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._scoped: scoped_session[Session] = scoped_session(sessionmaker())
        # Callers use the proxy as the Session of their request or task; domain functions take a
        # plain Session, so it is typed as one.
        self.session: Session = cast(Session, self._scoped)

    def init_app(self, app: Any) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"])
        self._scoped.remove()
        self._scoped.configure(bind=self.engine, expire_on_commit=False)
        app.extensions["intake_db"] = self

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self._scoped.remove()

    def dispose(self, close: bool = True) -> None:
        """Drop pooled connections: closed at shutdown, merely forgotten after a fork (the parent
        process still owns them)."""
        self._scoped.remove()
        if self.engine is not None:
            self.engine.dispose(close=close)
