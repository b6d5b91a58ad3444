"""Bearer-token authentication for the API."""

from __future__ import annotations

from functools import wraps

from flask import g, request

from cms.accounts import user_for_token
from cms.web.context import runtime

from .errors import ApiError


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def require_user(*roles: str):
    """Decorator: the request needs a valid Bearer token (of one of ``roles`` when given); sets ``g.user``."""

    def decorator(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            token = bearer_token()
            if not token:
                raise ApiError(401, "unauthorized", "Missing Bearer token")
            rt = runtime()
            with rt.db.uow() as uow:
                user = user_for_token(uow.session, token)
                if user is not None:
                    uow.session.expunge(user)
            if user is None:
                raise ApiError(401, "unauthorized", "Invalid or expired token")
            if roles and user.role not in roles and user.role != "admin":
                raise ApiError(403, "forbidden", "This token may not use this endpoint")
            g.user = user
            return fn(*args, **kwargs)

        return wrapper

    return decorator
