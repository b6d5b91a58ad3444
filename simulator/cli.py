"""``cms simulate`` (and ``python -m simulator``): simulated chargers running sessions against a CMS.

The command is a plugin of the ``cms`` command line, found through the ``cms.commands`` entry point group
(pyproject.toml), the way Flask finds ``flask.commands``: the server's core never imports the simulator.
"""

from __future__ import annotations

import click


@click.command()
@click.option("--url", default="ws://127.0.0.1:8000", show_default=True, help="the CMS's WebSocket base URL")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 20000))
@click.option("--prefix", default="SIM-", show_default=True, help="identities are PREFIX1..PREFIXN")
@click.option("--id", "identities", multiple=True, help="explicit identities (instead of --count/--prefix)")
@click.option(
    "--id-tag", default="DEMO", show_default=True, help="the card each charger charges; {identity} becomes its own id"
)
@click.option("--session-seconds", default=60.0, show_default=True, type=float)
@click.option("--meter-interval", default=10.0, show_default=True, type=float)
@click.option("--duration", default=None, type=float, help="stop after this many seconds")
@click.option("--password", default=None)
def simulate(url, count, prefix, identities, id_tag, session_seconds, meter_interval, duration, password) -> None:
    """Simulated OCPP 1.6-J chargers running realistic sessions against a CMS."""
    from .charger import run

    ids = list(identities) or [f"{prefix}{i}" for i in range(1, count + 1)]
    try:
        run(
            url,
            ids,
            id_tag=id_tag,
            session_seconds=session_seconds,
            meter_interval=meter_interval,
            duration=duration,
            password=password,
        )
    except ValueError as e:
        raise click.ClickException(str(e)) from None
