"""Dagster's SQLite instance storage, keeping one SQLAlchemy engine per database file.

Dagster's own SQLite storages build a new engine and open a new connection for every
statement (NullPool), and another engine to ask whether a table exists before each
dynamic-partition lookup: 434 connects for one segment run, which measured over half of
that run's Dagster time (a fully cached segment run: 1.3-1.5 s, and 0.5-0.65 s with
engines kept and tables remembered). These subclasses change only that: the tables, files, migrations and locking
are Dagster's, and the databases stay readable by a stock Dagster. dagster.yaml names
them; replacing the block with Postgres needs no change here.

Engines belong to the process that made them: a forked child drops the parent's without
closing its connections, as SQLAlchemy prescribes for forks. Per-run databases are kept
in a small least-recently-used set, so a webserver that reads thousands of runs does not
hold thousands of open files.

A new run's database starts as a copy of an empty one that Dagster initialised once (its
tables, indexes and alembic stamp), kept beside the run files under a name Dagster's
`*.db` listing does not match. Dagster's own initialisation of every run file (checking
the alembic revision, creating the tables, stamping it) measured ~0.17 s of each run.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from dagster._config import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sqlite import create_db_conn_string
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import (
    SqliteScheduleStorage,
)
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)
SQLITE_MAGIC = b"SQLite format 3\x00"

# The index, runs and schedules databases plus the per-run databases of the runs in
# flight; more would only hold idle file handles.
ENGINES_KEPT = 16


class EngineCache:
    """Engines by connection string for the current process, least recently used first."""

    def __init__(self, limit: int = ENGINES_KEPT) -> None:
        self.limit = limit
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self, conn_string: str, timeout: float | None = None) -> Engine:
        with self._lock:
            if self._pid != os.getpid():
                # A forked child must not use or close the parent's pooled connections.
                for engine in self._engines.values():
                    engine.dispose(close=False)
                self._engines.clear()
                self._pid = os.getpid()
            engine = self._engines.get(conn_string)
            if engine is None:
                connect_args: dict = {"check_same_thread": False}
                if timeout is not None:
                    connect_args["timeout"] = timeout
                engine = sa.create_engine(conn_string, connect_args=connect_args)
                self._engines[conn_string] = engine
                while len(self._engines) > self.limit:
                    _, old = self._engines.popitem(last=False)
                    old.dispose()
            else:
                self._engines.move_to_end(conn_string)
            return engine

    def clear(self) -> None:
        """Close every connection (before database files are deleted)."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def __len__(self) -> int:
        return len(self._engines)


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


class KeptEngineSqliteEventLogStorage(SqliteEventLogStorage):
    """Event log: one SQLite file per run plus the cross-run index, as in Dagster."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines = EngineCache()
        self._tables_seen: set[str] = set()
        self._template: bytes | None = None
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            if (shard not in self._initialized_dbs and shard != INDEX_SHARD_NAME
                    and self._new_run_file(shard)):
                self._initialized_dbs.add(shard)
            engine = self._engines.get(self.conn_string_for_shard(shard),
                                       timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with _transaction(engine) as conn:
                yield conn

    def template_path(self) -> str:
        """The empty run database of this Dagster version (not `*.db`: not a run)."""
        import dagster

        return os.path.join(self._base_dir, f".empty-run-dagster-{dagster.__version__}.sqlite")

    def _new_run_file(self, shard: str) -> bool:
        """Create the run's database as a copy of the empty one; False when the file is
        already there (another process made it, or an older run) or no copy could be made,
        and Dagster's own initialisation then runs as usual."""
        path = self.path_for_shard(shard)
        if os.path.exists(path):
            return False
        template = self._template_bytes()
        if template is None:
            return False
        fd, tmp = tempfile.mkstemp(prefix=f".{shard}.", suffix=".tmp", dir=self._base_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(template)
            os.link(tmp, path)  # never over a file another process created meanwhile
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        return True

    def _template_bytes(self) -> bytes | None:
        if self._template is None:
            path = self.template_path()
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
                if not data.startswith(SQLITE_MAGIC):
                    log.warning("%s is not an SQLite database; making it again", path)
                    data = self._make_template(path)
            except FileNotFoundError:
                data = self._make_template(path)
            except OSError as exc:
                log.warning("cannot read %s (%s); run databases are initialised one by one",
                            path, exc)
                data = None
            self._template = data
        return self._template

    def _make_template(self, path: str) -> bytes | None:
        """Dagster initialises an empty run database, which is then kept at `path`."""
        folder = tempfile.mkdtemp(prefix=".empty-run.", dir=self._base_dir)
        try:
            engine = sa.create_engine(create_db_conn_string(folder, "empty"))
            try:
                self._initdb(engine)
            finally:
                engine.dispose()
            made = os.path.join(folder, "empty.db")
            with open(made, "rb") as fh:
                data = fh.read()
            os.replace(made, path)
            return data
        except Exception as exc:  # the runs still work, initialised one by one
            log.warning("could not make the empty run database %s (%s); run databases are "
                        "initialised one by one", path, exc)
            return None
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def has_table(self, table_name: str) -> bool:
        # Asked before every dynamic-partition lookup (80 times in a segment run), sometimes
        # inside an open index transaction, so it takes a connection of its own as Dagster's
        # does. A table once there stays there; only its absence is asked again.
        if table_name in self._tables_seen:
            return True
        engine = self._engines.get(self.conn_string_for_shard(INDEX_SHARD_NAME),
                                   timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        with engine.connect() as conn:
            present = bool(engine.dialect.has_table(conn, table_name))
        if present:
            self._tables_seen.add(table_name)
        return present

    def wipe(self) -> None:
        self._engines.clear()  # the run databases are deleted next
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._engines.clear()


class _OneKeptEngine:
    """For Dagster's single-file SQLite storages (runs, schedules): `connect` on one kept
    engine. Dagster's `from_config_value` names its own class, so it is restated here."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None):
        self._engines = EngineCache(limit=1)
        super().__init__(conn_string, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with _transaction(self._engines.get(self._conn_string)) as conn:
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._engines.clear()


class KeptEngineSqliteRunStorage(_OneKeptEngine, SqliteRunStorage):
    """Runs table in history/runs.db, as in Dagster."""


class KeptEngineSqliteScheduleStorage(_OneKeptEngine, SqliteScheduleStorage):
    """Schedules, sensors and their ticks in schedules/schedules.db, as in Dagster."""


class SqliteStorage(DagsterSqliteStorage):
    """The three storages in Dagster's default layout under `base_dir` (DAGSTER_HOME):
    history/runs.db, history/runs/*.db and schedules/schedules.db."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self.base_dir = base_dir
        self._run_storage = KeptEngineSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = KeptEngineSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = KeptEngineSqliteScheduleStorage.from_local(
            _schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def config_type(cls):
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)

    # The parts, for code that rebuilds one storage from the instance's reference.
    @property
    def event_storage_data(self) -> ConfigurableClassData:
        return _class_data(KeptEngineSqliteEventLogStorage, _event_logs_directory(self.base_dir))

    @property
    def run_storage_data(self) -> ConfigurableClassData:
        return _class_data(KeptEngineSqliteRunStorage, _runs_directory(self.base_dir))

    @property
    def schedule_storage_data(self) -> ConfigurableClassData:
        return _class_data(KeptEngineSqliteScheduleStorage, _schedule_directory(self.base_dir))


def _class_data(cls: type, base_dir: str) -> ConfigurableClassData:
    import yaml

    return ConfigurableClassData(cls.__module__, cls.__name__,
                                 yaml.dump({"base_dir": base_dir}, default_flow_style=False))
