"""OCPP 1.6-J over WebSocket: framing, the connection registry, the flask-sock endpoint, the gateway."""
