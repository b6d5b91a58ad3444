"""Operator API, id tags: create, list, block, expire, group under a parent, delete; and what a charger hears
about a tag changed this way."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cms.models import IdTag


def test_create_block_expire_group_and_delete(as_owner):
    r = as_owner.post("/id-tags", {"idTag": "FLEET"})
    assert r.status_code == 201
    assert r.get_json() == {"idTag": "FLEET", "parentIdTag": None, "expiryDate": None, "blocked": False}
    r = as_owner.post(
        "/id-tags", {"idTag": "CARD-1", "parentIdTag": "FLEET", "expiryDate": "2030-01-01T00:00:00Z", "blocked": True}
    )
    assert r.status_code == 201
    assert r.get_json() == {
        "idTag": "CARD-1",
        "parentIdTag": "FLEET",
        "expiryDate": "2030-01-01T00:00:00.000Z",
        "blocked": True,
    }
    assert (
        as_owner.post("/id-tags", {"idTag": "CARD-2", "expiryDate": "2030-06-01T12:00:00+02:00"}).get_json()[
            "expiryDate"
        ]
        == "2030-06-01T10:00:00.000Z"
    )

    r = as_owner.patch("/id-tags/CARD-1", {"blocked": False})
    assert r.get_json() == {
        "idTag": "CARD-1",
        "parentIdTag": "FLEET",
        "expiryDate": "2030-01-01T00:00:00.000Z",
        "blocked": False,
    }
    r = as_owner.patch("/id-tags/CARD-1", {"expiryDate": None, "parentIdTag": None})
    assert r.get_json() == {"idTag": "CARD-1", "parentIdTag": None, "expiryDate": None, "blocked": False}
    # Sending back what GET returned, idTag included, is fine.
    r = as_owner.patch(
        "/id-tags/CARD-2", {"idTag": "CARD-2", "parentIdTag": "FLEET", "expiryDate": None, "blocked": True}
    )
    assert r.status_code == 200 and r.get_json()["parentIdTag"] == "FLEET"

    listed = as_owner.get("/id-tags").get_json()
    assert [t["idTag"] for t in listed["items"]] == ["CARD-1", "CARD-2", "FLEET"] and listed["nextCursor"] is None

    # Deleting the group ungroups its members.
    assert as_owner.delete("/id-tags/FLEET").status_code == 204
    assert as_owner.delete("/id-tags/FLEET").status_code == 404
    assert [(t["idTag"], t["parentIdTag"]) for t in as_owner.get("/id-tags").get_json()["items"]] == [
        ("CARD-1", None),
        ("CARD-2", None),
    ]


def test_what_the_api_sets_is_what_chargers_hear(as_owner, owner, add_charger, connect):
    add_charger("CP1")
    charger = connect("CP1")
    charger.boot()
    assert as_owner.post("/id-tags", {"idTag": "GROUP"}).status_code == 201
    assert as_owner.post("/id-tags", {"idTag": "CARD", "parentIdTag": "GROUP"}).status_code == 201
    from ocpp.v16 import call

    def authorize(tag):
        return charger.call(call.Authorize(id_tag=tag)).id_tag_info

    assert authorize("CARD") == {"status": "Accepted", "parent_id_tag": "GROUP"}
    as_owner.patch("/id-tags/CARD", {"blocked": True})
    assert authorize("CARD")["status"] == "Blocked"
    as_owner.patch("/id-tags/CARD", {"blocked": False, "expiryDate": "2020-01-01T00:00:00Z"})
    assert authorize("CARD")["status"] == "Expired"
    as_owner.patch("/id-tags/CARD", {"expiryDate": None})
    # A blocked group blocks its members.
    as_owner.patch("/id-tags/GROUP", {"blocked": True})
    assert authorize("CARD")["status"] == "Blocked"
    as_owner.delete("/id-tags/CARD")
    assert authorize("CARD")["status"] == "Invalid"


def test_another_owners_tags_are_404_and_administrators_see_all(as_owner, as_other, as_admin, rt):
    assert as_other.post("/id-tags", {"idTag": "THEIRS"}).status_code == 201
    assert as_owner.post("/id-tags", {"idTag": "MINE"}).status_code == 201
    assert [t["idTag"] for t in as_owner.get("/id-tags").get_json()["items"]] == ["MINE"]
    for call in (
        lambda: as_owner.patch("/id-tags/THEIRS", {"blocked": True}),
        lambda: as_owner.delete("/id-tags/THEIRS"),
        lambda: as_owner.patch("/id-tags/NOBODY", {"blocked": True}),
    ):
        r = call()
        assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    # Their tag as a parent is reported like a missing one.
    for parent in ("THEIRS", "NOBODY"):
        r = as_owner.post("/id-tags", {"idTag": "CHILD", "parentIdTag": parent})
        assert r.status_code == 422 and r.get_json()["message"] == f"No such parent id tag {parent}"
        r = as_owner.patch("/id-tags/MINE", {"parentIdTag": parent})
        assert r.status_code == 422
    # Tags are unique system-wide, so taking another owner's value is a conflict.
    assert as_owner.post("/id-tags", {"idTag": "THEIRS"}).status_code == 409
    with rt.db.uow() as uow:
        assert not uow.session.scalar(select(IdTag.blocked).where(IdTag.tag == "THEIRS"))

    assert [t["idTag"] for t in as_admin.get("/id-tags").get_json()["items"]] == ["MINE", "THEIRS"]
    assert as_admin.patch("/id-tags/THEIRS", {"blocked": True}).get_json()["blocked"] is True
    # A group stays within one owner, for administrators too.
    r = as_admin.patch("/id-tags/THEIRS", {"parentIdTag": "MINE"})
    assert r.status_code == 422 and "another owner" in r.get_json()["message"]
    assert as_admin.delete("/id-tags/THEIRS").status_code == 204


def test_no_tag_can_be_its_own_ancestor(as_owner):
    for tag, parent in (("A", None), ("B", "A"), ("C", "B")):
        assert as_owner.post("/id-tags", {"idTag": tag, "parentIdTag": parent}).status_code == 201
    for tag, parent in (("A", "A"), ("A", "C"), ("B", "C")):
        r = as_owner.patch(f"/id-tags/{tag}", {"parentIdTag": parent})
        assert r.status_code == 422 and "itself or its own member" in r.get_json()["message"]
    assert [(t["idTag"], t["parentIdTag"]) for t in as_owner.get("/id-tags").get_json()["items"]] == [
        ("A", None),
        ("B", "A"),
        ("C", "B"),
    ]


def test_tags_page_with_a_cursor_and_odd_values_work_in_urls(as_owner):
    values = [f"T{n:03d}" for n in range(25)] + ["with space", "a/b", "ünï"]
    for value in values:
        assert as_owner.post("/id-tags", {"idTag": value}).status_code == 201, value
    seen, cursor = [], None
    while True:
        page = as_owner.get("/id-tags", query_string={"limit": 4, **({"cursor": cursor} if cursor else {})}).get_json()
        seen += [t["idTag"] for t in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(values) and len(seen) == len(set(seen))
    for value in ("with space", "a/b", "ünï"):
        assert as_owner.patch(f"/id-tags/{value}", {"blocked": True}).get_json() == {
            "idTag": value,
            "parentIdTag": None,
            "expiryDate": None,
            "blocked": True,
        }
        assert as_owner.delete(f"/id-tags/{value}").status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"idTag": ""},
        {"idTag": "X" * 21},
        {"idTag": "   "},
        {"idTag": "OK", "blocked": "yes"},
        {"idTag": "OK", "expiryDate": "tomorrow"},
        {"idTag": "OK", "expiryDate": "2030-01-01"},
        {"idTag": "OK", "expiryDate": "2030-02-30T00:00:00Z"},
        {"idTag": "OK", "expiryDate": "0001-01-01T00:00:00+01:00"},
        {"idTag": "OK", "parentIdTag": ""},
        {"idTag": "OK", "owner": "someone"},
        {"idTag": "OK\x00"},
    ],
)
def test_bad_bodies_are_422(as_owner, body):
    r = as_owner.post("/id-tags", body)
    assert r.status_code == 422, (body, r.get_json())
    assert r.get_json()["error"] == "invalid_input"
    assert as_owner.get("/id-tags").get_json()["items"] == []


def test_bad_changes_are_422_and_change_nothing(as_owner):
    as_owner.post("/id-tags", {"idTag": "CARD", "expiryDate": "2030-01-01T00:00:00Z"})
    before = as_owner.get("/id-tags").get_json()
    for body in ({"idTag": "RENAMED"}, {"blocked": None}, {"expiryDate": "soon"}, {"parentIdTag": "CARD"}, [1]):
        assert as_owner.patch("/id-tags/CARD", body).status_code == 422, body
    assert as_owner.get("/id-tags").get_json() == before
    assert as_owner.get("/id-tags", query_string={"limit": 1001}).status_code == 422


def test_tokens_and_roles(as_nobody, as_driver, as_owner):
    as_owner.post("/id-tags", {"idTag": "CARD"})
    for api, status in ((as_nobody, 401), (as_driver, 403)):
        assert api.get("/id-tags").status_code == status
        assert api.post("/id-tags", {"idTag": "X"}).status_code == status
        assert api.patch("/id-tags/CARD", {"blocked": True}).status_code == status
        assert api.delete("/id-tags/CARD").status_code == status
