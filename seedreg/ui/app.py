"""The web app of ``seedreg ui``: each page at a fixed path and its JSON twin under ``/api``, read-only.

Every page is built by :mod:`seedreg.ui.pages` through the Registry API and streamed from the
shared templates. Errors are pages (or, under ``/api``, JSON) with the CLI's message: an
unknown run 404, bad input 400, a write method 405 — never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

import seedreg
from seedreg.errors import SeedregError, UnknownRunError, UsageError
from seedreg.registry.facade import Registry
from seedreg.ui import pages, seeds_view
from seedreg.ui.pages import Page
from seedreg.ui.rendering import ASSETS, asset, environment
from seedreg.ui.security import Guard

#: Pages in the navigation bar, by template.
NAV = {"runs.html": "Runs", "experiments.html": "Experiments", "seeds.html": "Seeds", "audit.html": "Audit"}
REASONS = {400: "Bad request", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           500: "Internal error", 503: "Registry unavailable"}

#: Pages are sent as they render, in pieces of about this many bytes.
STREAM_CHUNK = 32 * 1024

log = logging.getLogger("seedreg.ui")


def _query(request: Request) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, []).append(value)
    return query


def app_context(registry: Registry) -> dict[str, Any]:
    """What every app page's template is given besides its own data."""
    return {"registry": registry.display_url, "version": seedreg.__version__, "inline": None, "private": False}


def html(registry: Registry, page: Page, status: int = 200) -> Response:
    """The page, streamed from the templates as they render."""
    context = {**app_context(registry), **page.context, "title": page.title, "nav": NAV.get(page.template),
               "part": f"parts/{page.template}"}
    chunks = environment().get_template("document.html").generate(**context)
    return StreamingResponse(_buffered(chunks), status_code=status, media_type="text/html; charset=utf-8",
                             headers={"cache-control": "no-store"})


def _buffered(chunks: Iterable[str], size: int = STREAM_CHUNK) -> Iterator[bytes]:
    """The template's many small pieces joined into sends of about ``size`` bytes (each send is a thread hop)."""
    pending: list[str] = []
    length = 0
    for chunk in chunks:
        pending.append(chunk)
        length += len(chunk)
        if length >= size:
            yield "".join(pending).encode()
            pending, length = [], 0
    if pending:
        yield "".join(pending).encode()


def twin(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, indent=2, allow_nan=False).encode()
    return Response(body, status_code=status, media_type="application/json", headers={"cache-control": "no-store"})


def error_page(registry: Registry | None, path: str, status: int, message: str) -> Response:
    """An error as a readable page, or under ``/api`` as ``{"error", "status"}`` JSON."""
    if path.startswith("/api"):
        return twin({"error": message, "status": status}, status)
    page = Page("error.html", f"{status} {REASONS.get(status, 'Error')}",
                {"status": status, "reason": REASONS.get(status, "Error"), "message": message})
    if registry is None:
        body = environment().get_template("document.html").render(
            registry="", version=seedreg.__version__, inline=None, title=page.title, nav=None,
            part="parts/error.html", **page.context)
        return Response(body, status_code=status, media_type="text/html; charset=utf-8")
    return html(registry, page, status)


def _status_of(error: SeedregError) -> int:
    if isinstance(error, UnknownRunError):
        return 404
    if isinstance(error, (UsageError, ValueError)):
        return 400
    return 503


def endpoint(registry: Registry, build: Callable[[Request], Page], as_json: bool) -> Callable[[Request], Response]:
    """A route answering one page (or its twin); the page is built before anything is sent."""
    def respond(request: Request) -> Response:
        try:
            page = build(request)
        except SeedregError as error:
            return error_page(registry, request.url.path, _status_of(error), str(error))
        except Exception as error:  # a page that fails says so in one line; the traceback stays out of it
            log.error("seedreg ui: %s failed: %s: %s", request.url.path, type(error).__name__, error)
            return error_page(registry, request.url.path, 500, "the server failed to build this page "
                              f"({type(error).__name__}); its terminal says more")
        return twin(page.twin()) if as_json else html(registry, page)

    return respond


def create_app(registry: Registry, *, hosts: Iterable[str] = ("127.0.0.1",), token: str | None = None,
               port: int = 8765) -> Any:
    """The app over ``registry`` (opened read-only): Starlette, wrapped in the :class:`Guard`."""
    cache, counts = pages.AuditCache(), pages.CountCache()
    builders: dict[str, Callable[[Request], Page]] = {
        "/": lambda r: pages.runs_page(registry, _query(r), counts),
        "/runs/{ref}": lambda r: pages.run_page(registry, r.path_params["ref"]),
        "/compare": lambda r: pages.compare_page(registry, _query(r)),
        "/experiments": lambda r: pages.experiments_page(registry),
        "/seeds": lambda r: seeds_view.seeds_page(registry, _query(r)),
        "/audit": lambda r: pages.audit_page(registry, cache, _query(r)),
    }
    # The runs page leaves a total it has not counted yet to its script (the twin counts).
    pages_only = {"/": lambda r: pages.runs_page(registry, _query(r), counts, defer=True)}
    routes = []
    for path, build in builders.items():
        routes.append(Route(path, endpoint(registry, pages_only.get(path, build), False), methods=["GET"]))
        routes.append(Route("/api" + path, endpoint(registry, build, True), methods=["GET"]))
    routes.append(Route("/api", endpoint(registry, builders["/"], True), methods=["GET"]))

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:  # only the app's own assets, by name: no path reaches the file system
            return error_page(registry, request.url.path, 404, f"no asset {name!r}")
        return Response(asset(name), media_type=ASSETS[name], headers={"cache-control": "max-age=3600"})

    routes.append(Route("/static/{name}", static, methods=["GET"]))

    def http_error(request: Request, error: Exception) -> Response:
        status = error.status_code if isinstance(error, HTTPException) else 500
        message = {404: f"nothing at {request.url.path}", 405: "seedreg ui only reads (GET and HEAD)"}.get(
            status, "the server failed to answer this request")
        if status == 500:
            log.error("seedreg ui: %s failed: %s", request.url.path, error)
        return error_page(registry, request.url.path, status, message)

    app = Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error, Exception: http_error})

    def refuse(scope: Any, status: int, message: str) -> Any:
        return error_page(registry, scope.get("path", "/"), status, message)

    return Guard(app, hosts=hosts, token=token, port=port, refuse=refuse)


def serve(registry: Registry, *, host: str, port: int, token: str | None, allow_hosts: Iterable[str] = ()) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
    app = create_app(registry, hosts=[host, *allow_hosts], token=token, port=port)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False,
                server_header=False)
