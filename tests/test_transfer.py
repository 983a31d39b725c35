"""``export`` / ``import``: a registry copied line by line reproduces itself, merges idempotently, audits clean."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import synthetic
from helpers import invoke, seedreg_cli

import seedreg
from seedreg import Registry
from seedreg.transfer import importer


def record_variety(db: str | Path | None = None) -> list[str]:
    """Runs of many shapes: arrays with chunk digests, kept arrays, typed params, sequence seeds, children, a failure."""
    ids = []
    with seedreg.run("split", seed=101, params={"lr": 0.1, "n": 3, "ok": True, "name": "x", "none": None,
                                                "model": {"depth": 2}, "bad": float("nan"), "big": float("inf"),
                                                "layers": [64, 32]}, tags={"stage": "prep"}, db=db) as run:
        run.log("order", np.random.permutation(200_000))  # several chunks
        run.log("kept", np.arange(10.0), keep=True)
        run.log("value", {"a": [1, 2.5, "x"]})
        for child_seed in run.spawn(2):
            with seedreg.run("worker", seed=child_seed, parent=run.id, db=db) as child:
                child.log("noise", child.rng.normal(size=5))
            ids.append(child.id)
    ids.append(run.id)
    with seedreg.run("split", seed=[1, 2], tags={"stage": "train"}, db=db) as run:
        run.log("x", np.ones((3, 4), dtype=">f4"))
    ids.append(run.id)
    with pytest.raises(ZeroDivisionError):
        with seedreg.run("fails", seed=None, db=db) as run:
            1 / 0
    ids.append(run.id)
    return ids


def listing(db: str | None = None) -> list[dict]:
    args = ["list", "--json", "--limit", "0", "--deleted"] + (["--db", db] if db else [])
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def source(tmp_path: Path) -> str:
    """A SQLite registry with real runs, apart from the test's registry (which may be PostgreSQL)."""
    path = tmp_path / "source.db"
    record_variety(path)
    return str(path)


def export(source: str, *args: str) -> str:
    result = invoke("export", "--db", source, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_export_then_import_into_an_empty_registry_reproduces_list_json(backend, source):
    lines = export(source)
    assert len(lines.splitlines()) == 5
    result = invoke("import", "-", input=lines)
    assert result.exit_code == 0, result.output
    assert "imported 5 run(s), skipped 0" in result.stdout
    assert listing() == listing(source)
    report = Registry().audit()
    assert report.ok, report.findings
    assert (report.count, report.imported, report.checked) == (5, 5, 5)


def test_imported_records_keep_their_digests_and_chunk_digests(backend, source):
    invoke("import", "-", input=export(source))
    original, copy = Registry(source), Registry()
    for run in original.runs(limit=None):
        mine = copy.get(run.id)
        assert {n: (str(fp), fp.chunks, fp.shape, fp.dtype) for n, fp in mine.fingerprints.items()} == \
               {n: (str(fp), fp.chunks, fp.shape, fp.dtype) for n, fp in run.fingerprints.items()}
    digests = "SELECT run_id, record_digest FROM chain ORDER BY run_id"
    assert copy.sql(digests).rows == original.sql(digests).rows
    assert copy.get(original.runs(experiment="split", seed=101)[0].id).fingerprints["order"].n_chunks > 1


def test_importing_twice_changes_nothing(backend, source):
    lines = export(source)
    invoke("import", "-", input=lines)
    head = Registry().audit().head
    again = invoke("import", "-", input=lines)
    assert again.exit_code == 0
    assert "imported 0 run(s), skipped 5 already in" in again.stdout
    assert listing() == listing(source)
    report = Registry().audit()
    assert report.ok and report.head == head and report.count == 5


def test_a_merge_of_two_registries_audits_clean(backend, tmp_path, source):
    with seedreg.run("local", seed=1) as run:  # this registry had its own runs first
        run.log("x", [1])
    other = tmp_path / "other.db"
    with seedreg.run("elsewhere", seed=2, db=other):
        pass
    for db in (source, str(other)):
        assert invoke("import", "-", input=export(db)).exit_code == 0
    assert len(listing()) == 7
    report = Registry().audit()
    assert report.ok, report.findings
    assert (report.count, report.imported) == (7, 6)


def test_export_filters_and_output_file(backend, source, tmp_path):
    out = tmp_path / "runs.jsonl"
    result = invoke("export", "--db", source, "-e", "split", "--no-replays", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == "" and "exported 2 run(s)" in result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["run"]["experiment"] for line in lines] == ["split", "split"]
    assert lines[0]["run"]["started_at"] < lines[1]["run"]["started_at"]  # oldest first: parents before children
    first = lines[0]
    assert set(first) == {"format", "run", "environment", "params", "tags", "fingerprints", "results",
                          "record_digest", "record_version", "deleted", "replays"}
    assert first["record_version"] == 2 and first["results"] == []
    assert first["run"]["started_at"].endswith("Z")
    kept = {fp["name"]: fp for fp in first["fingerprints"]}["kept"]
    assert kept["kept"] is True and len(kept["digest"]) == 64  # the array itself stays in the store, by digest
    assert ["lr", "float", "0.1"] in first["params"] and ["bad", "float", "nan"] in first["params"]
    assert invoke("import", str(out)).exit_code == 0
    assert sorted(r["id"] for r in listing()) == sorted(line["run"]["id"] for line in lines)


def test_a_child_whose_parent_is_not_exported_is_refused_with_its_line(backend, source):
    workers = export(source, "-e", "worker")
    result = invoke("import", "-", input=workers)
    assert result.exit_code == 2
    assert "line 1: run " in result.stderr and "neither in the registry nor on an earlier line" in result.stderr
    assert Registry().count() == 0
    # with the parent first, the same lines import
    assert invoke("import", "-", input=export(source, "-e", "split", "-e", "worker")).exit_code == 0


def test_malformed_lines_are_refused_with_their_number_and_nothing_of_them_is_written(backend, source):
    lines = export(source).splitlines()
    tampered = json.loads(lines[1])
    tampered["params"] = [["lr", "float", "0.2"]]  # edited after export: the digest no longer follows
    missing = json.loads(lines[2])
    del missing["run"]["seed"]
    typed = json.loads(lines[3])
    typed["run"]["pid"] = "1234"
    bad_env = json.loads(lines[4])
    bad_env["environment"]["platform"] = "elsewhere"
    good = synthetic.line(experiment="after the bad lines")
    text = "\n".join([lines[0], json.dumps(tampered), json.dumps(missing), "", json.dumps(typed), json.dumps(bad_env),
                      "{not json", '{"format": "other"}', good]) + "\n"
    result = invoke("import", "-", input=text)
    assert result.exit_code == 2
    errors = result.stderr.strip().splitlines()
    assert errors[0].startswith("line 2: its content does not give its record digest")
    assert errors[1] == "line 3: run.seed is missing"
    assert errors[2].startswith("line 5: run.pid has an invalid value")
    assert errors[3].startswith("line 6: the environment's fields do not give its digest")
    assert errors[4].startswith("line 7: not JSON")
    assert errors[5].startswith("line 8: not a seedreg export line")
    assert errors[-1].startswith("Error: 6 line(s) refused")
    assert "imported 2 run(s)" in result.stdout and "refused 6 line(s)" in result.stdout
    registry = Registry()
    for refused in (tampered, missing, typed, bad_env):
        run_id = refused["run"]["id"]
        for table in ("runs", "params", "tags", "fingerprints", "chain"):
            column = "id" if table == "runs" else "run_id"
            assert registry.sql(f"SELECT count(*) FROM {table} WHERE {column} = '{run_id}'").rows == [[0]]
    assert registry.audit().ok


def test_deletions_and_replay_verdicts_travel_with_deleted(backend):
    original = "ab" * 16
    lines = [
        synthetic.line(id=original, experiment="e", replays=[synthetic.verdict(original, "cd" * 16, "identical")]),
        synthetic.line(id="cd" * 16, experiment="e", replay_of=original, replay_session="s" * 32,
                       started=datetime(2026, 1, 2)),
        synthetic.line(id="ef" * 16, experiment="e", deleted=(datetime(2026, 2, 1), "mislabelled")),
        synthetic.line(id="01" * 16, experiment="e", status="running", started=datetime(2026, 1, 3)),
    ]
    report = Registry().import_(lines)
    assert (report.imported, report.verdicts, report.rejected) == (4, 1, [])
    assert Registry().import_(lines).verdicts == 0  # verdicts merge idempotently too
    registry = Registry()
    assert registry.count() == 3 and registry.count(deleted=True) == 1
    assert registry.get("ef" * 16).deleted_reason == "mislabelled"
    assert [r.verdict for r in registry.replays_of(original)] == ["identical"]
    audit = registry.audit()
    assert audit.ok and audit.tombstones == 1 and audit.count == 4  # 3 closed runs + 1 tombstone
    # exported again with --deleted, the deletion and the verdict come along
    again = [json.loads(line) for line in export(registry.url, "--deleted").splitlines()]
    assert {line["run"]["id"]: line["deleted"] for line in again}["ef" * 16]["reason"] == "mislabelled"
    assert {line["run"]["id"]: line["replays"] for line in again}[original][0]["verdict"] == "identical"
    assert "ef" * 16 not in export(registry.url)  # like list, export hides deleted runs unless --deleted


def test_a_long_import_is_validated_by_a_worker_and_reports_progress(backend, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 40)
    monkeypatch.setattr(importer, "BATCH", 100)
    lines = [synthetic.line(experiment=f"e{i % 3}", seed=str(i), params={"i": i},
                            started=datetime(2026, 1, 1, 0, i // 60, i % 60)) for i in range(330)]
    lines[123] = lines[123].replace('"seed_source": "given"', '"seed_source": "stolen"')
    seen = []
    report = Registry().import_(lines, progress=seen.append)
    assert report.imported == 329 and report.rejected == [(124, "run.seed_source must be one of given, generated, "
                                                                  "replay, sweep, not 'stolen'")]
    assert sum(seen) == 329 and len(seen) == 3  # a transaction per batch (100 runs, whole chunks of 40)
    assert Registry().audit().ok
    assert [r.params["i"] for r in Registry().runs(limit=3)] == [329, 328, 327]


@pytest.mark.slow  # a long import with worker processes
def test_a_long_import_in_a_real_process_is_checked_by_a_worker_process(tmp_path):
    """Over two chunks of lines, a forked worker validates while the command writes; order and refusals hold."""
    lines = [synthetic.line(experiment="long", seed=str(i), params={"i": i},
                            started=datetime(2026, 1, 1) + (datetime(2026, 1, 2) - datetime(2026, 1, 1)) * i / 3000)
             for i in range(2500)]
    lines[2100] = lines[2100].replace('"status": "completed"', '"status": "finished"')
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join(lines) + "\n")
    done = seedreg_cli("import", str(path), "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["imported"] == 2499
    assert "line 2101: run.status must be one of" in done.stderr
    registry = Registry()
    assert registry.audit().ok
    assert [r.params["i"] for r in registry.runs(limit=3)] == [2499, 2498, 2497]
    assert registry.sql("SELECT max(seq) FROM chain").rows == [[2499]]


@pytest.mark.slow  # real processes on a terminal
def test_import_of_a_file_creates_the_registry_and_a_real_process_shows_progress_only_on_a_terminal(tmp_path, source):
    out = tmp_path / "runs.jsonl"
    assert seedreg_cli("export", "--db", source, "-o", str(out)).returncode == 0
    target = tmp_path / "new" / "target.db"
    target.parent.mkdir()
    done = seedreg_cli("import", str(out), "--db", str(target))
    assert done.returncode == 0, done.stderr
    assert "imported 5 run(s)" in done.stdout and "importing" not in done.stderr  # not a terminal: no bar
    assert listing(str(target)) == listing(source)
    assert json.loads(seedreg_cli("import", str(out), "--db", str(target), "--json").stdout) == {
        "imported": 0, "skipped": 5, "verdicts": 0, "rejected": []}


def test_import_errors_are_one_line(tmp_path):
    result = invoke("import", str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 2 and "does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = invoke("export", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 2 and "no registry at" in result.stderr


def test_an_export_file_is_read_in_ranges_by_workers_like_its_lines_through_stdin(tmp_path, monkeypatch):
    """A regular file is cut into byte ranges the workers read themselves: CRLF, blank lines and a
    missing final newline are handled, line numbers stay those of the file."""
    monkeypatch.setattr(importer, "CHUNK_BYTES", 3000)  # a few lines per range: many ranges, a worker pool
    lines = [synthetic.line(experiment="ranges", seed=str(i), started=datetime(2026, 1, 1, 0, 0, i)) for i in range(40)]
    lines[17] = lines[17].replace('"launch": "script"', '"launch": 7')
    text = "\r\n".join(lines[:10]) + "\r\n\r\n" + "\n".join(lines[10:])  # no newline at the end
    path = tmp_path / "runs.jsonl"
    path.write_text(text)
    with path.open("rb") as stream:
        report = Registry().import_(stream)
    assert report.imported == 39 and [n for n, _ in report.rejected] == [19]  # line 19: 10 + a blank one + 8
    assert "run.launch has an invalid value 7" in report.rejected[0][1]
    piped = tmp_path / "piped.db"
    assert invoke("import", "-", "--db", str(piped), input=text).exit_code == 2
    assert listing(str(piped)) == listing()
    assert Registry().audit().ok


def test_a_run_repeated_in_the_input_is_written_once(backend, monkeypatch):
    """Within one batch, across batches and across transactions: the first copy counts, the others are skipped."""
    monkeypatch.setattr(importer, "CHUNK", 5)
    monkeypatch.setattr(importer, "BATCH", 10)
    monkeypatch.setattr(importer, "COMMIT", 25)
    lines = [synthetic.line(experiment="twice", seed=str(i), params={"i": i}, tags={"t": str(i)},
                            started=datetime(2026, 1, 1, 0, 0, i)) for i in range(30)]
    seen: list[int] = []
    report = Registry().import_(lines[:5] + lines[:5] + lines[5:] + lines[3:8], progress=seen.append)
    assert (report.imported, report.skipped, report.rejected) == (30, 10, [])
    assert sum(seen) == 40 and len(seen) == 4
    registry = Registry()
    assert registry.count() == 30 and registry.audit().ok
    assert registry.sql("SELECT count(*) FROM params").rows == [[30]]
    assert registry.sql("SELECT count(*) FROM fingerprints").rows == [[30]]


def test_values_the_database_cannot_hold_are_refused_with_their_line(backend):
    """Checked before writing, so PostgreSQL never refuses half a transaction: lengths and 32-bit integers."""
    from seedreg.records import EnvironmentRecord

    good = synthetic.line(experiment="holds")
    pid = json.loads(synthetic.line(experiment="pid"))
    pid["run"]["pid"] = 2**40  # the digest is checked after: the range is what is refused
    dtype = json.loads(synthetic.line(experiment="dtype"))
    dtype["fingerprints"][0]["dtype"] = "<f8" * 30
    env = json.loads(synthetic.line(experiment="env"))
    snapshot = EnvironmentRecord(python_version="3.11.9", python_implementation="CPython", platform="L" * 300,
                                 machine="x86_64", numpy_version="1.26.4", blas=None, packages={})
    env["environment"] = {**env["environment"], "platform": snapshot.platform, "digest": snapshot.digest,
                          "packages": snapshot.packages_json}
    report = Registry().import_([good, json.dumps(pid), json.dumps(dtype), json.dumps(env)])
    assert report.imported == 1
    assert [(n, why.split(":")[0]) for n, why in report.rejected] == [
        (2, "run.pid is out of range"), (3, "fingerprint 'order'"), (4, "environment.platform is too long (300 characters)")]
    assert [r.experiment for r in Registry().runs()] == ["holds"] and Registry().audit().ok


def test_an_environment_is_reused_only_where_it_is_the_lines_own():
    """A reader that has seen an environment skips parsing it again, and decides every line as a new reader would."""
    from seedreg.transfer.format import LineError
    from seedreg.transfer.lines import LineReader

    first = json.loads(synthetic.line(experiment="a"))
    env_text = json.dumps(first["environment"], ensure_ascii=False, separators=(",", ":"))
    second = json.dumps(json.loads(synthetic.line(experiment="b")), ensure_ascii=False, separators=(",", ":"))
    nested = json.loads(second)
    nested["run"]["environment"] = first["environment"]  # not a run field, whatever the top level holds
    nested_text = json.dumps(nested, ensure_ascii=False, separators=(",", ":"))
    other = dict(first["environment"], platform="elsewhere")  # fields that do not give its digest
    duplicate = second.replace('"environment":' + env_text, '"environment":' + env_text + ',"environment":'
                               + json.dumps(other, separators=(",", ":")))  # JSON keeps the last one
    assert env_text in second and duplicate != second

    def outcome(reader: LineReader, text: str | bytes):
        try:
            line = reader.read(1, text)
        except LineError as error:
            return str(error)
        return line._replace(environment=dict(line.environment))

    warm = LineReader()
    warm.read(1, json.dumps(first, ensure_ascii=False, separators=(",", ":")).encode())
    for text in (second, second.encode(), nested_text, duplicate, duplicate.encode(), second.replace("}", "", 1)):
        assert outcome(warm, text) == outcome(LineReader(), text)
    assert warm._decode(second.encode(), json.loads)[1] and not warm._decode(duplicate, json.loads)[1]
    assert outcome(warm, nested_text) == "run has an unknown field 'environment'"
    assert "do not give its digest" in outcome(warm, duplicate)


@pytest.mark.parametrize("edit", ["nan", "huge float", "huge int", "surrogate"])
def test_lines_orjson_might_read_differently_are_decided_by_json(edit):
    """orjson parses lines fast; where it could read a line otherwise than json, json decides."""
    from seedreg.transfer.format import LineError
    from seedreg.transfer.lines import LineReader

    line = json.loads(synthetic.line(experiment="exact"))
    if edit == "nan":
        line["run"]["duration"] = float("nan")  # written as NaN, which orjson refuses
    elif edit == "huge float":
        line["run"]["duration"] = 1e30  # a float literal: the same float for both
    elif edit == "huge int":
        line["run"]["duration"] = 10**30  # an integer literal: json reads an int, orjson a float
    else:
        line["run"]["username"] = "\ud800"  # a lone surrogate, which orjson refuses
    text = json.dumps(line)
    reader = LineReader()
    if edit == "huge int":
        with pytest.raises(LineError, match=r"run.duration is out of range: 1000000000000000000000000000000$"):
            reader.read(1, text)
        return
    # the digest was computed before the edit: json's reading gets as far as comparing it
    expected = "not valid Unicode" if edit == "surrogate" else "does not give its record digest"
    with pytest.raises(LineError, match=expected):
        reader.read(1, text)


def test_imports_are_reentrant_an_import_inside_another_keeps_each_its_own_input(tmp_path, monkeypatch):
    """An import started while another reads its file (here: from the outer file's own reading) has its
    own reader and input: each registry gets exactly its lines, validated by workers over byte ranges."""
    import io

    monkeypatch.setattr(importer, "CHUNK_BYTES", 3000)  # several ranges: a worker pool for each import
    outer_lines = [synthetic.line(experiment="outer", seed=str(i), started=datetime(2026, 1, 1, 0, 0, i))
                   for i in range(30)]
    inner_lines = [synthetic.line(experiment="inner", seed=str(i), started=datetime(2026, 1, 2, 0, 0, i))
                   for i in range(20)]
    outer_path, inner_path = tmp_path / "outer.jsonl", tmp_path / "inner.jsonl"
    outer_path.write_text("\n".join(outer_lines) + "\n")
    inner_path.write_text("\n".join(inner_lines) + "\n")
    inner_db = tmp_path / "inner.db"
    inner_reports = []

    class Nesting(io.BufferedReader):
        """The outer input: the first time it is read, a whole other import runs."""

        def readline(self, *args):
            if not inner_reports:
                with inner_path.open("rb") as inner:
                    inner_reports.append(Registry(inner_db).import_(inner))
            return super().readline(*args)

    with Nesting(io.FileIO(outer_path, "rb")) as outer:
        report = Registry().import_(outer)
    assert (report.imported, report.rejected) == (30, [])
    assert (inner_reports[0].imported, inner_reports[0].rejected) == (20, [])
    assert {r.experiment for r in Registry().runs(limit=0)} == {"outer"}
    assert {r.experiment for r in Registry(inner_db).runs(limit=0)} == {"inner"}
    assert Registry().audit().ok and Registry(inner_db).audit().ok

    # And one after the other, from lines and from a file, in one process.
    again = tmp_path / "again.db"
    assert Registry(again).import_(inner_lines).imported == 20
    with outer_path.open("rb") as stream:
        assert Registry(again).import_(stream).imported == 30
    assert Registry(again).count() == 50


def test_num_is_derived_from_the_exact_text_alike_when_recording_and_importing(backend, tmp_path):
    """One derivation of ``num``: finite ints and floats as floats, NaN, infinities and ints beyond
    a float's range none; an import gives each param and tag the ``num`` its recording gave."""
    source = tmp_path / "nums.db"
    params = {"i": 3, "f": 0.1, "huge": 10**400, "minus_huge": -(10**400), "nan": float("nan"),
              "inf": float("-inf"), "exact": 2**60 + 1, "text": "1.5", "flag": True, "none": None}
    with seedreg.run("nums", seed=1, params=params, tags={"t": 2.5}, db=source):
        pass
    assert Registry().import_(export(str(source)).splitlines()).imported == 1
    statement = "SELECT key, num FROM params UNION ALL SELECT key, num FROM tags ORDER BY key"
    recorded = Registry(source).sql(statement).rows
    assert recorded == Registry().sql(statement).rows
    assert dict(map(tuple, recorded)) == {"i": 3.0, "f": 0.1, "huge": None, "minus_huge": None, "nan": None,
                                          "inf": None, "exact": float(2**60 + 1), "text": None, "flag": None,
                                          "none": None, "t": 2.5}
    assert Registry().get(Registry().runs()[0].id).params["huge"] == 10**400


def test_sqlite_times_stored_in_another_text_form_read_and_export_as_the_same_moments(tmp_path):
    """Reads take SQLite's time text as stored; a row another tool wrote without microseconds, or with a
    ``T``, still reads as that aware moment and exports with its microseconds written."""
    import sqlite3
    from datetime import timezone

    db = str(tmp_path / "times.db")
    with seedreg.run("t", seed=1, db=db) as run:
        pass
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET started_at = '2026-03-04 05:06:07', ended_at = '2026-03-04T05:06:08.250000' "
                     "WHERE id = ?", (run.id,))
    record = Registry(db).get(run.id)
    assert record.started_at == datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    assert record.ended_at == datetime(2026, 3, 4, 5, 6, 8, 250000, tzinfo=timezone.utc)
    assert Registry(db).runs(limit=None)[0].started_at == record.started_at
    line = json.loads(next(iter(Registry(db).export())))
    assert (line["run"]["started_at"], line["run"]["ended_at"]) == ("2026-03-04T05:06:07.000000Z",
                                                                    "2026-03-04T05:06:08.250000Z")
