"""A REST upload target on loopback for the export tests: a real HTTP server in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def upload_target(on_put: Callable[[str, bytes], int]) -> Iterator[str]:
    """Serve PUT on 127.0.0.1; ``on_put(file name, body)`` gives the status to answer.

    Yields the server's base URL; the server is shut down on leaving, even if a request is
    still held by ``on_put`` (the caller releases it first).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = on_put(self.path.rsplit("/", 1)[-1], body)
            self.send_response(status)
            if status == 503:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
