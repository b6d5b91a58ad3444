"""CMS-initiated calls to SOAP chargers: a zeep client of each version's official ChargePointService WSDL.

A SOAP charger is reachable when its charge point is on the soap transport and has told us its endpoint
(the WS-Addressing ``From/Address`` of its messages). Calls carry ``chargeBoxIdentity`` in the charge point
namespace and WS-Addressing headers; 1.6 payloads are mapped to 1.5 and back for 1.5 chargers.
"""

from __future__ import annotations

import decimal
import logging
from datetime import UTC, datetime

import requests
import zeep
from lxml import etree
from sqlalchemy import select
from zeep.exceptions import Fault, TransportError, XMLSyntaxError
from zeep.helpers import serialize_object
from zeep.transports import Transport

from cms.db import Database
from cms.errors import InvalidInput
from cms.gateway import ChargerCallError, ChargerNotConnected, ChargerTimeout
from cms.models import ChargePoint
from cms.timeutil import iso

from . import mapping15
from .convert import from_dict, to_dict
from .schema import ServiceDescription, load

log = logging.getLogger(__name__)

VERSIONS = ("1.5", "1.6")


def _plain(value):
    """zeep's answer as an OCPP-J style payload: no None, ISO dates, numbers as numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


class _VersionClient:
    """The parsed ChargePointService WSDL of one version (parsed once; zeep clients made per call)."""

    def __init__(self, version: str, session: requests.Session):
        self.version = version
        self.desc: ServiceDescription = load(version, "ChargePointService")
        loader = Transport(session=session)
        self.document = zeep.Client(str(self.desc.path), transport=loader).wsdl
        service = next(iter(self.document.services.values()))
        port = next(iter(service.ports.values()))
        self.binding_name = port.binding.name
        self.header_tag = f"{{{self.desc.namespace}}}{self.desc.header_element}"

    def header(self, identity: str) -> etree._Element:
        el = etree.Element(self.header_tag)
        el.text = identity
        return el

    def service(self, address: str, session: requests.Session, timeout: float):
        transport = Transport(session=session, timeout=timeout, operation_timeout=timeout)
        # WS-Addressing (Action, MessageID, To) comes from zeep itself, as the WSDLs declare each operation's
        # wsaw:Action; a WsAddressingPlugin on top would send every one of those headers twice.
        client = zeep.Client(
            self.document,
            transport=transport,
            settings=zeep.Settings(strict=False, xml_huge_tree=False),
        )
        return client.create_service(self.binding_name, address)


class SoapGateway:
    """The dispatcher's way to SOAP chargers (``cms.gateway.ChargerGateway``)."""

    name = "soap"

    def __init__(self, db: Database):
        self.db = db
        self.session = requests.Session()
        self._clients = {v: _VersionClient(v, self.session) for v in VERSIONS}

    def _target(self, identity: str) -> tuple[str, str] | None:
        with self.db.uow() as uow:
            row = uow.session.execute(
                select(ChargePoint.endpoint_url, ChargePoint.ocpp_version).where(
                    ChargePoint.identity == identity, ChargePoint.transport == "soap"
                )
            ).first()
        if row is None or not row.endpoint_url:
            return None
        return row.endpoint_url, row.ocpp_version if row.ocpp_version in VERSIONS else "1.6"

    def holds(self, identity: str) -> bool:
        return self._target(identity) is not None

    def call(self, identity: str, action: str, payload: dict, timeout: float) -> dict:
        target = self._target(identity)
        if target is None:
            raise ChargerNotConnected(f"{identity} has no SOAP endpoint")
        address, version = target
        vc = self._clients[version]
        op = vc.desc.operations.get(action)
        if op is None:
            raise InvalidInput(f"{action} does not exist in OCPP {version}, which {identity} speaks")
        request = mapping15.command_to_15(action, payload) if version == "1.5" else payload
        # Through the WSDL's own types: drops fields this version lacks, checks and types the rest.
        try:
            kwargs = to_dict(op.request_type, from_dict(op.request_type, request))
        except (TypeError, ValueError) as e:
            raise InvalidInput(f"{action} cannot be expressed in OCPP {version}: {e}") from None
        try:
            result = getattr(vc.service(address, self.session, timeout), action)(
                **kwargs, _soapheaders=[vc.header(identity)]
            )
        except Fault as f:
            raise ChargerCallError(_fault_code(f), f.message or "", {"soapFault": _fault_code(f)}) from None
        except requests.exceptions.Timeout:
            raise ChargerTimeout(f"{identity} did not answer {action} in time") from None
        except requests.exceptions.ConnectionError as e:
            raise ChargerNotConnected(f"{identity} at {address} cannot be reached: {e.__class__.__name__}") from None
        except (TransportError, XMLSyntaxError, etree.XMLSyntaxError) as e:
            raise ChargerCallError(
                "GenericError", f"{identity} answered {action} with no usable SOAP response: {e}"
            ) from None
        answer = serialize_object(result, dict)
        if len(op.response_type._type_info) == 1 and answer is not None:
            # zeep hands back a one-element response as just that element's value
            answer = {next(iter(op.response_type._type_info)): answer}
        answer = _plain(answer or {})
        if version == "1.5":
            answer = mapping15.command_result_to_16(action, answer)
        return answer


def _fault_code(fault: Fault) -> str:
    """The OCPP error code of a fault: its innermost Subcode (SOAP 1.2), else the fault code."""
    for sub in reversed(fault.subcodes or []):
        local = sub.localname if isinstance(sub, etree.QName) else str(sub).rpartition(":")[2]
        if local:
            return local
    code = str(fault.code or "GenericError")
    return code.rpartition(":")[2].rpartition(".")[2] or "GenericError"
