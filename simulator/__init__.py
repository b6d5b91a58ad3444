"""Simulated OCPP 1.6-J chargers: a charger-side tool, not part of the server.

It talks to a CMS only over the wire (``ws://HOST:PORT/ocpp/{id}``) and imports nothing of the server's
packages (``cms``, ``json_ws``, ``soap``). ``charger`` is the simulated charge point (the ``ocpp`` package's
ChargePoint on a ``websockets`` client), ``charger_profiles`` its smart charging (pure), ``simulated_ev`` the EVs
it charges, ``cli`` the ``cms simulate`` command (also ``python -m simulator``).
"""
