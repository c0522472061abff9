"""What keeps a local model server local: checks on every request before any handler runs.

A server on 127.0.0.1 is reachable from every web page the user opens. Three checks close
that door (the threat model is in docs/SECURITY.md):

- Host: a DNS-rebinding page reaches us under its own name, so a request whose Host is not a
  loopback name, a configured `server.allowed_hosts` name, or an address we listen on is 403.
- Content-Type: a page may POST text/plain or a form cross-site without a CORS preflight;
  requiring application/json (415 otherwise) of every request that carries an `Origin` forces
  the preflight, which we refuse. A browser's POST always carries one; scripts send none, and
  their JSON body is read whatever its Content-Type (`curl -d`, as Ollama's docs have it).
- Origin: cross-origin browser access only for `server.cors_origins` (by default Ollama's list:
  this machine's pages and app/webview schemes; empty list = none): listed origins get CORS
  headers and preflight answers allowing the headers they ask for; other cross-origin API calls
  are 403.

And every response carries the headers that keep the chat page from being sniffed, leaking its
URL or framed by any page but the listed origins (CSP, X-Frame-Options, nosniff, Referrer-Policy).
"""
from __future__ import annotations

import ipaddress
import re
from typing import Callable, Iterable, Optional

import psutil
from aiohttp import web

from gateway.errors import ApiError

# The chat page's policy (the page also carries it in a meta tag); frame-ancestors only works
# as a header, so it is added there (security_headers).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-src 'none'"
)
# A cors_origins entry CSP can say as a source: scheme://host[:port], `*` as the whole host, its
# first label or the port (CSP 3 host-source). Other entries frame nothing.
_CSP_SOURCE = re.compile(r"[a-z][a-z0-9+.-]*://(\*|(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:(\*|[0-9]{1,5}))?")


def frame_ancestors(cors_origins: Iterable[str]) -> list[str]:
    """The pages that may show the chat page in a frame: the origins trusted with the API
    (their scripts already read every answer), so an editor's webview can embed the page (VS
    Code's chat panel: vscode-webview:// on the desktop, the workbench's own http origin in
    code-server). None when the list is empty."""
    return [e for e in (o.rstrip("/").lower() for o in cors_origins) if _CSP_SOURCE.fullmatch(e)]


def security_headers(cors_origins: Iterable[str]) -> dict[str, str]:
    """The headers every answer carries. X-Frame-Options has no list of origins, so it is sent
    (DENY) only when no page may frame the chat page; otherwise CSP's frame-ancestors says which."""
    ancestors = frame_ancestors(cors_origins)
    framers = " ".join(ancestors) or "'none'"
    headers = {
        "Content-Security-Policy": f"{CONTENT_SECURITY_POLICY}; frame-ancestors {framers}",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if not ancestors:
        headers["X-Frame-Options"] = "DENY"
    return headers


_BODY_METHODS = ("POST", "PUT", "PATCH")
_API_PREFIXES = ("/v1/", "/api/")


_PORT = re.compile(r"[0-9]{0,5}")  # RFC 3986: port = *DIGIT


def _host_name(host_header: str) -> Optional[str]:
    """The name part of a Host header: without the port, IPv6 brackets removed, lower case;
    None when the header is no host[:port] at all (`[::1]evil.example`, `a:80@evil.example`)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :] if end > 0 else None
        if rest is None or not (rest == "" or (rest[0] == ":" and _PORT.fullmatch(rest[1:]))):
            return None
        name = host[1:end]
        return name if re.fullmatch(r"[0-9a-f:.]+", name) else None
    if host.count(":") == 1:
        host, port = host.split(":", 1)
        if not _PORT.fullmatch(port):
            return None
    elif ":" in host:
        return None  # a bare IPv6 address must be bracketed in a Host header
    host = host.rstrip(".")
    return host if re.fullmatch(r"[a-z0-9._-]+", host) else None


def _is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True  # browsers resolve these to loopback themselves (no rebinding possible)
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def listened_names(host: str) -> set[str]:
    """Names a client may legitimately use for the address the server listens on: the address
    itself, or every local interface address when it listens on all of them."""
    if host in ("0.0.0.0", "::", ""):
        names = set()
        for addrs in psutil.net_if_addrs().values():
            for addr in addrs:
                names.add(addr.address.split("%", 1)[0].lower())
        return names
    name = _host_name(host) or _host_name(f"[{host}]")  # a listened IPv6 address comes unbracketed
    return {name} if name else set()


def host_check(allowed_hosts: Iterable[str], listen_host: str) -> Callable:
    configured = (_host_name(h) or _host_name(f"[{h}]") for h in allowed_hosts)  # IPv6 with or without brackets
    allowed = {n for n in configured if n} | listened_names(listen_host)

    @web.middleware
    async def check_host(request: web.Request, handler: Callable) -> web.StreamResponse:
        header = request.headers.get("Host")
        if header is not None:  # HTTP/1.0 clients may send none; browsers always do
            name = _host_name(header)
            if name is None or not (_is_loopback_name(name) or name in allowed):
                raise ApiError(
                    403,
                    f"Host {header!r} is not a name of this server; add it to server.allowed_hosts if it is "
                    "(requests under other names are refused against DNS rebinding)",
                    type="permission_error",
                    code="host_not_allowed",
                )
        return await handler(request)

    return check_host


def _same_origin(request: web.Request, origin: str) -> bool:
    host = request.headers.get("Host")
    return host is not None and origin.lower() in (f"http://{host}".lower(), f"https://{host}".lower())


# A header name (RFC 9110 token); Access-Control-Request-Headers is a comma-separated list of them.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")


def origin_matcher(cors_origins: Iterable[str]) -> Callable[[str], bool]:
    """Whether an Origin is listed; `*` in an entry stands for any port or name part
    (`http://localhost:*`, `app://*`), as in OLLAMA_ORIGINS."""
    def pattern(entry: str) -> re.Pattern:
        parts = re.split(r"(\*)", entry.rstrip("/").lower())
        return re.compile("".join(
            re.escape(part) if part != "*" else "[0-9]+" if i and parts[i - 1].endswith(":") else "[a-z0-9.-]*"
            for i, part in enumerate(parts)
        ))

    patterns = [pattern(entry) for entry in cors_origins]
    return lambda origin: any(p.fullmatch(origin.lower()) for p in patterns)


def _allowed_headers(request: web.Request) -> str:
    """The headers a listed origin's preflight asks for: SDKs add their own (the openai SDK its
    x-stainless-* ones, Anthropic's its version and beta), and a listed origin is trusted."""
    asked = [h.strip().lower() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")]
    names = [h for h in asked if _HEADER_NAME.fullmatch(h)]
    return ", ".join(dict.fromkeys(["authorization", "content-type", *names]))


def origin_check(cors_origins: Iterable[str]) -> Callable:
    """CORS for the listed origins only; cross-origin calls from anywhere else are refused."""
    listed = origin_matcher(cors_origins)

    @web.middleware
    async def check_origin(request: web.Request, handler: Callable) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None or _same_origin(request, origin):
            return await handler(request)
        if listed(origin):
            if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
                return web.Response(
                    status=204,
                    headers={
                        "Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                        "Access-Control-Allow-Headers": _allowed_headers(request),
                        "Access-Control-Max-Age": "600",
                        "Vary": "Origin, Access-Control-Request-Headers",
                    },
                )
            request["cors_origin"] = origin  # headers added when the response is prepared
            return await handler(request)
        if request.method == "OPTIONS" or request.path.startswith(_API_PREFIXES):
            raise ApiError(
                403,
                f"cross-origin requests from {origin} are not allowed; list the origin in server.cors_origins "
                "to allow it",
                type="permission_error",
                code="origin_not_allowed",
            )
        return await handler(request)

    return check_origin


@web.middleware
async def require_json(request: web.Request, handler: Callable) -> web.StreamResponse:
    """A browser's bodies must be sent as JSON: a cross-site form or text/plain POST needs no
    preflight. A request without an Origin is no browser's; its body is read as JSON anyway."""
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route or method: its 404 or 405 says more than a 415
    if (
        request.method in _BODY_METHODS
        and "Origin" in request.headers
        and request.content_type != "application/json"
    ):
        sent = request.headers.get("Content-Type")
        raise ApiError(
            415,
            f"the request body must be sent as 'Content-Type: application/json' (got {sent!r})",
            code="unsupported_media_type",
        )
    return await handler(request)


def response_headers(cors_origins: Iterable[str]) -> Callable:
    """on_response_prepare: the security headers on every answer, CORS headers where allowed."""
    security = security_headers(cors_origins)

    async def add_response_headers(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in security.items():
            response.headers.setdefault(name, value)
        origin = request.get("cors_origin")
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "Retry-After, X-History-Trimmed, X-History-Window, X-Prompt-Tokens"
            response.headers.add("Vary", "Origin")

    return add_response_headers


def middlewares(server_settings) -> list[Callable]:
    """The guards, in order, for the application's middleware list."""
    return [
        host_check(server_settings.allowed_hosts, server_settings.host),
        origin_check(server_settings.cors_origins),
        require_json,
    ]
