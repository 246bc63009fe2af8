"""What a FHIR client asked for in its headers and format parameters (R4 http.html#mime, #prefer).

- The answer's format: FHIR JSON is the one served. ``_format`` (which overrides Accept) and
  ``Accept`` may name it as ``application/fhir+json``, ``application/json``, ``json`` or a range
  (``*/*``, ``application/*``); anything else, XML and Turtle included, is a 406. A
  ``fhirVersion`` parameter on the media type must be R4's (4.0, or 4.0.x); on a body's
  Content-Type another version is a 415.
- ``Prefer``: ``handling`` (lenient, the default, or strict) and ``return`` (minimal,
  representation, the default, or OperationOutcome).
"""

from __future__ import annotations

from django.http import HttpRequest, QueryDict

from interop.fhir import codes

JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}
JSON_RANGES = {"*/*", "application/*", "application/json", "application/fhir+json", "application/json+fhir"}
R4_VERSIONS = {"4.0", "4.0.0", "4.0.1"}
RETURNS = {"minimal", "representation", "OperationOutcome"}


class NotAcceptable(ValueError):
    """A format this server does not answer in (406)."""


def _media_types(header: str) -> list[tuple[str, dict[str, str], float]]:
    """``Accept``'s media ranges with their parameters and quality."""
    ranges = []
    for part in header.split(","):
        kind, *raw_params = (piece.strip() for piece in part.split(";"))
        if not kind:
            continue
        params = {}
        for raw in raw_params:
            name, _, value = raw.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 1.0
        ranges.append((kind.lower(), params, quality))
    return ranges


def _refuse_version(params: dict[str, str], named: str) -> None:
    version = params.get("fhirversion")
    if version is not None and version not in R4_VERSIONS:
        raise NotAcceptable(
            f"{named}: fhirVersion {version} is not served; this server is FHIR R4 ({codes.FHIR_VERSION})."
        )


def check_format(request: HttpRequest, params: QueryDict) -> None:
    """Raise NotAcceptable unless the client accepts FHIR JSON (R4) as ``_format`` or ``Accept`` say."""
    fmt = params.get("_format")
    if fmt is not None:
        kind, type_params, _ = (_media_types(fmt) or [("", {}, 1.0)])[0]
        if kind.replace(" ", "+") not in JSON_FORMATS:  # a '+' in a query string arrives as a space
            raise NotAcceptable(f"_format {fmt!r} is not served: this server answers in FHIR JSON only.")
        _refuse_version(type_params, "_format")
        return
    header = request.headers.get("Accept", "").strip()
    if not header:
        return
    ranges = _media_types(header)
    acceptable = [(kind, type_params) for kind, type_params, quality in ranges if quality > 0 and kind in JSON_RANGES]
    if not acceptable:
        raise NotAcceptable(f"Accept {header[:100]!r} names no format served: this server answers in FHIR JSON only.")
    problems: list[NotAcceptable] = []
    for _, type_params in acceptable:
        try:
            _refuse_version(type_params, "Accept")
        except NotAcceptable as exc:
            problems.append(exc)
        else:
            return
    raise problems[0]


def body_version_served(content_type: str) -> bool:
    """False for a body whose media type names a fhirVersion other than R4's (answered 415)."""
    ranges = _media_types(content_type)
    return not ranges or ranges[0][1].get("fhirversion", codes.FHIR_VERSION) in R4_VERSIONS


def prefer(request: HttpRequest) -> dict[str, str]:
    """The ``Prefer`` header's preferences (RFC 7240), names lower-cased."""
    preferences = {}
    for part in request.headers.get("Prefer", "").split(","):
        name, _, value = part.split(";")[0].partition("=")
        if name.strip():
            preferences[name.strip().lower()] = value.strip().strip('"')
    return preferences


def strict(request: HttpRequest) -> bool:
    return prefer(request).get("handling") == "strict"


def return_preference(request: HttpRequest) -> str:
    wanted = prefer(request).get("return", "representation")
    return wanted if wanted in RETURNS else "representation"
