"""Serve the devnet payload directory on a loopback port, as miners' object storage would.

Only regular files directly inside the directory are served, by exact name (a hotkey); no listings,
no paths, so the live HTTP payload store can be exercised against the devnet without risk.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(directory: str | Path, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start serving in a daemon thread; `server.server_address[1]` is the port; `shutdown()` stops it."""
    root = Path(directory).resolve()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            name = self.path.split("?", 1)[0].lstrip("/")
            path = root / name
            if not name or "/" in name or name.startswith(".") or not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the default 5 drops connections when 32 fetch workers arrive at once

    server = Server((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="devnet-payloads", daemon=True).start()
    return server
