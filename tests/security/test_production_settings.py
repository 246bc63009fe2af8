"""Production settings: refuse to start without a secret key; `check --deploy` is clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DERMATRACK_"))}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = manage("check", DERMATRACK_ENV="production", DJANGO_ALLOWED_HOSTS="derma.example.org")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_check_deploy_reports_nothing_with_production_settings() -> None:
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DERMATRACK_ENV="production",
        DJANGO_SECRET_KEY="x7#Qp2!vR9@mL4$wZ8^tN1&kB6*hD3(jF5)gS0_cV-yU+eA=iO/oP?" * 2,
        DJANGO_ALLOWED_HOSTS="derma.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
