"""A SOAP charger for tests and the benchmark: zeep built from the official CentralSystemService WSDLs."""

from __future__ import annotations

from datetime import UTC, datetime

import zeep
from lxml import etree
from zeep.helpers import serialize_object
from zeep.plugins import Plugin
from zeep.wsa import WsAddressingPlugin
from zeep.wsdl.utils import get_or_create_header

from soap import PATHS
from soap.schema import WSDL_FILES

WSA = "http://www.w3.org/2005/08/addressing"


def now() -> datetime:
    return datetime.now(UTC)


class FromAddress(Plugin):
    """Adds WS-Addressing ``From/Address``: where the charger's own ChargePointService listens."""

    def __init__(self, address: str | None):
        self.address = address

    def egress(self, envelope, http_headers, operation, binding_options):
        if self.address:
            header = get_or_create_header(envelope)
            from_el = etree.SubElement(header, f"{{{WSA}}}From")
            etree.SubElement(from_el, f"{{{WSA}}}Address").text = self.address
        return envelope, http_headers


class LastEnvelope(Plugin):
    """Keeps the last request and response envelopes, for assertions on headers."""

    def __init__(self):
        self.sent = None
        self.received = None

    def egress(self, envelope, http_headers, operation, binding_options):
        self.sent = envelope
        return envelope, http_headers

    def ingress(self, envelope, http_headers, operation):
        self.received = envelope
        return envelope, http_headers


class SoapCharger:
    """Talks to ``base_url``'s CentralSystemService of ``version`` as charger ``identity``."""

    def __init__(self, base_url: str, identity: str, version: str = "1.6", endpoint_url: str | None = None):
        self.identity = identity
        self.version = version
        self.last = LastEnvelope()
        self.client = zeep.Client(
            str(WSDL_FILES[(version, "CentralSystemService")]),
            plugins=[WsAddressingPlugin(), FromAddress(endpoint_url), self.last],
        )
        binding = next(iter(next(iter(self.client.wsdl.services.values())).ports.values())).binding.name
        self.service = self.client.create_service(binding, base_url + PATHS[version])
        self._header_tag = f"{{{etree.QName(binding).namespace}}}chargeBoxIdentity"

    def call(self, action: str, **kw) -> dict:
        """Send ``action``; returns the response as a dict (zeep raises ``zeep.exceptions.Fault``)."""
        header = etree.Element(self._header_tag)
        header.text = self.identity
        result = getattr(self.service, action)(**kw, _soapheaders=[header])
        answer = serialize_object(result, dict)
        elements = self.service._binding.get(action).output.body.type.elements
        if len(elements) == 1 and answer is not None:  # zeep unwraps one-element responses
            answer = {elements[0][0]: answer}
        return answer or {}

    def boot(self, vendor: str = "TestVendor", model: str = "TestModel", **kw) -> dict:
        return self.call("BootNotification", chargePointVendor=vendor, chargePointModel=model, **kw)

    def heartbeat(self) -> dict:
        return self.call("Heartbeat")

    def authorize(self, id_tag: str) -> dict:
        return self.call("Authorize", idTag=id_tag)

    def status(self, connector_id: int, status: str, error_code: str = "NoError", **kw) -> dict:
        return self.call(
            "StatusNotification",
            connectorId=connector_id,
            status=status,
            errorCode=error_code,
            timestamp=kw.pop("timestamp", now()),
            **kw,
        )

    def start(self, connector_id: int, id_tag: str, meter_start: int = 0, **kw) -> dict:
        return self.call(
            "StartTransaction",
            connectorId=connector_id,
            idTag=id_tag,
            meterStart=meter_start,
            timestamp=kw.pop("timestamp", now()),
            **kw,
        )

    def stop(self, transaction_id: int, meter_stop: int, id_tag: str | None = None, **kw) -> dict:
        return self.call(
            "StopTransaction",
            transactionId=transaction_id,
            idTag=id_tag,
            meterStop=meter_stop,
            timestamp=kw.pop("timestamp", now()),
            **kw,
        )

    def meter(
        self,
        connector_id: int,
        transaction_id: int | None,
        energy_wh: float,
        power_w: float | None = None,
        timestamp: datetime | None = None,
    ) -> dict:
        """One reading of the energy register (and power), in the shape this version's WSDL wants."""
        ts = timestamp or now()
        if self.version == "1.5":
            values = [{"_value_1": str(energy_wh), "unit": "Wh", "measurand": "Energy.Active.Import.Register"}]
            if power_w is not None:
                values.append({"_value_1": str(power_w), "unit": "W", "measurand": "Power.Active.Import"})
            return self.call(
                "MeterValues",
                connectorId=connector_id,
                transactionId=transaction_id,
                values=[{"timestamp": ts, "value": values}],
            )
        samples = [{"value": str(energy_wh), "unit": "Wh", "measurand": "Energy.Active.Import.Register"}]
        if power_w is not None:
            samples.append({"value": str(power_w), "unit": "W", "measurand": "Power.Active.Import"})
        return self.call(
            "MeterValues",
            connectorId=connector_id,
            transactionId=transaction_id,
            meterValue=[{"timestamp": ts, "sampledValue": samples}],
        )
