"""Throttles count in one cache for every process (the database's by default, Redis with a Redis broker or
CACHE_URL): two processes share one anonymous rate, as two gunicorn workers must."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

# One process: two requests of one anonymous address against a rate of 3 a minute; prints what it was allowed.
REQUESTS = """
import sys, django
django.setup()
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.throttling import AnonRateThrottle

class ThreeAMinute(AnonRateThrottle):
    rate = "3/min"

request = Request(APIRequestFactory().get("/api/v1/patients/", REMOTE_ADDR=sys.argv[1]))
print(" ".join(str(ThreeAMinute().allow_request(request, None)) for _ in range(2)))
"""


def settings_of(env: dict[str, str], expression: str) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=BASE_DIR, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def clean_env(**values: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"CACHE_URL", "CELERY_BROKER_URL"}}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings", **values}


@pytest.mark.slow
def test_two_processes_share_one_throttle(tmp_path: Path) -> None:
    # A database of their own (the test database is not on disk); with CACHE_URL or a Redis broker in the
    # environment (the service-backed run of .ci/run) the two processes share Redis instead.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": f"sqlite:///{tmp_path}/db"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=BASE_DIR, check=True)
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"  # fresh counts even in a Redis kept from another run

    def requests() -> str:
        done = subprocess.run(
            [sys.executable, "-c", REQUESTS, address], env=env, cwd=BASE_DIR, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    first, second = requests(), requests()

    assert first == "True True"
    assert second == "True False"  # per-process counts (the old local-memory cache) allowed 4 of 3


def test_the_default_cache_is_the_database_and_a_redis_broker_or_cache_url_makes_it_redis() -> None:
    backend = "settings.CACHES['default']['BACKEND'], settings.CACHES['default']['LOCATION']"

    assert settings_of(clean_env(), backend) == "django.core.cache.backends.db.DatabaseCache dermatrack_cache"
    assert settings_of(clean_env(CELERY_BROKER_URL="redis://127.0.0.1:6379/4"), backend) == (
        "django.core.cache.backends.redis.RedisCache redis://127.0.0.1:6379/4"
    )
    assert settings_of(
        clean_env(CELERY_BROKER_URL="redis://127.0.0.1:6379/4", CACHE_URL="redis://10.0.0.9:6379/2"), backend
    ) == ("django.core.cache.backends.redis.RedisCache redis://10.0.0.9:6379/2")
    assert settings_of(clean_env(CELERY_BROKER_URL="amqp://rabbit//"), backend).startswith(
        "django.core.cache.backends.db.DatabaseCache"
    )
