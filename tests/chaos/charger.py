"""A charger that behaves as OCPP says on a bad day: transaction messages are queued until answered and sent
again after a reconnect (with the same message id or a new one, at random), a CALLERROR InternalError or a
lost connection means "try again"; a refused handshake (the server restarting, or 503) is retried after a
short back-off. Runs charging sessions in a loop in its own thread; records what was answered."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from datetime import UTC, datetime, timedelta

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from tests.support.charger import ChargerClient


class Closed(Exception):
    """The connection closed before the message was answered."""


class ChaosCharger:
    def __init__(self, base: str, identity: str, tag: str, seed: int = 0):
        self.base, self.identity, self.tag = base, identity, tag
        self.rng = random.Random(seed)
        self.answered: list[tuple[str, object, object]] = []  # (action, request, response)
        self.resent = 0  # messages sent again (after a reconnect or an InternalError)
        self.reconnects = 0
        self.sessions = 0
        self.errors: list[str] = []
        self.unconfirmed: list = []  # a message still unanswered when the charger was stopped
        self.last_answer_at = 0.0  # time.monotonic() of the latest answer
        self._stop = threading.Event()
        self._seq = 0
        self._client: ChargerClient | None = None
        self._clock = datetime.now(UTC).replace(microsecond=0)
        self.thread = threading.Thread(target=self._run, name=f"chaos-{identity}", daemon=True)

    def start(self) -> ChaosCharger:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=90)

    def _timestamp(self) -> str:
        """A timestamp of its own per sample (one second apart), as a meter's clock gives."""
        self._clock += timedelta(seconds=1)
        return self._clock.isoformat().replace("+00:00", "Z")

    # ----- one message, until answered -----
    def _send_once(self, request, uid: str):
        client = self._client

        async def race():
            answer = asyncio.ensure_future(client.cp.call(request, suppress=False, unique_id=uid))
            closed = asyncio.ensure_future(client.ws.wait_closed())
            await asyncio.wait({answer, closed}, return_when=asyncio.FIRST_COMPLETED, timeout=40)
            if not answer.done():
                await asyncio.wait({answer}, timeout=0.5)
            closed.cancel()
            if answer.done() and answer.exception() is None:
                return answer.result()
            if answer.done() and isinstance(answer.exception(), OCPPError):
                raise answer.exception()
            answer.cancel()
            raise Closed()

        return client._run(race(), timeout=60)

    def call(self, request):
        """Send ``request`` until it is answered: reconnecting when the connection is lost, again after an
        InternalError; each resend with the same message id or a new one."""
        self._seq += 1
        uid = f"{self.identity[-6:]}-{self._seq}"
        first = True
        while not self._stop.is_set() or first:
            if not first:
                self.resent += 1
                if self.rng.random() < 0.5:
                    self._seq += 1
                    uid = f"{self.identity[-6:]}-{self._seq}"
            first = False
            try:
                if self._client is None:
                    self._connect()
                response = self._send_once(request, uid)
            except Closed:
                self._drop()
                if self._stop.is_set():
                    break
                continue
            except OCPPError as e:
                if e.code != "InternalError":
                    raise
                time.sleep(0.2)
                continue
            except (OSError, TimeoutError):
                self._drop()
                continue
            self.answered.append((type(request).__name__, request, response))
            self.last_answer_at = time.monotonic()
            return response
        self.unconfirmed.append(request)
        raise Closed()

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connect(self) -> None:
        """(Re)connect and boot, as long as it takes."""
        while True:
            self._drop()
            try:
                self._client = ChargerClient(f"ws://{self.base}", self.identity)
            except Exception:  # restarting, or refused with 503: back off and retry like a charger
                if self._stop.is_set():
                    raise Closed() from None
                time.sleep(self.rng.uniform(0.2, 1.0))
                continue
            self.reconnects += 1
            try:
                boot = self._send_once(call.BootNotification(charge_point_vendor="Chaos", charge_point_model="C"), "b")
                if boot.status == "Accepted":
                    self.last_answer_at = time.monotonic()
                    return
            except (OCPPError, Closed, OSError, TimeoutError):
                pass
            time.sleep(self.rng.uniform(0.2, 1.0))

    # ----- sessions -----
    def _run(self) -> None:
        try:
            meter = 0
            while not self._stop.is_set():
                start = self.call(
                    call.StartTransaction(
                        connector_id=1, id_tag=self.tag, meter_start=meter, timestamp=self._timestamp()
                    )
                )
                tx = start.transaction_id
                for _ in range(3):
                    meter += 100
                    sample = {"value": str(meter), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                    self.call(
                        call.MeterValues(
                            connector_id=1,
                            transaction_id=tx,
                            meter_value=[{"timestamp": self._timestamp(), "sampledValue": [sample]}],
                        )
                    )
                self.call(call.Heartbeat())
                self.call(call.StopTransaction(transaction_id=tx, meter_stop=meter, timestamp=self._timestamp()))
                self.sessions += 1
        except Closed:
            pass  # stopped while a message was unanswered: it was never confirmed
        except Exception as e:
            self.errors.append(repr(e))
        finally:
            self._drop()
