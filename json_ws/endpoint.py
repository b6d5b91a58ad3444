"""The flask-sock endpoint ``/ocpp/<chargePointId>``: handshake checks, then the receive loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from flask import Blueprint, Response, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from cms.admission import REFUSAL, RETRY_AFTER_S, Ticket, take_admitted
from cms.charger_auth import ChargerAdmission, authenticate_charger
from cms.connection_state import charger_connected, charger_disconnected
from cms.errors import InternalFailure, OcppError
from cms.handlers import Charger
from cms.limits import brief
from cms.logs import bind_charger, unbind_charger
from cms.runtime import Runtime

from . import framing
from .connection import ConnectionRegistry, OcppConnection
from .wsloop import WsChannel, take_over

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
MAX_MESSAGE_BYTES = 1 << 20  # a large local list or diagnostics answer fits; anything bigger is an attack
_TICKET = "cms.handshake_ticket"  # the request's cms.admission ticket, in the WSGI environ


def _refuse(status: int, reason: str, **headers) -> Response:
    resp = Response(reason + "\n", status=status, mimetype="text/plain")
    for k, v in headers.items():
        resp.headers[k.replace("_", "-")] = v
    return resp


def create_blueprint(sock: Sock) -> Blueprint:
    """The OCPP-J blueprint; ``sock`` is the app's flask-sock extension."""
    bp = Blueprint("ocpp_ws", __name__)

    @bp.before_request
    def check_handshake():
        """Refuse before upgrading: too many handshakes in progress (503), no common subprotocol (400), unknown
        charger (404), bad password (401). A registered charger known from an earlier handshake is checked
        without the database (cms.handshake_cache)."""
        rt = current_app.extensions["cms"]
        # Decline permessage-deflate (simple-websocket accepts it from every client that offers it): zlib state
        # costs hundreds of KB per connection, for frames of a few hundred bytes that hardly compress.
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        identity = (request.view_args or {}).get("charge_point_id", "")
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if SUBPROTOCOL not in offered:
            return _refuse(400, f"Subprotocol {SUBPROTOCOL} required")
        # Under gunicorn the worker admitted the handshake before parsing it (cms.gunicorn_worker); elsewhere
        # it asks for a place here, without waiting.
        ticket = take_admitted()
        gate = rt.handshake_gate(identity) if ticket is None else None
        if gate is not None:
            ticket = gate.enter()
            if ticket is None:
                return _refuse(503, REFUSAL, Retry_After=str(RETRY_AFTER_S))
        auth = request.authorization
        verdict = authenticate_charger(
            rt.db,
            rt.settings,
            identity,
            auth.username if auth else None,
            auth.password if auth else None,
            cache=rt.handshake_cache,
        )
        refusal = None
        if verdict is ChargerAdmission.UNKNOWN:
            refusal = _refuse(404, "Unknown charge point")
        elif verdict is ChargerAdmission.UNAUTHENTICATED:
            refusal = _refuse(401, "Authentication required", WWW_Authenticate='Basic realm="OCPP"')
        if refusal is not None:
            if ticket is not None:
                ticket.release()
            return refusal
        request.environ[_TICKET] = ticket  # released once the connection is served (or the upgrade fails)
        return None

    @bp.teardown_request
    def _release_ticket(_exc):
        ticket = request.environ.pop(_TICKET, None)
        if ticket is not None:
            ticket.release()

    @sock.route("/ocpp/<path:charge_point_id>", bp=bp)
    def ocpp_endpoint(ws, charge_point_id: str):
        rt = current_app.extensions["cms"]
        detach = ws.mode == "gunicorn" and _gevent_patched()
        channel = take_over(ws, rt.settings.ws_ping_interval, MAX_MESSAGE_BYTES, detach=detach)
        ticket = request.environ.pop(_TICKET, None)  # from now on the connection releases it
        if detach:
            # The request ends now; the connection lives on in a bare greenlet (see wsloop.take_over).
            import gevent

            gevent.spawn_raw(_serve_detached, channel, charge_point_id, rt, ticket)
        else:
            serve_connection(channel, charge_point_id, rt, ticket)

    return bp


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return monkey.is_module_patched("socket")


def _serve_detached(channel: WsChannel, identity: str, rt: Runtime, ticket: Ticket | None = None) -> None:
    try:
        serve_connection(channel, identity, rt, ticket)
    except Exception:  # a bare greenlet has nobody to report to
        log.exception("%s: connection failed", identity)


def serve_connection(channel: WsChannel, identity: str, rt: Runtime, ticket: Ticket | None = None) -> None:
    """Run one charger's connection until it closes; a newer connection of the same charger replaces it.
    ``ticket`` (cms.admission) is released once the connection is registered and announced: the place guards the
    handshake, not the charger's first message, whose arrival depends on the charger's network (a charger on a
    cellular link takes a second), and which needs no connection of its own from the pool (commit groups).

    Whatever fails around it (the database marking it connected, Redis announcing it), the connection is read
    and served, and when it ends it leaves the registry: an outside failure is logged, never fatal here."""
    registry = rt.connections
    assert isinstance(registry, ConnectionRegistry)  # what create_app gives the runtime
    conn = OcppConnection(channel, identity, rt.node_id)
    old = registry.add(conn)
    logged_as = bind_charger(identity)  # every line logged for this connection names the charger
    try:
        if old is not None:
            old.close(1000, "Replaced by a new connection")
        _connection_hook(partial(charger_connected, rt.db, flags=rt.connection_flags), identity, conn.token)
        for fn in rt.on_connect:
            _connection_hook(fn, identity, conn.token)
        if ticket is not None:
            ticket.release()
            ticket = None
        charger = Charger(identity=identity, transport="json", ocpp_version="1.6")
        # Messages are handled one after the other, in order, in this greenlet: a charger sends one CALL at
        # a time, and answers to our CALLs are delivered here to the greenlet waiting for them.
        first_answer_hooks = rt.before_first_answer
        for text in channel:
            with conn.handling():  # busy until answered: a shutdown closes the connection only after this
                reply = handle_frame(rt, conn, charger, text)
                if reply is not None:
                    if first_answer_hooks:
                        for hook in first_answer_hooks:
                            _connection_hook(hook, identity, conn.token)
                        first_answer_hooks = []
                    conn.send(reply)
    except ConnectionClosed:
        pass
    finally:
        if ticket is not None:
            ticket.release()
        conn.mark_closed()
        channel.abort()  # a loop that ended on a failure must not leave the socket open and unread
        if registry.remove(conn):
            _connection_hook(partial(charger_disconnected, rt.db, flags=rt.connection_flags), identity, conn.token)
            for fn in rt.on_disconnect:
                _connection_hook(fn, identity, conn.token)
        unbind_charger(logged_as)


def _connection_hook(fn: Callable[[str, str], object], identity: str, token: str) -> None:
    """Run a connect/disconnect hook (connected flag, Redis presence); a failure is logged, the charger served."""
    try:
        fn(identity, token)
    except Exception:
        log.warning("%s: %s failed", identity, getattr(fn, "__qualname__", fn), exc_info=True)


def handle_frame(rt: Runtime, conn: OcppConnection, charger: Charger, text: str | bytes) -> str | None:
    """Process one incoming frame; returns the frame to answer with, if any. Never raises."""
    if isinstance(text, bytes):  # a binary frame: OCPP-J is text, but what reads as UTF-8 is taken as text
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("%s: binary frame refused with FormationViolation: not UTF-8 text", conn.identity)
            rt.metrics.charger_message("json", None, "FormationViolation")
            return framing.call_error("-1", "FormationViolation", "OCPP-J frames are UTF-8 text")
    try:
        frame = framing.parse(text)
    except framing.FrameError as e:
        rt.metrics.charger_message("json", None, e.code)  # never reaches the service layer, which counts the rest
        if not e.answer:  # not a CALL: OCPP-J answers nothing
            log.warning(
                "%s: frame %s ignored (%s): %s", conn.identity, brief(e.unique_id), e.code, brief(e.description)
            )
            return None
        log.warning("%s: frame %s refused with %s: %s", conn.identity, brief(e.unique_id), e.code, brief(e.description))
        return framing.call_error(e.unique_id, e.code, e.description)
    if frame.type != framing.CALL:  # an answer to a call of ours; to none (late, stray): ignored, never answered
        if not conn.deliver(frame):
            log.info("%s: answer to no pending call (%s) ignored", conn.identity, brief(frame.unique_id))
        return None
    if conn.going_away:
        # This process is stopping: not processed, not answered. The connection closes (1001) in a moment and
        # the charger sends the message again to the process it reconnects to.
        return None
    action, payload = frame.action, frame.payload
    assert action is not None and payload is not None, "framing.parse gives a CALL its action and payload"
    result = None
    try:
        result = rt.pipeline.handle(charger, action, payload, unique_id=frame.unique_id, raw=text)
        return framing.call_result(frame.unique_id, result)
    except InternalFailure as e:
        return internal_error(rt, conn.identity, frame, e)
    except OcppError as e:  # the charger's mistake: one line, no stack trace
        log.warning(
            "%s: %s %s refused with %s: %s",
            conn.identity,
            brief(action, 64),
            frame.unique_id,
            e.code,
            brief(e.description),
        )
        return framing.call_error(frame.unique_id, e.code, e.description, e.details)
    except Exception as e:  # never let one message take the connection down
        return internal_error(rt, conn.identity, frame, e, answered=result is not None)


def internal_error(rt: Runtime, identity: str, frame: framing.Frame, failure: Exception, answered: bool = False) -> str:
    """The one place an OCPP-J charger is answered InternalError: the server's own failure, never its input.

    A failure the core reported (:class:`InternalFailure`) was logged with its stack trace where it was
    caught; anything else is logged here with its own. Counted once: by the service layer when it failed
    there, here when its answer could not be encoded (``answered``)."""
    if answered:
        rt.metrics.internal_error("json")
    if isinstance(failure, InternalFailure):
        log.error("%s: %s %s answered InternalError: %s", identity, frame.action, frame.unique_id, failure.description)
    else:
        log.error("%s: %s %s failed", identity, frame.action, frame.unique_id, exc_info=failure)
    return framing.call_error(frame.unique_id, "InternalError", "Internal error")
