"""The clinician's API client and an active model (the upload helpers are in tests/helpers.py).

The callers, records, ``api_as`` and the fresh throttle counts come from tests/conftest.py:
``clinician`` and ``clinic_admin`` of ``clinic``, ``outsider`` of ``other_clinic``, and anonymous.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from ml.models import ModelVersion
from tests.factories import ModelVersionFactory
from tests.helpers import token_client


@pytest.fixture
def api(clinician: Any) -> APIClient:
    """The clinician's token client."""
    return token_client(clinician)


@pytest.fixture
def active_model(db: None) -> ModelVersion:
    """An active model version: every upload gets a pending prediction (never run in tests,
    whose transaction never commits)."""
    return ModelVersionFactory(is_default=True)
