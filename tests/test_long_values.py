"""Params and tags of any length, on SQLite and on PostgreSQL, whose btree entries hold at most
2,704 bytes (migration 0009 keeps the texts out of its btrees)."""

from __future__ import annotations

import secrets

from alembic import command
from alembic.config import Config

import seedreg
from seedreg.db import engines, schema


def long_params() -> dict:
    """Values whose stored text is far longer than a btree entry, and does not compress."""
    return {"prompt": secrets.token_hex(6000), "layers": [secrets.randbelow(10**9) for _ in range(1000)],
            "huge": 10**4000 + secrets.randbelow(10**9)}


def record(params: dict, note: str) -> list[str]:
    ids = []
    for seed in (1, 2):
        with seedreg.run("long", seed=seed, params=params, tags={"note": note}) as run:
            run.log("score", 0.5 + seed)
        ids.append(run.id)
    return ids


def test_long_params_and_tags_are_recorded_found_by_their_text_and_grouped_by_seeds(backend):
    params, note = long_params(), secrets.token_hex(6000)
    ids = record(params, note)
    registry = seedreg.Registry()
    found = registry.get(ids[0])
    assert found.params == params and found.tags == {"note": note}
    assert {run.id for run in registry.runs(params={"prompt": params["prompt"]})} == set(ids)
    assert {run.id for run in registry.runs(params={"layers": params["layers"]})} == set(ids)
    assert {run.id for run in registry.runs(tags={"note": note})} == set(ids)
    assert registry.runs(params={"prompt": params["prompt"][:-1]}) == []
    assert registry.runs(tags={"prompt": params["prompt"]}) == []  # the same text under another key and table
    [group] = registry.seeds(["long"])
    assert group.n == 2 and group.params == params and set(group.seeds) == {"1", "2"}
    report = registry.audit()
    assert report.ok, report.findings


def test_a_registry_upgraded_from_0008_takes_long_values_and_keeps_its_runs(backend):
    url = engines.resolve_url()
    config = Config()
    config.set_main_option("script_location", schema.migrations_location())
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "0008")
    assert seedreg.Registry().upgrade() == ("0008", schema.HEAD)
    short = record({"prompt": "short"}, "short")
    params, note = long_params(), secrets.token_hex(6000)
    long = record(params, note)
    registry = seedreg.Registry()
    assert {run.id for run in registry.runs(params={"prompt": "short"})} == set(short)
    assert {run.id for run in registry.runs(params={"prompt": params["prompt"]})} == set(long)
    assert len(registry.seeds(["long"])) == 2  # the short and the long prompt: two groups
