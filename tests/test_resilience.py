"""Many writers, crashes, heartbeats and an unavailable registry: nothing is lost or left wrong."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, invoke

import seedreg
from seedreg.db import engines


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


WRITER = """
    import sys
    import numpy as np
    import seedreg

    for i in range(int(sys.argv[1])):
        with seedreg.run("load", seed=i, params={"worker": int(sys.argv[2])}) as run:
            run.log("x", run.rng.normal(size=100))
    print(seedreg.db.engines.retries)
"""


@pytest.mark.slow  # many processes
def test_many_processes_writing_one_sqlite_file_lose_nothing(tmp_path: Path, registry_path: Path):
    workers, blocks = 8, 40
    script = write(tmp_path / "writer.py", WRITER)
    procs = [subprocess.Popen([sys.executable, str(script), str(blocks), str(k)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(workers)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert "locked" not in err.lower()
    registry = seedreg.Registry()
    assert registry.count() == workers * blocks
    assert registry.count(status="completed") == workers * blocks
    report = registry.audit()
    assert report.ok and report.count == workers * blocks


CRASHER = """
    import os, signal, sys
    import numpy as np
    import seedreg

    with seedreg.run("doomed", seed=3) as run:
        run.log("before", np.arange(10))
        print(run.id, flush=True)
        seedreg.Registry().get(run.id)  # its writes are committed: this process reads its own registry
        if sys.argv[1] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(1)
"""


@pytest.mark.parametrize("how", ["kill", "exit"])
@pytest.mark.slow  # subprocesses killed, then replayed
def test_a_killed_process_leaves_a_crashed_run_that_keeps_its_data_and_replays(tmp_path, registry_path, how):
    script = write(tmp_path / "crash.py", CRASHER)
    done = subprocess.run([sys.executable, str(script), how], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0
    run_id = done.stdout.split()[0]
    record = seedreg.Registry().get(run_id)
    assert record.status == "crashed"  # shown at once on this host
    assert record.fingerprints["before"] == seedreg.fingerprint(np.arange(10))
    stored = sqlite3.connect(registry_path).execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
    assert stored == ("running",)  # reading did not write
    with seedreg.run("next", seed=1):
        pass
    stored = sqlite3.connect(registry_path).execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
    assert stored == ("crashed",)  # persisted by the next with-block
    report = seedreg.Registry().audit()
    assert report.ok and (run_id, "crashed") in report.open_runs
    # A crashed run still replays (the replay crashes the same way, so it is "different" in status
    # only if the original were closed; both died, so the replay's own run is crashed too).
    replay = invoke("replay", run_id, "--yes", "--json")
    assert replay.exit_code in (0, 1), replay.output
    assert f'"original": "{run_id}"' in replay.stdout


def test_an_open_run_refreshes_its_heartbeat(tmp_path, registry_path, monkeypatch):
    monkeypatch.setenv("SEEDREG_HEARTBEAT_SECONDS", "0.1")
    with seedreg.run("beating", seed=1) as run:
        first = seedreg.Registry().get(run.id).heartbeat_at
        deadline = time.monotonic() + 10
        while seedreg.Registry().get(run.id).heartbeat_at == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seedreg.Registry().get(run.id).heartbeat_at > first


def _insert_foreign_running(registry_path: Path, run_id: str, heartbeat: str) -> None:
    conn = sqlite3.connect(registry_path)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM runs LIMIT 1").fetchone())
    row.update(id=run_id, hostname="node-7.cluster.example", status="running", heartbeat_at=heartbeat,
               ended_at=None, duration=None, rng_digest=None, replay_of=None)
    conn.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    conn.commit()
    conn.close()


def test_other_hosts_runs_are_crashed_only_once_their_heartbeat_is_stale(registry_path, monkeypatch):
    with seedreg.run("template", seed=1):
        pass
    now = engines.utcnow()
    fresh, stale = "a" * 32, "b" * 32
    _insert_foreign_running(registry_path, fresh, now.isoformat(sep=" "))
    _insert_foreign_running(registry_path, stale, (now.replace(year=now.year - 1)).isoformat(sep=" "))
    registry = seedreg.Registry()
    assert registry.get(fresh).status == "running"
    assert registry.get(stale).status == "crashed"
    assert {r.id for r in registry.runs(status="crashed")} == {stale}
    monkeypatch.setenv("SEEDREG_STALE_SECONDS", "0.001")
    time.sleep(0.01)
    assert registry.get(fresh).status == "crashed"


HOLDER = """
    import sys
    import numpy as np
    import seedreg

    with seedreg.run("held", seed=4, params={"lr": 0.5}) as run:
        run.log("first", np.arange(5))
        print(run.id, flush=True)
        sys.stdin.readline()  # the test reads the registry from its own process meanwhile
        run.log("second", np.arange(6))
        print("logged", flush=True)
        sys.stdin.readline()
"""


def committed(read, until=lambda found: True, seconds: float = 10.0):
    """What ``read`` returns once it exists and satisfies ``until``: written by another process's flusher
    (within 50 ms, DESIGN §1; the benchmarks time it, a test only waits for it)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = read()
            if until(found):
                return found
        except seedreg.errors.UnknownRunError:
            pass
        assert time.monotonic() < deadline, "never committed while its block was open"
        time.sleep(0.01)


def test_an_open_run_and_its_fingerprints_are_committed_while_the_block_runs(tmp_path, registry_path):
    # DESIGN §1: a block's writes may be batched (for at most 50 ms), but another process sees them
    # while the block still runs: its open and each fingerprint, without waiting for its close.
    script = write(tmp_path / "holder.py", HOLDER)
    process = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        run_id = process.stdout.readline().strip()
        record = committed(lambda: seedreg.Registry().get(run_id))  # the writer process is still in its block
        assert record.status == "running" and record.params == {"lr": 0.5} and list(record.fingerprints) == ["first"]
        process.stdin.write("\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "logged"
        record = committed(lambda: seedreg.Registry().get(run_id), until=lambda r: len(r.fingerprints) == 2)
        assert list(record.fingerprints) == ["first", "second"] and record.status == "running"
    finally:
        process.communicate("\n", timeout=60)
    assert process.returncode == 0
    record = seedreg.Registry().get(run_id)
    assert record.status == "completed" and seedreg.Registry().audit().ok


def test_a_block_that_never_reached_the_registry_is_spooled_whole_and_synced(tmp_path, registry_path, monkeypatch):
    # Locked out from its open to its close: the open, both fingerprints and the close are spooled.
    monkeypatch.setenv("SEEDREG_RETRY_SECONDS", "0.3")
    with seedreg.run("warm", seed=1):
        pass  # the registry exists, this process's writer is warm
    blocker = sqlite3.connect(registry_path, timeout=0.1, isolation_level=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with seedreg.run("locked-out", seed=8, params={"k": 1}, tags={"t": "x"}) as run:
            blocker.execute("BEGIN EXCLUSIVE")  # before its open is committed
            run.log("a", np.arange(3))
            run.log("score", 0.5)
    assert any("spooled" in str(w.message) for w in caught)
    blocker.execute("ROLLBACK")
    blocker.close()
    with pytest.raises(seedreg.errors.UnknownRunError):
        seedreg.Registry().get(run.id)  # nothing of it reached the registry
    result = invoke("sync")
    assert result.exit_code == 0 and "synced 1" in result.stdout
    record = seedreg.Registry().get(run.id)
    assert record.status == "completed" and record.params == {"k": 1} and record.tags == {"t": "x"}
    assert list(record.fingerprints) == ["a", "score"] and record.results == {"score": 0.5}
    assert invoke("sync").stdout.startswith("synced 0")
    assert seedreg.Registry().audit().ok


def test_a_close_left_for_the_batch_is_spooled_when_the_registry_stays_locked_and_synced(tmp_path, registry_path,
                                                                                        monkeypatch):
    # A run that logged nothing may close with the writer's next batch (the pytest plugin's test
    # runs); when that batch cannot be committed, the writer retries, then spools it like a close.
    monkeypatch.setenv("SEEDREG_RETRY_SECONDS", "0.3")
    with seedreg.run("warm", seed=1):
        pass
    blocker = sqlite3.connect(registry_path, timeout=0.1, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = seedreg.run("batched", seed=4, tags={"t": "x"})
            run._close_later = True
            with run:
                pass
            assert run.status == "completed"  # the block ended at once; its writes wait for the writer
            deadline = time.monotonic() + 30
            while not any("spooled" in str(w.message) for w in caught):  # the writer warns once it spooled
                assert time.monotonic() < deadline, "the writer never spooled the batch it could not commit"
                time.sleep(0.05)
        assert [p.stem for p in (tmp_path / "spool").glob("*.jsonl")] == [run.id]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert invoke("sync").stdout.startswith("synced 1")
    record = seedreg.Registry().get(run.id)
    assert record.status == "completed" and record.tags == {"t": "x"}
    report = seedreg.Registry().audit()
    assert report.ok and report.count == 2


def test_a_registry_locked_too_long_at_close_spools_the_run_and_sync_closes_it(tmp_path, registry_path, monkeypatch):
    monkeypatch.setenv("SEEDREG_RETRY_SECONDS", "0.5")
    data = np.arange(1000.0)
    blocker = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with seedreg.run("spooled", seed=9) as run:
            run.log("data", data)
            seedreg.Registry().get(run.id)  # the open and "data" are committed: a reader here sees its own runs
            blocker = sqlite3.connect(registry_path, timeout=0.1, isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")  # another process holds the file
            run.log("late", data * 2)
        result = float(data.sum())  # the experiment's own result survives
    assert result == 499500.0 and run.status == "completed"
    assert any("spooled" in str(w.message) and "seedreg sync" in str(w.message) for w in caught)
    spooled = list((tmp_path / "spool").glob("*.jsonl"))
    assert [p.stem for p in spooled] == [run.id]
    assert "password" not in spooled[0].read_text()
    blocker.execute("ROLLBACK")
    blocker.close()

    assert seedreg.Registry().get(run.id).status == "running"  # this process is alive: not closed yet
    result = invoke("sync")
    assert result.exit_code == 0 and "synced 1" in result.stdout
    record = seedreg.Registry().get(run.id)
    assert record.status == "completed" and set(record.fingerprints) == {"data", "late"}
    assert not list((tmp_path / "spool").glob("*.jsonl"))
    assert invoke("sync").stdout.startswith("synced 0")  # idempotent
    report = seedreg.Registry().audit()
    assert report.ok and report.count == 1


def test_a_spooled_close_of_a_run_shown_crashed_closes_it_normally(tmp_path, registry_path, monkeypatch):
    script = write(tmp_path / "spool_then_die.py", """
        import os, sqlite3, sys, warnings
        import seedreg
        os.environ["SEEDREG_RETRY_SECONDS"] = "0.3"
        with seedreg.run("late-close", seed=2) as run:
            run.log("x", [1, 2, 3])
            seedreg.Registry().get(run.id)  # its writes are committed: this process reads its own registry
            blocker = sqlite3.connect(sys.argv[1], timeout=0.1, isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
        print(run.id)
    """)
    done = subprocess.run([sys.executable, str(script), str(registry_path)], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    run_id = done.stdout.split()[0]
    assert seedreg.Registry().get(run_id).status == "crashed"  # its process is gone, unclosed
    with seedreg.run("next", seed=1):  # the next open syncs the spool before persisting crashes
        pass
    assert seedreg.Registry().get(run_id).status == "completed"
    assert seedreg.Registry().audit().ok


def test_an_unreachable_registry_fails_fast_at_open_before_the_experiment_runs(monkeypatch):
    ran = []
    start = time.monotonic()
    with pytest.raises(seedreg.RegistryError):
        with seedreg.run("x", seed=1, db="postgresql+psycopg://nobody@127.0.0.1:9/none"):
            ran.append(True)
    assert not ran
    assert time.monotonic() - start < 30


@pytest.mark.slow  # many processes
def test_concurrent_first_open_creates_the_schema_once(tmp_path, registry_path):
    script = write(tmp_path / "first.py", """
        import seedreg
        with seedreg.run("first", seed=1):
            pass
    """)
    procs = [subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    conn = sqlite3.connect(registry_path)
    assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM runs").fetchone() == (6,)
    assert conn.execute("SELECT count(*) FROM chain_head").fetchone() == (1,)


POOL = """
    import sys
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp
    import numpy as np
    import seedreg

    def task(args):
        parent, child, i = args
        with seedreg.run("sweep-task", seed=child, parent=parent, params={"i": i}) as run:
            run.log("draws", run.rng.normal(size=50))
            return run.id

    if __name__ == "__main__":
        with seedreg.run("sweep", seed=2024) as root:
            children = root.spawn(4)
            with ProcessPoolExecutor(2, mp_context=mp.get_context(sys.argv[1])) as pool:
                ids = list(pool.map(task, [(root.id, c, i) for i, c in enumerate(children)]))
        print(root.id, *ids)
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.slow  # process pools, then replays
def test_process_pool_children_are_recorded_independent_and_replayable(tmp_path, registry_path, method):
    script = write(tmp_path / "pool.py", POOL)
    done = subprocess.run([sys.executable, str(script), method], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    root_id, *child_ids = done.stdout.split()
    registry = seedreg.Registry()
    children = [registry.get(c) for c in child_ids]
    assert all(c.parent == root_id and c.status == "completed" for c in children)
    assert sorted(c.spawn_key for c in children) == [(0,), (1,), (2,), (3,)]
    assert len({str(c.fingerprints["draws"]) for c in children}) == 4  # independent streams
    replay = invoke("replay", child_ids[2], "--yes", "--json")
    assert replay.exit_code == 0, replay.output


DASK = """
    import sys
    import numpy as np
    import seedreg
    from dask.distributed import Client, LocalCluster

    def task(parent, child, lr):
        with seedreg.run("dask-task", seed=child, parent=parent, params={"lr": lr}) as run:
            run.log("loss", run.rng.normal(size=20) * lr)
            return run.id

    if __name__ == "__main__":
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \\
                Client(cluster) as client:
            with seedreg.run("dask-sweep", seed=7) as root:
                futures = [client.submit(task, root.id, child, lr, pure=False)
                           for child, lr in zip(root.spawn(3), (0.1, 0.01, 0.001))]
                ids = client.gather(futures)
        print(root.id, *ids)
"""


@pytest.mark.slow  # a Dask cluster
def test_dask_local_cluster_tasks_record_child_runs(tmp_path, registry_path):
    pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install '.[test]')")
    script = write(tmp_path / "dask_sweep.py", DASK)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    root_id, *child_ids = done.stdout.split()
    registry = seedreg.Registry()
    children = [registry.get(c) for c in child_ids]
    assert [c.params["lr"] for c in children] == [0.1, 0.01, 0.001]
    assert all(c.parent == root_id and c.status == "completed" for c in children)
    assert len({c.pid for c in children} - {registry.get(root_id).pid}) >= 1  # ran in worker processes
    assert registry.audit().ok


# -- a real PostgreSQL server of the test's own, stopped while a block is open ------------------

PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


def _pg(*command: str) -> None:
    line = " ".join(command)
    argv = ["su", "postgres", "-s", "/bin/bash", "-c", line] if os.geteuid() == 0 else ["bash", "-c", line]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


@pytest.fixture
def own_postgres(tmp_path_factory):
    """A private PostgreSQL server on loopback that the test may stop and start."""
    if not PG_BIN or not os.environ.get("SEEDREG_TEST_POSTGRES_URL"):
        pytest.skip("needs PostgreSQL server binaries and SEEDREG_TEST_POSTGRES_URL (.ci/postgres.sh)")
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
    port = 54340 + os.getpid() % 50
    data = Path(f"/tmp/seedreg-own-pg-{port}")
    env = {**os.environ, "SEEDREG_PG_PORT": str(port), "SEEDREG_PG_DATA": str(data)}
    out = subprocess.run(["bash", str(REPO / ".ci" / "postgres.sh")], env=env, capture_output=True, text=True,
                         check=True, timeout=300).stdout
    url = out.strip().split("=", 1)[1]
    ctl = f"{PG_BIN[-1]} -D {data} -w"
    start = f'{ctl} -l {data}/server.log -o "-p {port} -k {data} -c listen_addresses=127.0.0.1" start'
    yield url, (lambda: _pg(f"{ctl} -m fast stop")), (lambda: _pg(start))
    engines.forget(url)
    subprocess.run(["bash", "-c", f"su postgres -s /bin/bash -c '{ctl} -m immediate stop' || true"],
                   capture_output=True)


@pytest.mark.slow  # a private PostgreSQL server
def test_postgres_stopped_mid_run_spools_and_sync_closes_after_restart(own_postgres, monkeypatch):
    url, stop, start = own_postgres
    monkeypatch.setenv("SEEDREG_DB", url)
    monkeypatch.setenv("SEEDREG_RETRY_SECONDS", "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with seedreg.run("server-down", seed=11) as run:
            run.log("before", np.arange(5))
            stop()
            run.log("during", np.arange(6))
            value = int(run.rng.integers(0, 100))
    assert run.status == "completed" and 0 <= value < 100
    assert any("seedreg sync" in str(w.message) for w in caught)
    start()
    engines.forget(url)
    assert seedreg.Registry().sync() == 1
    record = seedreg.Registry().get(run.id)
    assert record.status == "completed" and set(record.fingerprints) == {"before", "during"}
    assert seedreg.Registry().audit().ok


@pytest.mark.slow  # many processes
def test_many_processes_writing_one_postgres_registry_lose_nothing(tmp_path, backend):
    if backend != "postgres":
        pytest.skip("the SQLite variant is test_many_processes_writing_one_sqlite_file_lose_nothing")
    workers, blocks = 6, 20
    script = write(tmp_path / "writer.py", WRITER)
    procs = [subprocess.Popen([sys.executable, str(script), str(blocks), str(k)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(workers)]  # they also race to create the schema
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    registry = seedreg.Registry()
    assert registry.count(status="completed") == workers * blocks
    report = registry.audit()
    assert report.ok and report.count == workers * blocks


# -- database errors told apart by the driver's codes ------------------------------------------------


def _failure(engine, statement: str = "SELECT count(*) FROM sqlite_master", *, write: bool = False):
    """The SQLAlchemy error the statement raises on ``engine`` (in a write transaction with ``write``)."""
    from sqlalchemy import exc, text

    try:
        if write:
            with engines.write(engine) as conn:
                conn.execute(text(statement))
        else:
            with engine.connect() as conn:
                conn.execute(text(statement))
    except exc.DBAPIError as error:
        return error
    raise AssertionError(f"{statement} did not fail")


def _failure_on(conn, statement: str):
    from sqlalchemy import exc, text

    try:
        conn.execute(text(statement))
    except exc.DBAPIError as error:
        return error
    raise AssertionError(f"{statement} did not fail")


@pytest.mark.sqlite_only  # plants SQLite files
def test_sqlite_errors_are_told_apart_by_their_result_codes(tmp_path, registry_path, monkeypatch):
    from sqlalchemy import text

    monkeypatch.setenv("SEEDREG_RETRY_SECONDS", "0.2")  # also the busy timeout of new connections
    url = engines.resolve_url()
    with seedreg.run("locked", seed=1):
        pass
    engines.forget(url)
    holder = sqlite3.connect(registry_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a real write lock another connection must wait for
    try:
        busy = _failure(engines.engine_for(url), "UPDATE runs SET pid = pid", write=True)
        assert (engines.error_code(busy), engines.error_kind(busy)) == ("SQLITE_BUSY", "busy")
        before = engines.retries

        def work() -> None:
            with engines.write(engines.engine_for(url)) as conn:
                conn.execute(text("UPDATE runs SET pid = pid"))

        with pytest.raises(seedreg.RegistryError, match="database is locked"):
            engines.retrying(work, seconds=0.5)
        assert engines.retries > before  # waited for it, then gave up
    finally:
        holder.rollback()
        holder.close()

    text_file = tmp_path / "notes.txt"
    text_file.write_bytes(b"this is not an SQLite file " * 10)
    not_a_db = _failure(engines.engine_for(f"sqlite:///{text_file}"))
    assert (engines.error_code(not_a_db), engines.error_kind(not_a_db)) == ("SQLITE_NOTADB", "error")
    assert text_file.read_bytes() == b"this is not an SQLite file " * 10

    cannot_open = _failure(engines.engine_for(f"sqlite:///{tmp_path / 'no such folder' / 'x.db'}"))
    assert (engines.error_code(cannot_open), engines.error_kind(cannot_open)) == ("SQLITE_CANTOPEN", "unreachable")

    # A message that merely mentions a lock or a connection is no reason to wait.
    for statement in ("SELECT * FROM locked_connection", "SELECT 'database is locked' +"):
        plain = _failure(engines.engine_for(url), statement)
        assert (engines.error_code(plain), engines.error_kind(plain)) == ("SQLITE_ERROR", "error"), statement
    # Python 3.10's sqlite3 errors carry no code: SQLite's own text of the code stands for it.
    assert engines.error_code(sqlite3.OperationalError("database is locked")) == "SQLITE_BUSY"
    assert engines.error_code(sqlite3.OperationalError("no such table: locked")) is None


@pytest.mark.skipif(not os.environ.get("SEEDREG_TEST_POSTGRES_URL"), reason="needs SEEDREG_TEST_POSTGRES_URL")
def test_postgres_errors_are_told_apart_by_their_sqlstate():
    from sqlalchemy import create_engine, exc, text

    url = os.environ["SEEDREG_TEST_POSTGRES_URL"]
    refused = _failure(create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none"), "SELECT 1")
    assert (engines.error_code(refused), engines.error_kind(refused)) == (None, "unreachable")

    plain = _failure(create_engine(url), "SELECT 'locked connection'::int")
    assert (engines.error_code(plain), engines.error_kind(plain)) == ("22P02", "error")

    engine = create_engine(url, isolation_level="SERIALIZABLE")
    with engine.connect() as setup:
        setup.execute(text("DROP TABLE IF EXISTS seedreg_codes"))
        setup.execute(text("CREATE TABLE seedreg_codes (k int PRIMARY KEY, v int)"))
        setup.execute(text("INSERT INTO seedreg_codes VALUES (1, 0), (2, 0)"))
        setup.commit()
    try:
        with engine.connect() as a, engine.connect() as b:  # write skew: one of them must fail
            a.execute(text("SELECT sum(v) FROM seedreg_codes"))
            b.execute(text("SELECT sum(v) FROM seedreg_codes"))
            a.execute(text("UPDATE seedreg_codes SET v = 1 WHERE k = 1"))
            b.execute(text("UPDATE seedreg_codes SET v = 1 WHERE k = 2"))
            a.commit()
            with pytest.raises(exc.DBAPIError) as serialization:
                b.commit()
        assert (engines.error_code(serialization.value), engines.error_kind(serialization.value)) == ("40001", "busy")

        with engine.connect() as holder, engine.connect() as waiter:
            holder.execute(text("LOCK TABLE seedreg_codes IN ACCESS EXCLUSIVE MODE"))
            waiter.execute(text("SET lock_timeout = '100ms'"))
            lock = _failure_on(waiter, "SELECT * FROM seedreg_codes")
            assert (engines.error_code(lock), engines.error_kind(lock)) == ("55P03", "busy")
            holder.rollback()
    finally:
        with engine.connect() as cleanup:
            cleanup.execute(text("DROP TABLE IF EXISTS seedreg_codes"))
            cleanup.commit()
        engine.dispose()
