"""What the local cloud's servers share: who may call them (`refusal`, used by all four: ministack,
moto, the Data API and the runtime host), and, for the local Data API and the local AgentCore
Runtime host, free ports, whose a listening socket is, JSON replies with AWS's error header, a
server with a real backlog, the serve-until-SIGTERM loop, and the emulator's boto3 clients.
Nothing is built at import time."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import boto3

REGION = "us-east-1"


def free_port() -> int:
    """A port nobody listens on now (another process may take it before we bind it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def owns_listener(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on `port` (Linux /proc)."""
    try:
        sockets = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port and f"socket:[{f[9]}]" in sockets:
                return True
    return False


# --- who may call: the developer's tools, never a web page ----------------------------------
#
# Gap: the emulators answer every origin (ministack and moto send `Access-Control-Allow-Origin: *`
# and answer every CORS preflight, so a cross-origin GetSecretValue hands the secret to the page),
# and the Data API runs a `text/plain` POST: any web page the developer visits could scan the
# loopback ports, read secrets, mint tokens, upload an agent zip and have the runtime host run it.
# LocalStack refuses foreign origins by default (only its own and its web app's origins pass;
# EXTRA_CORS_ALLOWED_ORIGINS adds more, DISABLE_CORS_CHECKS turns it off); the local cloud has no
# browser client at all, so it refuses every origin, and sends no `Access-Control-Allow-*` header
# ever (the servers strip the emulators'). A request is served only if
# - it carries no `Origin` header (a browser sends one on every cross-origin request and on every
#   request that is not a GET or HEAD; `null` from sandboxed frames and files) and is no OPTIONS
#   (a CORS preflight, or nothing an AWS client sends);
# - its Host names loopback (127.0.0.1, localhost, <bucket>.localhost, [::1], any port): a
#   DNS-rebinding page reaches 127.0.0.1 under its own host name, and says so in Host;
# - it is AWS-shaped: signed with SigV4 (an `Authorization: AWS4-HMAC-SHA256 Credential=...`
#   header, or an S3 presigned query), or a call AWS itself serves unsigned sent with a content
#   type a page cannot send without a preflight (the Fetch standard's CORS-safelisted request
#   headers: `Content-Type` is safelisted, so sent cross-site without asking, only for
#   application/x-www-form-urlencoded, multipart/form-data and text/plain; a POST without one
#   is as simple), or a GET/HEAD of a health probe or a public document, whose answer no page can
#   read (no CORS header).

# Host values that name loopback, with or without a port.
_LOOPBACK_HOST = re.compile(r"^(?:127\.0\.0\.1|localhost|(?:[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?\.)+localhost|\[::1\])(?::[0-9]{1,5})?$", re.I)
# The Fetch standard's CORS-safelisted values of Content-Type (the MIME type's essence).
_SIMPLE_CONTENT_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
_SIGV4 = re.compile(r"^AWS4-HMAC-SHA256\s+Credential=\S")

# What each part of the local cloud serves unsigned (GET and HEAD), beside AWS-shaped calls: the
# health probes of `cloud::local::health` and the public documents AWS serves without a signature.
PUBLIC_READS = {
    "ministack": (
        r"/_ministack/health",
        # Cognito's OpenID discovery document and JWKS, fetched by the runtime host and the agents.
        r"/[\w-]+/\.well-known/(?:openid-configuration|jwks\.json)",
    ),
    "moto": (r"/moto-api/",),
    "data-api": (r"/",),
    # `/local/agents`: where the agents listen, read by `cargo xtask verify` (a GET without a body).
    "runtime-host": (r"/health", r"/local/agents"),
}
# The JSON-protocol services whose unsigned operations (botocore's `authtype: none`) a part
# serves: Cognito's sign-in, sign-up and token calls, as AWS serves them.
UNSIGNED_SERVICES = {"ministack": ("cognito-idp",)}
# AgentCore Runtime's invocation, and AgentCore Gateway's MCP endpoint, with OAuth: a bearer
# token, no SigV4 (the runtime host answers 401 itself when the token is missing or wrong).
_INVOCATION = re.compile(r"/runtimes/[^/]+/invocations|/gateways/[^/]+/mcp")


@functools.cache
def _unsigned_targets(part: str) -> frozenset[str]:
    """The X-Amz-Target values of the operations AWS serves unsigned, for `part`."""
    import botocore.session

    session = botocore.session.get_session()
    targets = set()
    for service in UNSIGNED_SERVICES.get(part, ()):
        model = session.get_service_model(service)
        prefix = model.metadata["targetPrefix"]
        targets |= {f"{prefix}.{op}" for op in model.operation_names if model.operation_model(op).auth_type == "none"}
    return frozenset(targets)


def _header_lists(headers: Any) -> dict[str, list[str]]:
    """Header name (lower case) -> its values, from a Message (`BaseHTTPRequestHandler.headers`),
    a mapping, or (name, value) pairs (ASGI's bytes pairs too)."""
    pairs: Iterable = headers.items() if hasattr(headers, "items") else headers
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        out.setdefault(name.lower(), []).append(value)
    return out


def _simple_content_type(values: list[str]) -> bool:
    """Whether a browser could send this Content-Type cross-site without a preflight (none is as
    simple: a POST of a Blob without a type)."""
    return not values or any(v.split(";", 1)[0].strip().lower() in _SIMPLE_CONTENT_TYPES for v in values)


def refusal(method: str, path: str, headers: Any, part: str = "", json_body: bool = False) -> str | None:
    """Why the local cloud refuses this request (the rules above), or None to serve it.

    `path` is the request target (its query too), `headers` the request's headers (see
    `_header_lists`), `part` which part of the local cloud asks ("ministack", "moto",
    "data-api", "runtime-host": what it serves unsigned; nothing for ""), `json_body`: a POST
    must also say `Content-Type: application/json` (the Data API: its protocol is rest-json)."""
    h = _header_lists(headers)
    method = method.upper()
    if "origin" in h:
        return f"cross-origin requests are refused by the local cloud (Origin: {h['origin'][0][:200]})"
    if method == "OPTIONS":
        return "CORS preflight (OPTIONS) requests are refused by the local cloud"
    hosts = h.get("host") or []
    if len(hosts) != 1 or not _LOOPBACK_HOST.match(hosts[0].strip()):
        return f"the local cloud answers only requests addressed to 127.0.0.1, localhost or [::1] (Host: {', '.join(hosts)[:200] or 'none'})"
    route, _, query = path.partition("?")
    content_types = h.get("content-type") or []
    if json_body and method == "POST" and not any(v.split(";", 1)[0].strip().lower() == "application/json" for v in content_types):
        return "the local Data API takes only Content-Type: application/json"
    if any(_SIGV4.match(v.strip()) for v in h.get("authorization") or []):
        return None
    params = parse_qs(query, keep_blank_values=True)
    scope = (params.get("X-Amz-Credential") or [""])[0].split("/")
    if (params.get("X-Amz-Algorithm") == ["AWS4-HMAC-SHA256"] and len(scope) == 5 and scope[3] == "s3"
            and "Action" not in params and "x-amz-target" not in h):
        return None  # an S3 presigned URL (never a query-protocol call, which routes by Action)
    if method in ("GET", "HEAD") and any(re.fullmatch(p, route) for p in PUBLIC_READS.get(part, ())):
        return None
    target = (h.get("x-amz-target") or [""])[0]
    public_call = (method == "POST" and route == "/" and target in _unsigned_targets(part)) or (
        part == "runtime-host" and method == "POST" and _INVOCATION.fullmatch(route)
    )
    if not public_call:
        return "unsigned requests are refused by the local cloud: sign them with SigV4 (the local cloud takes any credentials, e.g. test/test)"
    if part == "runtime-host" and any(v.strip().lower().startswith("bearer ") for v in h.get("authorization") or []):
        return None  # OAuth's shape; an Authorization header is never sent cross-site without a preflight
    if _simple_content_type(content_types):
        sent = content_types[0][:100] if content_types else "none"
        return f"an unsigned call must carry a JSON content type, not {sent}: a web page could send that one to the local cloud"
    return None


REFUSED_TYPE = "AccessDeniedException"


def refused_body(why: str) -> bytes:
    """The JSON body of a refusal (AWS's JSON error shape)."""
    return json.dumps({"__type": REFUSED_TYPE, "message": why}).encode()


def without_cors(headers: Iterable) -> list:
    """`headers` (name, value pairs, str or bytes) without any `Access-Control-*` header."""
    def name(n: Any) -> str:
        return (n.decode("latin-1") if isinstance(n, bytes) else n).lower()

    return [(n, v) for n, v in headers if not name(n).startswith("access-control-")]


def later(seconds: float, step: Callable[[], None], lock: Any = None) -> None:
    """Runs `step` after `seconds` (at once for 0), off the request; under `lock` if given."""
    def run() -> None:
        if lock is None:
            step()
        else:
            with lock:
                step()
    if seconds <= 0:
        run()
        return
    timer = threading.Timer(seconds, run)
    timer.daemon = True
    timer.start()


def settle(record: dict, field: str, steps: list, lock: Any = None) -> None:
    """Walks `record[field]` through `steps` [(state, seconds), ...]: each state holds for its
    seconds; a step is skipped if something else changed the field meanwhile."""
    (first, wait), rest = steps[0], steps[1:]
    record[field] = first
    if rest:
        def go() -> None:
            if record.get(field) == first:
                settle(record, field, rest, lock)
        later(wait, go, lock)


@functools.cache
def client(service: str, endpoint: str) -> Any:
    """A boto3 client of the emulator at `endpoint` (made on first use, then shared)."""
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    config = boto3.session.Config(s3={"addressing_style": "path"}) if service == "s3" else None
    return session.client(service, endpoint_url=endpoint, config=config)


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON, with AWS's `x-amzn-ErrorType` on errors."""

    def reply(self, status: int, payload: Any, error_type: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    # Which part of the local cloud this is, for `refusal` (what it serves unsigned);
    # `json_body`: its POSTs must be application/json.
    part = ""
    json_body = False

    def refused(self) -> bool:
        """Answers 403 and returns True if `refusal` refuses this request (check first in every
        do_* method). The body is left unread: the connection closes after the answer."""
        why = refusal(self.command, self.path, self.headers, self.part, self.json_body)
        if why is None:
            return False
        self.close_connection = True
        data = refused_body(why)
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-ErrorType", REFUSED_TYPE)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return True

    def do_OPTIONS(self) -> None:
        # A CORS preflight: refused (see `refusal`); never Access-Control-Allow-*.
        self.refused()


class Server(ThreadingHTTPServer):
    # The socketserver default backlog is 5: a burst of connections overflowed it and clients
    # saw "connection reset by peer".
    request_queue_size = 1024
    daemon_threads = True


def serve(port: int, handler: type[BaseHTTPRequestHandler], every: Callable[[], None], seconds: float, cleanup: Callable[[], None]) -> None:
    """Serves on 127.0.0.1:`port` until SIGTERM or SIGINT, calling `every` each `seconds` on
    the side, then `cleanup`, and exits."""
    server = Server(("127.0.0.1", port), handler)
    done = threading.Event()

    def stop(*_: object) -> None:
        done.set()
        threading.Thread(target=server.shutdown).start()

    def periodic() -> None:
        while not done.wait(seconds):
            try:
                every()
            except Exception as e:  # one failed round must not end the rounds
                print(f"periodic task failed: {type(e).__name__}: {e}", file=sys.stderr)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=periodic, daemon=True).start()
    try:
        server.serve_forever()
    finally:
        cleanup()
    sys.exit(0)
