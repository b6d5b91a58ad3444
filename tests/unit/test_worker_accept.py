"""The gunicorn worker accepts connections in batches (issue 12): gunicorn's gevent worker accepts one per turn
of the event loop when there are several workers, which in a reconnect storm left the listen queue full and
chargers timing out at TCP connect before admission control could answer them."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import cms.gunicorn_worker as gunicorn_worker


class _Server:
    made: list[_Server] = []

    def __init__(self, listener, handle, spawn, **_):
        self.max_accept = 100
        self.pool = spawn
        _Server.made.append(self)

    def start(self):
        self.started_with = self.max_accept

    def close(self):
        pass


def test_several_workers_each_accept_a_batch_per_turn(monkeypatch):
    monkeypatch.setattr(gunicorn_worker, "StreamServer", _Server)
    worker = gunicorn_worker.GeventWorker.__new__(gunicorn_worker.GeventWorker)
    with socket.socket() as listener:
        worker.sockets = [listener]
        worker.cfg = SimpleNamespace(is_ssl=False, workers=2, graceful_timeout=1)
        worker.worker_connections = 1000
        worker.alive = False  # stop at once: only the servers it starts matter here
        worker.notify = lambda: None
        worker._serve()
    assert [s.started_with for s in _Server.made] == [gunicorn_worker.ACCEPT_BATCH]
    assert gunicorn_worker.ACCEPT_BATCH > 1
