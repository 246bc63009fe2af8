from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "System integrations (OAuth 2.0 clients)"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from integrations.models import IntegrationClient

        # Creating and revoking a client are on the clinic's audit trail.
        auditlog.register(IntegrationClient, exclude_fields=["last_used_at", "updated_at"])
