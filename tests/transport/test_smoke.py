from ocpp.v16 import call


def test_boot_and_heartbeat(add_charger, connect):
    add_charger("CP1")
    cp = connect("CP1")
    res = cp.boot()
    assert res.status == "Accepted"
    hb = cp.call(call.Heartbeat())
    assert hb.current_time
