"""Filters of ``list`` and ``Registry.runs``: each alone and combined, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone

import pytest
import synthetic
from helpers import LIST_COLUMNS, invoke

from seedreg import Registry, UsageError
from seedreg.registry import query

NOW = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
R1, R2, R3, R4, R5, R6, R7, R8 = (f"{i}{i}a1" + "0" * 28 for i in range(1, 9))
SESSION = "5e" * 16

DATASET = [
    synthetic.line(id=R1, experiment="split", seed="101", numpy="1.26.4", started=NOW - timedelta(days=10),
                   params={"lr": 0.1, "n": 1, "opt": "adam", "flag": True}, tags={"stage": "prep", "host": "gpu1"}),
    synthetic.line(id=R2, experiment="split", seed="101", numpy="1.26.0", started=NOW - timedelta(days=5),
                   status="failed", params={"lr": 0.01, "n": 1.0, "opt": "sgd", "flag": False},
                   tags={"stage": "train"}),
    synthetic.line(id=R3, experiment="train", seed="7", numpy="2.0.1", started=NOW - timedelta(days=2),
                   params={"lr": 0.1, "n": 2, "name": "1", "model": {"depth": 3}}, tags={"stage": "prep"}),
    synthetic.line(id=R4, experiment="train", seed='["1", "2"]', numpy="1.260.1", parent=R3,
                   started=NOW - timedelta(hours=1), params={"lr": 0.1}),
    synthetic.line(id=R5, experiment="train", seed="7", numpy="2.0.1", replay_of=R3, replay_session=SESSION,
                   started=NOW - timedelta(minutes=30), params={"lr": 0.1, "n": 2}),
    # still "running" on another host, its heartbeat long stale: readers show it crashed
    synthetic.line(id=R6, experiment="split", seed="102", numpy="1.25.2", status="running",
                   started=NOW - timedelta(hours=3)),
    synthetic.line(id=R7, experiment="split", seed="101", started=NOW - timedelta(days=4), params={"lr": 0.1},
                   deleted=(NOW - timedelta(days=1), "bad data")),
    synthetic.line(id=R8, experiment="eval", seed="0", numpy=None, started=datetime(2025, 6, 1),
                   params={"lr": float("nan"), "big": float("inf"), "items": [1, 2]}),
]


@pytest.fixture
def registry(backend) -> Registry:
    registry = Registry()
    report = registry.import_(DATASET)
    assert report.ok and report.imported == len(DATASET), report
    return registry


def ids(registry: Registry, **filters) -> list[str]:
    return [run.id for run in registry.runs(limit=None, **filters)]


def cli_ids(*args: str) -> list[str]:
    result = invoke("list", "--json", "--limit", "0", *args)
    assert result.exit_code == 0, result.output
    return [run["id"] for run in json.loads(result.stdout)]


def test_no_filter_lists_every_visible_run_newest_first(registry):
    assert ids(registry) == [R5, R4, R6, R3, R2, R1, R8]  # R7 is deleted
    assert cli_ids() == ids(registry)


def test_experiment_and_status(registry):
    assert ids(registry, experiment="split") == [R6, R2, R1]
    assert ids(registry, experiment=["split", "eval"]) == [R6, R2, R1, R8]
    assert ids(registry, status="failed") == [R2]
    assert ids(registry, status="crashed") == [R6]  # shown as readers show it, never written
    assert ids(registry, status="running") == []
    assert cli_ids("-e", "train", "-s", "completed") == [R5, R4, R3]


def test_seed(registry):
    assert ids(registry, seed=101) == [R2, R1]
    assert ids(registry, seed=[7, 102]) == [R5, R6, R3]
    assert ids(registry, seed=(1, 2)) == [R4]  # a sequence seed
    assert cli_ids("--seed", "1,2") == [R4]
    assert cli_ids("--seed", "101", "--seed", "0") == [R2, R1, R8]


def test_numpy_exact_or_prefix_at_a_dot(registry):
    assert ids(registry, numpy="1.26") == [R2, R1]  # not 1.260.1
    assert ids(registry, numpy="1.26.4") == [R1]
    assert ids(registry, numpy="1.260") == [R4]
    assert ids(registry, numpy="2") == [R5, R3]
    assert cli_ids("--numpy", "1.26") == [R2, R1]


def test_since_and_until(registry):
    assert ids(registry, since="7d") == [R5, R4, R6, R3, R2]
    assert ids(registry, until="7d") == [R1, R8]
    assert ids(registry, since="90m", until="45m") == [R4]
    assert ids(registry, since="1w") == ids(registry, since="7d")
    day = (NOW - timedelta(days=5)).date()
    utc_midnight = datetime.combine(day, datetime.min.time()).isoformat() + "Z"
    assert ids(registry, since=utc_midnight, until=(NOW - timedelta(days=3)).isoformat() + "+00:00") == [R2]
    assert ids(registry, since=NOW - timedelta(days=3)) == [R5, R4, R6, R3]  # a naive datetime is local time
    assert ids(registry, until="2025-06-01") == [R8]  # a date alone: --until includes that day
    assert cli_ids("--since", "3d", "-e", "train") == [R5, R4, R3]


def test_a_naive_time_is_local_time(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert query.moment("2026-01-01T09:00") == datetime(2026, 1, 1, 0, 0)
        assert query.moment("2026-01-01T09:00Z") == datetime(2026, 1, 1, 9, 0)
        assert query.moment("2026-01-01", end=True) == datetime(2026, 1, 1, 15, 0)  # local midnight of Jan 2
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_params_compare_numbers_numerically_and_the_rest_exactly(registry):
    assert ids(registry, params=["lr=0.1"]) == [R5, R4, R3, R1]
    assert ids(registry, params={"lr": 0.1}) == [R5, R4, R3, R1]
    assert ids(registry, params=["n=1"]) == [R2, R1]  # 1 and 1.0
    assert ids(registry, params={"n": 1.0}) == [R2, R1]
    assert ids(registry, params=["n=2.0"]) == [R5, R3]
    assert ids(registry, params=["flag=true"]) == [R1]
    assert ids(registry, params={"flag": False}) == [R2]
    assert ids(registry, params=["opt=adam"]) == [R1]
    assert ids(registry, params=["model.depth=3"]) == [R3]
    assert ids(registry, params={"model": {"depth": 3}}) == [R3]
    assert ids(registry, params=["lr=nan"]) == [R8]
    assert ids(registry, params=["big=inf"]) == [R8]
    assert ids(registry, params=["items=[1, 2]"]) == [R8]
    assert ids(registry, params=["lr=0.123"]) == []
    # from the command line "1" may be a number or a string; from Python the type decides
    assert ids(registry, params=["name=1"]) == [R3]
    assert ids(registry, params={"name": 1}) == []
    assert ids(registry, params={"name": "1"}) == [R3]
    assert ids(registry, params=["lr=0.1", "n=2"]) == [R5, R3]
    assert cli_ids("--param", "lr=0.1", "--param", "opt=adam") == [R1]


def test_tags(registry):
    assert ids(registry, tags=["stage=prep"]) == [R3, R1]
    assert ids(registry, tags={"stage": "train"}) == [R2]
    assert ids(registry, tags=["stage=prep", "host=gpu1"]) == [R1]
    assert cli_ids("--tag", "stage=prep") == [R3, R1]


def test_replays_parent_and_deleted(registry):
    assert ids(registry, replays=True) == [R5]
    assert ids(registry, replays=False) == [R4, R6, R3, R2, R1, R8]
    assert ids(registry, parent=R3[:6]) == [R4]  # any unique prefix
    assert ids(registry, deleted=None) == [R5, R4, R6, R3, R7, R2, R1, R8]
    assert ids(registry, deleted=True) == [R7]
    assert cli_ids("--replays") == [R5]
    assert cli_ids("--no-replays", "-e", "train") == [R4, R3]
    assert cli_ids("--parent", R3) == [R4]
    assert cli_ids("--deleted", "-e", "split") == [R6, R7, R2, R1]


def test_combined_filters(registry):
    assert ids(registry, experiment="split", seed=101, params=["lr=0.1"], deleted=None) == [R7, R1]
    assert ids(registry, experiment="train", tags=["stage=prep"], since="7d", numpy="2") == [R3]
    assert ids(registry, experiment="train", params={"lr": 0.1}, replays=False, status="completed") == [R4, R3]
    assert cli_ids("-e", "split", "-e", "train", "--param", "lr=0.1", "--since", "7d", "--no-replays") == [R4, R3]
    assert cli_ids("-e", "split", "--seed", "101", "--numpy", "1.26", "--until", "7d", "--tag", "host=gpu1",
                   "--status", "completed", "--param", "n=1") == [R1]


def test_limit_offset_sort_and_count(registry):
    assert ids(registry, sort="started") == [R8, R1, R2, R3, R6, R4, R5]
    assert [r.id for r in registry.runs(limit=2, offset=1)] == [R4, R6]
    assert ids(registry, sort="experiment")[:2] == [R8, R6]  # eval, then split newest first
    assert ids(registry, sort="-duration")[-1] == R6  # no duration: last either way
    assert registry.count(experiment="split") == 3
    assert registry.count(params=["lr=0.1"], deleted=None) == 5
    result = invoke("list", "-e", "train", "--limit", "1", "--offset", "1", "--json")
    assert [run["id"] for run in json.loads(result.stdout)] == [R4]
    assert result.stderr.strip() == "showing runs 2-2 of 3 runs; --limit 0 shows all"
    assert cli_ids("--sort", "-started") == ids(registry)
    assert cli_ids("--sort=started")[0] == R8


@pytest.mark.parametrize("args, message", [
    (["--since", "last tuesday"], "--since takes an ISO date or time"),
    (["--until", "2026-13-01"], "--until takes an ISO date or time"),
    (["--param", "lr"], "--param takes KEY=VALUE, not 'lr'"),
    (["--tag", "=x"], "--tag takes KEY=VALUE"),
    (["--seed", "-1"], "--seed takes a non-negative integer"),
    (["--seed", str(2**128)], "seeds are in [0, 2**128)"),
    (["--numpy", "1.26 4"], "--numpy takes a version"),
    (["--sort", "colour"], "--sort takes one of started, ended, duration, experiment, status"),
    (["--status", "lost"], "Invalid value for '--status'"),
    (["--parent", "zz"], "is not a run id or id prefix"),
    (["--limit", "-1"], "Invalid value for '--limit'"),
])
def test_a_bad_filter_is_one_clear_line_and_exit_2(registry, args, message):
    result = invoke("list", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr


def test_a_bad_filter_raises_usage_error_from_python(registry):
    with pytest.raises(UsageError, match="--since"):
        registry.runs(since="yesterday-ish")
    with pytest.raises(UsageError, match="unknown status"):
        registry.runs(status="lost")
    with pytest.raises(UsageError, match="non-empty"):
        registry.runs(params={"": 1})


def test_output_formats_machine_times_are_utc_and_the_table_is_local(registry, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        table = invoke("list", "-e", "eval")
        csv = invoke("list", "-e", "eval", "--csv")
        data = invoke("list", "-e", "eval", "--json")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert table.stdout.splitlines()[0].split() == LIST_COLUMNS
    assert "2025-05-31 20:00:00" in table.stdout  # local time: New York is UTC-4 in June
    assert csv.stdout.splitlines()[0] == ",".join(LIST_COLUMNS)
    assert ",2025-06-01T00:00:00Z," in csv.stdout
    assert json.loads(data.stdout)[0]["started_at"] == "2025-06-01T00:00:00Z"
    assert json.loads(data.stdout)[0]["params"]["lr"] == "NaN"


def test_the_param_filter_uses_plain_portable_sql(registry):
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql, sqlite

    from seedreg.db.tables import run_table

    filters = query.Filters.build(params=["lr=0.1"], tags=["stage=prep"])
    selective = select(run_table.c.id).where(*filters.conditions(lambda: []))
    common = select(run_table.c.id).where(*filters.conditions(lambda: [], frozenset({"param:0", "tag:0"})))
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        sql = str(selective.compile(dialect=dialect)).lower()
        assert "json" not in sql and "in (select params.run_id" in sql and "tags.text" in sql, sql
        sql = str(common.compile(dialect=dialect)).lower()
        assert "json" not in sql and "exists (select" in sql and "params.num" in sql, sql



def test_common_values_are_walked_in_order_with_the_same_results(registry, monkeypatch):
    """On a big registry a common value is matched run by run (EXISTS, no index); results are the same."""
    cases = [dict(params=["lr=0.1"]), dict(tags=["stage=prep"], experiment="train"), dict(status="completed"),
             dict(numpy="1.26"), dict(seed=[101, 7]), dict(experiment="split", seed=101, params=["n=1"]),
             dict(params=["lr=0.123"]), dict(seed=12345)]
    expected = [ids(registry, **case) for case in cases]
    counts = [registry.count(**case) for case in cases]
    monkeypatch.setattr(query, "COMMON", 2)
    from seedreg.db import engines

    with engines.engine_for(registry.url).connect() as conn:
        assert query.plan(conn, registry.filters(params=["lr=0.1"], seed=102)) == {"param:0"}
        assert query.plan(conn, registry.filters(params=["lr=0.123"])) is None  # nothing has it: no query at all
    assert [ids(registry, **case) for case in cases] == expected
    assert [registry.count(**case) for case in cases] == counts
    assert registry.count(params=["lr=0.1"], cap=2) == 3  # counting stops above the cap


def test_filters_on_a_real_recorded_run(backend):
    import seedreg

    with seedreg.run("real", seed=5, params={"lr": 0.25, "layers": [64, 64]}, tags={"who": "me"}) as run:
        pass
    registry = Registry()
    assert ids(registry, experiment="real", params=["lr=0.25"], tags=["who=me"], seed=5,
               numpy=".".join(run_numpy().split(".")[:2]), since="1h") == [run.id]
    assert ids(registry, params=["layers=[64, 64]"]) == [run.id]


def run_numpy() -> str:
    import numpy

    return numpy.__version__


def test_list_help_documents_every_filter():
    result = invoke("list", "--help")
    for option in ("--experiment", "--status", "--seed", "--numpy", "--since", "--until", "--param", "--tag",
                   "--replays / --no-replays", "--parent", "--deleted", "--limit", "--offset", "--sort", "--json",
                   "--csv"):
        assert option in result.stdout
    assert "local time" in result.stdout


def test_sql_experiments_and_export_do_not_import_numpy_or_alembic(registry):
    import subprocess
    import sys

    snippet = ("import json, sys; from seedreg.cli import cli; from click.testing import CliRunner; "
               "r = CliRunner().invoke(cli, sys.argv[1:]); assert r.exit_code == 0, r.output; "
               "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'alembic'})))")
    for args in (["sql", "SELECT count(*) FROM runs"], ["experiments"], ["export"],
                 ["list", "--param", "lr=0.1", "--since", "7d"]):
        done = subprocess.run([sys.executable, "-c", snippet, *args], capture_output=True, text=True,
                              env=dict(os.environ), check=True)
        assert json.loads(done.stdout.strip().splitlines()[-1]) == [], args


@pytest.mark.sqlite_only
def test_param_and_tag_lookups_use_their_partial_indexes(registry, registry_path):
    """The indexes hold numbers only (by num) and the rest only (by text): the queries still use them."""
    import sqlite3

    from sqlalchemy import event

    from seedreg.db import engines

    engine = engines.engine_for(registry.url)
    seen: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert ids(registry, params=["lr=0.1"]) and ids(registry, tags=["stage=prep"])
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    with sqlite3.connect(registry_path) as conn:
        plans = [str(conn.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall())
                 for statement, parameters in seen if " params" in statement or " tags" in statement]
    assert any("ix_params_key_num" in plan for plan in plans), plans
    assert any("ix_tags_key_text" in plan for plan in plans), plans


def test_a_page_and_more_than_a_page_of_runs_read_the_same_children(backend):
    """Children of a few runs are looked up by an IN list, of many by one array parameter: both give
    each run its own params, tags and fingerprints (every run read by id, 150 at once and one page)."""
    from seedreg.db.lookups import _FEW

    lines = [synthetic.line(seed=str(i), params={"i": i}, tags={"k": f"t{i}"}, started=NOW - timedelta(minutes=i))
             for i in range(_FEW + 50)]
    registry = Registry()
    assert registry.import_(lines).ok
    everything = {run.id: run for run in registry.runs(limit=None)}
    for page in (registry.runs(limit=20), registry.runs(limit=_FEW + 50, offset=0, sort="started")):
        assert page and all(run == everything[run.id] for run in page)
        assert all(run.params == {"i": int(run.seed)} and run.tags == {"k": f"t{run.seed}"} and run.fingerprints
                   for run in page)
