"""OAuth 2.0 client credentials for integrations (django-oauth-toolkit), checked on the FHIR views.

- ``ClinicOAuth2Validator``: a client gets a token for a subset of the SMART scopes it was granted
  (all of them when it asks for none); ``system/*.rs`` granted covers ``system/Patient.rs`` asked.
- ``ClientBearerAuthentication``: ``Authorization: Bearer <token>`` on a FHIR view; the caller is the
  client's service user (``integrations.models``). A bad, expired or revoked token is a 401 with a
  Bearer challenge; a request without Bearer is left to the other authentication classes.
- ``SmartScopePermission``: a Bearer caller may run a FHIR interaction only within its token's
  scopes (403 otherwise); users (Token, session) are not affected. A view outside ``/fhir/`` that
  serves what a FHIR resource links to (a Media's photo, a DiagnosticReport's PDF) opens single
  actions to clients with ``smart_scopes = {action: (resource type, permission)}``.

``WITH_CLIENT_BEARER`` and ``CLIENT_SCOPED`` are the authentication and permission classes of such views.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import AccessToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.settings import api_settings

from integrations import scopes, smart
from integrations.models import IntegrationClient

REALM = smart.REALM
# "Last used" is written at most this often per client, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _client_of(application: Any) -> IntegrationClient | None:
    if application is None:
        return None
    return IntegrationClient.objects.select_related("service_user").filter(application=application).first()


def _granted(client: IntegrationClient | None) -> list[scopes.Scope]:
    if client is None or not client.is_active:
        return []
    try:
        return client.granted
    except scopes.ScopeInvalid:
        return []


class SmartScopes(BaseScopes):  # type: ignore[misc]  # django-oauth-toolkit is untyped
    """The scopes backend (``OAUTH2_PROVIDER["SCOPES_BACKEND_CLASS"]``): a client's own grant."""

    def get_all_scopes(self) -> dict[str, str]:
        return {scope: scope for scope in scopes.supported()}

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return [str(scope) for scope in _granted(_client_of(application))]

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list[str]:
        return self.get_available_scopes(application, request)


class ClinicOAuth2Validator(OAuth2Validator):  # type: ignore[misc]
    """django-oauth-toolkit's validator; scopes asked must lie within the client's grant."""

    def validate_scopes(
        self, client_id: str, scopes_asked: list[str], client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        granted = _granted(_client_of(client))
        try:
            return bool(granted) and all(scopes.parse_scope(text).within(granted) for text in scopes_asked)
        except scopes.ScopeInvalid:
            return False


def _is_bearer(request: Request) -> bool:
    words = get_authorization_header(request).split()
    return bool(words) and words[0].lower() == b"bearer"


class ClientBearerAuthentication(OAuth2Authentication):  # type: ignore[misc]
    """Bearer tokens of integration clients (listed first on the FHIR views: see ``authenticate_header``)."""

    www_authenticate_realm = REALM

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        if not _is_bearer(request):
            return None
        result = super().authenticate(request)
        if result is None:
            error = getattr(request, "oauth2_error", {}) or {}
            if not error:
                error = {"error": "invalid_token"}
                setattr(request, "oauth2_error", error)  # noqa: B010  # read by authenticate_header
            raise AuthenticationFailed(
                error.get("error_description") or "The Bearer token is invalid, expired or revoked."
            )
        token: AccessToken = result[1]
        client = _client_of(token.application)
        if client is None or not client.is_active or not client.service_user.is_active:
            setattr(request, "oauth2_error", {"error": "invalid_token", "error_description": "The client is revoked."})  # noqa: B010
            raise AuthenticationFailed("The client of this token is revoked.")
        now = timezone.now()
        IntegrationClient.objects.filter(pk=client.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        return client.service_user, token

    def authenticate_header(self, request: Request) -> str:
        """A Bearer challenge for a Bearer caller; else the REST API's Token scheme first, then Bearer.

        DRF takes the challenge of a view's first authentication class only, hence both here.
        """
        bearer: str = super().authenticate_header(request)
        if _is_bearer(request):
            return bearer
        token: str = TokenAuthentication().authenticate_header(request)
        view = (getattr(request, "parser_context", None) or {}).get("view")
        opened = getattr(view, "smart_scopes", None)
        if opened is not None and getattr(view, "action", None) not in opened:
            return token  # an action of the REST API that clients cannot call
        return f"{token}, {bearer}"


class SmartScopePermission(BasePermission):
    """A Bearer caller's token must allow the interaction (SMART v2 ``system/`` scopes)."""

    message = "The token's scopes do not allow this interaction."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, AccessToken):
            return True  # a clinician (Token, session): clinic membership is the whole check
        # The FHIR viewsets are named after their resource type (PatientViewSet, ObservationViewSet).
        resource_type = getattr(view, "fhir_type", None) or type(view).__name__.removesuffix("ViewSet")
        action = getattr(view, "action", None) or ""
        pairs = scopes.needed(resource_type, action)
        opened: dict[str, tuple[str, str]] | None = getattr(view, "smart_scopes", None)
        if opened is not None:  # a view outside /fhir/: only the actions it names
            pairs = [opened[action]] if action in opened else None
        if pairs is None:
            self.message = f"{resource_type} {action or request.method} is not open to system clients."
            return False
        granted = []
        for text in token.scope.split():
            try:
                granted.append(scopes.parse_scope(text))
            except scopes.ScopeInvalid:
                continue
        missing = sorted({f"system/{t}.{p}" for t, p in pairs if not scopes.allowed(granted, t, p)})
        if missing:
            self.message = (
                f"The token's scopes ({token.scope or 'none'}) do not allow {resource_type} {action}: "
                f"it needs {', '.join(missing)}."
            )
            return False
        return True


WITH_CLIENT_BEARER: list[type[BaseAuthentication]] = [
    ClientBearerAuthentication,
    *cast("list[type[BaseAuthentication]]", api_settings.DEFAULT_AUTHENTICATION_CLASSES),
]
CLIENT_SCOPED: list[type[BasePermission]] = [IsAuthenticated, SmartScopePermission]


class ClientBearerScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # drf-spectacular: unannotated __init_subclass__
    """Integrations' tokens in the REST API's schema: OAuth 2.0 client credentials, SMART scopes."""

    target_class = "integrations.oauth.ClientBearerAuthentication"
    name = "clientCredentials"
    priority = 1  # over drf-spectacular's own django-oauth-toolkit extension

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[Any]] | list[dict[str, list[Any]]]:
        """The scope an action opened to clients needs; nothing for the actions a client cannot call."""
        opened = getattr(auto_schema.view, "smart_scopes", {})
        action = getattr(auto_schema.view, "action", None)
        if action not in opened:
            return []  # no requirement of this scheme listed
        resource_type, permission = opened[action]
        return {self.name: [f"system/{resource_type}.{permission}"]}

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        token_url = "/oauth/token/"  # the schema's paths are relative to the site too
        flow = {"tokenUrl": token_url, "scopes": {scope: scope for scope in scopes.supported()}}
        return {"type": "oauth2", "flows": {"clientCredentials": flow}}
