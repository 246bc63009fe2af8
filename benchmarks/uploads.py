"""Peak memory of one upload of the largest allowed photo: the upload part of the benchmark.

Each photo is checked and re-encoded by ``lesions.imaging.sanitize_photo`` (what the web form and
the API run for every upload) in a fresh process, the file already in memory as a request body
would be; the peak resident memory above that starting point (VmHWM, reset before the call) is
compared with the decoded image: Pillow holds an RGB image as 4 bytes per pixel. The photos are
made at the pixel limit (``UPLOAD_MAX_PIXELS``): a phone JPEG, the one-colour PNG of the security
review (a few hundred KB that decode to the full limit), and, for information, the two shapes that
need one more full copy while they are turned upright or into RGB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image

from benchmarks.support import Report, fmt, proc_status_mb, section, table

UPLOAD_PEAK_MAX_RATIO = 2.0  # peak memory of an upload ÷ the decoded image
DEFAULT_MAX_PIXELS = 50_000_000  # config.settings' defaults, read from the same variables
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
ORIENTATION = 0x0112


@dataclass(frozen=True)
class UploadPhoto:
    name: str
    path: Path
    upright_rgb: bool  # decoded as it is stored: the target applies


def reset_peak() -> None:
    """Restart VmHWM at the current resident size (Linux: ``5`` into /proc/self/clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def upload_probe(path: Path, max_pixels: int, max_bytes: int) -> dict[str, float]:
    """In this (fresh) process: sanitize one photo file held in memory; report the memory it took."""
    from lesions.imaging import sanitize_photo

    body = BytesIO(path.read_bytes())
    reset_peak()
    before = proc_status_mb("VmRSS")
    photo = sanitize_photo(body, max_bytes=max_bytes, max_pixels=max_pixels)
    peak = proc_status_mb("VmHWM")
    return {"width": photo.width, "height": photo.height, "before_mb": before, "peak_mb": peak}


def measure_upload(path: Path, max_pixels: int, max_bytes: int) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.engine",
        "--upload-probe",
        str(path),
        str(max_pixels),
        str(max_bytes),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], check=False)
    if done.returncode != 0:
        raise RuntimeError(f"upload probe failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def largest_photos(source: Path, folder: Path, max_pixels: int, max_bytes: int) -> list[UploadPhoto]:
    """Photos at the pixel limit: 4:3 JPEGs from a real photo (upright and EXIF-rotated) and one-colour PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    height = math.isqrt(max_pixels * 3 // 4)
    width = max_pixels // height
    side = math.isqrt(max_pixels)
    with Image.open(source) as photo:
        big = photo.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    jpeg, rotated = folder / "phone.jpg", folder / "phone-rotated.jpg"
    quality = 92
    while True:  # as good as the byte limit allows
        big.save(jpeg, "JPEG", quality=quality)
        if jpeg.stat().st_size <= max_bytes or quality <= 50:
            break
        quality -= 6
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # portrait, as phones store it: turned upright on upload
    big.save(rotated, "JPEG", quality=quality, exif=exif)
    del big
    flat, flat_rgba = folder / "one-colour.png", folder / "one-colour-rgba.png"
    Image.new("RGB", (side, side), (205, 150, 125)).save(flat, "PNG")
    Image.new("RGBA", (side, side), (205, 150, 125, 200)).save(flat_rgba, "PNG")
    return [
        UploadPhoto(f"phone JPEG q{quality}", jpeg, True),
        UploadPhoto("one-colour PNG (the review's file)", flat, True),
        UploadPhoto("phone JPEG, EXIF-rotated", rotated, False),
        UploadPhoto("one-colour RGBA PNG", flat_rgba, False),
    ]


def run_uploads(args: argparse.Namespace, report: Report, source: Path, folder: Path) -> None:
    max_pixels = args.upload_max_pixels
    max_bytes = args.upload_max_bytes
    section("Peak memory of an upload of the largest allowed photo")
    print(
        f"`sanitize_photo` (check, decode, turn upright, re-encode without metadata) in a fresh process per photo, "
        f"the file already in memory; limits {max_pixels / 1e6:g} megapixels, {max_bytes / 2**20:g} MB. Decoded "
        "image: Pillow's RGB image, 4 bytes per pixel. Target for photos stored as they decode (one copy): peak "
        f"< {UPLOAD_PEAK_MAX_RATIO:g}× the decoded image; a rotation or a colour conversion needs a second copy.\n"
    )
    rows = []
    for photo in largest_photos(source, folder, max_pixels, max_bytes):
        measured = measure_upload(photo.path, max_pixels, max_bytes)
        width, height = int(measured["width"]), int(measured["height"])
        decoded_mb = width * height * 4 / 2**20
        used_mb = measured["peak_mb"] - measured["before_mb"]
        ratio = used_mb / decoded_mb
        rows.append(
            [
                photo.name,
                f"{width}×{height}",
                fmt(photo.path.stat().st_size / 2**20, 2),
                fmt(decoded_mb, 0),
                fmt(used_mb, 0),
                f"{fmt(ratio, 2)}×",
            ]
        )
        if photo.upright_rgb:
            report.check(
                f"upload of the largest allowed photo, {photo.name}: "
                f"peak < {UPLOAD_PEAK_MAX_RATIO:g}× the decoded image",
                f"{fmt(used_mb, 0)} MB = {fmt(ratio, 2)}× of {fmt(decoded_mb, 0)} MB",
                ratio < UPLOAD_PEAK_MAX_RATIO,
            )
    headers = ["photo", "pixels", "file MB", "decoded MB", "peak above start, MB", "÷ decoded"]
    print(table(headers, rows))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upload-max-pixels",
        type=int,
        default=int(os.environ.get("UPLOAD_MAX_PIXELS") or DEFAULT_MAX_PIXELS),
        help="pixel limit of an upload, the size of the upload photos [UPLOAD_MAX_PIXELS or 50000000]",
    )
    parser.add_argument(
        "--upload-max-bytes",
        type=int,
        default=int(os.environ.get("UPLOAD_MAX_BYTES") or DEFAULT_MAX_BYTES),
        help="byte limit of an upload [UPLOAD_MAX_BYTES or 20 MiB]",
    )
