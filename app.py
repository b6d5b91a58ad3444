"""The composition root: ``create_app()`` builds the whole CMS for ``flask --app app``, gunicorn and tests."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from flask import Flask
from flask_sock import Sock

import cms.web
from cms.config import load_settings
from cms.logs import configure_logging
from cms.runtime import build_runtime

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

    # Site load management hears every committed charger message (the one seam in the service layer) and
    # re-allocates stations on its own threads once the dispatcher exists (below).
    load_manager = LoadManager(debounce=settings.loadmgmt_debounce, meter_debounce=settings.loadmgmt_meter_debounce)
    rt = build_runtime(settings, partial(build_metrics, settings), observers=[load_manager.observe])
    app.extensions["cms"] = rt
    rt.extras["loadmgmt"] = load_manager

    from cms.web.health import bp as health_bp
    from json_ws.connection import ConnectionRegistry, WsGateway
    from json_ws.endpoint import create_blueprint as ocpp_ws_blueprint

    rt.registry = ConnectionRegistry()
    # Stopping (rt.shutdown, from cms.gunicorn_worker on SIGTERM): JSON chargers get close 1001 once answered.
    rt.on_shutdown.append(rt.registry.go_away_all)
    sock = Sock()
    app.register_blueprint(ocpp_ws_blueprint(sock))
    sock.init_app(app)
    app.register_blueprint(health_bp)
    from cms.metrics import MetricsAccess
    from cms.web.metrics import bp as metrics_bp

    rt.extras["metrics_access"] = MetricsAccess.from_settings(settings)
    app.register_blueprint(metrics_bp)

    from cms.files import FileStore
    from cms.web import api
    from cms.web.files import bp as files_bp

    rt.extras["files"] = FileStore(settings)
    from cms.payments import load_provider
    from cms.wallet import install_billing

    rt.extras["payments"] = load_provider(settings)
    install_billing(rt)
    app.register_blueprint(files_bp)
    api.register(app)

    from cms.web import dashboard, driver_app

    driver_app.init_app(app)  # /app/ (the drivers' web app) and the landing page /
    dashboard.init_app(app)  # Flask-Login, CSRF (dashboard forms only), mailer, the /dashboard blueprint

    from cms.dispatcher import Dispatcher

    rt.dispatcher = Dispatcher(rt.db, rt.validator, timeout=settings.call_timeout, metrics=rt.metrics)
    rt.dispatcher.add_gateway(WsGateway(rt.registry))
    from soap import mount_soap

    mount_soap(app, rt)
    load_manager.start(rt)
    rt.on_shutdown.append(lambda _deadline: load_manager.stop())
    from cms.web import security

    security.init_app(app)  # headers, cookie flags; last: its proxy fix wraps every WSGI layer (SOAP too)
    if settings.redis_url:
        _connect_redis(rt)
    _start_maintenance(rt)
    if settings.group_commit_max > 0:
        from cms.group_commit import GroupCommitter

        rt.charger_service.group_commit = GroupCommitter(
            rt.charger_service, settings.group_commit_max, settings.group_commit_writers, metrics=rt.metrics
        )
    if settings.heartbeat_batch_seconds > 0:
        from cms.heartbeats import HeartbeatBatcher

        rt.charger_service.heartbeats = HeartbeatBatcher(
            rt.db, settings.heartbeat_batch_seconds, settings.message_log_limit, metrics=rt.metrics
        )
        rt.charger_service.heartbeats.start()
    return app


def _start_maintenance(rt) -> None:
    from cms.maintenance import Maintenance, reset_connection_flags, schedule_full_collections

    if not rt.settings.redis_url:
        reset_connection_flags(rt.db)
    if rt.settings.maintenance_interval > 0:
        gc_full = rt.settings.gc_full_interval
        rt.extras["maintenance"] = Maintenance(
            rt.db, rt.settings.heartbeat_interval, rt.settings.maintenance_interval, gc_full
        )
        if gc_full > 0:  # the upkeep rounds run them, so only when there are upkeep rounds
            schedule_full_collections()
        rt.extras["maintenance"].start()


def _connect_redis(rt) -> None:
    """Several processes or nodes: share who holds which charger, and route commands, over Redis."""
    import redis

    from cms.routing import RedisRouter

    client = redis.Redis.from_url(rt.settings.redis_url, socket_timeout=None, health_check_interval=30)
    rt.extras["redis"] = client
    router = RedisRouter(client, rt.node_id, rt.dispatcher.call_local)
    rt.dispatcher.remote = router
    rt.on_connect.append(router.announce)
    rt.on_disconnect.append(router.withdraw)
    router.start()
    rt.extras["redis_router"] = router
