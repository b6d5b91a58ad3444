"""The gunicorn worker of ``cms serve``: gunicorn's gevent worker, plus the CMS's start-up checks and drain.

Start: before the worker builds the app, the checks of :mod:`cms.preflight` run in it (after gevent's
monkey-patching, so the database driver they load cooperates with gevent). A failure is one line on stderr and
gunicorn stops ("App failed to load"), instead of a traceback per worker.

Stop: SIGTERM reaches a worker on ``kill -TERM`` of the server, a container stop, and for the old workers of a
``kill -HUP`` reload (after the new workers have started). gunicorn then stops accepting within a second and lets
running HTTP requests (SOAP messages, API calls) finish. But a JSON charger's WebSocket left its HTTP request
after the handshake (json_ws/wsloop.py), so gunicorn does not know about it: :meth:`cms.runtime.Runtime.shutdown`
runs beside gunicorn's own drain and closes those connections once their messages are answered (close code 1001,
Going Away: the charger reconnects at once, to a new worker or another node), writes what was accepted, and
withdraws this process's Redis presence. The worker exits when both are done, within the graceful timeout.

Only gunicorn and gevent are imported here at module level: gunicorn's master process imports this class, and
the CMS's own modules are loaded by each worker (a ``kill -HUP`` reload then runs new code).
"""

from __future__ import annotations

import time

import gevent
from gunicorn.errors import AppImportError
from gunicorn.workers.ggevent import GeventWorker as _GunicornGeventWorker

WORKER_START_WAIT = 30.0  # seconds a starting worker waits for the database and Redis to answer
LISTENER_WAIT = 1.5  # seconds: gunicorn's run loop notices a SIGTERM within one (it sleeps a second per turn)


class GeventWorker(_GunicornGeventWorker):
    """``gunicorn --worker-class cms.gunicorn_worker.GeventWorker`` (what ``cms serve`` runs)."""

    _drain: gevent.Greenlet | None = None
    _drain_deadline = 0.0

    def load_wsgi(self):
        from .config import StartupError, load_settings
        from .preflight import check_until_reachable

        try:
            # A database or Redis that does not answer is waited for (a worker restarted during an outage);
            # anything else stops the server at once.
            for warning in check_until_reachable(
                load_settings(), WORKER_START_WAIT, on_retry=lambda why: self.log.warning("%s; trying again", why)
            ):
                self.log.warning(warning)
            super().load_wsgi()
        except StartupError as e:
            raise AppImportError(str(e)) from None  # gunicorn prints the message alone, and stops

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)  # run() stops accepting, then waits for running HTTP requests
        self._start_drain()

    def run(self):
        super().run()
        drain = self._start_drain()  # stopped without SIGTERM (max_requests): drain all the same
        drain.join(timeout=max(0.0, self._drain_deadline - time.monotonic()))

    def _start_drain(self) -> gevent.Greenlet:
        """The greenlet that shuts the app down, started on the first call."""
        if self._drain is None:
            # A second less than gunicorn allows: the master kills what is left at the graceful timeout.
            timeout = max(1.0, self.cfg.graceful_timeout - 1.0)
            self._drain_deadline = time.monotonic() + timeout
            self._drain = gevent.spawn(self._shutdown)  # not in the signal handler: it blocks
        return self._drain

    def _shutdown(self) -> None:
        app = getattr(self, "wsgi", None)  # not there when the signal came while the app was being built
        runtime = (getattr(app, "extensions", None) or {}).get("cms")
        if runtime is None:  # stopped before the app was built
            return
        # Chargers told to go away must not find this worker's listening socket still open.
        until = time.monotonic() + LISTENER_WAIT
        while time.monotonic() < until and any(s.fileno() != -1 for s in self.sockets):
            gevent.sleep(0.05)
        try:
            runtime.shutdown(max(0.5, self._drain_deadline - time.monotonic()))
        except Exception:  # pragma: no cover - a failed step is logged by shutdown itself
            self.log.exception("shutdown failed")
        self.log.info("Worker drained (pid: %s)", self.pid)
