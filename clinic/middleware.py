"""Request checks and response headers that apply to every page and API call.

- ``ClientAddressMiddleware`` (first): the client's address, from ``REMOTE_ADDR`` or, behind
  ``TRUSTED_PROXY_COUNT`` proxies, from their ``X-Forwarded-For``; everything after it (the
  audit trail, the login lockout, the API throttles) reads that one address.
- ``AuditAddressMiddleware``: django-auditlog's middleware, given that address instead of the
  first ``X-Forwarded-For`` entry, which any client can write.
- ``NoStoreMiddleware``: patient data is never kept by a browser or a shared cache.
- ``RejectNulInQueryMiddleware``: a NUL in a query string is a 400, not a database error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from auditlog.middleware import AuditlogMiddleware
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.cache import add_never_cache_headers

from clinic.numbers import whole_number

NUL_MESSAGE = "Query parameters must not contain NUL (0x00) characters."
PEER_ADDRESS_KEY = "DERMATRACK_PEER_ADDR"  # REMOTE_ADDR as the server saw it, kept for debugging


def valid_address(value: str | None) -> str | None:
    """``value`` as a normalised IPv4/IPv6 address, or None if it is not one."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_address(meta: Mapping[str, Any], trusted_proxies: int) -> str | None:
    """The client's address: the peer, or the entry the outermost of ``trusted_proxies`` proxies added.

    Each proxy appends the address it received the request from to ``X-Forwarded-For``, so
    behind N trusted proxies the client is the N-th entry from the right; anything left of it
    was written by the client and is ignored. A request with fewer entries did not pass
    through every proxy, and an entry that is not an address is not trusted: both fall back
    to the peer address.
    """
    peer = valid_address(meta.get("REMOTE_ADDR"))
    if trusted_proxies <= 0:
        return peer
    forwarded = [entry.strip() for entry in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if entry.strip()]
    if len(forwarded) < trusted_proxies:
        return peer
    return valid_address(forwarded[-trusted_proxies]) or peer


class ClientAddressMiddleware:
    """Set ``REMOTE_ADDR`` to the client's address (see ``client_address``); empty if there is none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.META[PEER_ADDRESS_KEY] = request.META.get("REMOTE_ADDR", "")
        request.META["REMOTE_ADDR"] = client_address(request.META, settings.TRUSTED_PROXY_COUNT) or ""
        return self.get_response(request)


def request_address(request: Any) -> str | None:
    """The client address resolved by ``ClientAddressMiddleware`` (django-axes' AXES_CLIENT_IP_CALLABLE)."""
    return valid_address(request.META.get("REMOTE_ADDR"))


class AuditAddressMiddleware(AuditlogMiddleware):  # type: ignore[misc]  # django-auditlog ships no type hints
    """django-auditlog's middleware with the resolved client address (and no client-written port)."""

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> str | None:
        return request_address(request)

    @staticmethod
    def _get_remote_port(request: HttpRequest) -> int | None:
        port = request.META.get("REMOTE_PORT") if not settings.TRUSTED_PROXY_COUNT else None
        return whole_number(str(port)) if port else None


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every response Django makes: pages, API, files.

    Placed after WhiteNoise, whose static files (no patient data) keep their long cache.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Cache-Control" in response:
            del response["Cache-Control"]  # e.g. a file view's own caching: none for patient data
        add_never_cache_headers(response)
        return response


class RejectNulInQueryMiddleware:
    """Answer 400 to a query string holding a NUL character.

    Form fields and API bodies already refuse NUL (Django's and DRF's CharField validators),
    but query parameters such as ``?search=`` reach the database as they are, and PostgreSQL
    cannot take NUL in a string literal: without this check such a request ends in a 500.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": NUL_MESSAGE}, status=400)
            # plain text: the message, also for FHIR's error middleware, which makes it an OperationOutcome
            return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
