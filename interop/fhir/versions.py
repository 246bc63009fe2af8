"""Versions of the served resources: ``meta.versionId``, ETag, Last-Modified, conditional reads.

A resource's versionId is derived, not counted: the first 16 hex digits of the SHA-256 of the
resource as served (its ``meta`` left out, keys sorted, this server's own address taken out of
its URLs). It changes exactly when what a client reads changes, also for the resources that
are made of several rows (a DiagnosticReport changes when one of its analyses finishes, an
Observation when its photo is outlined), which a counter on one row would miss; and it needs no
write path to remember to count. The price: versions are not ordered, and only the current one
can be read (``_history/{versionId}`` of an earlier one is a 404, the server keeps no history).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from django.http import HttpRequest

VERSION_DIGITS = 16


def version_id(resource: dict[str, Any], own_base: str = "") -> str:
    content = {key: value for key, value in resource.items() if key != "meta"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if own_base:
        text = text.replace(own_base.rstrip("/"), "")
    return hashlib.sha256(text.encode()).hexdigest()[:VERSION_DIGITS]


def stamped(resource: dict[str, Any], own_base: str = "") -> dict[str, Any]:
    """``resource`` with its ``meta.versionId`` (meta first after the id, as FHIR's examples have it)."""
    meta = {"versionId": version_id(resource, own_base), **resource.get("meta", {})}
    stamped: dict[str, Any] = {}
    for key, value in resource.items():
        if key != "meta":
            stamped[key] = value
        if key == "id":
            stamped["meta"] = meta
    stamped.setdefault("meta", meta)
    return stamped


def etag(resource: dict[str, Any]) -> str:
    return f'W/"{resource["meta"]["versionId"]}"'


def last_modified(resource: dict[str, Any]) -> dt.datetime | None:
    updated = resource.get("meta", {}).get("lastUpdated")
    if not updated:
        return None
    return dt.datetime.fromisoformat(updated.replace("Z", "+00:00")).astimezone(dt.UTC)


def headers(resource: dict[str, Any]) -> dict[str, str]:
    """ETag and Last-Modified of a read."""
    answer = {"ETag": etag(resource)}
    moment = last_modified(resource)
    if moment is not None:
        answer["Last-Modified"] = format_datetime(moment, usegmt=True)
    return answer


def _tags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()}


def not_modified(request: HttpRequest, resource: dict[str, Any]) -> bool:
    """A conditional read the client's copy answers: If-None-Match first, else If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = _tags(if_none_match)
        return "*" in tags or resource["meta"]["versionId"] in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    moment = last_modified(resource)
    if if_modified_since and moment is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False  # an unreadable date is ignored (RFC 9110)
        if since.tzinfo is None:
            return False
        return moment.replace(microsecond=0) <= since
    return False
