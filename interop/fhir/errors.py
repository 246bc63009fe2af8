"""Every error under ``/fhir/`` is an OperationOutcome (application/fhir+json), whatever raised it.

One answer, two hooks:

- ``fhir_exception_handler``, the FHIR views' DRF exception handler: DRF's status and headers
  (WWW-Authenticate, Allow, Retry-After) with its messages as the outcome's diagnostics; a search
  the server will not run (``SearchError``) is a 400, a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``
  a 413. Any other exception goes on to Django, which logs it and answers 500.
- ``FhirErrorMiddleware``, for what no FHIR view answered: an error response for a ``/fhir/``
  path in Django's HTML or plain text (a 500, a middleware's refusal such as a NUL in the query
  or too many query fields) becomes an outcome with the same status and headers. A plain-text
  body is the refusal's own message and becomes the diagnostics; HTML is replaced by a short
  message for the status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from interop.fhir import codes, resources, search

ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    413: "too-long",
    415: "not-supported",
    422: "business-rule",
    429: "throttled",
    500: "exception",
}
MESSAGES = {
    400: "The request is malformed and was refused before it was read.",
    500: "Internal server error: the server could not answer this request (the error is logged).",
}
MAX_DIAGNOSTICS = 500  # characters of a plain-text refusal kept as the outcome's message
NOT_COPIED_HEADERS = {"content-type", "content-length"}


def issue_code(status_code: int) -> str:
    return ISSUE_CODES.get(status_code, "exception" if status_code >= 500 else "processing")


def outcome(status_code: int, messages: list[str], code: str | None = None) -> Response:
    """An OperationOutcome answer from a FHIR view."""
    return Response(resources.operation_outcome(messages, code or issue_code(status_code)), status=status_code)


def _messages(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [f"{key}: {message}" for key, value in detail.items() for message in _messages(value)]
    if isinstance(detail, list):
        return [message for item in detail for message in _messages(item)]
    return [str(detail)]


def fhir_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status and headers such as WWW-Authenticate), with an OperationOutcome body."""
    if isinstance(exc, search.SearchError):
        return outcome(status.HTTP_400_BAD_REQUEST, [str(exc)], exc.code)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return outcome(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, [f"The body is larger than {limit} bytes."])
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = resources.operation_outcome(
        _messages(response.data) or ["Error."], issue_code(response.status_code)
    )
    return response


def _diagnostics(response: HttpResponseBase) -> str:
    if isinstance(response, HttpResponse) and response.get("Content-Type", "").startswith("text/plain"):
        text = response.content.decode(response.charset or "utf-8", errors="replace").strip()
        if text:
            return text[:MAX_DIAGNOSTICS]
    return MESSAGES.get(response.status_code) or f"{response.status_code} {response.reason_phrase}."


def as_operation_outcome(response: HttpResponseBase) -> HttpResponse:
    """``response`` (an error) as an OperationOutcome with its status and its other headers."""
    body = resources.operation_outcome([_diagnostics(response)], issue_code(response.status_code))
    answer = HttpResponse(
        json.dumps(body), status=response.status_code, content_type=f"{codes.FHIR_JSON}; charset=utf-8"
    )
    for header, value in response.items():
        if header.lower() not in NOT_COPIED_HEADERS:
            answer[header] = value
    return answer


def _is_fhir(path: str) -> bool:
    base = reverse("fhir-metadata").removesuffix("metadata")
    return path.startswith(base) or path == base.rstrip("/")


class FhirErrorMiddleware:
    """Rewrite any error answered for a ``/fhir/`` path that is not yet FHIR JSON (see the module).

    Placed above every middleware that can refuse a request (the NUL check, CSRF, sessions), so
    their refusals and Django's 500 page pass through it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and not response.get("Content-Type", "").startswith(codes.FHIR_JSON)
            and _is_fhir(request.path)
        ):
            return as_operation_outcome(response)
        return response
