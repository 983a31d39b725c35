"""What keeps a local server over private data private (DESIGN §10), as one ASGI middleware.

In order: a ``Host`` that names neither the bound address, ``localhost`` nor an allowed name is
refused (403: DNS rebinding); any method but GET and HEAD answers 405; beyond loopback a
request needs the token (from ``?token=``, then kept in a cookie) else 403. Every response
carries a Content-Security-Policy allowing only the app's own origin, and headers that keep it
out of frames and other sites' reach.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: ``refuse(scope, status, message)``: the response (an ASGI app) for a refused request.
Refusal = Callable[[Scope, int, str], ASGIApp]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
           (b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-resource-policy", b"same-origin")]
READ_METHODS = ("GET", "HEAD")
TOKEN_PARAMETER = "token"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port: ``[::1]:8765`` -> ``::1``, ``Localhost.`` -> ``localhost``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") == 1:
        header = header.partition(":")[0]
    return header.rstrip(".")


def cookie_name(port: int) -> str:
    """The token's cookie: one per port, since browsers share cookies between a host's ports."""
    return f"seedreg_ui_token_{port}"


class Guard:
    """The middleware: Host check, read-only methods, the token, and the security headers."""

    def __init__(self, app: ASGIApp, *, hosts: Iterable[str], token: str | None, port: int, refuse: Refusal) -> None:
        self.app = app
        self.hosts = {host_name(h) for h in hosts} | {"localhost"}
        self.token = token
        self.cookie = cookie_name(port)
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return  # websockets: nothing here speaks them

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if host_name(headers.get("host", "")) not in self.hosts:
            shown = headers.get("host", "(none)")
            return await self.refuse(scope, 403, f"this server does not answer to the host name {shown!r}: "
                                     "start it with --allow-host NAME to allow a name")(scope, receive, with_headers)
        if scope["method"] not in READ_METHODS:
            return await self.refuse(scope, 405, f"{scope['method']} is not allowed: seedreg ui only reads "
                                     "(GET and HEAD)")(scope, receive, with_headers)
        if self.token is not None:
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            given = next((v for k, v in query if k == TOKEN_PARAMETER), None)
            if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
                return await self._keep_token(scope, query, with_headers)
            cookies = SimpleCookie(headers.get("cookie", ""))
            kept = cookies[self.cookie].value if self.cookie in cookies else ""
            if not hmac.compare_digest(kept.encode(), self.token.encode()):
                return await self.refuse(scope, 403, "this server needs its token: open the URL `seedreg ui` printed "
                                         "(it ends in ?token=…)")(scope, receive, with_headers)
        await self.app(scope, receive, with_headers)

    async def _keep_token(self, scope: Scope, query: list[tuple[str, str]], send: Send) -> None:
        """The token was in the URL: keep it in a cookie and send the browser to the URL without it."""
        rest = urlencode([(k, v) for k, v in query if k != TOKEN_PARAMETER])
        path = b"/" + (scope.get("raw_path") or scope["path"].encode("utf-8")).lstrip(b"/")  # never //other.host
        location = path + (f"?{rest}".encode() if rest else b"")
        cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location), (b"set-cookie", cookie.encode()),
                                (b"content-length", b"0"), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})
