"""What every part of the REST API shares: tokens, errors, the scoped viewset base.

API tokens (``clinic.auth``): a clinician exchanges username and password for a token, one
per login and so per device, that expires after ``API_TOKEN_TTL_HOURS``, and revokes it to log
out; requests carrying a revoked or expired token answer 401. A locked-out login answers 429.

Errors: a service refuses a write with Django's ``ValidationError`` (the model's own rules);
``exception_handler`` answers it with a 400 of field messages, like a serializer's.

Reads: ``ScopedViewSet.get_object`` goes through the one access check (404 for other clinics).
"""

from __future__ import annotations

from typing import Any, TypeVar

from auditlog.context import auditlog_value
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.viewsets import GenericViewSet

from clinic import auth
from clinic.selectors import get_for_user_or_404

# The user model's username column (axes stores up to 255): anything longer cannot be a user.
USERNAME_MAX_LENGTH: int = get_user_model()._meta.get_field("username").max_length or 150

M = TypeVar("M", bound=Model)
M_co = TypeVar("M_co", bound=Model, covariant=True)

REVOKED = OpenApiResponse(description="The token is revoked; requests that carry it now answer 401.")
UNAUTHENTICATED = OpenApiResponse(description="No valid token or session.")


# --- errors --------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer[dict[str, str]]):
    detail = serializers.CharField()


NOT_FOUND = OpenApiResponse(ErrorSerializer, description="Not found, or a record of another clinic.")
BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description="Field name → list of messages.")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus: a model's ``ValidationError`` from a service is a 400 with field messages;
    a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413 in JSON (Django's own answer is an HTML 400)."""
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DjangoValidationError):
        detail = serializers.as_serializer_error(exc)
        if "__all__" in detail:
            detail["non_field_errors"] = detail.pop("__all__")
        exc = serializers.ValidationError(detail)
    return drf_exception_handler(exc, context)


# --- viewsets ------------------------------------------------------------------------------


def uuid_path(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.UUID, OpenApiParameter.PATH, description=description)


class RecordSerializer(serializers.ModelSerializer[M]):
    """A record in the API: its public UUID as ``id`` and when it was made (integer keys never appear)."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    created = serializers.DateTimeField(source="created_at", read_only=True)


def absolute_url(serializer: serializers.BaseSerializer[Any], url: str) -> str:
    request = serializer.context.get("request")
    return request.build_absolute_uri(url) if request is not None else url


def request_user(serializer: serializers.BaseSerializer[Any]) -> Any:
    request = serializer.context.get("request")
    return getattr(request, "user", None)


class ScopedViewSet(GenericViewSet[M_co]):
    lookup_field = "uuid"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # The audit middleware runs before DRF authenticates: name token callers as the actor
        # of the entries this request writes (session callers are already known to it).
        context = auditlog_value.get(None)
        if context is not None and context.get("actor") is None and request.user.is_authenticated:
            context["actor"] = request.user

    def get_object(self) -> M_co:
        """The row named in the URL, through the one access check (404 for other clinics)."""
        queryset = self.filter_queryset(self.get_queryset())
        lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        instance = get_for_user_or_404(queryset.model, self.request.user, lookup, queryset)
        self.check_object_permissions(self.request, instance)
        return instance

    def _fake(self) -> bool:
        # drf-spectacular builds the views without a request user to read their shapes.
        return getattr(self, "swagger_fake_view", False)


class FileViewSetMixin:
    """File actions answer with the file whatever the Accept header; errors stay JSON."""

    file_actions: frozenset[str] = frozenset()

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        action_name = getattr(self, "action", None)
        return super().perform_content_negotiation(request, force=force or action_name in self.file_actions)  # type: ignore[misc]


def binary_responses(*content_types: str) -> dict[Any, Any]:
    responses: dict[Any, Any] = {(200, content_type): OpenApiTypes.BINARY for content_type in content_types}
    responses[404] = NOT_FOUND
    return responses


# --- tokens --------------------------------------------------------------------------------


class TokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # drf-spectacular: unannotated __init_subclass__
    """knox tokens in the schema, under the name the API has always documented (``tokenAuth``)."""

    target_class = "knox.auth.TokenAuthentication"
    name = "tokenAuth"
    priority = 1  # over drf-spectacular's own knox extension, which names it knoxApiToken

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")


class TokenSerializer(serializers.Serializer[dict[str, object]]):
    token = serializers.CharField(help_text="Send it as the header `Authorization: Token <token>`.")
    expiry = serializers.DateTimeField(help_text="When the token stops working; log in again then.")


LOCKED_OUT = OpenApiResponse(ErrorSerializer, description="Too many failed logins: try again later (Retry-After).")


class TokenRevokeMixin:
    def _revoke(self, request: Request) -> Response:
        # A token caller logs out that device; a session caller (the browsable API) revokes all.
        token = request.auth if isinstance(request.auth, AuthToken) else None
        auth.api_tokens_revoke(user=request.user, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LoginSerializer(AuthTokenSerializer):
    """Username and password; a username no account can have is refused before django-axes records the attempt.

    axes keeps a failed attempt's username in a 255-character column: a longer one ended in a
    database error (a 500) on PostgreSQL, found by schemathesis.
    """

    username = serializers.CharField(label="Username", write_only=True, max_length=USERNAME_MAX_LENGTH)


class AuthTokenView(TokenRevokeMixin, APIView):
    """POST: username and password for a new token. DELETE: revoke the caller's token (log out)."""

    def get_authenticators(self) -> list[Any]:
        # Logging in must work whatever stale token or session the client still sends.
        request = getattr(self, "request", None)  # None while drf-spectacular inspects the view
        if request is not None and request.method == "POST":
            return []
        return super().get_authenticators()

    def get_permissions(self) -> list[BasePermission]:
        if getattr(self.request, "method", None) == "POST":
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(
        summary="Obtain an API token (one per device)",
        request=LoginSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(description="Wrong username or password."),
            429: LOCKED_OUT,
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data, context={"request": request})
        if not serializer.is_valid():
            # django-axes marks the request when this attempt hit, or met, a lockout.
            if getattr(request, "axes_locked_out", False):
                retry_after = int(settings.AXES_COOLOFF_TIME.total_seconds())
                return Response(
                    {"detail": auth.lockout_message()},
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                    headers={"Retry-After": str(retry_after)},
                )
            raise serializers.ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        instance, token = auth.api_token_create(user=user)
        # As a page login does: axes logs the access and clinic.auth clears this user's failures.
        user_logged_in.send(sender=type(user), request=request, user=user)
        return Response({"token": token, "expiry": instance.expiry})

    @extend_schema(
        summary="Revoke your API token (log out)", request=None, responses={204: REVOKED, 401: UNAUTHENTICATED}
    )
    def delete(self, request: Request) -> Response:
        return self._revoke(request)


class AuthTokenRevokeView(TokenRevokeMixin, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Revoke your API token (log out)", request=None, responses={204: REVOKED, 401: UNAUTHENTICATED}
    )
    def post(self, request: Request) -> Response:
        return self._revoke(request)
