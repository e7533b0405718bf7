"""The one set of helpers for JSON acts over HTTP (the transfer dialog, the phone console, the simulator).

A view parses its body with `json_body`, raises a `DomainError` when the act is refused, and the
`json_view` / `operator_json_view` decorators turn that error into `{"error": {"code", "message"}}`
with the error's HTTP status. The REST API answers the same shape through `error_payload`.
"""

from __future__ import annotations

import json
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse

from .errors import BadRequest, DomainError, NotAllowed

BODY_MAX_BYTES = 16_384


def error_payload(error: DomainError) -> dict:
    return {"error": error.as_dict()}


def error_response(error: DomainError) -> JsonResponse:
    return JsonResponse(error_payload(error), status=error.http_status)


def json_body(request, *, max_bytes: int = BODY_MAX_BYTES) -> dict:
    """The request's JSON object ({} when empty); a form post's fields when it is not JSON."""
    if len(request.body) > max_bytes:
        raise BadRequest("invalid", "The request is too large.")
    if request.content_type not in ("application/json", "text/plain", ""):
        return request.POST.dict()
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except ValueError:
        raise BadRequest("invalid", "The request is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("invalid", "The request must be a JSON object.")
    return body


def optional_id(value: object, *, field: str = "id") -> int | None:
    """An id from JSON or a query string: None when absent, a positive whole number otherwise."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not str(value).isdigit() or len(str(value)) > 18:
        raise BadRequest("invalid", f"'{field}' must be a number.")
    return int(value)


def json_view(view):
    """Run an act; a domain error becomes its JSON answer."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except DomainError as error:
            return error_response(error)

    return wrapper


def operator_json_view(view):
    """Only signed-in operators; the view gets the operator after the request. Domain errors as JSON."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        operator = getattr(request.user, "operator", None)
        if operator is None:
            return error_response(NotAllowed("not_operator", "Only operators can do this."))
        try:
            return view(request, operator, *args, **kwargs)
        except DomainError as error:
            return error_response(error)

    return wrapper
