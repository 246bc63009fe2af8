"""SMART App Launch v2 system scopes: ``system/<resource type or *>.<permissions>``.

Permissions are a subset of ``cruds`` in that order (create, read, update, delete, search), as
SMART v2 spells them (``system/Patient.rs``, ``system/*.cruds``). A client is granted a set of
scopes when a clinic admin creates it; a token carries a subset of them; a FHIR interaction is
allowed when some scope of the token names its resource type (or ``*``) and its permission.
Scopes with query parameters (``system/Observation.rs?category=...``) are not supported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# The resource types the FHIR API serves records of (CodeSystem and the CapabilityStatement are public).
RESOURCE_TYPES = (
    "Patient",
    "BodyStructure",
    "Media",
    "Observation",
    "DiagnosticReport",
    "ClinicalImpression",
    "Device",
)
PERMISSIONS = "cruds"
# The permission each FHIR interaction needs (the FHIR viewsets' action names).
INTERACTION_PERMISSION = {
    "read": "r",
    "vread": "r",
    "history": "r",
    "search": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "delete": "d",
}
# Patient/$everything returns the patient and every record of the patient: reading all of them.
EVERYTHING_TYPES = RESOURCE_TYPES

SCOPE_PATTERN = re.compile(r"system/(?P<type>\*|[A-Z][A-Za-z]{0,63})\.(?P<permissions>[cruds]{1,5})")


class ScopeInvalid(ValueError):
    """A scope string this server does not grant."""


@dataclass(frozen=True)
class Scope:
    resource_type: str  # a served resource type, or "*"
    permissions: str  # a non-empty subset of "cruds", in that order

    def __str__(self) -> str:
        return f"system/{self.resource_type}.{self.permissions}"

    def allows(self, resource_type: str, permission: str) -> bool:
        return self.resource_type in {"*", resource_type} and permission in self.permissions

    def within(self, grants: Iterable[Scope]) -> bool:
        """Whether every (type, permission) this scope names is allowed by one of ``grants``."""
        types = RESOURCE_TYPES if self.resource_type == "*" else (self.resource_type,)
        return all(any(g.allows(t, p) for g in grants) for t in types for p in self.permissions)


def parse_scope(text: str) -> Scope:
    """One scope, or ``ScopeInvalid`` naming what is wrong with it."""
    match = SCOPE_PATTERN.fullmatch(text)
    if match is None:
        raise ScopeInvalid(
            f"{text!r} is not a SMART v2 system scope (system/<type or *>.<permissions from {PERMISSIONS}>)"
        )
    resource_type, permissions = match["type"], match["permissions"]
    if resource_type != "*" and resource_type not in RESOURCE_TYPES:
        raise ScopeInvalid(f"{text!r}: {resource_type} is not served here (served: {', '.join(RESOURCE_TYPES)})")
    ordered = "".join(letter for letter in PERMISSIONS if letter in permissions)
    if ordered != permissions:
        raise ScopeInvalid(f"{text!r}: permissions must be distinct letters of {PERMISSIONS!r} in that order")
    return Scope(resource_type, permissions)


def parse_scopes(text: str) -> list[Scope]:
    """Space-separated scopes (duplicates dropped, order kept), or ``ScopeInvalid``."""
    scopes: list[Scope] = []
    for word in text.split():
        scope = parse_scope(word)
        if scope not in scopes:
            scopes.append(scope)
    return scopes


def allowed(granted: Iterable[Scope], resource_type: str, permission: str) -> bool:
    return any(scope.allows(resource_type, permission) for scope in granted)


def needed(resource_type: str, action: str) -> list[tuple[str, str]] | None:
    """The (resource type, permission) pairs a FHIR interaction needs; None: not open to clients."""
    if action == "everything":
        return [(t, p) for t in EVERYTHING_TYPES for p in "rs"]
    permission = INTERACTION_PERMISSION.get(action)
    if permission is None or resource_type not in RESOURCE_TYPES:
        return None
    return [(resource_type, permission)]


def supported() -> list[str]:
    """The scopes a client may be granted, as listed in /.well-known/smart-configuration."""
    served = ["system/*.rs", "system/*.cruds"]
    for resource_type in RESOURCE_TYPES:
        served.append(f"system/{resource_type}.rs")
    served.append("system/Patient.crs")
    served.append("system/Patient.c")
    return served
