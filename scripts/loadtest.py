#!/usr/bin/env python
"""Load test of a running DermaTrack: concurrent clinicians logging in, reading and uploading.

Drives N concurrent clients against a server on this machine (loopback only), each logging in
through the login form, reading the patient list, searching, opening a patient and uploading a
photo of one of their lesions on a new visit, until the upload count or the time limit is
reached. At the end it waits for every uploaded photo's analysis and checks that each photo
exists (its file URL answers 200) with a finished prediction. Prints throughput, latency
percentiles per operation and errors; exits non-zero on any error or lost photo/prediction.

    python scripts/loadtest.py --base-url http://127.0.0.1:8000 --clients 20 --uploads 200
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

DEFAULT_PHOTOS = Path(__file__).resolve().parents[1] / "lesions" / "fixtures" / "ham10000_sample" / "images"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    visits: list[str] = field(default_factory=list)  # visit page URLs with uploaded photos
    uploads_started: int = 0

    def record(self, operation: str, seconds: float) -> None:
        self.latencies[operation].append(seconds)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def csrf_token(client: httpx.AsyncClient) -> str:
    return client.cookies.get("csrftoken") or ""


async def timed(stats: Stats, operation: str, request) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await request
    except httpx.HTTPError as exc:
        stats.errors.append(f"{operation}: {type(exc).__name__}: {exc}")
        return None
    stats.record(operation, time.perf_counter() - started)
    if response.status_code >= 400:
        stats.errors.append(f"{operation}: HTTP {response.status_code} {response.request.url}")
        return None
    return response


def new_client(args: argparse.Namespace) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=args.base_url, timeout=args.request_timeout, follow_redirects=False)


async def log_in(client: httpx.AsyncClient, args: argparse.Namespace, stats: Stats, username: str) -> bool:
    if await timed(stats, "login page", client.get("/accounts/login/")) is None:
        return False
    login = await timed(
        stats,
        "login",
        client.post(
            "/accounts/login/",
            data={"username": username, "password": args.password, "csrfmiddlewaretoken": csrf_token(client)},
            headers={"Referer": f"{args.base_url}/accounts/login/"},
        ),
    )
    if login is None or login.status_code != 302:
        stats.errors.append(f"login of {username} failed (HTTP {login.status_code if login else '-'})")
        return False
    return True


async def clinician(number: int, args: argparse.Namespace, stats: Stats, photos: list[Path], deadline: float) -> None:
    """One clinician: log in, then read, search and upload until the run's limits are reached."""
    username = args.username[number % len(args.username)]
    rng = random.Random(number)
    async with new_client(args) as client:
        if not await log_in(client, args, stats, username):
            return
        while time.monotonic() < deadline and stats.uploads_started < args.uploads:
            listing = await timed(stats, "patient list", client.get("/patients/"))
            if listing is None:
                continue
            query = rng.choice(["a", "e", "RD-10", "Hale"])
            await timed(stats, "search", client.get("/patients/", params={"q": query}))
            patients = re.findall(rf'href="/patients/({UUID})/"', listing.text)
            if not patients:
                stats.errors.append(f"{username} sees no patients")
                return
            patient = rng.choice(patients)
            detail = await timed(stats, "patient page", client.get(f"/patients/{patient}/"))
            lesions = re.findall(rf'href="/lesions/({UUID})/"', detail.text) if detail else []
            if not lesions or stats.uploads_started >= args.uploads:
                continue
            stats.uploads_started += 1
            await upload(client, args, stats, patient, rng.choice(lesions), rng.choice(photos), number)


async def upload(
    client: httpx.AsyncClient,
    args: argparse.Namespace,
    stats: Stats,
    patient: str,
    lesion: str,
    photo: Path,
    number: int,
) -> None:
    form_url = f"/patients/{patient}/visits/new/"
    if await timed(stats, "new visit form", client.get(form_url)) is None:
        return
    response = await timed(
        stats,
        "upload",
        client.post(
            form_url,
            data={
                "csrfmiddlewaretoken": csrf_token(client),
                "date": time.strftime("%Y-%m-%d"),
                "notes": f"load test client {number}",
                "photos-TOTAL_FORMS": "1",
                "photos-INITIAL_FORMS": "0",
                "photos-MIN_NUM_FORMS": "0",
                "photos-MAX_NUM_FORMS": "12",
                "photos-0-lesion": lesion,
                "photos-0-image_type": "dermoscopic",
            },
            files={"photos-0-photo": (photo.name, photo.read_bytes(), "image/jpeg")},
            headers={"Referer": f"{args.base_url}{form_url}"},
        ),
    )
    if response is None:
        return
    if response.status_code != 302 or "/visits/" not in response.headers.get("location", ""):
        stats.errors.append(f"upload refused (HTTP {response.status_code}): form errors?")
        return
    stats.visits.append(response.headers["location"])


async def verify(args: argparse.Namespace, stats: Stats) -> list[str]:
    """Every uploaded photo is stored and ends with all its predictions finished (done)."""
    async with new_client(args) as client:
        if not await log_in(client, args, stats, args.username[0]):
            return ["could not log in to check the uploads"]
        deadline = time.monotonic() + args.analysis_timeout
        pending = set(stats.visits)
        failed: list[str] = []
        while pending and time.monotonic() < deadline:
            for visit in list(pending):
                page = await client.get(visit)
                if page.status_code != 200:
                    failed.append(f"{visit}: HTTP {page.status_code}")
                    pending.discard(visit)
                    continue
                if "data-pending" in page.text:
                    continue
                pending.discard(visit)
                failed.extend(await check_visit(client, visit, page.text))
            if pending:
                await asyncio.sleep(1)
        failed.extend(f"{visit}: analysis still pending after {args.analysis_timeout} s" for visit in pending)
        return failed


async def check_visit(client: httpx.AsyncClient, visit: str, html: str) -> list[str]:
    problems = []
    images = set(re.findall(rf"/images/({UUID})/file/", html))
    if not images:
        problems.append(f"{visit}: no photo on the visit page")
    for image in images:
        photo = await client.get(f"/images/{image}/file/")
        if photo.status_code != 200 or not photo.content:
            problems.append(f"{visit}: photo {image} not served (HTTP {photo.status_code})")
    if "Analysis failed" in html:
        problems.append(f"{visit}: an analysis failed")
    elif "No model is installed" in html:
        problems.append(f"{visit}: no model installed, nothing analysed")
    return problems


def check_loopback(base_url: str) -> None:
    host = urlsplit(base_url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        sys.exit(f"refusing to load-test {host!r}: only servers on this machine (loopback) are allowed")


async def main_async(args: argparse.Namespace) -> int:
    check_loopback(args.base_url)
    photos = sorted(Path(args.photos).glob("*.jpg"))
    if not photos:
        sys.exit(f"no JPEG photos in {args.photos}")
    stats = Stats()
    started = time.monotonic()
    deadline = started + args.duration
    await asyncio.gather(*(clinician(n, args, stats, photos, deadline) for n in range(args.clients)))
    elapsed = time.monotonic() - started
    lost = await verify(args, stats)
    report(args, stats, elapsed, time.monotonic() - started, lost)
    return 1 if stats.errors or lost or not stats.visits else 0


def report(args: argparse.Namespace, stats: Stats, elapsed: float, settled: float, lost: list[str]) -> None:
    requests = sum(len(v) for v in stats.latencies.values())
    print(f"\nDermaTrack load test: {args.clients} clients against {args.base_url}")
    print(f"{requests} requests in {elapsed:.1f} s = {requests / elapsed:.1f} req/s; uploads: {len(stats.visits)}")
    print(f"{'operation':<16} {'count':>6} {'median ms':>10} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for operation, values in sorted(stats.latencies.items()):
        ms = [v * 1000 for v in values]
        print(
            f"{operation:<16} {len(ms):>6} {statistics.median(ms):>10.0f} {percentile(ms, 95):>8.0f} "
            f"{percentile(ms, 99):>8.0f} {max(ms):>8.0f}"
        )
    print(f"uploads accepted: {len(stats.visits) / elapsed:.2f} photos/s")
    print(f"every analysis finished {settled:.1f} s after the start ({len(stats.visits) / settled:.2f} photos/s)")
    print(f"errors: {len(stats.errors)}; lost photos or unfinished predictions: {len(lost)}")
    for line in (stats.errors + lost)[:20]:
        print(f"  {line}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=200, help="total uploads across clients")
    parser.add_argument("--duration", type=float, default=600, help="stop starting uploads after this many s")
    parser.add_argument("--analysis-timeout", type=float, default=600, help="wait this long for analyses")
    parser.add_argument("--request-timeout", type=float, default=60)
    parser.add_argument("--username", action="append", help="demo clinician(s) [dr.ada, dr.ben]")
    parser.add_argument("--password", default="dermatrack-demo")
    parser.add_argument("--photos", default=str(DEFAULT_PHOTOS))
    args = parser.parse_args(argv)
    args.username = args.username or ["dr.ada", "dr.ben"]
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main_async(parse_args())))
