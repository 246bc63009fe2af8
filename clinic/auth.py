"""Logins and API tokens: lockout resets, per-device tokens, revocation on a password change.

- A successful login (login page, admin or API token) clears the failed attempts recorded
  for that username only. django-axes' own reset (``AXES_RESET_ON_SUCCESS``) also clears
  every failure from the same address, so an attacker's own good logins from one address
  would wipe the failures against a victim's username between guesses.
- API tokens are django-rest-knox's: a new token per login, i.e. one per device, stored only
  as a hash and expiring after ``API_TOKEN_TTL_HOURS``; at most ``API_TOKEN_LIMIT_PER_USER``
  live at once, a new login revoking the oldest. Logging out revokes the caller's token;
  changing a password, wherever it happens (admin, password views, ``changepassword``, code),
  revokes all of the user's tokens.
"""

from __future__ import annotations

from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.utils import timezone
from knox.models import AuthToken


def lockout_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    """What a locked-out caller is told (the login page's template says the same)."""
    return (
        "Too many failed logins: logins for this account or from this address are paused for "
        f"{lockout_minutes()} minutes. Try again later, or ask your clinic admin to unlock it."
    )


def login_failures_reset(*, username: str) -> int:
    """Forget the failed logins recorded for this username (from any address), and no others."""
    reset: int = axes_reset(username=username)
    return reset


def api_token_create(*, user: Any) -> tuple[AuthToken, str]:
    """A new token for one device of ``user``: the row (hash, expiry) and the token, shown only now."""
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    created: tuple[AuthToken, str] = AuthToken.objects.create(user=user)
    # Over the cap, the oldest go: a device logging in again never locks the user out of a new one.
    keep = max(1, settings.API_TOKEN_LIMIT_PER_USER)
    oldest = AuthToken.objects.filter(user=user).order_by("-created", "-pk").values_list("pk", flat=True)[keep:]
    AuthToken.objects.filter(pk__in=list(oldest)).delete()
    return created


def api_tokens_revoke(*, user: Any, token: AuthToken | None = None) -> int:
    """Revoke one token of ``user``, or all of them without ``token``; returns how many."""
    tokens = AuthToken.objects.filter(user=user)
    if token is not None:
        tokens = tokens.filter(pk=token.pk)
    deleted: int
    deleted, _ = tokens.delete()
    return deleted


# --- signal receivers, connected in ClinicConfig.ready() -------------------------------------


def reset_own_failures_on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    login_failures_reset(username=user.get_username())


def revoke_tokens_on_password_change(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    # Compared with the stored hash, so that every way of changing a password is covered.
    if raw or instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    stored = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        api_tokens_revoke(user=instance)
