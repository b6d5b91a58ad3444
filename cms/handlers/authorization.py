"""Authorize: may this id tag charge here (expiry, parent groups, blocking, concurrent transactions)."""

from __future__ import annotations

from ocpp.v16.enums import Action

from ..authorization import authorize
from .context import OperationContext
from .messages import AuthorizeRequest
from .registry import on


@on(Action.authorize)
def authorize_tag(ctx: OperationContext, p: AuthorizeRequest) -> dict:
    """The tag's idTagInfo, by the rules of :mod:`cms.authorization`."""
    return {"idTagInfo": authorize(ctx.session, p["idTag"], ctx.row, ctx.now)}
