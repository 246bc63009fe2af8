from typing import Any

from django.apps import AppConfig


def cache_table_create(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """Make the database cache's table if the settings use one (idempotent): every `migrate` leaves it there."""
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinics and clinicians"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_migrate, pre_save

        from clinic import auth

        user_logged_in.connect(auth.reset_own_failures_on_login, dispatch_uid="clinic_reset_own_failures")
        pre_save.connect(
            auth.revoke_tokens_on_password_change,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="clinic_revoke_tokens_on_password_change",
        )
        post_migrate.connect(cache_table_create, sender=self, dispatch_uid="clinic_cache_table_create")
