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

Accept: gunicorn's own gevent worker accepts one connection per turn of the event loop when there are several
workers (to spread connections between them). In a reconnect storm a turn runs hundreds of greenlets (handshakes,
BootNotifications), so a worker then accepted a few hundred connections a second whatever its CPU: the kernel's
listen queue overflowed, SYNs were dropped and chargers timed out connecting before admission control
(cms.admission, which answers HTTP 503 at once) ever saw them. :meth:`GeventWorker.run` accepts up to
:data:`ACCEPT_BATCH` per turn instead; a busy worker's turns are long, so an idler worker still takes most.
Then :meth:`GeventWorker.handle` puts a charger's handshake in turn (cms.admission) before gunicorn parses it:
the ones waiting cost a socket and a parked greenlet, a refused one a few bytes written.

Only gunicorn and gevent are imported here at module level: gunicorn's master process imports this class, and
the CMS's own modules are loaded by each worker (a ``kill -HUP`` reload then runs new code).
"""

from __future__ import annotations

import socket
import time
from functools import partial

import gevent
from gevent.pool import Pool
from gevent.server import StreamServer
from gunicorn.errors import AppImportError
from gunicorn.sock import ssl_context
from gunicorn.workers.ggevent import GeventWorker as _GunicornGeventWorker

ACCEPT_BATCH = 64  # connections accepted per turn of the event loop (gunicorn: 1 with several workers)
PEEK_BYTES = 512  # of a request, peeked to tell a charger's handshake and its identity (the request line)
PEEK_AGAIN_S = 0.02  # a request's first segment was too short to tell: look again this much later, then less often
PEEK_AGAIN_MAX_S = 1.0
WORKER_START_WAIT = 30.0  # seconds a starting worker waits for the database and Redis to answer
LISTENER_WAIT = 1.5  # seconds: gunicorn's run loop notices a SIGTERM within one (it sleeps a second per turn)


def _refuse(client) -> None:
    """Answer a charger's handshake 503 without parsing it; its request is read first, so that closing the
    socket does not reset the connection before the answer is read."""
    from cms.admission import REFUSAL_RESPONSE

    try:
        client.recv(1 << 16)
        client.sendall(REFUSAL_RESPONSE)
    except OSError:
        pass  # the charger went away: nothing to answer


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

    def handle(self, listener, client, addr):
        """Serve one accepted connection; a charger's handshake first waits its turn (cms.admission), before
        its request is parsed, and is refused with HTTP 503 when it does not get one in time."""
        from cms.admission import ADMITTED_HOLD_S, admitted, handshake_identity, take_admitted

        client.setblocking(1)
        runtime = self._runtime()
        head = self._peek_handshake(client) if runtime is not None else None
        gate = runtime.handshake_gate(handshake_identity(head)) if head is not None else None
        if gate is None:
            super().handle(listener, client, addr)
            return
        ticket = gate.enter(gate.wait)
        if ticket is None:
            _refuse(client)
            return
        admitted(ticket)  # the endpoint takes it over, and releases it once the charger is registered
        hold = gevent.spawn_later(ADMITTED_HOLD_S, ticket.release)  # a request that stalls frees its place
        try:
            super().handle(listener, client, addr)
        finally:
            hold.kill(block=False)
            left = take_admitted()  # not taken: the request ended before the endpoint (refused, failed)
            if left is not None:
                left.release()

    def _runtime(self):  # -> cms.runtime.Runtime | None
        return (getattr(getattr(self, "wsgi", None), "extensions", None) or {}).get("cms")

    def _peek_handshake(self, client) -> bytes | None:
        """The start of the connection's request (peeked, not read) when it opens an OCPP-J WebSocket
        (``GET /ocpp/``), else None.

        A first segment too short to tell, or to show the charger's identity (a charger's TCP stack or a proxy
        may split the request), is peeked again, less and less often, so that a client that stalls costs a few
        wake-ups: taken for another request, such a handshake would skip its turn and be refused at once by the
        endpoint whenever the places are taken."""
        from cms.admission import HANDSHAKE_START, identity_end

        head, delay = b"", PEEK_AGAIN_S
        with gevent.Timeout(self.cfg.keepalive, False):  # a client that sends nothing: gunicorn's own rules
            try:
                while True:
                    head = client.recv(PEEK_BYTES, socket.MSG_PEEK)
                    known = min(len(head), len(HANDSHAKE_START))
                    if not head or head[:known] != HANDSHAKE_START[:known]:
                        return None  # closed, or another request
                    if identity_end(head) >= 0 or len(head) >= PEEK_BYTES:
                        break
                    gevent.sleep(delay)  # the bytes peeked are still there: readiness would not wait
                    delay = min(2 * delay, PEEK_AGAIN_MAX_S)
            except OSError:
                return None
        return head if head.startswith(HANDSHAKE_START) else None

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)  # run() stops accepting, then waits for running HTTP requests
        self._start_drain()

    def run(self):
        self._serve()
        drain = self._start_drain()  # stopped without SIGTERM (max_requests): drain all the same
        drain.join(timeout=max(0.0, self._drain_deadline - time.monotonic()))

    def _serve(self) -> None:
        """gunicorn's ``GeventWorker.run``, but accepting :data:`ACCEPT_BATCH` connections per turn."""
        servers = []
        ssl_args = {"ssl_context": ssl_context(self.cfg)} if self.cfg.is_ssl else {}
        for s in self.sockets:
            s.setblocking(1)
            server = StreamServer(s, handle=partial(self.handle, s), spawn=Pool(self.worker_connections), **ssl_args)
            server.max_accept = ACCEPT_BATCH
            server.start()
            servers.append(server)

        while self.alive:
            self.notify()
            gevent.sleep(1.0)

        try:
            for server in servers:  # stop accepting
                server.close()
            # Let running requests finish within the graceful timeout, then stop what is left.
            started = time.time()
            while time.time() - started <= self.cfg.graceful_timeout:
                if all(server.pool.free_count() == server.pool.size for server in servers):
                    return
                self.notify()
                gevent.sleep(1.0)
            self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
            for server in servers:
                server.stop(timeout=1)
        except Exception:  # as gunicorn's: a failure while stopping must not keep the worker alive
            pass

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
