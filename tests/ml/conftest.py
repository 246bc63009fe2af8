"""The service-backed analysis tests' own fixture (their workers are in tests/ml/workers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.celery import app as celery_app


@pytest.fixture
def not_eager() -> Iterator[None]:
    """Tasks go through the broker to a worker instead of running in the test."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = previous
