from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """What an operator runs over the whole installation (backup, restore): above every app, it may use them all."""

    name = "operations"
    verbose_name = "Operations"
