"""Request checks that apply to every page and API call."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL_MESSAGE = "Query parameters must not contain NUL (0x00) characters."


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
            return HttpResponseBadRequest(NUL_MESSAGE)
        return self.get_response(request)
