"""Driver accounts over JSON: register, verify email, log in, refresh, revoke, profile, vehicles."""

from __future__ import annotations

from urllib.parse import quote

from flask import g, jsonify, request

from cms import drivers
from cms.errors import InvalidInput

from . import bp, spec
from .auth import require_user
from .driver_common import BodySchema, body, ok, path_id, path_param, runtime
from .errors import ApiError
from .openapi import error_responses

TAG = ["driver accounts"]
NAME = {"type": "string", "maxLength": 120}
PHONE = {"type": "string", "maxLength": 40}
EMAIL = {"type": "string", "minLength": 3, "maxLength": 255}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 256}

PROFILE = spec.schema(
    "DriverProfile",
    {
        "type": "object",
        "required": ["id", "email", "name", "phone", "emailVerified", "idTag", "createdAt"],
        "properties": {
            "id": {"type": "integer"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "phone": {"type": "string"},
            "emailVerified": {"type": "boolean"},
            "idTag": {"type": "string", "nullable": True, "description": "the driver's own id tag"},
            "createdAt": {"type": "string", "format": "date-time"},
        },
    },
)
TOKENS = spec.schema(
    "TokenPair",
    {
        "type": "object",
        "required": ["accessToken", "refreshToken", "tokenType", "expiresIn"],
        "properties": {
            "accessToken": {"type": "string"},
            "refreshToken": {"type": "string"},
            "tokenType": {"type": "string", "enum": ["Bearer"]},
            "expiresIn": {"type": "integer", "description": "seconds the access token is valid"},
        },
    },
)
ACCEPTED = spec.schema(
    "Accepted", {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
)
VEHICLE_FIELDS = {
    "name": {"type": "string", "maxLength": 80},
    "make": {"type": "string", "maxLength": 60},
    "model": {"type": "string", "maxLength": 60},
    "plate": {"type": "string", "maxLength": 20},
    "connectorType": {"type": "string", "enum": [*drivers.CONNECTOR_TYPES, None], "nullable": True},
    "batteryKwh": {"type": "number", "minimum": 1, "maximum": 1000, "nullable": True},
}
VEHICLE = spec.schema(
    "Vehicle",
    {
        "type": "object",
        "required": ["id", "name", "make", "model", "plate", "connectorType", "batteryKwh", "createdAt"],
        "properties": {
            "id": {"type": "integer"},
            **VEHICLE_FIELDS,
            "createdAt": {"type": "string", "format": "date-time"},
        },
    },
)

REGISTER_BODY = BodySchema(
    {
        "type": "object",
        "required": ["email", "password"],
        "properties": {"email": EMAIL, "password": PASSWORD, "name": NAME, "phone": PHONE},
    }
)
VERIFY_BODY = BodySchema(
    {
        "type": "object",
        "required": ["token"],
        "properties": {"token": {"type": "string", "minLength": 1, "maxLength": 1000}},
    }
)
RESEND_BODY = BodySchema({"type": "object", "required": ["email"], "properties": {"email": EMAIL}})
LOGIN_BODY = BodySchema(
    {
        "type": "object",
        "required": ["email", "password"],
        "properties": {"email": EMAIL, "password": {"type": "string", "maxLength": 256}},
    }
)
RESET_REQUEST_BODY = BodySchema({"type": "object", "required": ["email"], "properties": {"email": EMAIL}})
RESET_BODY = BodySchema(
    {
        "type": "object",
        "required": ["token", "newPassword"],
        "properties": {
            "token": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1000,
                "description": "the token from the mailed link",
            },
            "newPassword": PASSWORD,
        },
    }
)
REFRESH_BODY = BodySchema(
    {
        "type": "object",
        "required": ["refreshToken"],
        "properties": {"refreshToken": {"type": "string", "minLength": 1, "maxLength": 200}},
    }
)
REVOKE_BODY = BodySchema(
    {
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "description": "an access or refresh token of yours (the Bearer token itself to log out)",
            }
        },
    }
)
PROFILE_BODY = BodySchema(
    {
        "type": "object",
        "properties": {
            "name": NAME,
            "phone": PHONE,
            "currentPassword": {"type": "string", "maxLength": 256},
            "newPassword": PASSWORD,
        },
    }
)
VEHICLE_BODY = BodySchema({"type": "object", "properties": VEHICLE_FIELDS})


def _app_link(screen: str, token: str) -> str:
    """Links mailed to drivers open a screen of the driver app (/app/), which then calls this API."""
    return f"{runtime().settings.public_url.rstrip('/')}/app/{screen}?token={quote(token)}"


def _verify_link(token: str) -> str:
    return _app_link("verify", token)


def _reset_link(token: str) -> str:
    return _app_link("reset", token)


@bp.post("/auth/register")
def register_driver():
    data = REGISTER_BODY.load()
    rt = runtime()
    with rt.db.uow() as uow:
        user = drivers.register(
            uow.session,
            rt.settings,
            email=data["email"],
            password=data["password"],
            name=data.get("name", ""),
            phone=data.get("phone", ""),
            link_for=_verify_link,
        )
        view = drivers.profile(uow.session, user)
        uow.commit()
    return jsonify(view), 201


spec.operation(
    "/auth/register",
    "post",
    {
        "summary": "Create a driver account (a verification link is mailed)",
        "tags": TAG,
        "security": [],
        "requestBody": body(REGISTER_BODY),
        "responses": {**ok("Created", PROFILE, "201"), **error_responses(409, 422)},
    },
)


def _verify(token: str):
    rt = runtime()
    with rt.db.uow() as uow:
        user = drivers.verify_email(uow.session, rt.settings, token)
        view = drivers.profile(uow.session, user)
        uow.commit()
    return jsonify(view)


@bp.get("/auth/verify")
def verify_link():
    token = request.args.get("token", "")
    if not token or len(token) > 1000:
        raise InvalidInput("token is required")
    return _verify(token)


@bp.post("/auth/verify")
def verify_post():
    return _verify(VERIFY_BODY.load()["token"])


spec.operation(
    "/auth/verify",
    "get",
    {
        "summary": "Confirm the email address (the link from the mail)",
        "tags": TAG,
        "security": [],
        "parameters": [
            {
                "name": "token",
                "in": "query",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 1000},
            }
        ],
        "responses": {**ok("Verified", PROFILE), **error_responses(422)},
    },
)
spec.operation(
    "/auth/verify",
    "post",
    {
        "summary": "Confirm the email address with the token from the mail",
        "tags": TAG,
        "security": [],
        "requestBody": body(VERIFY_BODY),
        "responses": {**ok("Verified", PROFILE), **error_responses(422)},
    },
)


@bp.post("/auth/resend-verification")
def resend_verification():
    data = RESEND_BODY.load()
    rt = runtime()
    with rt.db.uow() as uow:
        drivers.resend_verification(uow.session, rt.settings, data["email"], _verify_link)
        uow.commit()
    return jsonify({"status": "sent if the account exists and is unverified"}), 202


spec.operation(
    "/auth/resend-verification",
    "post",
    {
        "summary": "Mail the verification link again",
        "tags": TAG,
        "security": [],
        "requestBody": body(RESEND_BODY),
        "responses": {**ok("Accepted", ACCEPTED, "202"), **error_responses(422)},
    },
)


@bp.post("/auth/password-reset")
def request_password_reset():
    data = RESET_REQUEST_BODY.load()
    rt = runtime()
    with rt.db.uow() as uow:
        drivers.request_password_reset(uow.session, rt.settings, data["email"], _reset_link)
        uow.commit()
    return jsonify({"status": "sent if a driver account has this address"}), 202


@bp.post("/auth/password-reset/confirm")
def confirm_password_reset():
    data = RESET_BODY.load()
    rt = runtime()
    with rt.db.uow() as uow:
        user = drivers.reset_password(uow.session, rt.settings, data["token"], data["newPassword"])
        view = drivers.profile(uow.session, user)
        uow.commit()
    return jsonify(view)


spec.operation(
    "/auth/password-reset",
    "post",
    {
        "summary": "Forgotten password: mail a link to choose a new one (the same answer whether or not the account "
        "exists)",
        "tags": TAG,
        "security": [],
        "requestBody": body(RESET_REQUEST_BODY),
        "responses": {**ok("Accepted", ACCEPTED, "202"), **error_responses(422)},
    },
)
spec.operation(
    "/auth/password-reset/confirm",
    "post",
    {
        "summary": "Set a new password with the token from the mailed link (works once; logs out every device)",
        "tags": TAG,
        "security": [],
        "requestBody": body(RESET_BODY),
        "responses": {**ok("Password changed", PROFILE), **error_responses(422)},
    },
)


@bp.post("/auth/login")
def login():
    data = LOGIN_BODY.load()
    rt = runtime()
    with rt.db.uow() as uow:
        try:
            tokens = drivers.log_in(
                uow.session, rt.settings, data["email"], data["password"], request.remote_addr or ""
            )
        except InvalidInput as e:
            uow.commit()  # keep the failed attempt for rate limiting
            raise ApiError(401, "unauthorized", str(e)) from None
        uow.commit()
    return jsonify(tokens)


spec.operation(
    "/auth/login",
    "post",
    {
        "summary": "Log in: an access token and a refresh token",
        "tags": TAG,
        "security": [],
        "requestBody": body(LOGIN_BODY),
        "responses": {**ok("Tokens", TOKENS), **error_responses(401, 403, 422, 429)},
    },
)


@bp.post("/auth/refresh")
def refresh_tokens():
    data = REFRESH_BODY.load()
    rt = runtime()
    with rt.db.uow() as uow:
        try:
            tokens = drivers.refresh(uow.session, rt.settings, data["refreshToken"])
        except InvalidInput as e:
            raise ApiError(401, "unauthorized", str(e)) from None
        uow.commit()
    return jsonify(tokens)


spec.operation(
    "/auth/refresh",
    "post",
    {
        "summary": "Exchange a refresh token (used up) for a new token pair",
        "tags": TAG,
        "security": [],
        "requestBody": body(REFRESH_BODY),
        "responses": {**ok("Tokens", TOKENS), **error_responses(401, 422)},
    },
)


@bp.post("/auth/revoke")
@require_user("driver")
def revoke_tokens():
    data = REVOKE_BODY.load()
    rt = runtime()
    with rt.db.uow() as uow:
        drivers.revoke(uow.session, g.user, data["token"])
        uow.commit()
    return jsonify({"status": "revoked"})


spec.operation(
    "/auth/revoke",
    "post",
    {
        "summary": "Revoke one of your tokens (log out)",
        "tags": TAG,
        "requestBody": body(REVOKE_BODY),
        "responses": {**ok("Revoked", ACCEPTED), **error_responses(401, 403, 404, 422)},
    },
)


@bp.get("/me")
@require_user("driver")
def my_profile():
    with runtime().db.uow() as uow:
        return jsonify(drivers.profile(uow.session, g.user))


@bp.patch("/me")
@require_user("driver")
def update_my_profile():
    data = PROFILE_BODY.load()
    rt = runtime()
    with rt.db.uow() as uow:
        view = drivers.update_profile(uow.session, rt.settings, g.user, data)
        uow.commit()
    return jsonify(view)


spec.operation(
    "/me",
    "get",
    {"summary": "Your profile", "tags": TAG, "responses": {**ok("Profile", PROFILE), **error_responses(401, 403)}},
)
spec.operation(
    "/me",
    "patch",
    {
        "summary": "Change name, phone or password (newPassword with currentPassword)",
        "tags": TAG,
        "requestBody": body(PROFILE_BODY),
        "responses": {**ok("Profile", PROFILE), **error_responses(401, 403, 422)},
    },
)


@bp.get("/me/vehicles")
@require_user("driver")
def my_vehicles():
    with runtime().db.uow() as uow:
        return jsonify([drivers.vehicle_view(v) for v in drivers.vehicles(uow.session, g.user)])


@bp.post("/me/vehicles")
@require_user("driver")
def add_my_vehicle():
    data = VEHICLE_BODY.load()
    with runtime().db.uow() as uow:
        view = drivers.vehicle_view(drivers.add_vehicle(uow.session, g.user, data))
        uow.commit()
    return jsonify(view), 201


@bp.get("/me/vehicles/<vehicle_id>")
@require_user("driver")
def my_vehicle(vehicle_id: str):
    with runtime().db.uow() as uow:
        return jsonify(drivers.vehicle_view(drivers.vehicle(uow.session, g.user, path_id(vehicle_id, "vehicle"))))


@bp.patch("/me/vehicles/<vehicle_id>")
@require_user("driver")
def update_my_vehicle(vehicle_id: str):
    data = VEHICLE_BODY.load()
    with runtime().db.uow() as uow:
        view = drivers.vehicle_view(drivers.update_vehicle(uow.session, g.user, path_id(vehicle_id, "vehicle"), data))
        uow.commit()
    return jsonify(view)


@bp.delete("/me/vehicles/<vehicle_id>")
@require_user("driver")
def delete_my_vehicle(vehicle_id: str):
    with runtime().db.uow() as uow:
        drivers.delete_vehicle(uow.session, g.user, path_id(vehicle_id, "vehicle"))
        uow.commit()
    return "", 204


VEHICLE_ID = path_param("vehicleId", "vehicle id")
spec.operation(
    "/me/vehicles",
    "get",
    {
        "summary": "Your vehicles",
        "tags": TAG,
        "responses": {**ok("Vehicles", {"type": "array", "items": VEHICLE}), **error_responses(401, 403)},
    },
)
spec.operation(
    "/me/vehicles",
    "post",
    {
        "summary": "Add a vehicle",
        "tags": TAG,
        "requestBody": body(VEHICLE_BODY),
        "responses": {**ok("Created", VEHICLE, "201"), **error_responses(401, 403, 409, 422)},
    },
)
spec.operation(
    "/me/vehicles/{vehicleId}",
    "get",
    {
        "summary": "One of your vehicles",
        "tags": TAG,
        "parameters": [VEHICLE_ID],
        "responses": {**ok("Vehicle", VEHICLE), **error_responses(401, 403, 404)},
    },
)
spec.operation(
    "/me/vehicles/{vehicleId}",
    "patch",
    {
        "summary": "Change a vehicle",
        "tags": TAG,
        "parameters": [VEHICLE_ID],
        "requestBody": body(VEHICLE_BODY),
        "responses": {**ok("Vehicle", VEHICLE), **error_responses(401, 403, 404, 422)},
    },
)
spec.operation(
    "/me/vehicles/{vehicleId}",
    "delete",
    {
        "summary": "Remove a vehicle",
        "tags": TAG,
        "parameters": [VEHICLE_ID],
        "responses": {"204": {"description": "Removed"}, **error_responses(401, 403, 404)},
    },
)
