"""A real HTTP/WebSocket server around the app, on a free loopback port, for tests."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server


class LiveServer:
    """Serves ``app`` with Werkzeug's threaded server (flask-sock supports it) until ``stop()``."""

    def __init__(self, app, host: str = "127.0.0.1"):
        self.app = app
        self._server = make_server(host, 0, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.ws_url = f"ws://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
