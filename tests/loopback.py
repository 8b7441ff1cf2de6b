"""A threaded HTTP server on 127.0.0.1 for tests of the live clients: routes decide how each host lies.

Every server binds an ephemeral port, answers a bounded number of requests, and every slow or
hanging handler waits on an event set at exit, so nothing outlives its test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import urlsplit


@contextlib.contextmanager
def serve(route, max_requests: int = 64):
    """Run `route(handler, state)` for each GET on 127.0.0.1; yields (base URL, state).

    state.paths records request paths, state.max_in_flight the peak concurrency; handlers wait on
    state.stop (set at exit) instead of sleeping, and requests past `max_requests` get a 503.
    """
    state = SimpleNamespace(
        paths=[], lock=threading.Lock(), stop=threading.Event(), in_flight=0, max_in_flight=0,
        bytes_sent=0, finished=threading.Event(),
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):  # noqa: N802 - http.server's naming
            with state.lock:
                state.paths.append(self.path)
                count = len(state.paths)
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                if count > max_requests:
                    reply(self, 503, b"request budget exhausted")
                else:
                    route(self, state)
            except OSError:
                pass  # the client hung up, as several tests intend
            finally:
                with state.lock:
                    state.in_flight -= 1

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the default 5 drops SYNs when 32 clients connect at once

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


def reply(handler, status: int, body: bytes = b"", headers: dict | None = None, length: bool = True) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if length:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def trickle(h, state) -> None:
    """A route: a 200 whose body comes a byte every 50 ms, so it beats any socket read timeout."""
    h.send_response(200)
    h.end_headers()
    try:
        while not state.stop.wait(0.05):
            h.wfile.write(b" ")
            h.wfile.flush()
    finally:
        state.finished.set()


def dead_base() -> str:
    """A loopback URL nobody listens on (bound, then closed): connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def netloc(base: str) -> str:
    return urlsplit(base).netloc
