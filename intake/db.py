"""The database handle shared by the web app and the workers.

Plain SQLAlchemy 2: one engine per process, one scoped session per request or task. Transaction
boundaries (commit/rollback) are written in views and tasks, never inside model helpers.
"""

from __future__ import annotations

from typing import Any, cast

from flask import current_app, has_app_context
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.exc import InterfaceError, OperationalError
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
    # Deleted and overwritten content is zeroed in the file, not left in free space (erasure).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


# The database is away for a moment (restart, network): worth trying again. Every other database
# error is a fault of the data or the code and is not retried.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


def _cache_long_statements() -> None:
    """Let psycopg keep its parse of our long statements too.

    psycopg turns each statement's `%(name)s` placeholders into `$n` in pure Python, and remembers
    the result only for statements under 4096 characters with at most 50 parameters. A report's
    INSERT and the SELECT of its row are longer: parsed again on every execution, about 1 ms of CPU
    each, several times per report in a worker (measured with bench/pipeline.py). The statements
    come from our mapped tables, so there are few of them; the cache stays psycopg's own (128
    entries). Without these module settings (another psycopg version) nothing changes but speed.
    """
    try:
        from psycopg import _queries
    except ImportError:  # pragma: no cover
        return
    if hasattr(_queries, "MAX_CACHED_STATEMENT_LENGTH") and hasattr(_queries, "MAX_CACHED_STATEMENT_PARAMS"):
        _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, 16384)
        _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, 200)


def make_engine(url: str) -> Engine:
    """An engine for `url` with the settings each backend needs.

    hide_parameters: a database error's text (which Celery and tracebacks print) names the SQL but
    never the values bound to it, which are report content.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    _cache_long_statements()
    # pool_pre_ping: a database that restarted costs one reconnect, not a failed request.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True)


def make_statement_engine(url: str, engine: Engine) -> Engine:
    """The engine of the API's single-statement submit (`submissions.accept_with_token`), or `engine`.

    On PostgreSQL: its own small pool of connections in autocommit, without a ping on checkout. A
    submit is one statement, so a BEGIN, a COMMIT and a ping would be three more round trips for one
    that does the work. A connection that died in the pool (the database restarted) fails that one
    request with 503 and Retry-After (which the API's clients act on, with the same key); the submit
    then drops every connection of the pool, so the next request connects afresh.
    """
    if engine.dialect.name != "postgresql":
        return engine
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=8, hide_parameters=True)


class _AppSession(Session):
    """A session that talks to the engine of the app whose context is active.

    One process normally has one app; tests and the CLI make several, each with its own engine,
    and none of them may end up using (or leaking) another's connections.
    """

    def __init__(self, database: Database, **kwargs: Any) -> None:
        self._database = database
        super().__init__(**kwargs)

    def get_bind(self, *args: Any, **kwargs: Any) -> Engine:
        if has_app_context() and "intake_engine" in current_app.extensions:
            return cast(Engine, current_app.extensions["intake_engine"])
        if self._database.engine is None:
            raise RuntimeError("no database engine: create the app first")
        return self._database.engine


class Database:
    """Engines and the scoped session shared by the web app and the workers."""

    def __init__(self) -> None:
        self.engine: Engine | None = None  # the latest app's, for code outside any app context
        self._engines: list[Engine] = []
        self._scoped: scoped_session[Session] = scoped_session(
            sessionmaker(class_=_AppSession, database=self, expire_on_commit=False)
        )
        # Callers use the proxy as the Session of their request or task; domain functions take a
        # plain Session, so it is typed as one.
        self.session: Session = cast(Session, self._scoped)

    def init_app(self, app: Any) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        self.engine = engine
        self._engines.append(engine)
        app.extensions["intake_db"] = self
        app.extensions["intake_engine"] = engine
        statement_engine = make_statement_engine(app.config["DATABASE_URL"], engine)
        if statement_engine is not engine:
            self._engines.append(statement_engine)
        app.extensions["intake_statement_engine"] = statement_engine

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self._scoped.remove()

    def dispose(self, app: Any = None, close: bool = True) -> None:
        """Drop pooled connections of `app`'s engine, or of every engine: closed at shutdown,
        merely forgotten after a fork (the parent process still owns them)."""
        self._scoped.remove()
        engines = ({app.extensions["intake_engine"], app.extensions["intake_statement_engine"]} if app is not None
                   else list(self._engines))
        for engine in engines:
            engine.dispose(close=close)
            if app is not None or close:
                self._engines = [e for e in self._engines if e is not engine]
