"""Printing data: one ``render`` for every command, as a table, JSON or CSV."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from seedreg.records import RunRecord, iso, json_safe, result_json

FORMATS = ("table", "json", "csv")

#: Tables show this many characters of a run id (any unique prefix names a run); machine output all.
ID_CHARS = 12
#: Tables show seeds longer than this many digits as their first SEED_DIGITS digits and "…".
SEED_DIGITS = 10
#: Tables show digests as ``algorithm:`` and this many hex digits.
DIGEST_HEX = 12
#: Tables show at most this many characters of a run's params.
PARAMS_CHARS = 24


class Short(str):
    """A value machine output (JSON, CSV) prints whole and a table prints as ``short``."""

    short: str

    def __new__(cls, full: str, short: str) -> Short:
        value = super().__new__(cls, full)
        value.short = short
        return value


def short_id(run_id: str | None) -> Short | str:
    return Short(run_id, run_id[:ID_CHARS]) if run_id else ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_digest(digest: str | None) -> Short | str:
    """``blake3:9f3a…`` in tables; a digest is always compared and printed whole elsewhere."""
    if not digest:
        return ""
    algorithm, sep, hexdigest = digest.rpartition(":")
    return Short(digest, f"{algorithm}{sep}{_clip(hexdigest, DIGEST_HEX + 1)}")


def seed_cell(run: RunRecord) -> Short:
    """The seed (``1,2`` for a sequence); in tables long seeds are shortened and the spawn key added (``101/[1]``)."""
    parts = [run.seed_text] if isinstance(run.seed_text, str) else run.seed_text
    short = ",".join(_clip(part, SEED_DIGITS + 1) for part in parts)
    if run.spawn_key:
        short += "/[" + ",".join(map(str, run.spawn_key)) + "]"
    return Short(",".join(parts), short)


def params_cell(run: RunRecord) -> Short | str:
    """Params as ``k=v k=v`` in tables (clipped), as a JSON object in CSV."""
    if not run.params:
        return ""
    plain = {key: json_safe(value) for key, value in run.params.items()}
    short = " ".join(f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in plain.items())
    return Short(json.dumps(plain), _clip(short, PARAMS_CHARS))


#: Columns of ``list``: (header, function of a run), in a stable order.
RUN_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("id", lambda r: short_id(r.id)),
    ("experiment", lambda r: r.experiment),
    ("status", lambda r: r.status + (" (deleted)" if r.deleted_at else "")),
    ("seed", seed_cell),
    ("numpy", lambda r: r.numpy_version or ""),
    ("started", lambda r: r.started_at),
    ("duration", lambda r: r.duration),
    ("outputs", lambda r: len(r.fingerprints)),
    ("replay_of", lambda r: short_id(r.replay_of)),
    ("replayed", lambda r: r.last_verdict or ""),  # the newest stored replay's verdict
    ("params", params_cell),
)


def local_time(moment: datetime | None) -> str:
    """A time for people: local time zone, to the second."""
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any, fmt: str) -> Any:
    if isinstance(value, Short):
        return value.short if fmt == "table" else str(value)
    if isinstance(value, datetime):
        return local_time(value) if fmt == "table" else iso(value)
    if isinstance(value, float) and fmt == "table":
        return f"{value:.3f}s"
    if value is None:
        return ""
    return value


def render(rows: Sequence[Sequence[Any]], headers: Sequence[str], fmt: str = "table") -> str:
    """Rows as an aligned table, CSV with a header line, or a JSON array of objects."""
    if fmt == "json":
        return json.dumps([dict(zip(headers, row)) for row in rows], indent=2, default=str)
    cells = [[_cell(value, fmt) for value in row] for row in rows]
    if fmt == "csv":
        import csv  # only CSV output needs it

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(cells)
        return buffer.getvalue().rstrip("\n")
    return _table([[str(value) for value in row] for row in cells], [str(h) for h in headers])


def _table(rows: list[list[str]], headers: list[str]) -> str:
    """Left-aligned columns two spaces apart, each as wide as its widest cell, under a rule of dashes."""
    widths = [max([len(header)] + [len(row[i]) for row in rows]) for i, header in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths)).rstrip()

    return "\n".join([line(headers), line(["-" * width for width in widths]), *(line(row) for row in rows)])


def render_experiments(summaries: Sequence[Any], fmt: str = "table") -> str:
    """``experiments``: one row per experiment; JSON lists the NumPy versions."""
    from seedreg.registry.experiments import COLUMNS

    if fmt == "json":
        return json.dumps([summary.to_json() for summary in summaries], indent=2)
    return render([summary.row() for summary in summaries], COLUMNS, fmt)


def render_runs(runs: Iterable[RunRecord], fmt: str = "table") -> str:
    """Runs as ``list`` prints them; JSON gives the full run objects of DESIGN §6."""
    runs = list(runs)
    if fmt == "json":
        return json.dumps([run.to_json() for run in runs], indent=2)
    headers = [name for name, _ in RUN_COLUMNS]
    return render([[get(run) for _, get in RUN_COLUMNS] for run in runs], headers, fmt)


def render_run(run: RunRecord) -> str:
    """Everything one run recorded, for people (``show``)."""
    seed = run.seed_text if isinstance(run.seed_text, str) else "[" + ", ".join(run.seed_text) + "]"
    lines = [
        f"run         {run.id}",
        f"experiment  {run.experiment}",
        f"status      {run.status}",
        f"seed        {seed} ({run.seed_source}{', spawn key ' + str(list(run.spawn_key)) if run.spawn_key else ''})",
    ]
    if run.deleted_at is not None:
        lines.append(f"deleted     {local_time(run.deleted_at)}: {run.deleted_reason} (hidden from list; see --deleted)")
    if run.parent:
        lines.append(f"parent      {run.parent}")
    if run.replay_of:
        lines.append(f"replay of   {run.replay_of}")
    duration = f" ({run.duration:.3f}s)" if run.duration is not None else ""
    lines += [
        f"started     {local_time(run.started_at)}",
        f"ended       {local_time(run.ended_at) or '-'}{duration}",
        f"numpy       {run.numpy_version or '-'}",
        f"python      {run.python_version}",
    ]
    if run.libraries:
        lines.append("libraries   " + ", ".join(f"{k} {v}" for k, v in sorted(run.libraries.items())))
    lines += [
        f"host        {run.hostname} (user {run.username or '?'}, pid {run.pid})",
        f"cwd         {run.cwd}",
        f"command     {' '.join(run.command) if run.command else '-'} [{run.launch}]",
    ]
    if run.script_path:
        lines.append(f"script      {run.script_path} {run.script_digest or ''}".rstrip())
    lines += render_notebook(run.notebook)
    if run.git_commit:
        lines.append(f"git         {run.git_commit}{' (dirty)' if run.git_dirty else ''}")
    if run.pythonhashseed is not None:
        lines.append(f"hashseed    {run.pythonhashseed}")
    if run.environment is not None:
        env = run.environment
        lines.append(f"platform    {env.platform} ({env.machine})")
        if env.blas:
            lines.append(f"blas        {env.blas}")
        lines.append(f"environment {env.digest[:16]} ({len(env.packages)} packages)")
    lines.append(f"rng digest  {run.rng_digest or '-'}")
    lines += render_seeders(run.seeders)
    for title, items in (("params", run.params), ("tags", run.tags)):
        if items:
            lines.append(f"{title}:")
            lines += [f"  {key} = {json.dumps(value)}" for key, value in items.items()]
    if run.results:
        lines.append("results:")
        shown = {name: result_json(value) for name, value in run.results.items()}
        lines += [f"  {name} = {v if isinstance(v, str) else json.dumps(v)}" for name, v in shown.items()]
    if run.fingerprints:
        lines.append("fingerprints:")
        width = max(len(name) for name in run.fingerprints)
        for name, fp in run.fingerprints.items():
            shape = f" {fp.dtype} {list(fp.shape)}" if fp.shape is not None else ""
            lines.append(f"  {name:<{width}}  {fp}{shape}")
    if run.error:
        lines.append("error:")
        lines += ["  " + line for line in run.error.rstrip().splitlines()]
    return "\n".join(lines)


def describe_cell(cell: dict[str, Any] | None, label: str = "cell ", first: bool = True) -> str:
    """A notebook cell for people: ``cell 2 (In [3]): first line``; its index is among code cells."""
    if not cell:
        return "-"
    index = "? (not in the file)" if cell.get("index") is None else cell["index"]
    count = f" (In [{cell['execution_count']}])" if cell.get("execution_count") is not None else ""
    line = f": {cell['first_line']}" if first and cell.get("first_line") else ""
    return f"{label}{index}{count}{line}"


def render_notebook(notebook: dict[str, Any] | None) -> list[str]:
    """A notebook run's notebook, cell and execution order; or, for a kernel whose notebook was not
    found, how to name it (DESIGN §8)."""
    if not notebook:
        return []
    if not notebook.get("path"):
        from seedreg.notebook.kernel import HOW_TO_NAME

        kernel = f" (kernel {notebook['kernel']})" if notebook.get("kernel") else ""
        tried = "".join(f"; {way} {value} not found" for way, value in (notebook.get("tried") or {}).items())
        return [f"notebook    not found: a Jupyter kernel{kernel}{tried}",
                f"  to record a replayable notebook run, name it with {HOW_TO_NAME}"]
    lines = [f"notebook    {notebook['path']} {notebook.get('digest') or ''} (kernel {notebook.get('kernel') or '?'})",
             f"cell        {describe_cell(notebook.get('cell'), label='')}"]
    if notebook.get("order") == "out-of-order":
        lines.append("order       out-of-order: before this block the kernel ran cells out of order, skipped, twice, "
                     "edited or not in the file; a replay runs the notebook top to bottom")
    else:
        lines.append(f"order       {notebook.get('order')}: the file's code cells from the first, in order")
    return lines


def render_seeders(seeders: dict[str, Any] | None) -> list[str]:
    """The library seeders a run applied, the ones that failed, and RNG libraries left unseeded."""
    if seeders is None:
        return []
    applied = seeders.get("applied") or {}
    lines = ["seeders     " + (", ".join(f"{name} {version}" for name, version in applied.items()) or "none")]
    lines += [f"  ✗ failed: {message}" for message in (seeders.get("failed") or {}).values()]
    lines += [f"  ! not seeded: {module} ({reason})" for module, reason in (seeders.get("not_seeded") or {}).items()]
    return lines


MARKS = {"identical": "✓", "different": "✗", "missing": "✗", "new": "✗", "extra": "✗"}


#: After a chunk-only location: how to get the element next time.
KEEP_HINT = "log it with run.log(name, array, keep=True) to name the exact element and both values"


def describe_where(where: dict[str, Any] | None) -> str:
    """Where a differing output diverged, for people: the element and both values, or the chunk (and how to do better)."""
    if not where:
        return ""
    refused = f"; {where['refused']}" if where.get("refused") else ""
    if where.get("kind") == "element":
        return (f"first differing element {where['element']} at index {tuple(where['index'])}: "
                f"{where['original_value']} -> {where['replay_value']} ({where['differing_elements']} differ)")
    if where.get("kind") == "chunk":
        start, stop = where["elements"]
        return (f"first differing chunk {where['chunk']}: elements [{start}, {stop}) from index "
                f"{tuple(where['start_index'])}{refused or '; ' + KEEP_HINT}")
    return where.get("reason", "") + refused


def render_comparison(block: Any, left: str = "original", right: str = "replay") -> list[str]:
    """One block's comparison: outputs with ✓/✗, RNG digest, status, environment, notes."""
    data = block.to_json()
    title = f"{(data[left] or '-')[:12]} -> {(data[right] or '-')[:12]}  {data['experiment']}  {data['verdict'].upper()}"
    lines = [title]
    if "cell" in data:  # a notebook run's block: the cell it opened in, originally and in the replay
        original, replay = data["cell"]["original"], data["cell"]["replay"]
        line = _clip((original or replay or {}).get("first_line") or "", 60)
        lines.append(f"  {describe_cell(original, first=False)} -> {describe_cell(replay, first=False)}"
                     + (f": {line}" if line else ""))
    if data["verdict"] in ("missing", "extra"):
        what = "no replay block ran for this original" if data["verdict"] == "missing" else "a block the original did not have"
        return lines + [f"  ✗ {what}"]
    for out in data["outputs"]:
        detail = describe_where(out.get("where"))
        lines.append(f"  {MARKS[out['state']]} {out['name']:<16} {out['state']}{': ' + detail if detail else ''}")
    rng = data["rng_digest"]
    lines.append(f"  {'✓' if rng['identical'] else '✗'} {'rng state':<16} {'identical' if rng['identical'] else 'different'}")
    status = data["status"]
    lines.append(f"  {'✓' if status['identical'] else '✗'} {'status':<16} {status['original']}"
                 + ("" if status["identical"] else f" -> {status['replay']}"))
    for change in data["environment"]:
        lines.append(f"    changed {change['field']}: {change['original']} -> {change['replay']}")
    for change in data["params"]:
        lines.append(f"    changed param {change['name']}: {json.dumps(change['original'])} -> {json.dumps(change['replay'])}")
    lines += [f"  note: {note}" for note in data["notes"]]
    return lines


def render_replay(result: Any) -> str:
    """The replay report for people."""
    data = result.to_json()
    notebook = data.get("notebook")
    if notebook is None:
        lines = [f"replayed {data['run'][:12]} (root {data['root'][:12]}): {' '.join(data['command'])}",
                 f"  in {data['cwd']}, exit code {data['returncode']}"]
    else:
        lines = [f"replayed {data['run'][:12]} (root {data['root'][:12]}): notebook {notebook['path']} top to bottom "
                 f"in a fresh kernel ({' '.join(data['command'])})",
                 f"  in {data['cwd']}, {notebook['cells_run']} code cell(s) ran"]
        if notebook["stopped"]:
            stop = notebook["stopped"]
            lines.append(f"  ✗ stopped at {describe_cell({'index': stop['cell'], 'first_line': stop['first_line']})}"
                         f" — {stop['error']}; the cells after it did not run")
    lines += [f"  note: {note}" for note in data["notes"]]
    for block in result.blocks:
        lines += [""] + render_comparison(block)
    lines += ["", f"verdict: {data['verdict']}"]
    return "\n".join(lines)


def describe_plan(plan: Any) -> str:
    """What a replay will run, for its prompt and ``--dry-run``: the command, or the notebook, whether
    its code cells still match the recorded digest, and the kernel's command."""
    import shlex

    shown = f"{shlex.join(plan.argv)}  (in {plan.cwd})"
    if plan.notebook is None:
        return shown
    target = plan.notebook
    digest = "its code cells match the recorded digest" if target.digest_matches else (
        "its code cells CHANGED since the run")
    return f"notebook {target.path} top to bottom ({digest}) in a fresh kernel: {shown}"


def render_audit(report: Any) -> str:
    """The audit report for people: findings by run id, open runs, and the head to anchor."""
    lines = [f"checked {report.checked} chained run(s); chain length {report.count}"
             + (f", {report.imported} imported" if report.imported else "")
             + (f", {report.tombstones} deletion(s) chained" if getattr(report, "tombstones", 0) else "")]
    for finding in report.findings:
        lines.append(f"  ✗ {finding.message}")
    for run_id, status in report.open_runs:
        lines.append(f"  - {run_id} is {status}: not closed, so not chained")
    if report.expect_head and report.ok:
        lines.append(f"  ✓ anchored head {report.expect_head} verified")
    lines.append(f"head {report.head or '(empty chain)'}")
    lines.append("OK" if report.ok else f"FAILED: {len(report.findings)} finding(s)")
    return "\n".join(lines)


def render_diff(diff: Any, rows: Sequence[Any]) -> str:
    """``rows`` of a :class:`~seedreg.registry.diff.RunsDiff` as a table under the run ids, ✗ marking
    the rows that differ; digests and long seeds are shortened (``--json`` prints them whole)."""
    table = [[("✗ " if row.differs else "  ") + row.field]
             + [_diff_cell(row.kind, value, run) for value, run in zip(row.values, diff.runs)] for row in rows]
    return render(table, [""] + [run.id[:ID_CHARS] for run in diff.runs], "table")


def _diff_cell(kind: str, value: str, run: RunRecord) -> str:
    if kind == "digest":
        return _cell(short_digest(value), "table")
    if kind == "seed":
        short = seed_cell(replace(run, spawn_key=())).short  # the spawn key has a row of its own
        return short if isinstance(run.seed_text, str) else f"[{short}]"
    return value
