"""A file server on 127.0.0.1 for download tests: nothing in the suite reaches further."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable


class FileServer:
    """Serves ``files`` (key -> bytes) on a free local port; 404 for anything else.

    ``key`` picks the entry for a request path (by default the path itself, e.g. ``/a.jpg``).
    ``url`` is the base address, ending in ``prefix``; ``requests`` records every path asked
    for; ``behaviour = "truncate"`` announces twice the length and sends the body once (a
    connection cut mid-file). Use it as a context manager, or call ``start`` and ``stop``.
    """

    def __init__(
        self,
        files: dict[str, bytes],
        *,
        key: Callable[[str], str] = lambda path: path,
        prefix: str = "",
    ) -> None:
        self.files, self.requests, self.behaviour = dict(files), [], "normal"
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                body = server.files.get(key(self.path))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                length = len(body) * 2 if server.behaviour == "truncate" else len(body)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}{prefix}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> FileServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def by_file_name(path: str) -> str:
    """A ``key`` that serves an entry under any folder: ``/releases/x.zip`` -> ``x.zip``."""
    return path.rsplit("/", 1)[-1]
