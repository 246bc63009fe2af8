"""The PDF visit report of six very large photos: the report part of the benchmark.

The security review's case: six 7071×7071 one-colour PNGs (the pixel limit; PNG has no reduced decode)
at one visit. In a fresh process with a database and media folder of its own (SQLite, no model
installed): the photos are stored through ``lesion_image_create`` (which makes each thumbnail), then
the report is made ``--report-repeats`` times from the stored thumbnails, and once for photos stored
before thumbnails existed (their thumbnails removed: that report decodes each full-size photo, as every
report did before thumbnails, and stores the thumbnails for the next one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.support import Report, fmt, median, section, table

REPORT_PHOTOS = 6
REPORT_MAX_MS = 1000.0  # six photos from their thumbnails
DEFAULT_SIDE = 7071  # 7071² ≈ 50 megapixels, UPLOAD_MAX_PIXELS's default


def report_probe(side: int, repeats: int) -> dict[str, object]:
    """In this (fresh) process, Django set up on a scratch database: store the photos, time the reports."""
    import django

    django.setup()
    from io import BytesIO

    from django.core.management import call_command
    from django.utils import timezone
    from PIL import Image

    from clinic.models import Clinic
    from followup.report import visit_report
    from interop.pdf import visit_report_pdf
    from lesions.models import Lesion, LesionImage, Patient, Visit
    from lesions.services import lesion_image_create

    call_command("migrate", "--noinput", verbosity=0)
    clinic = Clinic.objects.create(name="Benchmark clinic")
    patient = Patient.objects.create(clinic=clinic, first_name="Bench", last_name="Mark", medical_record_number="B-1")
    visit = Visit.objects.create(patient=patient)
    for n in range(REPORT_PHOTOS):
        body = BytesIO()
        Image.new("RGB", (side, side), (205 - 10 * n, 150, 125)).save(body, "PNG")
        lesion = Lesion.objects.create(
            patient=patient, label=f"Lesion {n + 1}", body_site=Lesion.BodySite.ANTERIOR_TORSO
        )
        lesion_image_create(lesion=lesion, visit=visit, photo=body)

    def one_report() -> float:
        started = time.perf_counter()
        visit_report_pdf(visit_report(visit), printed_by="benchmark", printed_at=timezone.now())
        return (time.perf_counter() - started) * 1000

    one_report()  # warm-up: fonts and imports
    from_thumbnails = [one_report() for _ in range(repeats)]
    for image in LesionImage.objects.all():
        image.thumbnail.delete(save=False)
    LesionImage.objects.update(thumbnail="")
    from_full_size = one_report()
    return {"side": side, "from_thumbnails_ms": from_thumbnails, "from_full_size_ms": from_full_size}


def measure_report(side: int, repeats: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="dermatrack-bench-report.") as folder:
        scratch = Path(folder)
        (scratch / "weights").mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if k not in {"CELERY_BROKER_URL", "CACHE_URL", "DATABASE_URL"}},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
            "MEDIA_ROOT": str(scratch / "media"),
            "ML_WEIGHTS_DIR": str(scratch / "weights"),  # no model: storing a photo analyses nothing
            "ML_SEGMENTATION_MODEL": "none",
            "UPLOAD_MAX_PIXELS": str(max(side * side, 50_000_000)),
            "UPLOAD_MAX_BYTES": str(200 * 2**20),
            "LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "benchmarks.report", "--probe", str(side), str(repeats)]
        root = Path(__file__).resolve().parents[1]
        done = subprocess.run(command, capture_output=True, text=True, cwd=root, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"report probe failed: {done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_report(args: argparse.Namespace, report: Report) -> None:
    side, repeats = args.report_photo_side, args.report_repeats
    section("PDF visit report of six large photos")
    print(
        f"One visit with {REPORT_PHOTOS} one-colour {side}×{side} PNG photos (the security review's report), in a "
        f"fresh process on a scratch SQLite database: `visit_report` + `visit_report_pdf`, from the stored "
        f"thumbnails (median of {repeats}, after one warm-up) and once for photos without thumbnails (each "
        "full-size photo decoded, as every report did before thumbnails; that report stores them).\n"
    )
    measured = measure_report(side, repeats)
    thumbs = [float(v) for v in measured["from_thumbnails_ms"]]  # type: ignore[attr-defined]
    full = float(measured["from_full_size_ms"])  # type: ignore[arg-type]
    rows = [
        [f"{REPORT_PHOTOS} × {side}×{side} PNG", "from the stored thumbnails", fmt(median(thumbs), 0)],
        [f"{REPORT_PHOTOS} × {side}×{side} PNG", "without thumbnails (full-size decode)", fmt(full, 0)],
    ]
    print(table(["photos", "report made", "ms"], rows))
    report.check(
        f"PDF report of {REPORT_PHOTOS} {side}×{side} photos from thumbnails < {REPORT_MAX_MS:g} ms",
        f"{fmt(median(thumbs), 0)} ms (without thumbnails {fmt(full, 0)} ms)",
        median(thumbs) < REPORT_MAX_MS,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report-photo-side", type=int, default=DEFAULT_SIDE, help="side of the report's photos [7071]"
    )
    parser.add_argument("--report-repeats", type=int, default=5, help="reports timed from thumbnails [5]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--probe", nargs=2, type=int, metavar=("SIDE", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(report_probe(*args.probe)))
        return 0
    report = Report()
    run_report(args, report)
    return 0 if all(v.passed for v in report.verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
