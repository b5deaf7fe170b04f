"""JSON errors for the API: `{"error": code, "message": ...}` with the right status."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

API_PREFIX = "/api/"

# Werkzeug's exception names become stable snake_case codes for clients.
HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
    415: "unsupported_media_type", 429: "too_many_requests", 500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by API code; turned into a JSON error response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class BadParameter(ApiError):
    def __init__(self, name: str, problem: str) -> None:
        # The message starts with the parameter's name so a client sees which one.
        super().__init__(400, "bad_parameter", f"{name}: {problem}")
        self.parameter = name


def json_error(status: int, code: str, message: str) -> Response:
    response = jsonify(error=code, message=message)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="anxin-hub"'
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return json_error(exc.status, exc.code, exc.message)

    # App-level, not blueprint-level: an unknown /api path never reaches the API
    # blueprint, yet its 404 must be JSON too.
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if not request.path.startswith(API_PREFIX):
            return exc
        status = exc.code or 500
        response = json_error(status, HTTP_CODES.get(status, f"http_{status}"),
                              exc.description or exc.name)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response | tuple[str, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith(API_PREFIX):
            return json_error(500, "internal_error", "internal server error")
        return "内部错误 (internal server error)", 500
