from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    """Installed only for ``manage.py benchmark``; no models."""

    name = "benchmarks"
    verbose_name = "Benchmarks"
