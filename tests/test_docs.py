"""The README is the manual: every command and option is documented and has ``--help`` text, and its
Python examples run. A command added later without documentation fails here."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import click
import pytest
from helpers import REPO, invoke, run_python

from seedreg.cli import cli

README = REPO / "README.md"
NO_RUN = "<!-- no-run -->"
#: Libraries an example may need that seedreg does not install.
OPTIONAL = {"torch", "tensorflow", "jax"}


def commands(command: click.Command = cli, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command under the ``seedreg`` group, the group itself first, by its path of names."""
    found = [(path, command)]
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):  # the seedreg group imports each command as it is asked for it
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                found += commands(sub, (*path, name))
    return found


def options(command: click.Command) -> list[click.Option]:
    """A command's documented options: all but the hidden ones and ``--help``, which click adds."""
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden and p.name != "help"]


def linked_pages(readme: str) -> list[Path]:
    """The ``docs/*.md`` pages the README links to."""
    return [REPO / name for name in dict.fromkeys(re.findall(r"\]\((docs/[\w.-]+\.md)(?:#[\w-]*)?\)", readme))]


def documentation() -> str:
    readme = README.read_text()
    return "\n".join([readme, *(page.read_text() for page in linked_pages(readme))])


def mentioned(flag: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def python_blocks(markdown: str) -> list[tuple[int, str]]:
    """The README's ```python blocks as (line number, code), leaving out those after a no-run comment."""
    blocks, lines = [], markdown.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
            previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            if previous != NO_RUN:
                blocks.append((start + 1, textwrap.dedent("\n".join(lines[start:end]))))
            i = end
        i += 1
    return blocks


COMMANDS = commands()


def test_the_readme_links_docs_pages_that_exist():
    pages = linked_pages(README.read_text())
    assert {page.name for page in pages} >= {"encoding.md", "scale.md"}
    for page in pages:
        assert page.is_file(), f"README links {page.relative_to(REPO)}, which does not exist"


def test_the_command_walk_finds_every_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "list", "show", "replay", "audit", "db", "db upgrade"} <= names


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "seedreg" for p, _ in COMMANDS])
def test_every_command_and_option_is_documented(path: tuple[str, ...], command: click.Command):
    text = documentation()
    name = " ".join(("seedreg", *path))
    assert name in text, f"`{name}` is not in the README or the docs pages it links"
    missing = [flag for option in options(command) for flag in (*option.opts, *option.secondary_opts)
               if flag.startswith("--") and not mentioned(flag, text)]
    missing += [option.opts[0] for option in options(command)
                if not any(flag.startswith("--") for flag in option.opts) and not mentioned(option.opts[0], text)]
    assert not missing, f"options of `{name}` missing from the README and its docs pages: {missing}"


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "seedreg" for p, _ in COMMANDS])
def test_every_command_and_option_has_help_text(path: tuple[str, ...], command: click.Command):
    name = " ".join(("seedreg", *path))
    assert (command.help or command.short_help or "").strip(), f"`{name}` has no help text"
    silent = [option.opts[0] for option in options(command) if not (option.help or "").strip()]
    assert not silent, f"options of `{name}` without help text: {silent}"
    shown = invoke(*path, "--help")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("Usage: ") and (command.help or command.short_help or "").split()[0] in shown.stdout


def test_a_block_after_the_no_run_comment_is_left_out():
    markdown = f"```python\nprint(1)\n```\n\n{NO_RUN}\n```python\npartial(\n```\n"
    assert python_blocks(markdown) == [(2, "print(1)")]


@pytest.mark.slow  # a process per block, one of them importing torch
def test_the_readme_python_blocks_run(tmp_path: Path, registry_path: Path):
    """Each block in its own process, in README order, in one directory with one registry (``SEEDREG_DB``),
    as a reader who follows the README would run them."""
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 3
    failures = []
    for line, code in blocks:
        script = tmp_path / f"readme_line_{line}.py"
        script.write_text(code + "\n")
        done = run_python(script, cwd=tmp_path, check=False)
        absent = re.search(r"ModuleNotFoundError: No module named '(\w+)'", done.stderr)
        if done.returncode != 0 and absent and absent.group(1) in OPTIONAL:
            continue  # an example for a library this environment lacks (CI installs torch)
        if done.returncode != 0:
            failures.append(f"README.md line {line}: exit {done.returncode}\n{done.stderr.strip()[-2000:]}")
    assert registry_path.exists()  # the blocks recorded into the test's registry, not ./seedreg.db
    assert not failures, "\n\n".join(failures)
