"""The reference peer: the ``ocpp`` package's own asyncio central system, no database.

Its ``ChargePoint`` on a ``websockets`` server, handlers returning valid answers. ``python -m tests.bench.peer
PORT WORKERS`` starts WORKERS processes sharing PORT through SO_REUSEPORT (the kernel spreads connections),
so it can hold as many connections as the CMS under the same per-process open-file limit.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing as mp
import os
import signal
import sys
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class PeerChargePoint(ChargePoint):
    """Valid answers to every charger-initiated 1.6 message; transaction ids unique across processes."""

    tx_ids = itertools.count(os.getpid() * 1_000_000 % 2_000_000_000 + 1)

    @on("BootNotification")
    def on_boot(self, **_):
        return call_result.BootNotification(current_time=_now(), interval=30, status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self, **_):
        return call_result.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **_):
        return call_result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **_):
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def on_start(self, **_):
        return call_result.StartTransaction(transaction_id=next(self.tx_ids), id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def on_meter_values(self, **_):
        return call_result.MeterValues()

    @on("StopTransaction")
    def on_stop(self, **_):
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on("DataTransfer")
    def on_data_transfer(self, **_):
        return call_result.DataTransfer(status="UnknownVendorId")


async def _handler(ws):
    cp = PeerChargePoint(ws.request.path.rsplit("/", 1)[-1], ws)
    try:
        await cp.start()
    except websockets.ConnectionClosed:
        pass


async def _serve(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(_handler, "127.0.0.1", port, subprotocols=["ocpp1.6"], reuse_port=True, backlog=4096):
        await stop


def _worker(port: int) -> None:
    logging.disable(logging.INFO)  # the ocpp package logs every frame at INFO
    asyncio.run(_serve(port))


def main(port: int, workers: int) -> None:
    procs = [mp.get_context("fork").Process(target=_worker, args=(port,)) for _ in range(workers)]
    for p in procs:
        p.start()
    signal.signal(signal.SIGTERM, lambda *_: [p.terminate() for p in procs])
    for p in procs:
        p.join()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2)
