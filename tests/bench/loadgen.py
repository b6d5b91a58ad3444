"""A light OCPP-J load generator: raw asyncio sockets, hand-built WebSocket frames, several processes.

Each simulated charger is an :class:`asyncio.Protocol` (a few hundred bytes of state), so one process holds
thousands of connections while spending its CPU on the server's answers rather than on a client library.
Two workloads: ``hold`` (connect, boot, heartbeat every N seconds) and ``sessions`` (full charging sessions
back to back). Each worker process returns its figures as a dict through a pipe.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import multiprocessing as mp
import os
import random
import struct
import time
from datetime import UTC, datetime

import orjson

from simulator.charger import three_phase_sample

_OP_TEXT, _OP_CLOSE, _OP_PING, _OP_PONG = 0x1, 0x8, 0x9, 0xA


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keys, "little")).to_bytes(n, "little")


def encode_frame(payload: bytes, opcode: int = _OP_TEXT) -> bytes:
    """One final, masked client frame (RFC 6455 5.2)."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + _mask(payload, key)


class CallFailed(Exception):
    pass


class OcppClient(asyncio.Protocol):
    """One charger's connection: handshake, one outstanding CALL at a time, pings answered."""

    def __init__(self, identity: str, host: str, port: int):
        self.identity = identity
        self.request = (
            f"GET /ocpp/{identity} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.open = False
        self.closed = False
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.waiter: asyncio.Future | None = None
        self.ids = itertools.count(1)

    # asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data):
        self.buf += data
        if not self.open:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[:12])
            del self.buf[: end + 4]
            if b" 101" not in status:
                self._fail(ConnectionError(f"handshake refused: {status!r}"))
                self.transport.close()
                return
            self.open = True
            if not self.opened.done():
                self.opened.set_result(True)
        self._read_frames()

    def connection_lost(self, exc):
        self.closed = True
        self._fail(ConnectionError("connection lost"))

    # framing
    def _fail(self, exc):
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _read_frames(self):
        buf = self.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, off = int.from_bytes(buf[2:10], "big"), 10
            key = None
            if b1 & 0x80:
                key, off = bytes(buf[off : off + 4]), off + 4
            if len(buf) < off + n:
                return
            payload = bytes(buf[off : off + n])
            del buf[: off + n]
            if key:
                payload = _mask(payload, key)
            self._on_frame(b0 & 0x0F, payload)

    def _on_frame(self, opcode: int, payload: bytes):
        if opcode == _OP_TEXT:
            if payload[1:2] == b"2":  # a CALL from the central system: not part of the benchmark
                uid = orjson.loads(payload)[1]
                self.send(orjson.dumps([4, uid, "NotSupported", "load generator", {}]))
            elif self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(payload)
        elif opcode == _OP_PING:
            self.transport.write(encode_frame(payload, _OP_PONG))
        elif opcode == _OP_CLOSE:
            self.transport.close()

    def send(self, payload: bytes):
        self.transport.write(encode_frame(payload))

    async def call(self, action: str, payload: dict, timeout: float = 30.0) -> dict:
        """Send a CALL and return the CALLRESULT payload; raise CallFailed on a CALLERROR or timeout."""
        if self.closed:
            raise ConnectionError("closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.send(orjson.dumps([2, f"{self.identity[-8:]}-{next(self.ids)}", action, payload]))
        try:
            answer = orjson.loads(await asyncio.wait_for(self.waiter, timeout))
        except TimeoutError:
            raise CallFailed(f"{action}: timeout") from None
        if answer[0] != 3:
            raise CallFailed(f"{action}: {answer[2]} {answer[3]}")
        return answer[2]

    def close(self):
        if self.transport is not None and not self.closed:
            with_close = encode_frame(struct.pack("!H", 1000), _OP_CLOSE)
            self.transport.write(with_close)
            self.transport.close()


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def summarise(latencies: list[float]) -> dict:
    """p50/p90/p99/max of latencies in seconds, as milliseconds."""
    s = sorted(latencies)
    return {f"p{int(q * 100)}_ms": round(_percentile(s, q) * 1000, 2) if s else None for q in (0.5, 0.9, 0.99)} | {
        "max_ms": round(s[-1] * 1000, 2) if s else None
    }


async def _connect(identity: str, host: str, port: int, local_ip: str, retries: int = 3) -> OcppClient:
    loop = asyncio.get_running_loop()
    last: Exception | None = None
    for attempt in range(retries):
        try:
            _, proto = await loop.create_connection(
                lambda: OcppClient(identity, host, port), host, port, local_addr=(local_ip, 0)
            )
            await asyncio.wait_for(proto.opened, 30)
            return proto
        except (OSError, TimeoutError, ConnectionError) as e:
            last = e
            await asyncio.sleep(0.5 * (attempt + 1))
    raise ConnectionError(f"{identity}: {last}")


BOOT = {"chargePointVendor": "Bench", "chargePointModel": "LoadGen"}


# -------------------------------------------------------------------------------------------------- hold
async def _hold(identities, host, port, local_ip, rate, interval, barrier, hold_seconds, out):
    """Connect and boot every charger (at ``rate`` per second), wait for all processes, then heartbeat."""
    clients: list[OcppClient] = []
    failures: dict[str, int] = {}
    sem = asyncio.Semaphore(200)

    async def open_one(identity):
        async with sem:
            try:
                c = await _connect(identity, host, port, local_ip)
                await c.call("BootNotification", BOOT, timeout=60)
                clients.append(c)
            except Exception as e:  # counted, not fatal: the figure is how many were held
                failures[type(e).__name__] = failures.get(type(e).__name__, 0) + 1

    t0 = time.monotonic()
    pending = []
    for n, identity in enumerate(identities):
        pending.append(asyncio.ensure_future(open_one(identity)))
        delay = t0 + (n + 1) / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    await asyncio.gather(*pending)
    ramp = time.monotonic() - t0
    # All processes start heartbeating together, so the measured phase holds the full fleet.
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
    latencies: list[float] = []
    hb_failures = 0
    end = time.monotonic() + hold_seconds

    async def beat(c: OcppClient):
        nonlocal hb_failures
        await asyncio.sleep(random.uniform(0, interval))
        while time.monotonic() < end and not c.closed:
            t = time.perf_counter()
            try:
                await c.call("Heartbeat", {}, timeout=30)
                latencies.append(time.perf_counter() - t)
            except Exception:
                hb_failures += 1
            await asyncio.sleep(interval - (time.perf_counter() - t))

    await asyncio.gather(*(beat(c) for c in clients))
    alive = sum(1 for c in clients if not c.closed)
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)  # measured memory while held
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
    for c in clients:
        c.close()
    await asyncio.sleep(0.5)
    out.update(
        held=alive,
        connected=len(clients),
        failures=failures,
        ramp_s=round(ramp, 1),
        heartbeats=len(latencies),
        heartbeat_failures=hb_failures,
        latencies=latencies,
    )


# ---------------------------------------------------------------------------------------------- sessions
async def _sessions(identities, host, port, local_ip, barrier, seconds, id_tag, out):
    """Full sessions back to back on each charger; every call's latency is recorded during the window."""
    clients = []
    for identity in identities:
        c = await _connect(identity, host, port, local_ip)
        await c.call("BootNotification", BOOT, timeout=60)
        clients.append(c)
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    end = time.monotonic() + seconds

    async def timed(c, action, payload):
        t = time.perf_counter()
        try:
            result = await c.call(action, payload, timeout=30)
        except CallFailed as e:
            errors[str(e)[:80]] = errors.get(str(e)[:80], 0) + 1
            return None
        latencies.setdefault(action, []).append(time.perf_counter() - t)
        return result

    async def charger(c: OcppClient):
        energy = random.randint(1_000_000, 5_000_000)
        while time.monotonic() < end and not c.closed:
            await timed(
                c,
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": _now_iso()},
            )
            await timed(c, "Authorize", {"idTag": id_tag})
            started = await timed(
                c,
                "StartTransaction",
                {"connectorId": 1, "idTag": id_tag, "meterStart": energy, "timestamp": _now_iso()},
            )
            tx = started["transactionId"] if started else -1
            energy += random.randint(500, 3000)
            await timed(
                c,
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx,
                    "meterValue": [
                        {"timestamp": _now_iso(), "sampledValue": three_phase_sample(energy, 11000.0, 55.0)}
                    ],
                },
            )
            await timed(c, "Heartbeat", {})
            await timed(
                c,
                "StopTransaction",
                {"transactionId": tx, "meterStop": energy, "timestamp": _now_iso(), "idTag": id_tag, "reason": "Local"},
            )

    t0, cpu0 = time.monotonic(), time.process_time()
    await asyncio.gather(*(charger(c) for c in clients))
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    for c in clients:
        c.close()
    await asyncio.sleep(0.2)
    out.update(elapsed_s=elapsed, latencies=latencies, errors=errors, cpu_s=cpu)


# ------------------------------------------------------------------------------------------------- storm
async def _storm(identities, host, port, local_ip, rate, barrier, budget, out):
    """Every charger connects (at ``rate`` per second) and boots, as chargers do after a server restart: a
    refused handshake (HTTP 503), a lost connection or a BootNotification not Accepted is retried after a short
    back-off until ``budget`` seconds have passed. Absolute times (``time.time()``) let the parent combine
    processes: the first handshake sent, the last BootNotification accepted."""
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)  # every process starts together
    first_sent = time.time()
    accepted_at: list[float] = []
    attempts = {
        "handshake_503": 0,
        "handshake_other": 0,
        "boot_not_accepted": 0,
        "boot_error": 0,
        "connect_timeout": 0,
        "handshake_timeout": 0,
        "lost": 0,
    }
    failed: dict[str, int] = {}
    deadline = time.monotonic() + budget
    clients: list[OcppClient] = []
    loop = asyncio.get_running_loop()

    async def one(identity):
        last = "never tried"
        while time.monotonic() < deadline:
            c = None
            try:
                _, c = await loop.create_connection(
                    lambda: OcppClient(identity, host, port), host, port, local_addr=(local_ip, 0)
                )
                await asyncio.wait_for(c.opened, 30)
                answer = await c.call("BootNotification", BOOT, timeout=60)
                if answer.get("status") == "Accepted":
                    accepted_at.append(time.time())
                    clients.append(c)
                    return
                attempts["boot_not_accepted"] += 1
                last = f"boot {answer.get('status')}"
            except ConnectionError as e:
                kind = "handshake_503" if " 503" in str(e) else "handshake_other" if "refused" in str(e) else "lost"
                attempts[kind] += 1
                last = str(e)[:80]
            except CallFailed as e:  # a CALLERROR (InternalError) or no answer in time
                attempts["boot_error"] += 1
                last = str(e)[:80]
            except (OSError, TimeoutError) as e:  # no TCP connection, no handshake answer in time, or lost
                kind = "connect_timeout" if c is None else "handshake_timeout" if not c.open else "lost"
                attempts[kind] += 1
                last = f"{kind}: {type(e).__name__}: {str(e)[:60]}"
            if c is not None:
                c.close()
            await asyncio.sleep(random.uniform(0.5, 2.0))  # a charger's back-off before it tries again
        failed[last] = failed.get(last, 0) + 1

    t0, cpu0 = time.monotonic(), time.process_time()
    pending = []
    for n, identity in enumerate(identities):
        pending.append(asyncio.ensure_future(one(identity)))
        delay = t0 + (n + 1) / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    await asyncio.gather(*pending)
    cpu = time.process_time() - cpu0
    alive = sum(1 for c in clients if not c.closed)
    for c in clients:
        c.close()
    await asyncio.sleep(0.5)
    out.update(
        first_sent=first_sent,
        last_accepted=max(accepted_at) if accepted_at else None,
        accepted=len(accepted_at),
        still_open=alive,
        cpu_s=cpu,
        retries=attempts,
        failed=failed,
    )


# ----------------------------------------------------------------------------------------------- workers
_WORKLOADS = {"hold": "_hold", "sessions": "_sessions", "storm": "_storm"}


def _worker(kind: str, conn, kwargs: dict) -> None:
    out: dict = {}
    try:
        coro = globals()[_WORKLOADS[kind]](out=out, **kwargs)
        asyncio.run(coro)
    except Exception as e:  # reported to the parent, which fails the scenario loudly
        out["error"] = f"{type(e).__name__}: {e}"
    conn.send(out)
    conn.close()


class WorkerPool:
    """Starts ``len(slices)`` load processes sharing a barrier; ``results()`` waits for their figures."""

    def __init__(self, kind: str, slices: list[dict]):
        ctx = mp.get_context("fork")
        self.barrier = ctx.Barrier(len(slices) + 1)  # the parent joins to measure between phases
        self.pipes = []
        self.procs = []
        for kw in slices:
            parent, child = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker, args=(kind, child, {**kw, "barrier": self.barrier}), daemon=True)
            p.start()
            self.pipes.append(parent)
            self.procs.append(p)

    def wait_barrier(self, timeout: float) -> None:
        self.barrier.wait(timeout)

    def results(self, timeout: float) -> list[dict]:
        out = []
        deadline = time.monotonic() + timeout
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError("a load generator process did not report in time")
            out.append(pipe.recv())
            proc.join(5)
        return out

    def kill(self) -> None:
        self.barrier.abort()
        for p in self.procs:
            if p.is_alive():
                p.kill()
