"""The driver's wallet over JSON: balance, ledger, idempotent top-ups, and the payment provider's webhook."""

from __future__ import annotations

from flask import g, jsonify, request

from cms import wallet

from . import bp, spec
from .auth import require_user
from .driver_common import BodySchema, body, ok, path_id, path_param, query_int, query_param, runtime
from .openapi import error_responses

TAG = ["wallet"]

BALANCE = spec.schema(
    "WalletBalance",
    {
        "type": "object",
        "required": ["balance", "currency", "minimumToCharge", "canCharge"],
        "properties": {
            "balance": {"type": "number"},
            "currency": {"type": "string"},
            "minimumToCharge": {"type": "number"},
            "canCharge": {"type": "boolean"},
        },
    },
)
ENTRY = spec.schema(
    "LedgerEntry",
    {
        "type": "object",
        "required": [
            "id",
            "kind",
            "amount",
            "balanceAfter",
            "currency",
            "description",
            "sessionId",
            "topUpId",
            "createdAt",
        ],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["topup", "session", "adjustment"]},
            "amount": {"type": "number", "description": "+ credit, - debit"},
            "balanceAfter": {"type": "number"},
            "currency": {"type": "string"},
            "description": {"type": "string"},
            "sessionId": {"type": "integer", "nullable": True},
            "topUpId": {"type": "integer", "nullable": True},
            "createdAt": {"type": "string", "format": "date-time"},
        },
    },
)
TOP_UP = spec.schema(
    "TopUp",
    {
        "type": "object",
        "required": [
            "id",
            "amount",
            "currency",
            "status",
            "provider",
            "reference",
            "checkoutUrl",
            "failureReason",
            "createdAt",
            "completedAt",
        ],
        "properties": {
            "id": {"type": "integer"},
            "amount": {"type": "number"},
            "currency": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "succeeded", "failed"]},
            "provider": {"type": "string"},
            "reference": {"type": "string", "nullable": True},
            "checkoutUrl": {"type": "string", "nullable": True, "description": "where to complete a pending payment"},
            "failureReason": {"type": "string", "nullable": True},
            "createdAt": {"type": "string", "format": "date-time"},
            "completedAt": {"type": "string", "format": "date-time", "nullable": True},
        },
    },
)
TOP_UP_BODY = BodySchema(
    {
        "type": "object",
        "required": ["amount"],
        "properties": {
            "amount": {
                "type": "number",
                "minimum": wallet.TOPUP_MIN_MINOR / 100,
                "maximum": wallet.TOPUP_MAX_MINOR / 100,
                "description": "in the currency, at most 2 decimals",
            }
        },
    }
)
WEBHOOK_BODY = {
    "type": "object",
    "required": ["reference", "status"],
    "properties": {
        "reference": {"type": "string"},
        "status": {"type": "string", "enum": ["succeeded", "failed"]},
        "reason": {"type": "string"},
    },
}


@bp.get("/wallet")
@require_user("driver")
def my_wallet():
    rt = runtime()
    with rt.db.uow() as uow:
        view = wallet.balance(uow.session, g.user, rt.settings)
        uow.commit()
    return jsonify(view)


@bp.get("/wallet/ledger")
@require_user("driver")
def my_ledger():
    limit = query_int("limit", 50, 1, 200)
    before = query_int("beforeId", 0, 0, 2**62) or None
    rt = runtime()
    with rt.db.uow() as uow:
        view = wallet.ledger(uow.session, g.user, rt.settings, limit=limit, before_id=before)
        uow.commit()
    return jsonify(view)


@bp.post("/wallet/top-ups")
@require_user("driver")
def top_up():
    data = TOP_UP_BODY.load()
    key = request.headers.get("Idempotency-Key")
    rt = runtime()
    with rt.db.uow() as uow:
        payment, replayed = wallet.start_top_up(
            uow.session, rt.payments, g.user, data["amount"], rt.settings, idempotency_key=key
        )
        view = wallet.payment_view(payment)
        uow.commit()
    return jsonify(view), 200 if replayed else 201


@bp.get("/wallet/top-ups")
@require_user("driver")
def my_top_ups():
    limit = query_int("limit", 50, 1, 200)
    with runtime().db.uow() as uow:
        return jsonify([wallet.payment_view(p) for p in wallet.top_ups(uow.session, g.user, limit)])


@bp.get("/wallet/top-ups/<top_up_id>")
@require_user("driver")
def my_top_up(top_up_id: str):
    with runtime().db.uow() as uow:
        return jsonify(wallet.payment_view(wallet.top_up_of(uow.session, g.user, path_id(top_up_id, "top-up"))))


@bp.post("/payments/webhook")
def payment_webhook():
    rt = runtime()
    with rt.db.uow() as uow:
        payment = wallet.handle_webhook(uow.session, rt.payments, request.get_data(), request.headers)
        view = wallet.payment_view(payment)
        uow.commit()
    return jsonify(view)


spec.operation(
    "/wallet",
    "get",
    {
        "summary": "Your balance and what starting to charge needs",
        "tags": TAG,
        "responses": {**ok("Balance", BALANCE), **error_responses(401, 403)},
    },
)
spec.operation(
    "/wallet/ledger",
    "get",
    {
        "summary": "Every movement of your wallet, newest first",
        "tags": TAG,
        "parameters": [
            query_param("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size"),
            query_param(
                "beforeId", {"type": "integer", "minimum": 0, "maximum": 2**62}, "entries older than this id (paging)"
            ),
        ],
        "responses": {**ok("Entries", {"type": "array", "items": ENTRY}), **error_responses(401, 403, 422)},
    },
)
spec.operation(
    "/wallet/top-ups",
    "post",
    {
        "summary": "Top up through the payment provider; the same Idempotency-Key never charges twice",
        "tags": TAG,
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"},
                "description": "repeat the request safely: the first top-up is returned again (200)",
            }
        ],
        "requestBody": body(TOP_UP_BODY),
        "responses": {
            **ok("Created (succeeded at once, or pending the provider)", TOP_UP, "201"),
            **ok("Replayed: the top-up made earlier with this key", TOP_UP, "200"),
            **error_responses(401, 403, 409, 422),
        },
    },
)
spec.operation(
    "/wallet/top-ups",
    "get",
    {
        "summary": "Your top-ups, newest first",
        "tags": TAG,
        "parameters": [
            query_param("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size")
        ],
        "responses": {**ok("Top-ups", {"type": "array", "items": TOP_UP}), **error_responses(401, 403, 422)},
    },
)
spec.operation(
    "/wallet/top-ups/{topUpId}",
    "get",
    {
        "summary": "One of your top-ups",
        "tags": TAG,
        "parameters": [path_param("topUpId", "top-up id")],
        "responses": {**ok("Top-up", TOP_UP), **error_responses(401, 403, 404)},
    },
)
spec.operation(
    "/payments/webhook",
    "post",
    {
        "summary": "Payment provider: confirm or fail a payment (body signed: X-Cms-Signature: sha256=<HMAC hex>)",
        "tags": ["payment provider"],
        "security": [],
        "parameters": [{"name": "X-Cms-Signature", "in": "header", "required": True, "schema": {"type": "string"}}],
        "requestBody": body(WEBHOOK_BODY),
        "responses": {**ok("Applied", TOP_UP), **error_responses(401, 404)},
    },
)
