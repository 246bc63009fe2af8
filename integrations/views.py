"""The token endpoint, the SMART configuration, and a clinic admin's pages for integration clients."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from oauth2_provider.views import TokenView

from integrations import selectors, services, smart, throttle
from integrations.forms import IntegrationClientForm

MAX_CLIENT_ID = 100  # django-oauth-toolkit's client_id column


def _oauth_error(status: int, error: str, description: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response[name] = value
    return response


def client_id_of(request: HttpRequest) -> str:
    """The client id a token request names (HTTP Basic as RFC 6749 2.3.1 encodes it, or the body)."""
    words = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(words) == 2 and words[0].lower() == "basic":
        try:
            decoded = base64.b64decode(words[1], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote_plus(decoded.partition(":")[0])[:MAX_CLIENT_ID]
    return str(request.POST.get("client_id", ""))[:MAX_CLIENT_ID]


def _has_nul(request: HttpRequest) -> bool:
    """PostgreSQL refuses NUL in a string (a 500 at the client lookup): refused first, as in a query."""
    fields = request.POST.lists()
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in fields) or (
        "\x00" in client_id_of(request)
    )


@method_decorator(csrf_exempt, name="dispatch")
class ClientTokenView(TokenView):  # type: ignore[misc]  # django-oauth-toolkit is untyped
    """``POST /oauth/token/``: client credentials only; bad secrets pause that client id alone."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if _has_nul(request):
            return _oauth_error(400, "invalid_request", "A parameter contains a NUL character.")
        grant_type = request.POST.get("grant_type", "")
        if grant_type != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", f"Only grant_type=client_credentials is served here, not {grant_type!r}."
            )
        client_id = client_id_of(request)
        if not client_id:
            return _oauth_error(
                401,
                "invalid_client",
                "No client credentials: send them with HTTP Basic or as client_id and client_secret.",
                **{"WWW-Authenticate": f'Basic realm="{smart.REALM}"'},
            )
        if throttle.is_locked_out(client_id):
            seconds = throttle.cooloff_seconds()
            return _oauth_error(
                429,
                "invalid_client",
                f"Too many failed authentications for this client: try again in {seconds} seconds.",
                **{"Retry-After": str(seconds)},
            )
        response: HttpResponseBase = super().post(request, *args, **kwargs)
        if response.status_code == 401:
            throttle.failure_record(client_id)
        elif response.status_code == 200:
            throttle.failures_reset(client_id)
        return response


@require_GET
def smart_configuration(request: HttpRequest) -> JsonResponse:
    """``/.well-known/smart-configuration`` (also under the FHIR base)."""
    base = request.build_absolute_uri(reverse("fhir-metadata")).removesuffix("metadata")
    return JsonResponse(smart.smart_configuration(base))


# --- a clinic admin's pages ----------------------------------------------------------------


def _admin_clinics(request: HttpRequest) -> list[Any]:
    clinics = selectors.administered_clinics(request.user)
    if not clinics:
        raise PermissionDenied("Only a clinic admin can manage integration clients.")
    return clinics


@login_required
@require_http_methods(["GET", "POST"])
def client_list(request: HttpRequest) -> HttpResponse:
    """The integration clients of the clinics the user administers; POST creates one (its secret shown once)."""
    clinics = _admin_clinics(request)
    form = IntegrationClientForm(request.POST or None, clinics=clinics)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                client, secret = services.integration_client_create(
                    clinic=form.cleaned_data["clinic"],
                    name=form.cleaned_data["name"],
                    scope=" ".join(form.cleaned_data["scopes"]),
                    created_by=request.user,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                token_url = request.build_absolute_uri(reverse("oauth-token"))
                context = {"client": client, "secret": secret, "token_url": token_url}
                return render(request, "integrations/client_created.html", context, status=201)
        status = 400
    context = {"clients": selectors.clients_for_admin(request.user), "form": form, "clinics": clinics}
    return render(request, "integrations/client_list.html", context, status=status)


@login_required
@require_POST
def client_revoke(request: HttpRequest, uuid: Any) -> HttpResponse:
    _admin_clinics(request)
    client = selectors.client_for_admin_or_404(request.user, uuid)
    tokens = services.integration_client_revoke(client=client, revoked_by=request.user)
    messages.success(request, f"{client.name} is revoked ({tokens} token(s) deleted); its id no longer works.")
    return redirect("integration-clients")
