"""``seedreg audit``: recompute every record digest and the chain, and report what changed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from seedreg.db import liveness
from seedreg.db.tables import chain_head_table, chain_table, run_table
from seedreg.db.vocabulary import CLOSED
from seedreg.integrity import chain
from seedreg.integrity.results_check import edited_results


@dataclass(frozen=True)
class Finding:
    """One problem: which run (if known), what kind, and a sentence saying it."""

    kind: str  # edited | deleted | inserted | tombstone | chain | head | anchor | data
    run_id: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "run": self.run_id, "message": self.message}


@dataclass
class AuditReport:
    """What an audit checked and found; ``ok`` when nothing was found."""

    checked: int = 0
    count: int = 0
    head: str = ""
    findings: list[Finding] = field(default_factory=list)
    open_runs: list[tuple[str, str]] = field(default_factory=list)  # (id, running|crashed): not chained
    imported: int = 0
    tombstones: int = 0  # chained deletions (`seedreg delete`): the runs stay, hidden
    expect_head: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "chain_length": self.count,
            "head": self.head,
            "expect_head": self.expect_head,
            "imported": self.imported,
            "tombstones": self.tombstones,
            "findings": [f.to_json() for f in self.findings],
            "open_runs": [{"id": run_id, "status": status} for run_id, status in self.open_runs],
        }


Progress = Callable[[int], None]


def _verify_tombstone(link: Any, rows: dict[str, Any], report: AuditReport) -> None:
    """A deletion link: the run's row must still be there, still deleted, with the chained time and reason."""
    row = rows.get(link.run_id)
    if row is None:
        report.findings.append(
            Finding("deleted", link.run_id, f"run {link.run_id} was erased (its deletion is chain link {link.seq})"))
    elif row.deleted_at is None:
        report.findings.append(Finding(
            "edited", link.run_id, f"run {link.run_id} was undeleted behind seedreg's back (chain link {link.seq})"))
    elif chain.tombstone_digest(link.run_id, row.deleted_at, row.deleted_reason or "") != link.record_digest:
        report.findings.append(
            Finding("edited", link.run_id, f"the deletion of run {link.run_id} was edited (chain link {link.seq})"))


def _verify_link(link: Any, records: dict[str, chain.Parts], previous: str, report: AuditReport,
                 rows: dict[str, Any] | None = None) -> None:
    if link.kind == "tombstone":
        _verify_tombstone(link, rows or {}, report)
        _verify_follows(link, previous, report)
        return
    record = records.get(link.run_id)
    if record is None:
        report.findings.append(Finding("deleted", link.run_id, f"run {link.run_id} was deleted (chain link {link.seq})"))
    elif link.record_version not in chain.VERSIONS:
        report.findings.append(Finding(
            "chain", link.run_id, f"chain link {link.seq} uses record version {link.record_version}, "
            f"which this seedreg does not know (it knows {', '.join(map(str, chain.VERSIONS))}): upgrade seedreg"))
    elif chain.digest_of(record, link.record_version) != link.record_digest:
        report.findings.append(
            Finding("edited", link.run_id, f"run {link.run_id} was edited after it closed (chain link {link.seq})")
        )
    _verify_follows(link, previous, report)


def _verify_follows(link: Any, previous: str, report: AuditReport) -> None:
    if chain.link_digest(previous, link.record_digest) != link.link_digest:
        report.findings.append(
            Finding("chain", link.run_id, f"chain link {link.seq} (run {link.run_id}) does not follow from the link before it")
        )


def audit(
    conn: Connection,
    run_ids: Sequence[str] | None = None,
    *,
    expect_head: str | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Check the whole registry (or only ``run_ids`` and their links) against its chain."""
    report = AuditReport(expect_head=expect_head)
    head = conn.execute(select(chain_head_table.c["count"], chain_head_table.c.head).where(chain_head_table.c.id == 1)).one_or_none()
    if head is not None:
        report.count, report.head = head[0], head[1]
    ids = None if run_ids is None else list(run_ids)
    whole = ids is None
    columns = select(run_table.c.deleted_at, run_table.c.deleted_reason, *liveness.columns())
    rows = {row.id: row for row in conn.execute(columns if ids is None else columns.where(run_table.c.id.in_(ids)))}
    links_q = select(chain_table).order_by(chain_table.c.seq)
    links = conn.execute(links_q if ids is None else links_q.where(chain_table.c.run_id.in_(ids))).all()
    records = chain.load_records(conn, ids)
    linked = {link.run_id for link in links if link.kind == "record"}
    tombstoned = {link.run_id for link in links if link.kind == "tombstone"}
    report.imported = sum(1 for link in links if link.imported and link.kind == "record")
    report.tombstones = len(tombstoned)

    # Each link follows the link before it: the one just checked, else (some runs only) read for it.
    before = {} if whole else _links_before(conn, links)
    previous, expected_seq = "", 1
    for link in links:
        if link.seq != expected_seq:
            if whole:
                report.findings.append(
                    Finding("deleted", None, f"chain links {expected_seq}..{link.seq - 1} were deleted"))
            previous = before.get(link.seq - 1, "")
        _verify_link(link, records, previous, report, rows)
        previous, expected_seq = link.link_digest, link.seq + 1
        if link.kind == "record":
            report.checked += 1
            if progress:
                progress(1)
    last = links[-1] if links else None
    if whole and ((last.seq if last else 0) != report.count or (last.link_digest if last else "") != report.head):
        report.findings.append(
            Finding("head", None, "the chain head does not match its last link: the newest runs were deleted or the head was edited")
        )

    crashed = liveness.crashed_among(rows.values())
    for run_id, row in rows.items():
        if row.deleted_at is not None and run_id not in tombstoned:
            report.findings.append(Finding(
                "tombstone", run_id, f"run {run_id} is marked deleted but its deletion is not in the chain"))
        status = row.status
        if run_id in linked or (status not in CLOSED and row.deleted_at is not None):
            continue
        if status in CLOSED:
            report.findings.append(
                Finding("inserted", run_id, f"run {run_id} is {status} but not in the chain: inserted behind seedreg's back")
            )
        else:
            report.open_runs.append((run_id, "crashed" if run_id in crashed else status))
    report.findings += [Finding("edited", run_id, message) for run_id, message in edited_results(conn, run_ids)]
    if expect_head:
        _check_anchor(conn, expect_head, report)
    return report


def _links_before(conn: Connection, links: Sequence[Any]) -> dict[int, str]:
    """The link digest of the link just before each of ``links``, by its seq."""
    seqs = [link.seq - 1 for link in links if link.seq > 1]
    return dict(conn.execute(select(chain_table.c.seq, chain_table.c.link_digest).where(chain_table.c.seq.in_(seqs))).all())


def _check_anchor(conn: Connection, expect_head: str, report: AuditReport) -> None:
    """The anchored head must still be a link, and everything up to it must verify."""
    wanted = expect_head if ":" in expect_head else f"blake3:{expect_head}"
    seq = conn.execute(select(chain_table.c.seq).where(chain_table.c.link_digest == wanted)).scalar()
    if seq is None:
        report.findings.append(Finding("anchor", None, f"the anchored head {expect_head} is not a link of this chain"))
        return
    linked_seq = dict(conn.execute(select(chain_table.c.run_id, func.min(chain_table.c.seq)).group_by(chain_table.c.run_id)).all())
    early = [f for f in report.findings if f.run_id is None or linked_seq.get(f.run_id, seq + 1) <= seq]
    if early:
        report.findings.append(
            Finding("anchor", None, f"the chain up to the anchored head (link {seq}) does not verify")
        )
