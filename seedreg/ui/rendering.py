"""The templates' environment: autoescaping Jinja2 over the package's templates, and the filters they use."""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape

from seedreg.cli.render import describe_where
from seedreg.records import json_safe

#: Assets the pages use, served from the package (the app) or inlined (the report): name -> media type.
ASSETS = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "icon.svg": "image/svg+xml"}


@functools.cache
def asset(name: str) -> bytes:
    """The bytes of one of :data:`ASSETS` (KeyError for any other name: nothing else is ever read)."""
    if name not in ASSETS:
        raise KeyError(name)
    return (files("seedreg.ui") / "static" / name).read_bytes()


def when(moment: datetime | None) -> str:
    """A time for people, in UTC to the second (the same for every reader of a report)."""
    return "" if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f} s" if value < 60 else f"{value / 60:.1f} min"


def value_text(value: Any) -> str:
    """A param, tag or result value as the CLI prints it (JSON; NaN and infinities as words)."""
    return value if isinstance(value, str) else json.dumps(json_safe(value))


def pairs(mapping: Mapping[str, Any] | None) -> str:
    """``k=v k=v``, for a table cell."""
    return " ".join(f"{key}={value_text(value)}" for key, value in (mapping or {}).items())


def shell(argv: list[str] | None) -> str:
    return shlex.join(argv) if argv else ""


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """The one template environment of the app and the report; every value is escaped unless marked safe."""
    env = Environment(loader=PackageLoader("seedreg.ui", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, seconds=seconds, value=value_text, pairs=pairs, shell=shell,
                       where=describe_where, short=lambda text: (text or "")[:12])
    env.globals.update(run_href=lambda run_id: f"/runs/{run_id}", compare_href=compare_href)
    return env


def compare_href(a: str | None, b: str | None) -> str | None:
    """Where the app compares two runs (the report overrides this and ``run_href``: it has no such pages)."""
    return "/compare?" + urlencode([("run", a), ("run", b)]) if a and b else None


def overlay(**globals_: Any) -> Environment:
    """The environment with some globals replaced (the report's links lead to anchors in its own file)."""
    env = environment().overlay(cache_size=50)  # its own cache: a cached template keeps the globals it was loaded with
    env.globals = {**environment().globals, **globals_}
    return env
