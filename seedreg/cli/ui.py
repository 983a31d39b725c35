"""``seedreg ui`` (a local read-only web app over the registry) and ``seedreg report`` (one HTML file)."""

from __future__ import annotations

import click

from seedreg.cli.options import CliError, db_option, open_registry

EXTRA_HINT = "needs the extra seedreg[ui]: pip install 'seedreg[ui]'"


def _require_ui(command: str) -> None:
    """One line naming the extra when the web stack is not installed."""
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise CliError(f"seedreg {command} {EXTRA_HINT} ({error.name} is missing)") from None


@click.command(short_help="Serve a local, read-only web app over the registry.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Beyond loopback the app prints a warning and requires a random token.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port to listen on.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests whose Host header names NAME (repeatable); others get 403.")
@db_option
def ui(host: str, port: int, allow_hosts: tuple[str, ...], db: str | None) -> None:
    """Serve a local web app over the registry: runs, a run, compare, experiments, seeds, audit.

    The database is opened read-only and nothing is ever written; every page has a JSON twin
    under /api. Bound to 127.0.0.1 unless --host says otherwise. Stop it with Ctrl-C.
    """
    import secrets

    _require_ui("ui")
    from seedreg.ui.app import serve
    from seedreg.ui.security import TOKEN_PARAMETER, is_loopback

    registry = open_registry(db, readonly=True)
    registry.engine()  # a missing registry or a refused schema: one line, exit 2, before serving
    token = None
    shown = f"[{host}]" if ":" in host else host
    if not is_loopback(host):
        token = secrets.token_urlsafe(24)
        click.echo(f"warning: seedreg ui is bound to {host}, beyond this machine: anyone who reaches it with the "
                   "token below can read the registry; requests must name the host by --allow-host NAME "
                   "(or the bound address)", err=True)
    url = f"http://{shown}:{port}/" + (f"?{TOKEN_PARAMETER}={token}" if token else "")
    click.echo(f"seedreg ui: {registry.display_url} (read-only) at {url}  (Ctrl-C stops it)", err=True)
    serve(registry, host=host, port=port, token=token, allow_hosts=allow_hosts)


@click.command(short_help="Write one self-contained HTML report of runs, for a paper or a review.")
@click.argument("runs", nargs=-1, metavar="[RUN]...")
@click.option("--experiment", "-e", "experiments", multiple=True, metavar="E",
              help="Also every original run of experiment E (repeatable).")
@click.option("--full", is_flag=True, help="Include what runs recorded of their machine and user "
              "(argv values, cwd, host, user, paths, packages, tracebacks).")
@click.option("--output", "-o", required=True, metavar="FILE.html", type=click.Path(dir_okay=False),
              help="The HTML file to write.")
@db_option
def report(runs: tuple[str, ...], experiments: tuple[str, ...], full: bool, output: str, db: str | None) -> None:
    """Write one self-contained HTML file: each run's page, its replays' verdicts and divergences,
    the seeds view of its groups, and the audit state with the chain head digest.

    The file loads nothing from anywhere (it opens from file://). Without --full it leaves out
    argv values, cwd, host, user, paths and packages, and says so.
    """
    _require_ui("report")
    from seedreg.ui.report import write

    summary = write(open_registry(db, readonly=True), output, runs, experiments, full=full)
    replays = f" ({summary.replays} replays)" if summary.replays else ""
    click.echo(f"wrote {summary.path}: {summary.runs} run(s){replays}, chain head {summary.head or '(empty chain)'}"
               + ("" if full else "; machine and user details left out (--full includes them)"))
