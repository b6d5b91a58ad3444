"""One owner, three chargers: OCPP-J, SOAP 1.5 and SOAP 1.6, each running a session; the API and the
database show them alike, and commands reach all three through the same API route."""

from __future__ import annotations

import requests
from sqlalchemy import select

from cms.models import MeterValue, Transaction
from tests.soap.chargepoint_server import SoapChargePointServer
from tests.soap.charger import SoapCharger


def _api(live_server, token, method, path, **kw):
    return requests.request(
        method, f"{live_server.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=20, **kw
    )


def test_json_and_soap_chargers_side_by_side(rt, live_server, owner_token, add_charger, add_tag, connect):
    for identity in ("JSON1", "S15", "S16"):
        add_charger(identity)
    add_tag("TAG-J")
    add_tag("TAG-15")
    add_tag("TAG-16")
    cp15, cp16 = SoapChargePointServer("1.5"), SoapChargePointServer("1.6")
    try:
        json_cp = connect("JSON1")
        s15 = SoapCharger(live_server.url, "S15", "1.5", endpoint_url=cp15.url)
        s16 = SoapCharger(live_server.url, "S16", "1.6", endpoint_url=cp16.url)

        assert json_cp.boot().status == "Accepted"
        assert s15.boot()["status"] == s16.boot()["status"] == "Accepted"
        json_cp.status(1, "Available")
        s15.status(1, "Available")
        s16.status(1, "Available")

        tx_j = json_cp.start(1, "TAG-J", meter_start=0).transaction_id
        tx_15 = s15.start(1, "TAG-15", meter_start=0)["transactionId"]
        tx_16 = s16.start(1, "TAG-16", meter_start=0)["transactionId"]
        json_cp.meter(1, tx_j, [{"value": "1.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register"}])
        s15.meter(1, tx_15, 1500.0)
        s16.meter(1, tx_16, 1500.0)
        json_cp.stop(tx_j, 3000, id_tag="TAG-J")
        s15.stop(tx_15, 3000, id_tag="TAG-15")
        s16.stop(tx_16, 3000, id_tag="TAG-16")

        with rt.db.uow() as uow:
            for tx_id in (tx_j, tx_15, tx_16):
                tx = uow.session.get(Transaction, tx_id)
                assert (tx.meter_start, tx.meter_stop, tx.stop_timestamp is not None) == (0, 3000, True)
                readings = uow.session.scalars(select(MeterValue.value).where(MeterValue.transaction_id == tx_id)).all()
                assert readings == [1500.0]

        listed = _api(live_server, owner_token, "GET", "/charge-points")
        assert listed.status_code == 200, listed.text
        by_id = {cp["id"]: cp for cp in listed.json()}
        assert {k: (by_id[k]["transport"], by_id[k]["ocppVersion"]) for k in ("JSON1", "S15", "S16")} == {
            "JSON1": ("json", "1.6"),
            "S15": ("soap", "1.5"),
            "S16": ("soap", "1.6"),
        }
        for identity in ("JSON1", "S15", "S16"):
            assert by_id[identity]["registrationStatus"] == "Accepted"
            assert by_id[identity]["connected"] is True  # a SOAP charger by its recent messages
            assert [c["status"] for c in by_id[identity]["connectors"]] == ["Available"]

        for identity in ("JSON1", "S15", "S16"):
            r = _api(
                live_server, owner_token, "POST", f"/charge-points/{identity}/commands/Reset", json={"type": "Soft"}
            )
            assert r.status_code == 200 and r.json() == {"status": "Accepted"}, (identity, r.text)
        assert [name for name, _, _ in cp15.received] == ["Reset"]
        assert [name for name, _, _ in cp16.received] == ["Reset"]
        assert json_cp.cp.received[-1][0] == "Reset"
    finally:
        cp15.stop()
        cp16.stop()
