"""Engines, sessions and migrations: ``open_catalog(url)`` and ``make_engine(settings)``.

SQLite runs in WAL mode with ``synchronous=NORMAL`` and a busy timeout: a commit is in the WAL file
(the operating system's cache) before it returns, so it survives the writing process being killed
(SIGKILL) at any moment; only an operating-system crash or a power loss can drop the last few
commits (never corrupt the file). Write transactions start with ``BEGIN IMMEDIATE`` so that two
processes never interleave a read-then-write. On PostgreSQL every write transaction takes one
advisory lock, which keeps the audit hash chain linear, and sessions run without JIT compilation
(the catalog's queries are short; compiling them cost more than it saved). The lock is taken in the
statement that also reads (and row-locks) the audit chain's head, one round trip for both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DataError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from modelward.errors import CatalogError, ConfigurationError
from modelward.settings import Settings

WRITE_OPTION = "modelward_write"
HEAD_KEY = "audit_head"  # session.info: the audit chain's (seq, hash) as this transaction leaves it
PG_WRITE_LOCK = 0x6D77_6361  # "mwca": one advisory lock for every catalog write
MIGRATIONS = Path(__file__).with_name("migrations")
# FOR UPDATE: the statement's snapshot predates the lock, so a head moved by the writer that held the
# lock is only seen through the row lock (READ COMMITTED re-reads a row updated by a committed writer)
PG_LOCK_AND_HEAD = text(f"SELECT h.seq, h.hash FROM pg_advisory_xact_lock({PG_WRITE_LOCK}) AS l,"
                        " audit_head AS h WHERE h.id = 1 FOR UPDATE OF h")


def make_engine(settings: Settings) -> Engine:
    """The engine of the catalog that ``settings`` name (SQLite file under data_dir by default)."""
    return engine_for(settings.resolved_catalog_url())


def engine_for(url: str) -> Engine:
    """An engine for a catalog URL, with modelward's SQLite or PostgreSQL set-up."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"catalog URL '{url}' is not a database URL: {exc}") from exc
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(url, parsed.database)
        if parsed.get_backend_name() == "postgresql":
            return _postgres_engine(url, str(parsed.query.get("options", "")))
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigurationError(f"catalog URL '{url}': driver not installed ({exc})") from exc
    raise ConfigurationError(f"catalog URL '{url}': only sqlite and postgresql are supported")


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, pool_pre_ping=False)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: str, options: str) -> Engine:
    """``options`` from the URL (e.g. ``-c synchronous_commit=off``) are kept; JIT is turned off."""
    # no pre-ping (a round trip per transaction): a connection the server dropped fails one call
    # with CatalogError and the pool is invalidated, so the next call reconnects
    engine = create_engine(url, connect_args={"options": f"-c jit=off {options}".strip()})

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION, False):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")

    return engine


@dataclass(frozen=True)
class Catalog:
    """A handle on one catalog database: its engine and two session factories."""

    engine: Engine
    _reads: sessionmaker[Session]
    _writes: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (rolled back at the end)."""
        with self._guard(), self._reads() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self._guard(), self._writes() as session, session.begin():
            if self.dialect == "postgresql":
                _lock_writers(session)
            yield session

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise CatalogError(f"catalog database error: {_first_line(exc)}") from exc
        except DataError as exc:  # a value the database cannot hold (NUL byte, too long, out of range)
            raise CatalogError(f"the catalog cannot store or look up a value given: {_first_line(exc)}") from exc

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _lock_writers(session: Session) -> None:
    """Take the catalog's write lock and keep the audit head in ``session.info`` (one statement)."""
    connection = session.connection()
    row = connection.execute(PG_LOCK_AND_HEAD).first()
    if row is not None:
        session.info[HEAD_KEY] = (row[0], row[1])
        return
    # no chain when the statement began: the join need not have called the lock function, and
    # another writer may have started the chain meanwhile, so audit.append reads the head itself
    connection.execute(text(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})"))


def _write_sessions(engine: Engine) -> sessionmaker[Session]:
    if engine.dialect.name == "postgresql":  # Catalog.write takes the lock together with the head read
        return sessionmaker(engine, expire_on_commit=False)
    return sessionmaker(engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0]


def open_catalog(url: str, *, migrate: bool = False) -> Catalog:
    """Open the catalog at ``url``; with ``migrate`` bring its schema to the newest revision first.

    Without ``migrate`` an uninitialised or outdated database raises ``CatalogError`` naming
    ``modelward catalog upgrade``.
    """
    engine = engine_for(url)
    catalog = Catalog(engine, sessionmaker(engine, expire_on_commit=False), _write_sessions(engine))
    if migrate:
        upgrade(catalog)
    else:
        ensure_current(catalog)
    return catalog


def open_from_settings(settings: Settings, *, migrate: bool | None = None) -> Catalog:
    """Open the catalog named by ``settings`` (migrating when ``catalog_auto_migrate`` is set)."""
    auto = settings.catalog_auto_migrate if migrate is None else migrate
    return open_catalog(settings.resolved_catalog_url(), migrate=auto)


def _alembic_config(catalog: Catalog, connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(catalog: Catalog, revision: str = "head") -> str:
    """Run the migrations up to ``revision``; return the revision the database is now at."""
    from alembic import command

    try:
        with catalog.engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
            command.upgrade(_alembic_config(catalog, connection), revision)
    except OperationalError as exc:
        raise CatalogError(f"cannot migrate the catalog: {_first_line(exc)}") from exc
    return current_revision(catalog) or "base"


def head_revision() -> str:
    """The newest migration shipped with this modelward."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    return head or "base"


def current_revision(catalog: Catalog) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    try:
        with catalog.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError as exc:
        raise CatalogError(f"cannot open the catalog: {_first_line(exc)}") from exc


def ensure_current(catalog: Catalog) -> None:
    """Raise ``CatalogError`` unless the schema is at the newest revision."""
    found, wanted = current_revision(catalog), head_revision()
    if found != wanted:
        state = "is not initialised" if found is None else f"is at revision {found}, not {wanted}"
        raise CatalogError(f"the catalog {state}; run `modelward catalog upgrade`")
