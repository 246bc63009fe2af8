"""Upload to finished through the real stack: the end-to-end part of the benchmark.

The stack is ``benchmarks.stack``'s (a fresh PostgreSQL database, Redis db 13, gunicorn with 2
workers and one Celery worker ``-c 1``); photos are uploaded one after another through the web
form as dr.ben after ``seed_demo``, each timed from the request's start until every prediction
of the photo is done and, with a segmentation model installed, its lesion outline too (made in
the same task), reading the database every 20 ms.
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.stack import running_stack
from benchmarks.support import Report, fmt, median, ms_since, p95, proc_status_mb, table

E2E_DATABASE = "dermatrack_bench"
E2E_BROKER_DB = 13
E2E_P95_MAX_MS = 1000.0
DEMO_USER = ("dr.ben", "dermatrack-demo")  # from seed_demo
POLL_SECONDS = 0.02


@dataclass
class EndToEnd:
    photos: str
    uploads: int
    all_done_ms: list[float]  # every prediction and the outline finished
    default_done_ms: list[float]
    failed: int
    worker_peak_mb: float | None
    outlined: int = 0  # uploads whose photo got an outline (0: no segmentation model installed)


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
    with running_stack(database=E2E_DATABASE, broker_db=E2E_BROKER_DB, weights_dir=weights_dir) as stack:
        base_url = stack.url
        client = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False)
        client.get("/accounts/login/")  # the CSRF cookie
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

        def upload_and_wait(photo: Path) -> tuple[float, float, bool, bool]:
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
                cursor.execute(
                    "SELECT o.status FROM ml_lesionoutline o"
                    " JOIN lesions_lesionimage i ON i.id = o.image_id"
                    " JOIN lesions_visit v ON v.id = i.visit_id WHERE v.uuid = %s",
                    (visit,),
                )
                outline = [status for (status,) in cursor.fetchall()]
                now = ms_since(started)
                finished = [status in ("done", "failed") for status, _ in rows]
                if default_done is None and any(f and d for f, (_, d) in zip(finished, rows, strict=True)):
                    default_done = now
                outlined = all(status in ("done", "no_lesion", "failed") for status in outline)
                if rows and all(finished) and outlined:
                    failed = any(status == "failed" for status, _ in rows) or "failed" in outline
                    return now, default_done if default_done is not None else now, failed, bool(outline)
                time.sleep(POLL_SECONDS)
            raise RuntimeError(f"visit {visit}: analysis not finished after 120 s")

        for name, photos in photo_sets.items():
            for i in range(warmup):  # models loaded, caches warm
                upload_and_wait(photos[i % len(photos)])
            all_done, default_done, failed, outlined = [], [], 0, 0
            for i in range(uploads):
                total, default, bad, has_outline = upload_and_wait(photos[i % len(photos)])
                all_done.append(total)
                default_done.append(default)
                failed += bad
                outlined += has_outline
            results.append(
                EndToEnd(
                    name,
                    uploads,
                    all_done,
                    default_done,
                    failed,
                    worker_pool_peak_mb(stack.worker.pid) if stack.worker else None,
                    outlined,
                )
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
        "prediction of the photo is done and its lesion outline too, when a segmentation model is installed "
        "(database polled every 20 ms).\n"
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
                f"{result.outlined} / {result.uploads}",
                peak,
            ]
        )
        report.check(
            f"{short}: upload to finished (all models{' + outline' if result.outlined else ''}) p95 "
            f"< {E2E_P95_MAX_MS / 1000:.0f} s",
            f"{fmt(p95(result.all_done_ms), 0)} ms",
            p95(result.all_done_ms) < E2E_P95_MAX_MS and result.failed == 0,
        )
    print(
        table(
            [
                "photos",
                "uploads",
                "default model done, ms (median / p95)",
                "all models and outline done, ms (median / p95)",
                "failed",
                "outlined",
                "worker peak RSS",
            ],
            rows,
        )
    )
