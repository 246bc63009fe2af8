"""API tokens: a clinician exchanges username and password for a token, and revokes it to log out.

One DRF token per user. Obtaining it again returns the same token until it is revoked; after
that, requests carrying the old token answer 401.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

REVOKED = OpenApiResponse(description="The token is revoked; requests that carry it now answer 401.")
UNAUTHENTICATED = OpenApiResponse(description="No valid token or session.")


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as the header `Authorization: Token <token>`.")


def token_revoke(*, user: Any) -> None:
    Token.objects.filter(user=user).delete()


class TokenRevokeMixin:
    def _revoke(self, request: Request) -> Response:
        token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuthTokenView(TokenRevokeMixin, APIView):
    """POST: username and password for a token. DELETE: revoke the caller's token (log out)."""

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
        summary="Obtain an API token",
        request=AuthTokenSerializer,
        responses={200: TokenSerializer, 400: OpenApiResponse(description="Wrong username or password.")},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})

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
