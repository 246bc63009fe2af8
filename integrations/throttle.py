"""Failed authentications at the token endpoint, counted per client id (not per address).

Clinicians' logins are django-axes' (per username and per address); a client's bad secrets are
counted here, apart, so that they pause that client id only and never a user's login, and a
locked-out address never stops a client. The counts live in the shared cache (every process).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(client_id: str) -> str:
    return "oauth-client-failures:" + hashlib.sha256(client_id.encode("utf-8", "replace")).hexdigest()


def cooloff_seconds() -> int:
    return int(settings.OAUTH_CLIENT_COOLOFF.total_seconds())


def is_locked_out(client_id: str) -> bool:
    return int(cache.get(_key(client_id), 0)) >= settings.OAUTH_CLIENT_FAILURE_LIMIT


def failure_record(client_id: str) -> None:
    key = _key(client_id)
    # The cool-off runs from the first failure of a series (add does not extend it).
    if not cache.add(key, 1, timeout=cooloff_seconds()):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=cooloff_seconds())


def failures_reset(client_id: str) -> None:
    cache.delete(_key(client_id))
