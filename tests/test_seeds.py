"""`seedreg seeds` (DESIGN §9): groups of runs that differ only in their seed, their results' statistics
(checked against NumPy), failed runs beside them, the paired view, and nondeterminism found without replaying."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke, run_python

import seedreg
from seedreg.recording.environment import process_facts

GROUP_KEYS = {"experiment", "params", "n", "n_failed", "code", "seeds", "results", "nondeterministic"}
RESULT_KEYS = {"n", "n_valid", "mean", "std", "min", "max", "min_seeds", "max_seeds"}


def score(lr: float, seed: int) -> float:
    return float(np.random.default_rng([seed, int(lr * 1000)]).normal(loc=lr, scale=0.1))


def record(experiment: str, lr, seed: int, *, value=None, fail: bool = False, interrupt: bool = False,
           extra: dict | None = None) -> str:
    """One run in this process; ``fail``/``interrupt`` end it so."""
    try:
        with seedreg.run(experiment, seed=seed, params={"lr": lr, **(extra or {})}) as run:
            run.log("score", score(lr, seed) if value is None else value)
            run.log("steps", 100 + seed)
            if fail:
                raise RuntimeError("diverged")
            if interrupt:
                raise KeyboardInterrupt
    except (RuntimeError, KeyboardInterrupt):
        pass
    return run.id


def numpy_stats(values: list[float], seeds: list[int]) -> dict:
    finite = np.array([v for v in values if np.isfinite(v)])
    at = [s for s, v in zip(seeds, values) if np.isfinite(v)]
    return {"n": len(values), "n_valid": len(finite), "mean": float(np.mean(finite)),
            "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
            "min": float(np.min(finite)), "max": float(np.max(finite)),
            "min_seeds": sorted(str(s) for s, v in zip(at, finite) if v == finite.min()),
            "max_seeds": sorted(str(s) for s, v in zip(at, finite) if v == finite.max())}


def close(found: dict, expected: dict) -> None:
    assert found.keys() == RESULT_KEYS
    for key in ("n", "n_valid", "min_seeds", "max_seeds"):
        assert found[key] == expected[key], key
    for key in ("mean", "std", "min", "max"):
        if expected[key] is None:
            assert found[key] is None, key
        else:
            assert found[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-15), key


def test_statistics_match_numpy_and_failed_runs_are_counted_beside_them(backend):
    seeds = list(range(12))
    for lr in (0.1, 0.3):
        for seed in seeds:
            record("train", lr, seed)
    record("train", 0.1, 50, fail=True)
    record("train", 0.1, 51, interrupt=True)
    record("train", 0.3, 52, fail=True)
    record("other", 0.1, 1)
    groups = json.loads(invoke("seeds", "train", "--json").stdout)
    script = process_facts().script_digest
    script_digests = [script] if script else []
    assert not script or script.startswith("blake3:")
    assert [g["params"] for g in groups] == [{"lr": 0.1}, {"lr": 0.3}]
    for group, lr, failed in zip(groups, (0.1, 0.3), (2, 1)):
        assert group.keys() == GROUP_KEYS
        assert group["experiment"] == "train" and group["n"] == 12 and group["n_failed"] == failed
        assert group["seeds"] == [str(s) for s in seeds + ([50, 51] if lr == 0.1 else [52])]
        assert group["code"] == script_digests  # the script this process runs; none under `python -c` (xdist)
        assert set(group["results"]) == {"score", "steps"} and group["nondeterministic"] == []
        close(group["results"]["score"], numpy_stats([score(lr, s) for s in seeds], seeds))
        close(group["results"]["steps"], numpy_stats([100 + s for s in seeds], seeds))
    objects = seedreg.Registry().seeds(["train"])
    assert [g.to_json() for g in objects] == groups  # the API returns the same, typed


def test_only_finite_values_count_and_std_is_null_below_two(backend):
    values = [0.5, float("nan"), 1.5, float("inf"), 2.5, float("-inf")]
    for seed, value in enumerate(values):
        record("finite", 1, seed, value=value)
    record("single", 1, 0, value=0.7)
    record("single", 1, 1, value=float("nan"))
    (finite,) = json.loads(invoke("seeds", "finite", "--json", "--result", "score").stdout)
    close(finite["results"]["score"], numpy_stats(values, list(range(6))))
    assert set(finite["results"]) == {"score"}
    (single,) = json.loads(invoke("seeds", "single", "--json").stdout)
    stats = single["results"]["score"]
    assert (stats["n"], stats["n_valid"], stats["std"], stats["mean"], stats["min_seeds"]) == (2, 1, None, 0.7, ["0"])


def test_ties_list_every_seed_that_gave_the_extreme():
    for seed, value in enumerate([1.0, 3.0, 1.0, 3.0, 2.0]):
        record("ties", 1, seed, value=value)
    stats = seedreg.Registry().seeds(["ties"])[0].results["score"]
    assert stats.min_seeds == ("0", "2") and stats.max_seeds == ("1", "3")


def test_grouping_by_all_params_or_by_keys_numbers_compare_as_filters_do(backend):
    record("g", 1, 0, extra={"opt": "adam"})
    record("g", 1.0, 1, extra={"opt": "adam"})  # 1 and 1.0: one group
    record("g", 1, 2, extra={"opt": "sgd"})
    record("g", 2, 3, extra={"opt": "adam"})
    with seedreg.run("g", seed=4, params={"opt": "adam"}) as run:  # no lr
        run.log("score", 0.5)
    with seedreg.run("g", seed=5, params={"opt": "adam", "lr": None}) as run:  # lr null
        run.log("score", 0.6)
    by_all = seedreg.Registry().seeds(["g"])
    assert [(g.params, g.n) for g in by_all] == [
        ({"lr": 1.0, "opt": "adam"}, 2), ({"lr": 1, "opt": "sgd"}, 1), ({"lr": 2, "opt": "adam"}, 1),
        ({"lr": None, "opt": "adam"}, 1), ({"opt": "adam"}, 1)]
    by_lr = json.loads(invoke("seeds", "g", "--by", "lr", "--json").stdout)
    assert [(g["params"], g["n"], g["seeds"]) for g in by_lr] == [
        ({"lr": 1.0}, 3, ["0", "1", "2"]), ({"lr": 2}, 1, ["3"]), ({"lr": None}, 2, ["4", "5"])]
    by_opt = json.loads(invoke("seeds", "g", "--by", "opt", "--by", "missing", "--json").stdout)
    assert [(g["params"], g["n"]) for g in by_opt] == [({"opt": "adam", "missing": None}, 5),
                                                       ({"opt": "sgd", "missing": None}, 1)]


def test_replays_and_deleted_runs_are_left_out_and_running_ones_too():
    kept = record("scope", 1, 0)
    deleted = record("scope", 1, 1)
    assert invoke("delete", deleted, "--reason", "bad").exit_code == 0
    with seedreg.run("scope", seed=2, params={"lr": 1}) as open_run:
        (group,) = seedreg.Registry().seeds(["scope"])
        assert group.seeds == ("0",) and group.n == 1 and group.n_failed == 0  # a running run is neither
    assert open_run.status == "completed" and kept


def test_split_code_splits_groups_by_script_digest(tmp_path: Path):
    body = """
        import seedreg
        for seed in range(3):
            with seedreg.run("code", seed=seed, params={{"lr": 0.1}}) as run:
                run.log("score", seed * {factor})
    """
    for name, factor in (("a.py", 1.0), ("b.py", 2.0)):
        (tmp_path / name).write_text(textwrap.dedent(body.format(factor=factor)))
        run_python(tmp_path / name, cwd=tmp_path)
    (merged,) = seedreg.Registry().seeds(["code"])
    assert merged.n == 6 and len(merged.code) == 2 and merged.seeds == ("0", "1", "2")
    split = seedreg.Registry().seeds(["code"], split_code=True)
    assert [g.n for g in split] == [3, 3] and {len(g.code) for g in split} == {1}
    assert sorted(g.results["score"].max for g in split) == [2.0, 4.0]
    out = invoke("seeds", "code", "--split-code", "--json")
    assert len(json.loads(out.stdout)) == 2


def test_unknown_experiment_or_result_is_an_empty_list_and_unknown_sweep_exits_2():
    record("known", 1, 0)
    for args in (["nope"], ["known", "--result", "nope"], ["--result", "nope"]):
        result = invoke("seeds", *args, "--json")
        assert (result.exit_code, result.stdout.strip()) == (0, "[]"), args
    assert invoke("seeds", "nope", "--csv").stdout.splitlines()[0].startswith("experiment,params,n,n_failed")
    table = invoke("seeds", "nope")
    assert table.exit_code == 0 and "no completed or failed original runs match" in table.stderr
    for ref in ("abc123", "not-hex"):
        result = invoke("seeds", "--sweep", ref)
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
        assert "sweep" in result.stderr and "Traceback" not in result.stderr


def test_csv_has_one_row_per_group_and_result_and_the_table_shows_mean_std_and_spread():
    for seed in range(5):
        record("csv", 0.1, seed)
    record("csv", 0.2, 0, fail=True)  # a group with failed runs only: no result
    rows = list(csv.DictReader(io.StringIO(invoke("seeds", "csv", "--csv").stdout)))
    assert [(r["params"], r["result"]) for r in rows] == [('{"lr": 0.1}', "score"), ('{"lr": 0.1}', "steps"),
                                                          ('{"lr": 0.2}', "")]
    assert rows[2]["n"] == "0" and rows[2]["n_failed"] == "1"
    expected = numpy_stats([score(0.1, s) for s in range(5)], list(range(5)))
    assert float(rows[0]["mean"]) == pytest.approx(expected["mean"]) and json.loads(rows[0]["min_seeds"]) == expected["min_seeds"]
    table = invoke("seeds", "csv").stdout
    line = next(line for line in table.splitlines() if "score" in line)
    assert f"{expected['mean']:.4g} ± {expected['std']:.2g}" in line
    assert f"{expected['min']:.4g} " in line and f" {expected['max']:.4g}" in line
    assert "0..4" in line


def test_vs_pairs_two_configurations_over_the_seeds_both_ran(backend):
    a_seeds, b_seeds = range(0, 10), range(3, 14)
    for seed in a_seeds:
        record("vs", 0.1, seed, extra={"depth": 2})
    for seed in b_seeds:
        record("vs", 0.3, seed, extra={"depth": 2})
    record("vs", 0.3, 5, extra={"depth": 2}, fail=True)  # failed runs never pair
    both = sorted(set(a_seeds) & set(b_seeds))
    diffs = np.array([score(0.3, s) - score(0.1, s) for s in both])
    (paired,) = json.loads(invoke("seeds", "vs", "--vs", "lr=0.1", "--vs", "lr=0.3", "--json").stdout)
    assert paired["params"] == {"depth": 2} and (paired["key"], paired["a"], paired["b"]) == ("lr", 0.1, 0.3)
    assert paired["seeds"] == [str(s) for s in both]
    stats = paired["results"]["score"]
    assert stats["n"] == len(both)
    assert stats["mean"] == pytest.approx(float(diffs.mean()), rel=1e-12)
    assert stats["std"] == pytest.approx(float(diffs.std(ddof=1)), rel=1e-9)
    assert (stats["a_higher"], stats["b_higher"], stats["ties"]) == (int((diffs < 0).sum()), int((diffs > 0).sum()), 0)
    steps = paired["results"]["steps"]
    assert (steps["mean"], steps["std"], steps["ties"]) == (0.0, 0.0, len(both))
    table = invoke("seeds", "vs", "--vs", "lr=0.1", "--vs", "lr=0.3")
    assert "A: lr=0.1   B: lr=0.3" in table.stdout and "B - A" in table.stdout
    for bad in (["--vs", "lr=0.1"], ["--vs", "lr=0.1", "--vs", "depth=2"]):
        result = invoke("seeds", "vs", *bad)
        assert result.exit_code == 2 and "--vs" in result.stderr


DRAWS = """
    import os, sys
    import numpy as np
    import seedreg
    with seedreg.run("determinism", seed=int(sys.argv[1]), params={{"lr": 0.1}}) as run:
        run.log("weights", run.rng.normal(size=8))
        run.log("salt", {salt})
        workers = run.spawn(2)
    for child in workers:  # spawned children: compared child with child (same spawn key)
        with seedreg.run("determinism-worker", seed=child, parent=run.id) as worker:
            worker.log("part", {child_salt})
"""


@pytest.mark.parametrize("drawn", [True, False])
def test_same_seed_different_data_is_found_without_replaying(tmp_path: Path, drawn: bool):
    salt = "os.urandom(8)" if drawn else "b'fixed'"
    child_salt = "np.frombuffer(os.urandom(8), np.uint8)" if drawn else "worker.rng.normal(size=4)"
    script = tmp_path / "draws.py"
    script.write_text(textwrap.dedent(DRAWS.format(salt=salt, child_salt=child_salt)))
    for seed in (7, 7, 8):
        run_python(script, str(seed), cwd=tmp_path)
    (group,) = seedreg.Registry().seeds(["determinism"])
    assert group.n == 3
    (workers,) = seedreg.Registry().seeds(["determinism-worker"])
    if not drawn:
        assert group.nondeterministic == () and workers.nondeterministic == ()
        return
    runs = [r.id for r in seedreg.Registry().runs(experiment="determinism", seed=7)]
    assert [(o.output, o.seed, set(o.runs)) for o in group.nondeterministic] == [("salt", "7", set(runs))]
    # each child is compared with the child of the same spawn key: two pairs, one per key
    assert [(o.output, o.seed, len(o.runs)) for o in workers.nondeterministic] == [("part", "7", 2), ("part", "7", 2)]
    data = json.loads(invoke("seeds", "determinism", "--json").stdout)[0]["nondeterministic"]
    assert data == [{"output": "salt", "seed": "7", "runs": sorted(runs)}]
    assert "nondeterministic" in invoke("seeds", "determinism").stdout


def test_different_params_or_environment_are_not_nondeterminism(tmp_path: Path, registry_path: Path):
    script = tmp_path / "salted.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        import seedreg
        with seedreg.run("envs", seed=1, params={"lr": float(sys.argv[1])}) as run:
            run.log("salt", os.urandom(8))
    """))
    run_python(script, "0.1", cwd=tmp_path)
    run_python(script, "0.2", cwd=tmp_path)
    run_python(script, "0.1", cwd=tmp_path)
    import sqlite3
    with sqlite3.connect(registry_path) as conn:  # pretend the last run had another environment
        conn.execute("INSERT INTO environments (digest, python_version, python_implementation, platform, machine, "
                     "packages, created_at) VALUES ('other', '3', 'CPython', 'p', 'm', '{}', '2026-01-01')")
        conn.execute("UPDATE runs SET environment_id = (SELECT id FROM environments WHERE digest = 'other') "
                     "WHERE rowid = (SELECT max(rowid) FROM runs)")
    groups = seedreg.Registry().seeds(["envs"], by=["missing"])
    assert [g.n for g in groups] == [3] and groups[0].nondeterministic == ()


def test_seeds_never_creates_a_registry(tmp_path: Path):
    missing = tmp_path / "missing.db"
    result = invoke("seeds", "--db", str(missing))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1 and "missing.db" in result.stderr
    assert not missing.exists() and not list(tmp_path.glob("missing.db*"))


def test_groups_are_exact_whatever_the_values_and_however_many_params(backend):
    def exact(lr, seed, extra=None):
        record("exact", lr, seed, value=0.5, extra=extra)

    exact(0.3, 0)
    exact(0.1 + 0.2, 1)  # 0.30000000000000004: another value, another group
    exact("1", 2)  # a string is not the number 1
    exact(1, 3)
    exact(1.0, 4)  # 1 and 1.0: one group
    exact("x'", 5, extra={"b": "y"})  # quotes and separators cannot make two param sets one
    exact("x''b'y", 6)
    exact("x,b=y", 7)
    many = {f"k{i:02d}": i for i in range(15)}  # more keys than a column each would be cheap for
    exact(2, 8, extra=many)
    exact(2, 9, extra=many)
    exact(2, 10, extra={**many, "k14": 14.5})
    groups = seedreg.Registry().seeds(["exact"])
    # sorted key by key (b, k00…k14, lr): a value before none, numbers numerically, then type and text
    assert [(g.params["lr"], g.n, g.seeds) for g in groups] == [
        ("x'", 1, ("5",)), (2, 2, ("8", "9")), (2, 1, ("10",)), (0.3, 1, ("0",)), (0.30000000000000004, 1, ("1",)),
        (1, 2, ("3", "4")), ("1", 1, ("2",)), ("x''b'y", 1, ("6",)), ("x,b=y", 1, ("7",))]
    assert groups[1].params == {"lr": 2, **many} and groups[2].params["k14"] == 14.5


def test_histogram_counts_the_finite_values_as_numpy_does(backend):
    values = np.random.default_rng(5).normal(size=40).tolist() + [float("nan"), float("inf")]
    for seed, value in enumerate(values):
        record("bins", 1, seed, value=value)
    stats = seedreg.Registry().seeds(["bins"], results=["score"])[0].results["score"]
    finite = [v for v in values if np.isfinite(v)]
    expected, _ = np.histogram(finite, bins=8, range=(min(finite), max(finite)))
    assert stats.histogram == tuple(int(c) for c in expected) and sum(stats.histogram) == stats.n_valid == 40
    record("flat", 1, 0, value=2.0)
    record("flat", 1, 1, value=2.0)
    assert seedreg.Registry().seeds(["flat"])[0].results["score"].histogram == (0,) * 7 + (2,)


def test_by_keys_and_vs_group_the_same_runs_as_all_params(backend):
    for seed in range(4):
        record("byvs", 0.1, seed, extra={"depth": 2})
        record("byvs", 0.3, seed, extra={"depth": 2, "note": None})
    (by_depth,) = seedreg.Registry().seeds(["byvs"], by=["depth", "note"])
    assert (by_depth.params, by_depth.n) == ({"depth": 2, "note": None}, 8)
    plain = seedreg.Registry().paired("lr=0.1", "lr=0.3", ["byvs"], by=["depth"])
    assert [(g.params, g.seeds) for g in plain] == [({"depth": 2}, ("0", "1", "2", "3"))]
    assert seedreg.Registry().paired("lr=0.1", "lr=0.3", ["byvs"]) == []  # note: null vs missing, two groups


def test_seeds_reads_covering_indexes_and_the_check_reads_only_the_runs_in_scope(registry_path: Path):
    """The plan SQLite makes of the statement: runs, params, results and fingerprints each from an
    index that covers what is read, looked up by run id (never a scan of a table or of all fingerprints)."""
    from seedreg.db import liveness
    from seedreg.seeds.groups import statement
    from seedreg.seeds.scope import Request, Scope

    record("plan", 0.1, 0)
    for request in (Request(experiments=("plan",)), Request(), Request(experiments=("plan",), by=("lr",))):
        with seedreg.Registry(readonly=True).engine().connect() as conn:
            compiled = statement(Scope(conn, request, liveness.crashed_ids(conn))).compile(
                dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
            plan = [row[3] for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}", tuple(compiled.params[name] for name in compiled.positiontup))]
        reads = [step for step in plan if step.startswith(("SEARCH", "SCAN")) and " USING " in step]
        assert "SEARCH runs USING COVERING INDEX ix_runs_seeds_scope (experiment=?)" in reads, plan
        assert "SEARCH fingerprints USING COVERING INDEX ix_fingerprints_run_digest (run_id=?)" in reads, plan
        assert "SEARCH results USING COVERING INDEX ix_results_run_values (run_id=?)" in reads, plan
        assert "SEARCH p USING COVERING INDEX ix_params_run_values (run_id=?)" in reads, plan
        assert all("COVERING INDEX" in step for step in reads), plan
