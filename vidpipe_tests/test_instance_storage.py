"""The workspace's SQLite storage keeps its engines, and stays Dagster's SQLite storage."""


import contextlib
import multiprocessing
import os
import textwrap

import dagster as dg
import pytest
from sqlalchemy import event

from vidpipe.instance_storage import (
    EngineCache,
    KeptEngineSqliteEventLogStorage,
    KeptEngineSqliteRunStorage,
    KeptEngineSqliteScheduleStorage,
)

KEYS = dg.DynamicPartitionsDefinition(name="letters")  # as vidpipe's segments: dynamic


@dg.asset(partitions_def=KEYS)
def numbers(context: dg.AssetExecutionContext):
    return dg.MaterializeResult(metadata={"key": context.partition_key})


JOB = dg.define_asset_job("numbers_job", selection=[numbers], partitions_def=KEYS)
DEFS = dg.Definitions(assets=[numbers], jobs=[JOB])


def _materialize(instance: dg.DagsterInstance, key: str) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions("letters", [key])
    return DEFS.resolve_job_def("numbers_job").execute_in_process(
        instance=instance, partition_key=key, raise_on_error=True)


@pytest.fixture
def connects():
    """DBAPI connections opened by any SQLAlchemy pool while the test runs."""
    from sqlalchemy.pool import Pool

    opened = [0]

    def count(*_):
        opened[0] += 1

    event.listen(Pool, "connect", count)
    yield opened
    event.remove(Pool, "connect", count)


def test_the_workspace_instance_uses_the_kept_engine_storages(instance):
    assert isinstance(instance.run_storage, KeptEngineSqliteRunStorage)
    assert isinstance(instance.event_log_storage, KeptEngineSqliteEventLogStorage)
    assert isinstance(instance.schedule_storage, KeptEngineSqliteScheduleStorage)
    # A run worker rebuilds the instance from its reference and gets the same storages.
    rebuilt = dg.DagsterInstance.from_ref(instance.get_ref())
    assert isinstance(rebuilt.event_log_storage, KeptEngineSqliteEventLogStorage)


def test_a_run_opens_a_handful_of_connections_not_one_per_statement(instance, connects):
    result = _materialize(instance, "a")
    assert result.success
    opened = connects
    # Index, run shard, runs table (a pool may open a second connection under a thread);
    # Dagster's own storage opens one per statement: 51 for this run.
    assert 0 < opened[0] <= 8, opened[0]


def test_stock_dagster_reads_what_the_kept_engine_storage_wrote(workspace, instance):
    run_id = _materialize(instance, "b").run_id
    stock = workspace.root / "stock"
    stock.mkdir()
    (stock / "dagster.yaml").write_text(textwrap.dedent(f"""\
        storage:
          sqlite:
            base_dir: {workspace.root}
        """))
    with dg.DagsterInstance.from_config(str(stock)) as plain:
        assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
        record = plain.get_latest_materialization_event(dg.AssetKey("numbers"))
        assert record is not None and record.run_id == run_id
        assert plain.get_run_by_id(run_id).is_success
        # and the other way round: what stock Dagster writes, ours reads
        other = _materialize(plain, "a").run_id
    assert instance.get_run_by_id(other).is_success
    assert instance.get_latest_materialization_event(dg.AssetKey("numbers")).run_id == other


def _render_in_child(root: str, key: str, queue) -> None:
    os.environ["DAGSTER_HOME"] = root
    with dg.DagsterInstance.from_config(root) as inst:
        queue.put(_materialize(inst, key).run_id)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_processes_write_one_instance_side_by_side(workspace, instance, method):
    """A worker forked after the parent used the instance, and one started fresh, both write
    to the database files the parent keeps open, while the parent goes on writing."""
    _materialize(instance, "a")  # the parent's engines now hold connections
    ctx = multiprocessing.get_context(method)
    queue = ctx.Queue()
    child = ctx.Process(target=_render_in_child, args=(str(workspace.root), "b", queue))
    child.start()
    ours = _materialize(instance, "a").run_id
    theirs = queue.get(timeout=120)
    child.join(timeout=120)
    assert child.exitcode == 0
    assert instance.get_run_by_id(theirs).is_success and instance.get_run_by_id(ours).is_success
    latest = instance.get_latest_materialization_event(
        dg.AssetKey("numbers"))  # either partition's newest
    assert latest.run_id in (ours, theirs)
    records = instance.fetch_materializations(dg.AssetKey("numbers"), limit=10).records
    assert sorted(r.partition_key for r in records) == ["a", "a", "b"]


def test_wiping_the_instance_closes_the_engines_before_deleting_run_files(instance):
    _materialize(instance, "a")
    instance.wipe()
    assert instance.get_runs() == []
    assert _materialize(instance, "b").success
    assert instance.get_latest_materialization_event(dg.AssetKey("numbers")) is not None


def test_engine_cache_keeps_the_most_recent_and_closes_the_rest(tmp_path):
    cache = EngineCache(limit=2)
    urls = [f"sqlite:///{tmp_path / f'{i}.db'}" for i in range(3)]
    first = cache.get(urls[0])
    assert cache.get(urls[0]) is first
    cache.get(urls[1])
    cache.get(urls[0])  # now the most recent
    cache.get(urls[2])  # evicts urls[1]
    assert len(cache) == 2
    assert cache.get(urls[0]) is first


def test_engine_cache_drops_the_parents_engines_in_a_forked_child(tmp_path):
    cache = EngineCache()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    parent = cache.get(url)
    with parent.connect() as conn:
        conn.exec_driver_sql("create table t (x int)")
        conn.commit()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        ok = cache.get(url) is not parent
        with cache.get(url).connect() as conn:
            conn.exec_driver_sql("insert into t values (1)")
            conn.commit()
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    with parent.connect() as conn:  # the parent's pooled connection still works
        assert conn.exec_driver_sql("select count(*) from t").scalar() == 1


def _schema(db: str) -> tuple[list, list]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = conn.execute("select type, name, tbl_name, sql from sqlite_master "
                              "order by type, name").fetchall()
        stamp = conn.execute("select version_num from alembic_version").fetchall()
    return tables, stamp


def test_a_new_run_database_is_the_one_dagster_would_have_made(instance, tmp_path):
    """Runs start from a copy of an empty run database; the copy has Dagster's own tables,
    indexes and alembic stamp, and is not itself taken for a run."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    run_id = _materialize(instance, "a").run_id
    storage = instance.event_log_storage
    template = storage.template_path()
    assert os.path.isfile(template)
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    with stock.run_connection(run_id):  # Dagster initialises its own file for this run
        pass
    ours = _schema(storage.path_for_shard(run_id))
    assert ours == _schema(stock.path_for_shard(run_id))
    assert ours[1], "no alembic stamp"
    assert storage.get_all_run_ids() == [run_id]
    assert len(instance.all_logs(run_id)) > 5  # the run's events are in it


def test_a_damaged_empty_database_is_made_again(workspace, caplog):
    with dg.DagsterInstance.from_config(str(workspace.root)) as inst:
        _materialize(inst, "a")
        template = inst.event_log_storage.template_path()
    with open(template, "wb") as fh:
        fh.write(b"not a database")
    with dg.DagsterInstance.from_config(str(workspace.root)) as inst, caplog.at_level("WARNING"):
        assert _materialize(inst, "b").success
    assert "is not an SQLite database" in caplog.text and template in caplog.text
    with open(template, "rb") as fh:
        assert fh.read(16) == b"SQLite format 3\x00"


def test_runs_work_when_no_empty_database_can_be_kept(workspace, caplog, monkeypatch):
    """A failure to make the copy is logged, and the run is initialised by Dagster."""
    with dg.DagsterInstance.from_config(str(workspace.root)) as inst:
        storage = inst.event_log_storage

        real = storage._initdb
        calls = []

        def initdb(engine, **kw):
            calls.append(str(engine.url))
            if str(engine.url).endswith("/empty.db"):
                raise OSError("disk full")
            return real(engine, **kw)

        monkeypatch.setattr(storage, "_initdb", initdb)
        with caplog.at_level("WARNING"):
            result = _materialize(inst, "a")
        assert result.success
        assert "could not make the empty run database" in caplog.text
        assert any(result.run_id in url for url in calls)  # Dagster made the run's file
        assert not os.path.exists(storage.template_path())
