"""API clients for the four callers (the upload helpers are in tests/helpers.py).

The callers and records come from tests/conftest.py: ``clinician`` and ``clinic_admin`` of
``clinic``, ``outsider`` of ``other_clinic``, and anonymous.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from ml.models import ModelVersion
from tests.factories import ModelVersionFactory
from tests.helpers import token_client


@pytest.fixture(autouse=True)
def fresh_throttle_counts() -> Iterator[None]:
    """Throttle counters live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_as(request: pytest.FixtureRequest) -> Callable[[str], APIClient]:
    """``api_as("clinician")``: a token client for a caller of tests.helpers.CALLERS (anonymous: none)."""

    def make(caller: str) -> APIClient:
        return token_client(None if caller == "anonymous" else request.getfixturevalue(caller))

    return make


@pytest.fixture
def api(clinician: Any) -> APIClient:
    """The clinician's token client."""
    return token_client(clinician)


@pytest.fixture
def active_model(db: None) -> ModelVersion:
    """An active model version: every upload gets a pending prediction (never run in tests,
    whose transaction never commits)."""
    return ModelVersionFactory(is_default=True)
