"""OCPP 1.5-S and 1.6-S: spyne CentralSystemServices on the service layer, and a zeep gateway for
CMS-initiated calls. ``mount_soap(app, rt)`` is all the composition root calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from cms.runtime import Runtime

PATHS = {"1.5": "/soap/ocpp15", "1.6": "/soap/ocpp16"}


def mount_soap(app: Flask, rt: Runtime) -> None:
    """Serve the SOAP endpoints in front of ``app`` and register the SOAP gateway with ``rt.dispatcher``."""
    import spyne.const

    # spyne runs a full gc.collect() after a request at most once a second, to return file descriptors
    # of attachments (which OCPP does not use). On a large worker heap that stalls every request in flight
    # for hundreds of milliseconds; Python's own generational collection is enough.
    spyne.const.MIN_GC_INTERVAL = float("inf")

    from .central_system import CentralSystemEndpoint
    from .gateway import SoapGateway
    from .wsgi import SoapMount

    endpoints = {path: CentralSystemEndpoint(rt, version) for version, path in PATHS.items()}
    app.wsgi_app = SoapMount(  # type: ignore[method-assign]  # WSGI middleware, as Flask documents it
        app.wsgi_app, {path: ep.services for path, ep in endpoints.items()}, rt.metrics
    )
    rt.dispatcher.add_gateway(SoapGateway(rt.db))
