"""A small builder for the OpenAPI 3 document: each route module declares its operations next to its code."""

from __future__ import annotations

import copy


class OpenApiSpec:
    """Collects paths and component schemas; ``document()`` returns the OpenAPI 3.0 dict."""

    def __init__(self, title: str, version: str):
        self.title = title
        self.version = version
        self._paths: dict[str, dict] = {}
        self._schemas: dict[str, dict] = {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string", "description": "machine-readable code"},
                    "message": {"type": "string"},
                    "details": {"type": "object", "additionalProperties": True},
                },
            }
        }

    def schema(self, name: str, definition: dict) -> dict:
        """Register a component schema and return a ``$ref`` to it."""
        self._schemas[name] = definition
        return {"$ref": f"#/components/schemas/{name}"}

    def operation(self, path: str, method: str, operation: dict) -> None:
        """Describe ``method`` on ``path`` (OpenAPI path syntax, e.g. ``/charge-points/{chargePointId}``)."""
        self._paths.setdefault(path, {})[method.lower()] = operation

    def document(self, server_url: str = "/api/v1") -> dict:
        return {
            "openapi": "3.0.3",
            "info": {
                "title": self.title,
                "version": self.version,
                "description": "Operator, owner and driver API of the EV charging CMS.",
            },
            "servers": [{"url": server_url}],
            "paths": copy.deepcopy(self._paths),
            "components": {
                "schemas": copy.deepcopy(self._schemas),
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearerAuth": []}],
        }


def error_responses(*codes: int) -> dict:
    """Standard JSON error responses for an operation."""
    text = {
        400: "Bad request",
        401: "Missing or invalid Bearer token",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Invalid input",
        429: "Too many requests",
        502: "Upstream (charger) error",
        503: "The charger's server process cannot be reached right now (routing unavailable); try again",
        504: "Charger did not answer in time",
    }
    return {
        str(c): {
            "description": text.get(c, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for c in codes
    }
