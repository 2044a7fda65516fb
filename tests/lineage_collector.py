"""An OpenLineage HTTP collector on loopback, and a Ray job entrypoint that prints its
OpenLineage environment: shared by the OpenLineage integration and end-to-end tests."""

from __future__ import annotations

import json
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: A script that prints the job's ``OPENLINEAGE*`` and ``USER_VAR*`` variables on one line
#: (``OLENV {json}``) and exits with its first argument (0 by default).
PRINT_ENV = textwrap.dedent(
    """
    import json, os, sys
    print("OLENV " + json.dumps({k: v for k, v in sorted(os.environ.items()) if k.startswith(("OPENLINEAGE", "USER_VAR"))}))
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    """
)


class Collector:
    """Receives lineage events (``events``) and their ``Authorization`` headers (``auth``)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.auth: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                collector.events.append(json.loads(body))
                collector.auth.append(self.headers.get("Authorization") or "")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def transport(self, api_key: str) -> dict[str, Any]:
        """The ``[openlineage] transport`` sending here with ``api_key``."""
        return {"type": "http", "url": self.url, "endpoint": "api/v1/lineage", "auth": {"type": "api_key", "apiKey": api_key}}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
