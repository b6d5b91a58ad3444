"""The composition root: ``create_app()`` builds the whole CMS for ``flask --app app``, gunicorn and tests."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from flask import Flask
from flask_sock import Sock

import cms.web
from cms.config import load_settings
from cms.logs import configure_logging
from cms.runtime import Runtime, build_runtime

WEB_ROOT = Path(cms.web.__file__).parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: settings from ``CMS_*`` (overridden by ``test_config``), database, transports, blueprints."""
    settings = load_settings(test_config)
    configure_logging(settings.log_format)
    # Templates and static files travel inside the package (cms/web/), so an installed CMS serves them from
    # any working directory.
    app = Flask(__name__, template_folder=str(WEB_ROOT / "templates"), static_folder=str(WEB_ROOT / "static"))
    app.config.update(SECRET_KEY=settings.secret_key, JSON_SORT_KEYS=False)
    from json_ws.wsloop import NoReaderThread

    # flask-sock does the handshake; the connection's own greenlet then reads (json_ws/wsloop.py), which also
    # pings chargers silent for CMS_WS_PING_INTERVAL seconds and limits message size.
    app.config["SOCK_SERVER_OPTIONS"] = {"subprotocols": ["ocpp1.6"], "thread_class": NoReaderThread}
    from cms.loadmgmt.manager import LoadManager
    from cms.prometheus import build_metrics
    from json_ws.connection import ConnectionRegistry, WsGateway

    # Site load management hears every committed charger message (the one seam of the message runner) and
    # re-allocates stations on its own threads, through the dispatcher.
    load_manager = LoadManager(debounce=settings.loadmgmt_debounce, meter_debounce=settings.loadmgmt_meter_debounce)
    connections = ConnectionRegistry()  # the JSON chargers of this process
    rt = build_runtime(
        settings, partial(build_metrics, settings), observers=[load_manager.observe], connections=connections
    )
    app.extensions["cms"] = rt
    rt.load_manager = load_manager
    # Stopping (rt.shutdown, from cms.gunicorn_worker on SIGTERM): JSON chargers get close 1001 once answered.
    rt.on_shutdown.append(connections.go_away_all)
    rt.dispatcher.add_gateway(WsGateway(connections))

    from cms.web.health import bp as health_bp
    from json_ws.endpoint import create_blueprint as ocpp_ws_blueprint

    sock = Sock()
    app.register_blueprint(ocpp_ws_blueprint(sock))
    sock.init_app(app)
    app.register_blueprint(health_bp)
    from cms.web.metrics import bp as metrics_bp

    app.register_blueprint(metrics_bp)

    from cms.web import api
    from cms.web.files import bp as files_bp

    app.register_blueprint(files_bp)
    api.register(app)

    from cms.web import dashboard, driver_app

    driver_app.init_app(app)  # /app/ (the drivers' web app) and the landing page /
    dashboard.init_app(app)  # Flask-Login, CSRF (dashboard forms only), the /dashboard blueprint

    from soap import mount_soap

    mount_soap(app, rt)  # the SOAP endpoints, and their gateway for CMS-initiated calls
    load_manager.start(rt)
    rt.on_shutdown.append(lambda _deadline: load_manager.stop())
    from cms.web import security

    security.init_app(app)  # headers, cookie flags; last: its proxy fix wraps every WSGI layer (SOAP too)
    _prepare_maintenance(rt)
    rt.start()
    return app


def _prepare_maintenance(rt: Runtime) -> None:
    from cms.maintenance import reset_connection_flags, schedule_full_collections

    if not rt.settings.redis_url:  # one process: nobody else holds a charger the database says is connected
        reset_connection_flags(rt.db)
    if rt.maintenance is not None and rt.settings.gc_full_interval > 0:
        schedule_full_collections()  # the upkeep rounds run them, so only when there are upkeep rounds
