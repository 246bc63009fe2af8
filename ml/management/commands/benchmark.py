"""``manage.py benchmark``: the engine benchmark of ``ml.bench`` plus upload-to-finished through the real stack.

    python manage.py benchmark [--skip-end-to-end] [ml.bench options: --weights-dir, --images, ...]

The end-to-end part starts its own stack as ``scripts/loadtest_stack.sh`` does (a fresh
PostgreSQL database, Redis db 13, gunicorn and one Celery worker ``-c 1``), uploads photos one
after another through the web form as dr.ben after ``seed_demo`` and times each upload from
the request's start until every prediction of the photo is done, reading the database every
20 ms. Everything it started is stopped and its database dropped at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ml import bench
from ml.bench import E2E_P95_MAX_MS, REPO, Report, fmt, median, ms_since, p95, proc_status_mb, table

E2E_DATABASE = "dermatrack_bench"
DEMO_USER = ("dr.ben", "dermatrack-demo")  # from seed_demo
POLL_SECONDS = 0.02


class Command(BaseCommand):
    help = "Benchmark the analysis: engine latency, throughput, FLOP floor, memory, drift and upload-to-finished."

    def add_arguments(self, parser: Any) -> None:
        bench.add_arguments(parser)
        parser.add_argument("--skip-end-to-end", action="store_true", help="only the engine parts")

    def handle(self, *args: Any, **options: Any) -> None:
        namespace = argparse.Namespace(**options)
        namespace.end_to_end = namespace.end_to_end or not options["skip_end_to_end"]
        report = bench.run(namespace)
        if options["strict"] and not all(v.passed for v in report.verdicts):
            raise CommandError("some targets failed")


@dataclass
class EndToEnd:
    photos: str
    uploads: int
    all_done_ms: list[float]
    default_done_ms: list[float]
    failed: int
    worker_peak_mb: float | None


@dataclass
class Stack:
    url: str
    worker: subprocess.Popen[bytes]
    logs: Path

    def check_alive(self) -> None:
        if self.worker.poll() is not None:
            log = (self.logs / "worker.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the Celery worker exited ({self.worker.returncode}):\n{log}")


@contextmanager
def running_stack(weights_dir: Path, database: str) -> Iterator[Stack]:
    """Own PostgreSQL database, Redis db 13, gunicorn and one Celery worker (``-c 1``).

    Started as ``scripts/loadtest_stack.sh`` does; stopped, and the database dropped, on exit.
    """
    for tool in ("psql", "redis-cli"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: the end-to-end part needs PostgreSQL and Redis on this machine")
    work = Path(tempfile.mkdtemp(prefix="dermatrack-bench."))
    python = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").is_dir() else sys.executable
    bin_dir = Path(python).parent
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "MEDIA_ROOT": str(work / "media"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "AXES_FAILURE_LIMIT": "1000",
        "ML_WEIGHTS_DIR": str(weights_dir.resolve()),
        "PGOPTIONS": "-c client_min_messages=warning",  # no NOTICE when the database is not there yet
    }
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-q"]
    redis = ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "-n", "13", "flushdb"]
    started: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(
            [*psql, "-c", f"DROP DATABASE IF EXISTS {database}", "-c", f"CREATE DATABASE {database}"],
            env=env,
            check=True,
        )
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
        subprocess.run([python, "manage.py", "seed_demo"], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(redis, check=True, stdout=subprocess.DEVNULL)  # the demo photos' analyses are not measured
        for command, log in (
            (
                [str(bin_dir / "celery"), "-A", "clinic", "worker", "-Q", "analysis", "-c", "1", "-l", "WARNING"],
                "worker",
            ),
            (
                [str(bin_dir / "gunicorn"), "clinic.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--timeout", "120"],
                "web",
            ),
        ):
            with open(work / f"{log}.log", "wb") as handle:
                started.append(
                    subprocess.Popen(
                        command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
        yield Stack(url=f"http://127.0.0.1:{port}", worker=started[0], logs=work)
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


def worker_pool_peak_mb(worker_pid: int) -> float | None:
    """Peak RSS (VmHWM) of the pool process of the Celery worker we started: the one that analyses."""
    peaks = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == worker_pid:
                peaks.append(proc_status_mb("VmHWM", stat.parent.name))
        except (OSError, ValueError, IndexError, KeyError):
            continue
    return max(peaks) if peaks else None


def end_to_end(weights_dir: Path, photo_sets: dict[str, list[Path]], uploads: int, warmup: int) -> list[EndToEnd]:
    """Upload photos one after another through the web form; time each from request start to every prediction done."""
    import httpx
    import psycopg2

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    results = []
    with running_stack(weights_dir, E2E_DATABASE) as stack:
        base_url = stack.url
        client = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False)
        for _ in range(120):
            with suppress(httpx.HTTPError):
                if client.get("/accounts/login/").status_code == 200:
                    break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the web server did not answer at {base_url}")
        username, password = DEMO_USER
        login = client.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
            headers={"Referer": f"{base_url}/accounts/login/"},
        )
        if login.status_code != 302:
            raise RuntimeError(f"login as {username} failed (HTTP {login.status_code})")
        uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        patient = re.findall(rf'href="/patients/({uuid})/"', client.get("/patients/").text)[0]
        lesion = re.findall(rf'href="/lesions/({uuid})/"', client.get(f"/patients/{patient}/").text)[0]
        form_url = f"/patients/{patient}/visits/new/"
        db = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=E2E_DATABASE)
        db.autocommit = True
        cursor = db.cursor()

        def upload_and_wait(photo: Path) -> tuple[float, float, bool]:
            client.get(form_url)
            data = {
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
                "date": time.strftime("%Y-%m-%d"),
                "notes": "benchmark",
                "photos-TOTAL_FORMS": "1",
                "photos-INITIAL_FORMS": "0",
                "photos-MIN_NUM_FORMS": "0",
                "photos-MAX_NUM_FORMS": "12",
                "photos-0-lesion": lesion,
                "photos-0-image_type": "dermoscopic",
            }
            content = photo.read_bytes()
            started = time.perf_counter()
            response = client.post(
                form_url,
                data=data,
                files={"photos-0-photo": (photo.name, content, "image/jpeg")},
                headers={"Referer": f"{base_url}{form_url}"},
            )
            location = response.headers.get("location", "")
            if response.status_code != 302 or "/visits/" not in location:
                raise RuntimeError(f"upload refused (HTTP {response.status_code})")
            visit = location.rstrip("/").rsplit("/", 1)[-1]
            default_done = None
            while ms_since(started) < 120_000:
                stack.check_alive()
                cursor.execute(
                    "SELECT p.status, m.is_default FROM ml_prediction p"
                    " JOIN ml_modelversion m ON m.id = p.model_version_id"
                    " JOIN lesions_lesionimage i ON i.id = p.image_id"
                    " JOIN lesions_visit v ON v.id = i.visit_id WHERE v.uuid = %s",
                    (visit,),
                )
                rows = cursor.fetchall()
                now = ms_since(started)
                finished = [status in ("done", "failed") for status, _ in rows]
                if default_done is None and any(f and d for f, (_, d) in zip(finished, rows, strict=True)):
                    default_done = now
                if rows and all(finished):
                    failed = any(status == "failed" for status, _ in rows)
                    return now, default_done if default_done is not None else now, failed
                time.sleep(POLL_SECONDS)
            raise RuntimeError(f"visit {visit}: analysis not finished after 120 s")

        for name, photos in photo_sets.items():
            for i in range(warmup):  # models loaded, caches warm
                upload_and_wait(photos[i % len(photos)])
            all_done, default_done, failed = [], [], 0
            for i in range(uploads):
                total, default, bad = upload_and_wait(photos[i % len(photos)])
                all_done.append(total)
                default_done.append(default)
                failed += bad
            results.append(
                EndToEnd(name, uploads, all_done, default_done, failed, worker_pool_peak_mb(stack.worker.pid))
            )
        db.close()
        client.close()
    return results


def run_end_to_end(args: argparse.Namespace, report: Report, sets: dict[str, list[Path]]) -> None:
    try:
        results = end_to_end(args.weights_dir, sets, args.uploads, args.warmup_uploads)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"Failed: {exc}")
        report.check("upload to finished p95 < 1 s", "not measured", False, str(exc))
        return
    print(
        "Sequential uploads through the web form (gunicorn, 2 workers) to one Celery worker (`-c 1`, warm) on "
        f"Redis and PostgreSQL, {args.warmup_uploads} warm-up uploads first; from the POST's start until every "
        "prediction of the photo is done (database polled every 20 ms).\n"
    )
    rows = []
    for result in results:
        short = result.photos.split(" (")[0]
        peak = f"{fmt(result.worker_peak_mb, 0)} MB" if result.worker_peak_mb else "?"
        rows.append(
            [
                short,
                result.uploads,
                f"{fmt(median(result.default_done_ms), 0)} / {fmt(p95(result.default_done_ms), 0)}",
                f"{fmt(median(result.all_done_ms), 0)} / {fmt(p95(result.all_done_ms), 0)}",
                result.failed,
                peak,
            ]
        )
        report.check(
            f"{short}: upload to finished (all models) p95 < {E2E_P95_MAX_MS / 1000:.0f} s",
            f"{fmt(p95(result.all_done_ms), 0)} ms",
            p95(result.all_done_ms) < E2E_P95_MAX_MS and result.failed == 0,
        )
    print(
        table(
            [
                "photos",
                "uploads",
                "default model done, ms (median / p95)",
                "all models done, ms (median / p95)",
                "failed",
                "worker peak RSS",
            ],
            rows,
        )
    )
