"""Printing data: one ``render`` for every command, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from seedreg.records import RunRecord, iso

FORMATS = ("table", "json", "csv")

#: Columns of ``list``: (header, function of a run), in a stable order.
RUN_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("id", lambda r: r.id[:12]),
    ("experiment", lambda r: r.experiment),
    ("status", lambda r: r.status + (" (deleted)" if r.deleted_at else "")),
    ("seed", lambda r: r.seed_text if isinstance(r.seed_text, str) else ",".join(r.seed_text)),
    ("numpy", lambda r: r.numpy_version or ""),
    ("started", lambda r: r.started_at),
    ("duration", lambda r: r.duration),
    ("outputs", lambda r: len(r.fingerprints)),
    ("replay_of", lambda r: (r.replay_of or "")[:12]),
)


def local_time(moment: datetime | None) -> str:
    """A time for people: local time zone, to the second."""
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any, fmt: str) -> Any:
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
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(cells)
        return buffer.getvalue().rstrip("\n")
    from tabulate import tabulate

    return tabulate(cells, headers=list(headers), tablefmt="simple", disable_numparse=True)


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


def describe_where(where: dict[str, Any] | None) -> str:
    if not where:
        return ""
    if where.get("kind") == "element":
        return (f"first differing element {where['element']} at index {tuple(where['index'])}: "
                f"{where['original_value']} -> {where['replay_value']} ({where['differing_elements']} differ)")
    if where.get("kind") == "chunk":
        start, stop = where["elements"]
        return f"first differing chunk {where['chunk']}: elements [{start}, {stop}) from index {tuple(where['start_index'])}"
    return where.get("reason", "")


def render_comparison(block: Any, left: str = "original", right: str = "replay") -> list[str]:
    """One block's comparison: outputs with ✓/✗, RNG digest, status, environment, notes."""
    data = block.to_json()
    title = f"{(data[left] or '-')[:12]} -> {(data[right] or '-')[:12]}  {data['experiment']}  {data['verdict'].upper()}"
    lines = [title]
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
    lines += [f"  note: {note}" for note in data["notes"]]
    return lines


def render_replay(result: Any) -> str:
    """The replay report for people."""
    data = result.to_json()
    lines = [f"replayed {data['run'][:12]} (root {data['root'][:12]}): {' '.join(data['command'])}",
             f"  in {data['cwd']}, exit code {data['returncode']}"]
    lines += [f"  note: {note}" for note in data["notes"]]
    for block in result.blocks:
        lines += [""] + render_comparison(block)
    lines += ["", f"verdict: {data['verdict']}"]
    return "\n".join(lines)


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


def render_diff(block: Any) -> str:
    """Two runs side by side: seeds, params, environment, fingerprints."""
    a, b = block.original, block.replay
    rows = [
        ("experiment", a.experiment, b.experiment),
        ("seed", json.dumps(a.seed_text), json.dumps(b.seed_text)),
        ("seed source", a.seed_source, b.seed_source),
        ("spawn key", str(list(a.spawn_key)), str(list(b.spawn_key))),
        ("status", a.status, b.status),
        ("numpy", a.numpy_version, b.numpy_version),
        ("python", a.python_version, b.python_version),
        ("platform", a.environment.platform if a.environment else "", b.environment.platform if b.environment else ""),
        ("script digest", a.script_digest, b.script_digest),
        ("git commit", a.git_commit, b.git_commit),
        ("rng digest", a.rng_digest, b.rng_digest),
    ]
    for key in sorted(set(a.params) | set(b.params)):
        rows.append((f"param {key}", json.dumps(a.params.get(key)), json.dumps(b.params.get(key))))
    for key in sorted(set(a.tags) | set(b.tags)):
        rows.append((f"tag {key}", json.dumps(a.tags.get(key)), json.dumps(b.tags.get(key))))
    for name in list(a.fingerprints) + [n for n in b.fingerprints if n not in a.fingerprints]:
        fa, fb = a.fingerprints.get(name), b.fingerprints.get(name)
        rows.append((f"output {name}", str(fa) if fa else "-", str(fb) if fb else "-"))
    table = [(("  " if left == right else "✗ ") + field, left or "", right or "") for field, left, right in rows]
    return render(table, ["", a.id[:12], b.id[:12]], "table")
