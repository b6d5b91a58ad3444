"""Commands per second through the operator API to connected chargers, in-process and across two processes.

200 chargers (raw WebSocket clients that answer every CALL) connect to server A. HTTP clients send
``POST /api/v1/charge-points/{id}/commands/ClearCache`` either to A (the connection is in the same process)
or to B, a second server sharing PostgreSQL and Redis (the call crosses processes over Redis). Prints one
JSON line per case with calls/s, p50 and p99.

    python -m tests.bench.bench_commands            # BENCH_CMD_CHARGERS=200 BENCH_CMD_SECONDS=20
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

from tests.bench.loadgen import OcppClient, summarise
from tests.bench.servers import CmsServer

CHARGERS = int(os.environ.get("BENCH_CMD_CHARGERS", "200"))
SECONDS = float(os.environ.get("BENCH_CMD_SECONDS", "20"))
CLIENTS = int(os.environ.get("BENCH_CMD_CLIENTS", "16"))


class AnsweringCharger(OcppClient):
    """Answers every CMS-initiated CALL with a valid CALLRESULT."""

    def _on_frame(self, opcode, payload):
        if opcode == 0x1 and payload[1:2] == b"2":
            uid = orjson.loads(payload)[1]
            self.send(orjson.dumps([3, uid, {"status": "Accepted"}]))
            return
        super()._on_frame(opcode, payload)


def hold_chargers(port: int, identities: list[str], ready: threading.Event, stop: threading.Event) -> None:
    async def main():
        loop = asyncio.get_running_loop()
        clients = []
        for identity in identities:
            _, c = await loop.create_connection(
                lambda i=identity: AnsweringCharger(i, "127.0.0.1", port), "127.0.0.1", port
            )
            await c.opened
            await c.call("BootNotification", {"chargePointVendor": "bench", "chargePointModel": "cmd"})
            clients.append(c)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for c in clients:
            c.close()

    asyncio.run(main())


def send_commands(port: int, token: str, identities: list[str], seconds: float, clients: int) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < deadline:
            identity = random.choice(identities)
            t0 = time.perf_counter()
            conn.request(
                "POST",
                f"/api/v1/charge-points/{identity}/commands/ClearCache",
                body=b"{}",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                mine.append(time.perf_counter() - t0)
            else:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return {"calls_per_s": round(len(latencies) / elapsed, 1), "errors": errors[0], **summarise(latencies)}


def main() -> int:
    from cms.accounts import issue_token, user_by_email
    from cms.db import Database

    identities = [f"CMD-{i:04d}" for i in range(CHARGERS)]
    logs = Path(tempfile.mkdtemp(prefix="bench-commands-"))
    a = CmsServer(1, logs, database="cms_bench_commands")
    a.prepare(identities, "BENCH")
    b = CmsServer(1, logs, database="cms_bench_commands")
    b.url = a.url
    db = Database(a.url)
    with db.uow() as uow:
        token = issue_token(uow.session, user_by_email(uow.session, "bench@example.com"))
        uow.commit()
    db.dispose()
    a.start()
    b.start()
    ready, stop = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_chargers, args=(a.port, identities, ready, stop), daemon=True)
    holder.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("chargers did not connect")
        results = []
        for case, port in (("in-process", a.port), ("across-processes", b.port)):
            figures = send_commands(port, token, identities, SECONDS, CLIENTS)
            results.append({"bench": "commands", "case": case, "chargers": CHARGERS, "clients": CLIENTS, **figures})
            print(json.dumps(results[-1]), flush=True)
    finally:
        stop.set()
        holder.join(10)
        a.stop()
        b.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
