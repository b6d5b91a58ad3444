"""SOAP benchmark: calls per second of OCPP 1.5-S and 1.6-S chargers against the CMS (gunicorn + gevent on
PostgreSQL, started by this script), with the same session mix as the OCPP-J throughput run.

``python -m tests.bench.bench_soap`` prints one JSON line. Each of BENCH_SOAP_CHARGERS chargers (half 1.5,
half 1.6, each its own thread and HTTP connection) runs sessions back to back for BENCH_SOAP_SECONDS:
StatusNotification, Authorize, StartTransaction, MeterValues (ten sampled values), Heartbeat,
StopTransaction, all as SOAP 1.2 envelopes with WS-Addressing and the chargeBoxIdentity header.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

from tests.bench.servers import CmsServer

ID_TAG = "BENCHTAG"
NS = {"1.5": "urn://Ocpp/Cs/2012/06/", "1.6": "urn://Ocpp/Cs/2015/10/"}
PATH = {"1.5": "/soap/ocpp15", "1.6": "/soap/ocpp16"}
_TX = re.compile(rb"transactionId>(\d+)<")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _envelope(version: str, identity: str, action: str, element: str, body: str) -> bytes:
    return (
        f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:o="{NS[version]}"><s:Header>'
        f"<o:chargeBoxIdentity>{identity}</o:chargeBoxIdentity><a:MessageID>urn:uuid:{uuid.uuid4()}"
        f"</a:MessageID><a:Action>/{action}</a:Action><a:From><a:Address>http://127.0.0.1:9/{identity}"
        f"</a:Address></a:From></s:Header><s:Body><o:{element}>{body}</o:{element}></s:Body>"
        f"</s:Envelope>"
    ).encode()


def _meter_body(version: str, tx_id: int, wh: int) -> str:
    ts = _now()
    if version == "1.5":
        values = "".join(
            f'<o:value unit="Wh" measurand="Energy.Active.Import.Register">{wh + i}</o:value>' for i in range(10)
        )
        return (
            f"<o:connectorId>1</o:connectorId><o:transactionId>{tx_id}</o:transactionId>"
            f"<o:values><o:timestamp>{ts}</o:timestamp>{values}</o:values>"
        )
    samples = "".join(
        f"<o:sampledValue><o:value>{wh + i}</o:value><o:unit>Wh</o:unit></o:sampledValue>" for i in range(10)
    )
    return (
        f"<o:connectorId>1</o:connectorId><o:transactionId>{tx_id}</o:transactionId>"
        f"<o:meterValue><o:timestamp>{ts}</o:timestamp>{samples}</o:meterValue>"
    )


class SoapLoad:
    """One charger's session loop; records the latency of every call and counts failures."""

    def __init__(self, base_url: str, identity: str, version: str):
        self.url = base_url + PATH[version]
        self.identity = identity
        self.version = version
        self.http = requests.Session()
        self.latencies: list[float] = []
        self.errors = 0

    def call(self, action: str, body: str) -> bytes:
        element = action[0].lower() + action[1:] + "Request"
        data = _envelope(self.version, self.identity, action, element, body)
        t0 = time.perf_counter()
        r = self.http.post(
            self.url, data=data, headers={"Content-Type": "application/soap+xml; charset=utf-8"}, timeout=30
        )
        self.latencies.append(time.perf_counter() - t0)
        if r.status_code != 200 or b"Fault>" in r.content:
            self.errors += 1
        return r.content

    def run(self, until: float) -> None:
        self.call(
            "BootNotification",
            "<o:chargePointVendor>Bench</o:chargePointVendor><o:chargePointModel>SOAP</o:chargePointModel>",
        )
        self.latencies.clear()
        wh = 0
        status = "Occupied" if self.version == "1.5" else "Charging"
        while time.monotonic() < until:
            st = (
                f"<o:connectorId>1</o:connectorId><o:status>{status}</o:status><o:errorCode>NoError</o:errorCode>"
                if self.version == "1.5"
                else f"<o:connectorId>1</o:connectorId><o:errorCode>NoError</o:errorCode><o:status>{status}</o:status>"
            )
            self.call("StatusNotification", st)
            self.call("Authorize", f"<o:idTag>{ID_TAG}</o:idTag>")
            started = self.call(
                "StartTransaction",
                f"<o:connectorId>1</o:connectorId><o:idTag>{ID_TAG}</o:idTag>"
                f"<o:timestamp>{_now()}</o:timestamp><o:meterStart>{wh}</o:meterStart>",
            )
            m = _TX.search(started)
            tx_id = int(m.group(1)) if m else -1
            self.call("MeterValues", _meter_body(self.version, tx_id, wh))
            self.call("Heartbeat", "")
            wh += 1000
            self.call(
                "StopTransaction",
                f"<o:transactionId>{tx_id}</o:transactionId><o:idTag>{ID_TAG}</o:idTag>"
                f"<o:timestamp>{_now()}</o:timestamp><o:meterStop>{wh}</o:meterStop>",
            )


def run_load(base_url: str, identities: list[str], seconds: float) -> dict:
    """Run every charger in its own thread for ``seconds``; returns the figures."""
    loads = [SoapLoad(base_url, ident, "1.5" if i % 2 else "1.6") for i, ident in enumerate(identities)]
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=load.run, args=(until,)) for load in loads]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    lat = sorted(x for load in loads for x in load.latencies)
    calls = len(lat)
    return {
        "calls": calls,
        "calls_per_second": round(calls / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
        "p99_ms": round(lat[min(calls - 1, int(calls * 0.99))] * 1000, 1) if lat else None,
        "errors": sum(load.errors for load in loads),
    }


def main() -> int:
    chargers = int(os.environ.get("BENCH_SOAP_CHARGERS", "20"))
    seconds = float(os.environ.get("BENCH_SOAP_SECONDS", "20"))
    workers = int(os.environ.get("BENCH_SERVER_WORKERS", "2"))
    identities = [f"SOAPBENCH{i:05d}" for i in range(chargers)]
    server = CmsServer(workers, Path(tempfile.mkdtemp(prefix="bench-soap-")), database="cms_bench_soap")
    server.prepare(identities, ID_TAG)
    server.start()
    try:
        figures = run_load(f"http://127.0.0.1:{server.port}", identities, seconds)
    finally:
        server.stop()
    print(
        json.dumps(
            {
                "bench": "soap",
                "server": "cms",
                "chargers": chargers,
                "seconds": seconds,
                "workers": workers,
                "mix": "1.5-S and 1.6-S, SOAP 1.2, full sessions",
                **figures,
            }
        )
    )
    return 0 if figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
