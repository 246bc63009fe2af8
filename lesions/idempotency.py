"""Idempotency keys: a retried request is answered with the first response, not carried out again.

Phones on a poor connection resend an upload whose response they never saw. A client that
sends an ``Idempotency-Key`` header gets, for every retry with the same key, the status and
body of the first successful request, and only one photo is stored. The key is claimed by
inserting its row inside the same transaction as the work: a concurrent retry waits on the
unique index until the first commits, then replays its response (or, if the first failed and
rolled back, does the work itself). A key reused for a different request is refused.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from clinic.files import atomic_with_files
from lesions.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class IdempotencyKeyInvalid(ValueError):
    """The header is empty or too long."""


class IdempotencyKeyReused(Exception):
    """The key was already used by this user for a different request."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    replayed: bool


def idempotency_key_clean(value: str) -> str:
    key = value.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyInvalid(f"The {HEADER} header must hold 1 to {MAX_KEY_LENGTH} characters.")
    return key


def request_fingerprint(
    *, method: str, path: str, fields: Mapping[str, Iterable[str]], files: Mapping[str, Iterable[IO[bytes]]]
) -> str:
    """A hash of what the request asks for: method, target, form fields and file contents."""
    digest = hashlib.sha256()
    files_digest: dict[str, list[str]] = {}
    for name, handles in sorted(files.items()):
        files_digest[name] = []
        for handle in handles:
            content = hashlib.sha256()
            handle.seek(0)
            for chunk in iter(functools.partial(handle.read, 64 * 1024), b""):
                content.update(chunk)
            handle.seek(0)
            files_digest[name].append(content.hexdigest())
    document = {
        "method": method.upper(),
        "path": path,
        "fields": {name: sorted(str(v) for v in values) for name, values in sorted(fields.items())},
        "files": files_digest,
    }
    digest.update(json.dumps(document, sort_keys=True).encode())
    return digest.hexdigest()


def _replay(record: IdempotencyKey, fingerprint: str) -> StoredResponse:
    if record.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"This {HEADER} was already used for a different request; send a new key for a new request."
        )
    return StoredResponse(status=record.response_status or 200, body=json.loads(record.response_body), replayed=True)


def _stored(user: Any, key: str) -> IdempotencyKey | None:
    return IdempotencyKey.objects.filter(user=user, key=key, response_status__isnull=False).first()


def idempotency_replay(*, user: Any, key: str, fingerprint: str) -> StoredResponse | None:
    """The stored response for this key, None if it is unused, or IdempotencyKeyReused."""
    existing = _stored(user, key)
    return _replay(existing, fingerprint) if existing is not None else None


def idempotent_call(*, user: Any, key: str, fingerprint: str, perform: Callable[[], tuple[int, Any]]) -> StoredResponse:
    """Run ``perform`` once per (user, key); later calls with the same request get its response.

    ``perform`` returns ``(status, json_body)``; it runs inside the transaction that claims the
    key, so its rows and files are kept only together with the stored response.
    """
    replay = idempotency_replay(user=user, key=key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    try:
        with atomic_with_files():
            record = IdempotencyKey.objects.create(user=user, key=key, request_fingerprint=fingerprint)
            status, body = perform()
            record.response_status = status
            record.response_body = json.dumps(body)
            record.save(update_fields=["response_status", "response_body", "updated_at"])
    except IntegrityError:
        # A concurrent request with the same key committed first: its response is the answer.
        existing = _stored(user, key)
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    return StoredResponse(status=status, body=body, replayed=False)


def idempotent_request(*, request: Any, perform: Callable[[], tuple[int, Any]]) -> StoredResponse:
    """Carry out a request once per ``Idempotency-Key`` header; without the header, just carry it out.

    ``request`` is the incoming request (its user, method, path, form fields and files make
    the fingerprint); ``perform`` validates and does the work, returning ``(status, json_body)``.
    Raises IdempotencyKeyInvalid for a malformed header and IdempotencyKeyReused for a key
    used by a different request.
    """
    header = request.headers.get(HEADER)
    if header is None:
        status, body = perform()
        return StoredResponse(status=status, body=body, replayed=False)
    key = idempotency_key_clean(header)
    files = {name: request.FILES.getlist(name) for name in request.FILES}
    fields = {name: request.data.getlist(name) for name in request.data if name not in files}
    fingerprint = request_fingerprint(method=request.method or "POST", path=request.path, fields=fields, files=files)
    return idempotent_call(user=request.user, key=key, fingerprint=fingerprint, perform=perform)


def idempotency_keys_purge(older_than: dt.timedelta | None = None) -> int:
    """Delete keys first used longer ago than ``older_than`` (default IDEMPOTENCY_KEY_TTL_HOURS)."""
    if older_than is None:
        older_than = dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


# --- pages: one key per rendered form ---------------------------------------------------------

FORM_KEY_FIELD = "form_key"
_FORM_KEY_PREFIX = "form:"
# Fields that change between two sends of the same form without changing what it asks for.
_FORM_FIELDS_IGNORED = {"csrfmiddlewaretoken"}


def form_key_new() -> str:
    """A fresh key for a form about to be shown (a hidden ``form_key`` field)."""
    return uuid.uuid4().hex


def form_key_of(request: Any) -> str:
    """The key a form was sent with, kept when the form is shown again with its errors; else a fresh one."""
    sent = request.POST.get(FORM_KEY_FIELD, "") if request.method == "POST" else ""
    return sent if sent and len(sent) <= 64 else form_key_new()


def _form_claim(request: Any) -> tuple[str, str] | None:
    """The (key, fingerprint) of a form sent with a key; None without one."""
    sent = request.POST.get(FORM_KEY_FIELD, "").strip()
    if not sent:
        return None
    key = idempotency_key_clean(_FORM_KEY_PREFIX + sent)
    files = {name: request.FILES.getlist(name) for name in request.FILES}
    fields = {name: request.POST.getlist(name) for name in request.POST if name not in _FORM_FIELDS_IGNORED}
    return key, request_fingerprint(method="POST", path=request.path, fields=fields, files=files)


def form_replayed(*, request: Any) -> FormResult | None:
    """Where the first send of this very form went, if it was saved (checked before the form is validated:
    once saved, a second send would fail validation, e.g. on the record number it took). Raises
    IdempotencyKeyReused for the same key with other content."""
    claim = _form_claim(request)
    if claim is None:
        return None
    stored = idempotency_replay(user=request.user, key=claim[0], fingerprint=claim[1])
    return FormResult(location=str(stored.body["location"]), replayed=True) if stored is not None else None


class _Refused(Exception):
    """The form's write was refused: the claimed key is rolled back with it."""


@dataclass(frozen=True)
class FormResult:
    location: str
    replayed: bool


def form_submit_once(*, request: Any, perform: Callable[[], str | None]) -> FormResult | None:
    """Carry out a page's form once per ``form_key``: a second send of the same form gets the first's redirect.

    ``perform`` validates and writes, returning where to redirect (or None when it refused: the
    form is shown again with its errors and the key stays unused). A double click, a resend after
    a lost response or the back button then do not make a second record. A form sent without a
    key is carried out as it is. Raises IdempotencyKeyReused when the same rendered form comes
    back with other content after it was saved.
    """
    claim = _form_claim(request)
    if claim is None:
        location = perform()
        return FormResult(location=location, replayed=False) if location is not None else None
    key, fingerprint = claim

    def run() -> tuple[int, Any]:
        location = perform()
        if location is None:
            raise _Refused
        return 302, {"location": location}

    try:
        stored = idempotent_call(user=request.user, key=key, fingerprint=fingerprint, perform=run)
    except _Refused:
        return None
    return FormResult(location=str(stored.body["location"]), replayed=stored.replayed)
