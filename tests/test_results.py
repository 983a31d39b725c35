"""Scalar results (DESIGN §9): a real number logged is stored with its type beside its fingerprint,
shown by `show` and every run object, carried by export/import, and refingerprinted by `audit`."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import backend_url, invoke

import seedreg
from seedreg.db import engines

VALUES = {
    "py_int": 7, "py_big_int": 2**70, "py_float": 0.93, "py_bool": True, "py_false": False,
    "np_int8": np.int8(-3), "np_uint64": np.uint64(2**64 - 1), "np_int64": np.int64(-(2**62)),
    "np_float32": np.float32(0.1), "np_float16": np.float16(1.5), "np_float64": np.float64(1 / 3),
    "np_bool": np.bool_(True), "zero_d": np.array(2.5), "zero_d_int": np.array(4, dtype=np.int32),
    "big_endian": np.array(0.25, dtype=">f8")[()], "nan": float("nan"), "inf": float("inf"),
    "minus_inf": np.float32("-inf"),
}
EXPECTED_JSON = {
    "py_int": 7, "py_big_int": 2**70, "py_float": 0.93, "py_bool": True, "py_false": False,
    "np_int8": -3, "np_uint64": 2**64 - 1, "np_int64": -(2**62),
    "np_float32": 0.10000000149011612,  # widened to float64, exactly
    "np_float16": 1.5, "np_float64": 1 / 3, "np_bool": True, "zero_d": 2.5, "zero_d_int": 4, "big_endian": 0.25,
    "nan": "nan", "inf": "inf", "minus_inf": "-inf",
}
STORED_TYPES = {"py_int": "int", "py_float": "float", "py_bool": "bool", "np_int8": "|i1", "np_uint64": "<u8",
                "np_float32": "<f4", "np_float16": "<f2", "np_bool": "|b1", "zero_d": "<f8", "zero_d_int": "<i4",
                "big_endian": "<f8", "minus_inf": "<f4"}


def log_all() -> seedreg.Run:
    with seedreg.run("results", seed=3) as run:
        for name, value in VALUES.items():
            run.log(name, value)
        run.log("array", np.arange(3.0))  # not a scalar: a fingerprint only
        run.log("text", "0.5")
        run.log("huge", 10**70)  # an int of more than 64 digits: no exact result text
        run.log("complex", np.complex128(1 + 2j))
    return run


def test_every_kind_of_real_number_is_a_result_and_others_are_not(backend):
    run = log_all()
    record = seedreg.Registry().get(run.id)
    data = record.to_json()
    assert data["results"] == EXPECTED_JSON
    assert set(record.fingerprints) == {*VALUES, "array", "text", "huge", "complex"}  # every fingerprint kept
    assert isinstance(record.results["np_float32"], float) and math.isnan(record.results["nan"])
    assert record.results["py_bool"] is True and type(record.results["np_int8"]) is int
    assert list(record.results) == list(VALUES)  # in logging order
    engine = engines.engine_for(backend_url(backend))
    with engine.connect() as conn:
        stored = dict(conn.exec_driver_sql("SELECT name, value_type FROM results").all())
        nums = dict(conn.exec_driver_sql("SELECT name, num FROM results").all())
    assert {name: stored[name] for name in STORED_TYPES} == STORED_TYPES
    assert nums["nan"] is None and nums["inf"] is None and nums["py_bool"] == 1.0
    assert nums["np_float32"] == float(np.float32(0.1))


def test_a_logged_result_refingerprints_to_its_fingerprint(backend):
    from seedreg.db import scalars

    run = log_all()
    engine = engines.engine_for(backend_url(backend))
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name, value_type, text FROM results").all()
    assert len(rows) == len(VALUES)
    for name, value_type, text in rows:
        assert seedreg.fingerprint(scalars.decode(value_type, text)) == run.fingerprints[name], name


def test_show_and_list_print_results_and_a_run_without_results_has_none():
    run = log_all()
    with seedreg.run("plain", seed=1) as plain:
        plain.log("x", np.zeros(3))
    shown = invoke("show", run.id)
    assert shown.exit_code == 0
    lines = shown.stdout.splitlines()
    block = lines[lines.index("results:") + 1:lines.index("fingerprints:")]
    assert "  np_float32 = 0.10000000149011612" in block and "  nan = nan" in block and "  py_bool = true" in block
    assert len(block) == len(VALUES)
    listed = json.loads(invoke("list", "--json").stdout)
    assert {r["id"]: r["results"] for r in listed}[plain.id] == {}
    assert json.loads(invoke("show", run.id, "--json").stdout)["results"] == EXPECTED_JSON
    assert "results:" not in invoke("show", plain.id).stdout


def test_audit_reports_a_result_edited_after_the_fact(registry_path: Path):
    run = log_all()
    with seedreg.run("untouched", seed=4) as other:
        other.log("score", 0.5)
    assert invoke("audit").exit_code == 0
    with sqlite3.connect(registry_path) as conn:
        conn.execute("UPDATE results SET text = '0.95' WHERE run_id = ? AND name = 'py_float'", (run.id,))
    result = invoke("audit", "--json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    edited = [f for f in findings if "result 'py_float'" in f["message"]]
    assert [(f["kind"], f["run"]) for f in edited] == [("edited", run.id)]
    assert "does not give its fingerprint" in edited[0]["message"]
    assert all(f["run"] == run.id for f in findings)  # the other run audits clean


def test_audit_catches_an_edited_type_or_number_too(registry_path: Path):
    run = log_all()
    with sqlite3.connect(registry_path) as conn:
        conn.execute("UPDATE results SET value_type = '<f8' WHERE run_id = ? AND name = 'np_float32'", (run.id,))
        conn.execute("UPDATE results SET num = 0.5 WHERE run_id = ? AND name = 'py_float'", (run.id,))
        conn.execute("UPDATE results SET text = 'x' WHERE run_id = ? AND name = 'py_int'", (run.id,))
    messages = [f.message for f in seedreg.Registry().audit().findings if f.kind == "edited"]
    assert any("'np_float32'" in m and "fingerprint" in m for m in messages)
    assert any("'py_float'" in m and "its number 0.5" in m for m in messages)
    assert any("'py_int'" in m and "is not a int number" in m for m in messages)


def test_results_survive_export_and_import_and_audit_clean(backend, tmp_path: Path):
    run = log_all()
    exported = invoke("export", "-o", str(tmp_path / "runs.jsonl"))
    assert exported.exit_code == 0
    line = json.loads((tmp_path / "runs.jsonl").read_text().splitlines()[0])
    assert line["record_version"] == 2 and len(line["results"]) == len(VALUES)
    target = tmp_path / "merged.db"
    assert invoke("--db", str(target), "import", str(tmp_path / "runs.jsonl")).exit_code == 0
    copy = seedreg.Registry(target).get(run.id)
    assert copy.to_json()["results"] == EXPECTED_JSON
    assert seedreg.Registry(target).audit().ok
    assert invoke("--db", str(target), "audit").exit_code == 0


def test_a_result_is_written_with_its_fingerprint_so_a_crash_keeps_it(tmp_path: Path):
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent("""
        import os
        import seedreg
        with seedreg.run("crashing", seed=5) as run:
            run.log("score", 0.75)
            print(run.id, flush=True)
            seedreg.Registry().get(run.id)  # its writes are committed: this process reads its own registry
            os._exit(3)
    """))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 3
    record = seedreg.Registry().get(done.stdout.split()[0])
    assert record.status == "crashed" and record.results == {"score": 0.75}


def test_a_spooled_result_is_synced_with_its_fingerprint(tmp_path: Path, registry_path: Path, monkeypatch):
    monkeypatch.setenv("SEEDREG_RETRY_SECONDS", "0.5")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with seedreg.run("spooled", seed=9) as run:
            blocker = sqlite3.connect(registry_path, timeout=0.1, isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
            run.log("score", np.float32(0.25))
    blocker.execute("ROLLBACK")
    blocker.close()
    assert invoke("sync").exit_code == 0
    record = seedreg.Registry().get(run.id)
    assert record.status == "completed" and record.results == {"score": 0.25}
    assert seedreg.Registry().audit().ok


@pytest.mark.parametrize("value", [np.float32(3.0), 3, 3.0, True, np.int16(3)])
def test_a_result_keeps_its_type_so_equal_numbers_of_other_types_keep_other_fingerprints(value):
    with seedreg.run("typed", seed=1) as run:
        run.log("v", value)
    assert run.fingerprints["v"] == seedreg.fingerprint(value)
    assert seedreg.Registry().get(run.id).results["v"] == value
