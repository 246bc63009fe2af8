"""Files written inside a database transaction are removed again if it rolls back.

Services that store files call ``track_file(name)`` after writing inside
``atomic_with_files()``; if anything in the block raises, every file written in it is
deleted before the exception propagates, so a failed upload leaves neither row nor file.
Blocks nest: an inner block that succeeds hands its files to the outer one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBase
from django.utils.cache import add_never_cache_headers

logger = logging.getLogger(__name__)
_written: ContextVar[list[str] | None] = ContextVar("written_files", default=None)


def track_file(name: str) -> None:
    tracker = _written.get()
    if tracker is None:
        raise RuntimeError("track_file() called outside atomic_with_files()")
    tracker.append(name)


def delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.exception("could not remove %s after a failed transaction", name)


@contextmanager
def atomic_with_files() -> Iterator[None]:
    parent = _written.get()
    mine: list[str] = []
    token = _written.set(mine)
    try:
        with transaction.atomic():
            yield
    except BaseException:
        delete_files(mine)
        raise
    finally:
        _written.reset(token)
    if parent is not None:
        parent.extend(mine)


def stream_file(field: FieldFile, content_type: str) -> HttpResponseBase:
    """Send a stored file to an already-authorised caller, never cached (``no-store``).

    Behind a front proxy (``PROTECTED_MEDIA_REDIRECT_PREFIX`` set) the proxy sends the bytes:
    the response only carries an internal X-Accel-Redirect to the file's location.
    """
    prefix = settings.PROTECTED_MEDIA_REDIRECT_PREFIX
    if prefix:
        if not field.name or not field.storage.exists(field.name):
            raise Http404("File not found")
        response: HttpResponseBase = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + field.name
        add_never_cache_headers(response)  # nginx passes Cache-Control on with the file
        response["X-Content-Type-Options"] = "nosniff"
        return response
    try:
        handle = field.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404("File not found") from exc
    response = FileResponse(handle, content_type=content_type)
    add_never_cache_headers(response)
    response["X-Content-Type-Options"] = "nosniff"
    return response
