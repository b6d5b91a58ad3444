"""What a view needs from the app serving its request: the runtime, typed."""

from __future__ import annotations

from flask import current_app

from cms.runtime import Runtime


def runtime() -> Runtime:
    """The runtime of the app serving this request (made by ``create_app``)."""
    return current_app.extensions["cms"]
