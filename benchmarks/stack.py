"""The production-like stack on this machine, started and stopped in one place.

A database of its own on the local PostgreSQL (created afresh, dropped at the end), a Redis
database as broker, the demo seed, gunicorn and one Celery worker, files in a temporary
folder. The benchmark's end-to-end part, ``scripts/loadtest_stack.sh`` and ``.ci/run`` (the
schemathesis run) all start it through here:

    python -m benchmarks.stack --database NAME --broker-db N [--port P] [--web-workers 3]
        [--worker-concurrency 2] [--no-worker] [--weights-dir DIR] -- COMMAND [ARG...]

runs COMMAND against the running stack (``{url}`` in its arguments, and ``STACK_URL`` in its
environment, are the server's address) and exits with its status. Needs PostgreSQL on
127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 120


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    logs: Path
    worker: subprocess.Popen[bytes] | None

    def check_alive(self) -> None:
        if self.worker is not None and self.worker.poll() is not None:
            raise RuntimeError(f"the Celery worker exited ({self.worker.returncode}):\n{self.log_tail('worker', 60)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _wait_for(url: str, web: subprocess.Popen[bytes], stack: Stack) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise RuntimeError(f"the web server exited ({web.returncode}):\n{stack.log_tail('web', 60)}")
        with suppress(OSError, urllib.error.URLError), urllib.request.urlopen(url, timeout=5) as response:
            if response.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the web server did not answer at {url} within {STARTUP_SECONDS} s")


@contextmanager
def running_stack(
    *,
    database: str,
    broker_db: int,
    port: int | None = None,
    web_workers: int = 2,
    worker_concurrency: int | None = 1,
    weights_dir: Path | None = None,
) -> Iterator[Stack]:
    """Own PostgreSQL database and Redis db, demo seed, gunicorn and (unless ``worker_concurrency`` is None) a worker.

    Answers once the login page does; on exit everything started is stopped, the Redis db
    flushed and the database dropped.
    """
    for tool in ("psql", "redis-cli"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: the stack needs PostgreSQL and Redis on this machine")
    work = Path(tempfile.mkdtemp(prefix="dermatrack-stack."))
    python = _python()
    bin_dir = Path(python).parent
    port = port or free_port()
    env = os.environ | {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{broker_db}",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "MEDIA_ROOT": str(work / "media"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Many logins from one address are expected here: raise the per-address lockout limit.
        "AXES_FAILURE_LIMIT": "1000",
        "PGOPTIONS": "-c client_min_messages=warning",  # no NOTICE when the database is not there yet
    }
    if weights_dir is not None:
        env["ML_WEIGHTS_DIR"] = str(Path(weights_dir).resolve())
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-q"]
    redis = ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "-n", str(broker_db), "flushdb"]
    started: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(work / f"{log}.log", "wb") as handle:
            process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        started.append(process)
        return process

    try:
        subprocess.run(
            [*psql, "-c", f"DROP DATABASE IF EXISTS {database}", "-c", f"CREATE DATABASE {database}"],
            env=env,
            check=True,
        )
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
        subprocess.run([python, "manage.py", "seed_demo"], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(redis, check=True, stdout=subprocess.DEVNULL)  # the demo photos' analyses are not run
        worker = None
        if worker_concurrency is not None:
            worker = start(
                [
                    *(str(bin_dir / "celery"), "-A", "config", "worker", "-Q", "analysis"),
                    *("-c", str(worker_concurrency), "-l", "WARNING"),
                ],
                "worker",
            )
            # Follow-up alignments have their own queue and a worker at a lower priority: they never hold up
            # the analyses clinicians wait for (README "Running with PostgreSQL, Redis and Celery workers").
            start(
                [
                    *("nice", "-n", "10", str(bin_dir / "celery"), "-A", "config", "worker", "-Q", "followup"),
                    *("-c", "1", "-n", "followup@%h", "-l", "WARNING"),
                ],
                "followup-worker",
            )
        web = start(
            [
                *(str(bin_dir / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}"),
                *("-w", str(web_workers), "--timeout", "120", "--log-level", "warning"),
            ],
            "web",
        )
        stack = Stack(url=f"http://127.0.0.1:{port}", env=env, logs=work, worker=worker)
        _wait_for(f"{stack.url}/accounts/login/", web, stack)
        yield stack
    finally:
        for process in started:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        subprocess.run(redis, check=False, stdout=subprocess.DEVNULL)
        subprocess.run([*psql, "-c", f"DROP DATABASE IF EXISTS {database}"], env=env, check=False)
        shutil.rmtree(work, ignore_errors=True)


def run_against_stack(args: argparse.Namespace) -> int:
    """Start the stack, run the command against it, stop the stack; the command's exit status."""
    with running_stack(
        database=args.database,
        broker_db=args.broker_db,
        port=args.port,
        web_workers=args.web_workers,
        worker_concurrency=None if args.no_worker else args.worker_concurrency,
        weights_dir=args.weights_dir,
    ) as stack:
        command = [part.replace("{url}", stack.url) for part in args.command]
        rc = subprocess.run(command, env=os.environ | {"STACK_URL": stack.url}, check=False).returncode
        if rc != 0:
            for name in ("web", "worker"):
                print(f"--- {name} log (tail)\n{stack.log_tail(name)}", file=sys.stderr)
        return rc


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.stack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True, help="PostgreSQL database to create (dropped at the end)")
    parser.add_argument("--broker-db", type=int, required=True, help="Redis database number of the broker")
    parser.add_argument("--port", type=int, help="gunicorn's port [a free one]")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--no-worker", action="store_true", help="start no Celery worker")
    parser.add_argument("--weights-dir", type=Path, help="ML_WEIGHTS_DIR of the stack [the environment's]")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...] ({url}: the server)")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("give the command to run after --")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_against_stack(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
