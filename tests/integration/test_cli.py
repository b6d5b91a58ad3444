"""The ``cms`` command line: each command works, and bad input exits non-zero with a one-line reason."""

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cms.cli import main
from cms.models import ChargePoint, IdTag


@pytest.fixture
def cms(rt, database_url, monkeypatch):
    monkeypatch.setenv("CMS_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return run


def test_people_chargers_tags_and_tokens(cms, rt, tmp_path):
    assert cms("owner", "create", "ann@example.com", "--password", "ann-password").exit_code == 0
    token = cms("token", "create", "ann@example.com")
    assert token.exit_code == 0 and len(token.output.strip()) > 30
    assert cms("chargepoint", "add", "CP-9", "--owner", "ann@example.com", "--password", "x" * 16).exit_code == 0
    assert cms("idtag", "add", "PARENT", "--owner", "ann@example.com").exit_code == 0
    assert cms("idtag", "add", "CHILD", "--parent", "PARENT", "--expiry", "2030-01-01", "--blocked").exit_code == 0
    csv = tmp_path / "cps.csv"
    csv.write_text("id,owner,password,station\n" + "".join(f"B-{i},ann@example.com,,Yard\n" for i in range(500)))
    out = cms("chargepoint", "import", str(csv))
    assert out.exit_code == 0 and "500 charge points imported" in out.output
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ChargePoint)) == 501
        child = uow.session.scalar(select(IdTag).where(IdTag.tag == "CHILD"))
        assert child.blocked and child.expiry_date.year == 2030 and child.parent_id is not None


@pytest.mark.parametrize(
    "args",
    [
        ("owner", "create", "not-an-email", "--password", "long-enough"),
        ("owner", "create", "bob@example.com", "--password", "short"),
        ("token", "create", "nobody@example.com"),
        ("chargepoint", "add", "bad id!", "--owner", "ann@example.com"),
        ("chargepoint", "add", "CP-1", "--owner", "nobody@example.com"),
        ("chargepoint", "add", "CP-1", "--owner", "ann@example.com", "--password", "short"),
        ("idtag", "add", "T" * 21),
        ("idtag", "add", "T1", "--expiry", "someday"),
        ("idtag", "add", "T1", "--parent", "MISSING"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(cms, args):
    cms("owner", "create", "ann@example.com", "--password", "ann-password")
    out = cms(*args)
    assert out.exit_code != 0
    assert out.output.startswith("Error: ") and out.output.count("\n") == 1


def test_import_is_all_or_nothing(cms, rt, tmp_path):
    cms("owner", "create", "ann@example.com", "--password", "ann-password")
    csv = tmp_path / "cps.csv"
    csv.write_text("id,owner,password,station\nOK-1,ann@example.com,,\nOK-2,nobody@example.com,,\n")
    out = cms("chargepoint", "import", str(csv))
    assert out.exit_code != 0 and "line 3" in out.output
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ChargePoint)) == 0


def test_outbox_shows_mails(cms, rt):
    from cms.mail import Mailer

    mailer = Mailer(rt.settings)
    with rt.db.uow() as uow:
        mailer.send(uow.session, "ann@example.com", "Welcome", "Follow https://example.test/verify/abc")
        uow.commit()
    out = cms("outbox", "--to", "ann@example.com")
    assert out.exit_code == 0 and "Subject: Welcome" in out.output and "verify/abc" in out.output


def test_the_server_command_has_an_access_log_only_when_asked():
    from cms.cli import gunicorn_command

    quiet = gunicorn_command("127.0.0.1", 8000, 2)
    assert "--access-logfile" not in quiet and quiet[-1] == "app:create_app()"
    logged = gunicorn_command("127.0.0.1", 8000, 2, access_log="-")
    assert logged[logged.index("--access-logfile") + 1] == "-"
    assert logged[logged.index("--workers") + 1] == "2"
    assert logged[logged.index("--worker-class") + 1] == "cms.gunicorn_worker.GeventWorker"


def test_station_add_prints_the_id(cms, rt):
    from cms.models import Station

    cms("owner", "create", "ann@example.com", "--password", "ann-password")
    out = cms(
        "station",
        "add",
        "Depot",
        "--owner",
        "ann@example.com",
        "--address",
        "1 Yard Road",
        "--lat",
        "52.52",
        "--lon",
        "13.405",
        "--timezone",
        "Europe/Berlin",
    )
    assert out.exit_code == 0, out.output
    station_id = int(out.output.strip())
    bare = cms("station", "add", "Bare", "--owner", "ann@example.com")
    assert bare.exit_code == 0
    with rt.db.uow() as uow:
        s = uow.session.get(Station, station_id)
        assert (s.name, s.address, s.latitude, s.longitude, s.timezone) == (
            "Depot",
            "1 Yard Road",
            52.52,
            13.405,
            "Europe/Berlin",
        )
        b = uow.session.get(Station, int(bare.output))
        assert (b.latitude, b.longitude, b.timezone) == (None, None, "UTC")


@pytest.mark.parametrize(
    "args,reason",
    [
        (("Depot", "--owner", "nobody@example.com"), "No account"),
        (("Depot", "--owner", "ann@example.com", "--timezone", "Mars/Olympus"), "time zone"),
        (("Depot", "--owner", "ann@example.com", "--lat", "52.5"), "both latitude and longitude"),
        (("Depot", "--owner", "ann@example.com", "--lon", "13.4"), "both latitude and longitude"),
        (("Depot", "--owner", "ann@example.com", "--lat", "north", "--lon", "13.4"), "Latitude must be a number"),
        (("Depot", "--owner", "ann@example.com", "--lat", "95", "--lon", "13.4"), "Latitude must be between"),
        (("  ", "--owner", "ann@example.com"), "name"),
        (("Taken", "--owner", "ann@example.com"), "already"),
    ],
)
def test_station_add_refuses_bad_input_in_one_line(cms, rt, args, reason):
    from cms.models import Station

    cms("owner", "create", "ann@example.com", "--password", "ann-password")
    assert cms("station", "add", "Taken", "--owner", "ann@example.com").exit_code == 0
    out = cms("station", "add", *args)
    assert out.exit_code != 0
    assert out.output.startswith("Error: ") and out.output.count("\n") == 1 and reason in out.output, out.output
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Station)) == 1
