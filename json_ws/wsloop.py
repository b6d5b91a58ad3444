"""One charger's WebSocket read in its own greenlet (or thread): frames in, complete text messages out.

simple-websocket (under flask-sock) starts a second greenlet per connection that reads the socket and hands
messages over through an Event, with a selector for its ping timer. At tens of thousands of chargers that
second greenlet, its saved stack, its Python data stack and its selector are about a third of the memory of
a connection. flask-sock still does the handshake; this module then reads the socket in the handler's own
greenlet with wsproto (the library simple-websocket itself uses), with the same ping/pong and size rules.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

from simple_websocket import ConnectionClosed
from wsproto.events import CloseConnection, Message, Ping, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

RECEIVE_BYTES = 4096


def take_over(ws, ping_interval: float, max_message_size: int | None, *, detach: bool) -> WsChannel:
    """Take a handshaken simple-websocket ``Server``'s connection over into a :class:`WsChannel`.

    ``detach``: the socket is duplicated, so that the WSGI request can end (gunicorn closes its own file
    descriptor) while the channel lives on in a greenlet of its own. That frees, per connection, the request
    greenlet's deep saved stack and the request's objects (environ, headers, Flask context), about a third of
    the memory of an idle connection. Only under gevent; Werkzeug's threaded server (tests, development)
    would write an HTTP response into the WebSocket once the request ends, so there the channel is run in the
    request's thread.
    """
    sock = ws.sock.dup() if detach else ws.sock
    channel = WsChannel(sock, ws.ws, ping_interval, max_message_size)
    ws.connected = False  # flask-sock closes ``ws`` when the route returns: that must not touch the channel
    return channel


class NoReaderThread:
    """simple-websocket's ``thread_class``: starts nothing, because :class:`WsChannel` reads instead."""

    def __init__(self, target=None, **_):
        self.name = "ws-reader-in-handler"

    def start(self) -> None:
        """Nothing to start: the handler's greenlet reads the socket."""

    def join(self, timeout: float | None = None) -> None:
        """Nothing to wait for."""

    def is_alive(self) -> bool:
        return False


class WsChannel:
    """Reads a simple-websocket ``Server``'s socket with wsproto; sends go through :meth:`send_event`.

    Iterating yields each complete text (or binary) message. A charger silent for ``ping_interval`` seconds
    (0: never) is pinged, and closed (1008) if it stays silent for another interval, so one that lost power is
    noticed within about two intervals; a charger that talks is not pinged at all. A message over
    ``max_message_size`` bytes closes the connection (1009). Iteration ends when the connection closes, from
    either side.
    """

    def __init__(self, sock, connection, ping_interval: float = 0, max_message_size: int | None = None):
        self.sock = sock
        self.wsconn = connection  # the wsproto WSConnection, past its handshake
        self.ping_interval = ping_interval
        self.max_message_size = max_message_size
        self.connected = True
        self.close_code: int | None = None
        self._send_lock = threading.Lock()

    # ----- sending (any greenlet/thread) -----

    def send_event(self, event) -> None:
        """Encode ``event`` and write it whole; serialised, since wsproto's state is not thread-safe."""
        with self._send_lock:
            if not self.connected:
                raise ConnectionClosed(self.close_code or CloseReason.NO_STATUS_RCVD, None)
            try:
                self.sock.sendall(self.wsconn.send(event))
            except OSError as e:  # reset, or not reading for a whole ping interval: the connection is over
                self.connected = False
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reading greenlet or thread
                except OSError:
                    pass
                raise ConnectionClosed(CloseReason.ABNORMAL_CLOSURE, str(e)) from e

    def send_text(self, text: str) -> None:
        self.send_event(TextMessage(data=text))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (once) and stop reading."""
        try:
            self.send_event(CloseConnection(code=code, reason=reason or None))
        except Exception:  # already closed or the peer is gone
            pass
        self.connected = False

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake; wakes the reading greenlet or thread."""
        self.connected = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ----- reading (the connection's own greenlet/thread) -----

    def __iter__(self) -> Iterator[str | bytes]:
        sock, wsconn = self.sock, self.wsconn
        # One fixed timeout: it also bounds a send to a charger that stopped reading.
        sock.settimeout(self.ping_interval or None)
        awaiting_pong = False
        parts: list = []
        size = 0
        try:
            while self.connected:
                try:
                    data = sock.recv(RECEIVE_BYTES)
                except TimeoutError:  # silent for a whole interval: ping; silent for another: gone
                    if awaiting_pong:
                        self.close(CloseReason.POLICY_VIOLATION, "Ping/Pong timeout")
                        return
                    awaiting_pong = True
                    self.send_event(Ping())
                    continue
                if not data:
                    return
                awaiting_pong = False  # whatever it sent, it is alive
                wsconn.receive_data(data)
                for event in wsconn.events():
                    if isinstance(event, Message):
                        parts.append(event.data)
                        size += len(event.data)
                        if self.max_message_size and size > self.max_message_size:
                            self.close(CloseReason.MESSAGE_TOO_BIG, "Message is too big")
                            return
                        if not event.message_finished:
                            continue
                        message = parts[0] if len(parts) == 1 else type(parts[0])().join(parts)
                        parts, size = [], 0
                        yield message
                    elif isinstance(event, Ping):
                        self.send_event(event.response())
                    elif isinstance(event, CloseConnection):
                        self.close_code = event.code
                        try:
                            self.send_event(event.response())
                        except Exception:  # the peer may already be gone
                            pass
                        self.connected = False
                        return
        except (OSError, LocalProtocolError):
            return
        finally:
            self.connected = False
            try:
                sock.close()
            except OSError:
                pass
