"""The session's command line: what a test's run records of it, and the command that replays one test.

A replay keeps every recorded argument except the positional selection (replaced by the one
test) and :data:`DENIED`: selection, distribution, debugging, reporting and output options,
and seedreg's own (the replay brings ``--seedreg-replay``).
"""

from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

import pytest

#: Options a replay drops, by argparse destination (README "Test suites" lists their flags).
DENIED = frozenset({
    # selection and stopping: the replay selects its one test
    "keyword", "markexpr", "deselect", "ignore", "ignore_glob", "lf", "failedfirst", "newfirst",
    "last_failed_no_failures", "stepwise", "stepwise_skip", "stepwise_reset", "maxfail", "collectonly",
    # pytest-xdist: a replay runs in one process
    "numprocesses", "dist", "distload", "maxprocesses", "maxworkerrestart", "tx", "px", "rsyncdir",
    "rsyncignore", "looponfail", "testrunuid", "maxschedchunk", "loadscopereorder",
    # debugging, reporting and output
    "usepdb", "usepdb_cls", "trace", "pastebin", "debug", "traceconfig", "verbose", "reportchars",
    "tbstyle", "showcapture", "color", "code_highlight", "durations", "durations_min", "showlocals",
    "no_header", "no_summary", "fulltrace", "xmlpath", "junitprefix", "fold_skipped", "force_short_summary",
    "xfail_tb", "capture", "log_file", "log_file_level", "log_file_format", "log_file_date_format",
    "log_file_mode", "log_cli_level", "log_cli_format", "log_cli_date_format", "setupshow", "setuponly",
    "setupplan", "basetemp", "cacheclear", "cacheshow",
    # seedreg's own: the replay uses the recorded seed and registry
    "seedreg", "seedreg_seed", "seedreg_replay", "seedreg_db",
})
ADDOPTS_ENV = "PYTEST_ADDOPTS"


def _actions(config: pytest.Config) -> dict[str, argparse.Action]:
    parser = config._parser
    optparser = getattr(parser, "optparser", None) or parser._getparser()  # type: ignore[attr-defined]  # pytest 8
    return dict(optparser._option_string_actions)


def _takes_value(action: argparse.Action | None) -> bool:
    return action is not None and action.nargs != 0


def split(args: list[str], actions: dict[str, argparse.Action]) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """Command-line arguments as ``(option destination, its tokens)`` and the positional arguments."""
    options: list[tuple[str, list[str]]] = []
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional += args[i:]
            break
        if arg.startswith("--"):
            name, eq, _ = arg.partition("=")
            action = actions.get(name)
            tokens = [arg]
            if _takes_value(action) and not eq and i < len(args):
                tokens.append(args[i])
                i += 1
            options.append((action.dest if action else name, tokens))
        elif arg.startswith("-") and len(arg) > 1:
            j = 1  # a cluster of short flags (-vx); one that takes a value ends it (-Werror, -k expr)
            while j < len(arg):
                flag = "-" + arg[j]
                action = actions.get(flag)
                if action is None:  # not an option pytest knows (a typo, a negative number): kept as typed
                    options.append((arg, [arg if j == 1 else "-" + arg[j:]]))
                    break
                if _takes_value(action):
                    if j + 1 < len(arg):
                        options.append((action.dest, [arg if j == 1 else flag + arg[j + 1:]]))
                    else:
                        options.append((action.dest, [flag, *args[i:i + 1]]))
                        i += 1
                    break
                options.append((action.dest, [arg] if len(arg) == 2 else [flag]))
                j += 1
        else:
            positional.append(arg)
    return options, positional


def kept_options(config: pytest.Config, args: list[str]) -> list[str]:
    """``args`` without positional arguments and denied options: what a replay passes on."""
    options, _ = split(args, _actions(config))
    return [token for dest, tokens in options if dest not in DENIED for token in tokens]


def invocation(config: pytest.Config) -> dict[str, Any]:
    """What a test's run records of its session: arguments, directories, and the options a replay keeps."""
    params = config.invocation_params
    args = [str(arg) for arg in params.args]
    actions = _actions(config)
    given = {dest for dest, _ in split(args, actions)[0]}
    keep = kept_options(config, args)
    rootdir, directory = str(config.rootpath), str(params.dir)
    if rootdir != directory and "rootdir" not in given:
        keep.append(f"--rootdir={rootdir}")  # the one test alone might otherwise give another root directory
    distributed = getattr(config.option, "numprocesses", None) or getattr(config.option, "dist", "no") != "no"
    if distributed and not given & {"numprocesses", "dist", "distload", "tx"}:
        keep += ["-n", "0"]  # distributed by the ini file's addopts: the replay runs in one process
    return {"args": args, "dir": directory, "rootdir": rootdir,
            "inifile": str(config.inipath) if config.inipath else None,
            "addopts": kept_options(config, shlex.split(os.environ.get(ADDOPTS_ENV, ""))),
            "options": keep, "pytest": pytest.__version__}


class Reproducer:
    """The arguments and the shell command that replay each test of a session, from parts quoted once.

    ``command(run, selection)`` is ``cd DIR && pytest OPTIONS --seedreg-replay RUN [--seedreg-db DB]
    SELECTION``, each word quoted for a POSIX shell (printed and tagged ``pytest.reproduce``).
    """

    def __init__(self, recorded: dict[str, Any], db: str | None) -> None:
        self.options: list[str] = list(recorded["options"])
        head = shlex.join(["pytest", *self.options, "--seedreg-replay"])
        self._head = f"cd {shlex.quote(recorded['dir'])} && {head} "
        self._registry = " " + shlex.join(["--seedreg-db", db]) if db else ""

    def args(self, run_id: str, selection: str) -> list[str]:
        """The arguments after ``pytest`` that replay one test's run."""
        return [*self.options, "--seedreg-replay", run_id, selection]

    def command(self, run_id: str, selection: str) -> str:
        """The shell command that replays one test, from the session's directory."""
        return f"{self._head}{shlex.quote(run_id)}{self._registry} {shlex.quote(selection)}"
