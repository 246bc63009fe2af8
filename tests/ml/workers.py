"""Real `celery worker` processes (and a throwaway Redis) for the service-backed tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from ml.models import Prediction

BASE_DIR = Path(__file__).resolve().parents[2]


def why_no_services() -> str | None:
    if not os.environ.get("DERMATRACK_SERVICES"):
        return "needs DERMATRACK_SERVICES=1 with PostgreSQL and Redis (.ci/run sets it)"
    if connection.vendor != "postgresql":
        return "needs DATABASE_URL pointing at PostgreSQL"
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        return "needs CELERY_BROKER_URL pointing at Redis"
    return None


def skip_without_services() -> None:
    reason = why_no_services()
    if reason:
        pytest.skip(reason)


def worker_database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Worker:
    """One worker process group on the test database, media folder and weights folder."""

    def __init__(self, weights_dir: Path, log_path: Path, broker_url: str | None = None, **env: str) -> None:
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.broker_url = broker_url or settings.CELERY_BROKER_URL
        self.log_path = log_path
        environment = {
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "ML_WEIGHTS_DIR": str(weights_dir),
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "ML_TORCH_THREADS": "1",
            **env,
        }
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "analysis", "-c", "1", "-n", self.name,
             "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=BASE_DIR, env=environment, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill reaches the pool child too
        )  # fmt: skip

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        with celery_app.connection_for_write(self.broker_url) as conn:
            while not celery_app.control.ping(destination=[self.name], timeout=1.0, connection=conn):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self._log.flush()
                    pytest.fail(f"celery worker did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self._log.close()


@contextmanager
def running_worker(weights_dir: Path, log_path: Path, **options: str) -> Iterator[Worker]:
    """A worker (``Worker(weights_dir, log_path, **options)``), ready; stopped afterwards."""
    process = Worker(weights_dir, log_path, **options)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on a loopback port, to stop and start at will."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def use_broker(url: str) -> None:
    """Point this process's Celery app at another broker, dropping pooled connections."""
    # the read and write URLs are filled from the settings too, and win over broker_url
    celery_app.conf.broker_url = celery_app.conf.broker_read_url = celery_app.conf.broker_write_url = url
    celery_app._pool = None  # connection pool, rebuilt lazily from the new URL
    celery_app.amqp._producer_pool = None  # producers (task sends and control broadcasts)


def wait_until_finished(prediction_id: int, timeout: float = 90) -> Prediction:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prediction = Prediction.objects.get(pk=prediction_id)
        if prediction.is_finished:
            return prediction
        time.sleep(0.25)
    raise AssertionError(f"prediction {prediction_id} still {prediction.status} after {timeout} s")
