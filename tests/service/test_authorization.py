"""The authorisation rule at the service layer: groups of groups, cycles, expiry, owner scope, concurrency."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select

from cms.authorization import authorize, authorize_with_tag
from cms.models import IdTag, Transaction, utcnow


def _info(rt, tag, cp=None, **kw):
    with rt.db.uow() as uow:
        return authorize(uow.session, tag, cp, utcnow(), **kw)


def test_nested_groups_block_and_expire_their_members(rt, add_tag):
    add_tag("TOP", blocked=True)
    add_tag("MID", parent="TOP")
    add_tag("LEAF", parent="MID")
    add_tag("OLDTOP", expiry=utcnow() - timedelta(days=1))
    add_tag("OLDMID", parent="OLDTOP")
    add_tag("OLDLEAF", parent="OLDMID")
    add_tag("FINE")
    assert _info(rt, "LEAF") == {"status": "Blocked", "parentIdTag": "MID"}
    assert _info(rt, "OLDLEAF")["status"] == "Expired"
    assert _info(rt, "FINE") == {"status": "Accepted"}
    assert _info(rt, "NOPE") == {"status": "Invalid"}


def test_a_cycle_of_groups_ends(rt, add_tag):
    add_tag("A")
    add_tag("B", parent="A")
    add_tag("C", parent="B")
    with rt.db.uow() as uow:  # A -> C -> B -> A
        s = uow.session
        s.scalar(select(IdTag).where(IdTag.tag == "A")).parent_id = s.scalar(select(IdTag.id).where(IdTag.tag == "C"))
        uow.commit()
    assert _info(rt, "C") == {"status": "Accepted", "parentIdTag": "B"}


def test_expiry_owner_scope_and_concurrency(rt, owner, add_charger, add_tag):
    expiry = utcnow() + timedelta(days=3)
    cp = add_charger("AUTHCP")
    add_tag("MINE", owner=owner, expiry=expiry)
    mine = _info(rt, "MINE", cp)
    assert mine["status"] == "Accepted" and mine["expiryDate"].startswith(expiry.strftime("%Y-%m-%dT%H:%M"))
    assert _info(rt, "MINE", SimpleNamespace(owner_id=owner.id + 1000))["status"] == "Invalid"
    with rt.db.uow() as uow:
        tx = Transaction(
            charge_point_id=cp.id,
            connector_id=1,
            id_tag="MINE",
            start_key="k",
            meter_start=0,
            start_timestamp=utcnow(),
            start_received_at=utcnow(),
        )
        uow.session.add(tx)
        uow.commit()
    assert _info(rt, "MINE", cp)["status"] == "ConcurrentTx"
    assert _info(rt, "MINE", cp, exclude_transaction_id=tx.id)["status"] == "Accepted"
    assert _info(rt, "MINE", cp, check_concurrent=False)["status"] == "Accepted"
    with rt.db.uow() as uow:
        info, facts = authorize_with_tag(uow.session, "MINE", cp, utcnow(), check_concurrent=False)
    assert facts.owner_id == owner.id and facts.tag == "MINE"
