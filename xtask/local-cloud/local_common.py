"""What the local Data API and the local AgentCore Runtime host share: free ports, whose a
listening socket is, JSON replies with AWS's error header, a server with a real backlog, the
serve-until-SIGTERM loop, and the emulator's boto3 clients. Nothing is built at import time."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
