"""How the FHIR server describes its system login: CapabilityStatement ``rest.security`` and
``/.well-known/smart-configuration`` (SMART App Launch 2.x, Backend Services with a client secret)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from django.urls import reverse

from integrations import scopes

REALM = "DermaTrack FHIR"
GRANT_TYPES = ["client_credentials"]
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
CAPABILITIES = ["client-confidential-symmetric", "permission-v2"]
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"


def token_endpoint(base: str) -> str:
    """The token endpoint's absolute URL, from any absolute URL of this site (the FHIR base)."""
    return urljoin(base, reverse("oauth-token"))


def rest_security(base: str) -> dict[str, Any]:
    """The CapabilityStatement's ``rest.security``."""
    return {
        "cors": False,
        "service": [
            {
                "coding": [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR"}],
                "text": "OAuth 2.0 client credentials (SMART Backend Services with a client secret)",
            }
        ],
        "extension": [{"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_endpoint(base)}]}],
        "description": "Systems: OAuth 2.0 client credentials (client_secret_basic or client_secret_post) at the "
        "token endpoint, then Authorization: Bearer <token>; each client belongs to one clinic and holds SMART "
        "v2 system scopes (system/Patient.rs, system/*.rs, system/Patient.c...) made by a clinic admin. "
        "Clinicians: the REST API's token (Authorization: Token <token>) or a session. Either way, records of "
        "other clinics answer 404; an interaction outside a token's scopes 403.",
    }


def smart_configuration(base: str) -> dict[str, Any]:
    """The ``/.well-known/smart-configuration`` document."""
    return {
        "token_endpoint": token_endpoint(base),
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "scopes_supported": scopes.supported(),
        "capabilities": CAPABILITIES,
    }
