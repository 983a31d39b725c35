"""Results edited after the fact: each stored result, decoded with its type, must give the fingerprint
logged under its name (DESIGN §9), and its ``num`` column (what ``seeds`` aggregates) must be its text's."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, and_, select

from seedreg.db import scalars
from seedreg.db.tables import fingerprint_table, result_table


def edited_results(conn: Connection, run_ids: Sequence[str] | None = None) -> Iterator[tuple[str, str]]:
    """``(run id, message)`` for every result (of ``run_ids``, or all) that no longer matches: an edit."""
    from seedreg.fingerprints.encoding import fingerprint

    query = (select(result_table.c.run_id, result_table.c.name, result_table.c.value_type, result_table.c.text, result_table.c.num,
                    fingerprint_table.c.algorithm, fingerprint_table.c.digest)
             .join(fingerprint_table, and_(fingerprint_table.c.run_id == result_table.c.run_id, fingerprint_table.c.name == result_table.c.name),
                   isouter=True))
    if run_ids is not None:
        query = query.where(result_table.c.run_id.in_(list(run_ids)))
    for row in conn.execute(query.order_by(result_table.c.run_id, result_table.c.name)):
        where = f"result {row.name!r} of run {row.run_id}"
        try:
            found = fingerprint(scalars.decode(row.value_type, row.text))
            number = scalars.num(row.value_type, row.text)
        except (TypeError, ValueError, OverflowError):
            yield row.run_id, f"{where} was edited: {row.text!r:.40} is not a {row.value_type} number"
            continue
        if row.digest is None:
            yield row.run_id, f"{where} has no fingerprint under its name: inserted or edited"
        elif found.algorithm == row.algorithm and found.hexdigest != row.digest:
            yield row.run_id, f"{where} was edited after it was logged: {row.text} does not give its fingerprint"
        elif number != row.num:
            yield row.run_id, f"{where} was edited: its number {row.num} is not its value {row.text}"
