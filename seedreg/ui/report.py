"""``seedreg report``: one self-contained HTML file for a paper or a review, from the app's own templates.

For the selected runs (those named, and every original run of each experiment named) and their
replays: each run's page, the replay verdicts with their divergences, the seeds view of their
groups, and the audit state with the chain head digest (so a reader can run ``seedreg audit
--expect-head DIGEST``). Assets are inlined and allowed by hash under a ``default-src 'none'``
CSP: the file loads nothing from anywhere and opens from ``file://``. Without ``full`` it leaves
out what runs recorded of their machine and user (argv values, cwd, host, user, paths, packages).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

import seedreg
from seedreg.errors import UsageError
from seedreg.ui import pages
from seedreg.ui.rendering import asset, overlay
from seedreg.ui.seeds_view import seeds_for_runs

if TYPE_CHECKING:
    from seedreg.records import RunRecord
    from seedreg.registry.facade import Registry


@dataclass(frozen=True)
class ReportSummary:
    """What a report holds: how many runs (and of them replays), and the chain head it shows."""

    path: str
    runs: int
    replays: int
    head: str
    full: bool


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def csp(css: str, js: str) -> str:
    """Nothing loads from anywhere; only the inlined stylesheet and script, by their hashes, apply."""
    return (f"default-src 'none'; style-src {_hash(css)}; script-src {_hash(js)}; "
            "base-uri 'none'; form-action 'none'")


def select(registry: Registry, refs: Sequence[str], experiments: Sequence[str]) -> list[RunRecord]:
    """The runs named and every original run of each experiment, in that order, each once, then their replays."""
    if not refs and not experiments:
        raise UsageError("name the runs to report (RUN ... or --experiment E)")
    chosen: dict[str, RunRecord] = {}
    for ref in refs:
        record = registry.get(ref)
        chosen.setdefault(record.id, record)
    for experiment in experiments:
        found = registry.runs(experiment=experiment, replays=False, limit=None, sort="started")
        if not found:
            raise UsageError(f"experiment {experiment!r} has no original runs in {registry.display_url}")
        for record in found:
            chosen.setdefault(record.id, record)
    for run_id in list(chosen):
        for replay in registry.replays_of(run_id):
            if replay.replay and replay.replay not in chosen:
                chosen[replay.replay] = registry.get(replay.replay)
    return list(chosen.values())


def build(registry: Registry, refs: Sequence[str] = (), experiments: Sequence[str] = (), *,
          full: bool = False, now: datetime | None = None) -> tuple[str, ReportSummary]:
    """The report's HTML and what it holds (the file is written by :func:`write`)."""
    runs = select(registry, refs, experiments)
    included = {run.id for run in runs}
    env = overlay(run_href=lambda run_id: f"#run-{run_id}" if run_id in included else None,
                  compare_href=lambda a, b: f"#run-{b}" if b in included else None)
    css, js = asset("app.css").decode(), asset("app.js").decode()
    common: dict[str, Any] = {
        "inline": {"csp": csp(css, js), "css": css, "js": js, "written": now or datetime.now(timezone.utc),
                   "registry": registry.display_url if full else "a seedreg registry"},
        "private": not full, "version": seedreg.__version__,
    }

    def part(page: pages.Page) -> Markup:
        return Markup(env.get_template(f"parts/{page.template}").render(**common, **page.context))

    audit = pages.audit_page(registry, pages.AuditCache())
    sections = [part(audit)]
    for run in runs:
        sections.append(part(pages.run_page(registry, run.id, drawn=None)))
    seeds = seeds_for_runs(registry, runs)
    if seeds is not None:
        sections.append(part(seeds))
    head = audit.context["report"].head
    replays = sum(1 for run in runs if run.replay_of)
    contents = env.get_template("parts/report_contents.html").render(
        **common, runs=runs, head=head, full=full, replays=replays, has_seeds=seeds is not None)
    body = Markup(contents) + Markup("").join(Markup('<section class="report-part">') + s + Markup("</section>")
                                              for s in sections)
    html = env.get_template("document.html").render(**common, title="seedreg report", body=body)
    return html, ReportSummary(path="", runs=len(runs), replays=replays, head=head, full=full)  # path: see write


def write(registry: Registry, output: str | os.PathLike[str], refs: Sequence[str] = (),
          experiments: Sequence[str] = (), *, full: bool = False) -> ReportSummary:
    """Write the report to ``output`` (replaced only once it is complete)."""
    html, summary = build(registry, refs, experiments, full=full)
    target = Path(output)
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_text(html, encoding="utf-8")
        os.replace(partial, target)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write the report to {target}: {error.strerror or error}") from None
    return replace(summary, path=str(target))
