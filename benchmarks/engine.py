"""How fast is the analysis, next to what the hardware allows and to a typical demo app?

    python -m benchmarks [--weights-dir ml/weights] [--images DIR] [--end-to-end]
    python manage.py benchmark            # the same, plus the end-to-end part

For every shipped model (``*.json`` manifests in the weights folder) on real photos (the
HAM10000 sample, and the same photos upscaled to a phone's 4032×3024 as JPEG quality 90):
per-photo latency of ``Classifier.analyse`` by stage against a straightforward baseline, and
of the lesion outline the worker makes on the same decoded photo when a segmentation model is
installed (segmentation, measurements, mask PNG and outline polygon),
forward-only time against the FLOP floor of this machine's matrix-multiply rate, batch
re-analysis throughput, peak memory of a worker process, drift over 1,000 analyses and,
with ``--end-to-end``, upload-to-finished latency through gunicorn + Celery + Redis +
PostgreSQL, the peak memory of one upload of the largest allowed photo
(``benchmarks.uploads``) and the time of a PDF report of six such photos (``benchmarks.report``, in a
Django process of its own on a scratch database). Ends with PASS/FAIL per target. This process needs
no Django except for ``--end-to-end``, which starts the stack through ``benchmarks.stack`` (see
``benchmarks.end_to_end``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image

from benchmarks import report as report_pdf
from benchmarks import uploads
from benchmarks.end_to_end import run_end_to_end
from benchmarks.outline import OUTLINE_STAGES, is_segmentation_manifest, load_segmenter, outline_once, outline_section
from benchmarks.support import (
    Report,
    cpu_busy_percent,
    fmt,
    gemm_gflops,
    median,
    ms_since,
    other_heavy_processes,
    p95,
    phone_copies,
    photo_paths,
    print_machine,
    print_verdicts,
    proc_status_mb,
    section,
    table,
)
from ml.engine.architectures import model_flops, target_layer
from ml.engine.inference.classifier import Classifier, configure_torch_threads
from ml.engine.inference.ensemble import Ensemble, analyser_from_manifest
from ml.engine.inference.ensemble_manifest import load_manifest
from ml.engine.inference.preprocess import open_oriented, prepare_model_input
from ml.engine.manifest import SHIPPED_WEIGHTS_DIR, Manifest, find_manifests
from ml.engine.segmentation.model import Segmenter

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS_DIR
DEFAULT_IMAGES = REPO / "lesions" / "fixtures" / "ham10000_sample" / "images"
PHONE_SIZE = (4032, 3024)
STAGES = ("decode+preprocess", "forward", "gradcam", "overlay", "total")

# Targets of the issue "analysis speed near the hardware limit".
SPEEDUP_MIN = 3.0  # baseline / ours, classify + Grad-CAM per photo
GRADCAM_OVER_FORWARD_MAX = 1.2  # (forward + Grad-CAM) / forward-only
REANALYSIS_MIN_PER_S = 40.0  # EfficientNet, without Grad-CAM
DRIFT_MAX_PERCENT = 10.0


# --- the hardware limit ------------------------------------------------------------------------------


def model_input(classifier: Classifier, path: Path) -> torch.Tensor:
    """A photo's preprocessed input as the classifier feeds it to the model (batch of 1)."""
    with Image.open(path) as photo:
        tensor = prepare_model_input(photo, classifier.preprocess_config).tensor.unsqueeze(0)
    return tensor.contiguous(memory_format=torch.channels_last) if classifier.channels_last else tensor


def forward_only_once(classifier: Classifier | Ensemble, tensor: torch.Tensor) -> float:
    """The model alone (an ensemble: every member on every view) on a preprocessed input, in ms."""
    started = time.perf_counter()
    with torch.inference_mode():
        if isinstance(classifier, Ensemble):
            classifier.logits(tensor)
        else:
            classifier.model(tensor)
    return ms_since(started)


def decode_ms(path: Path, classifier: Classifier | None) -> tuple[float, tuple[int, int]]:
    """Open and decode a photo to RGB: fully, or as the engine does (JPEG draft mode) for ``classifier``."""
    started = time.perf_counter()
    with Image.open(path) as photo:
        decoded = open_oriented(photo, classifier.preprocess_config)[0] if classifier else photo.convert("RGB")
        return ms_since(started), decoded.size


# --- our pipeline and the baseline, photo by photo ------------------------------------------------------


def ours_once(classifier: Classifier, path: Path, segmenter: Segmenter | None = None) -> dict[str, float]:
    """``analyse`` of one photo file, the decode included (the file is opened inside the timing).

    With a ``segmenter``, then the outline as the worker makes it on the same decoded photo.
    """
    started = time.perf_counter()
    with Image.open(path) as photo:
        analysis = classifier.analyse(photo)
    total = ms_since(started)
    timings = analysis.timings
    inner = timings["forward"] + timings["gradcam"] + timings["overlay"]
    stages = {
        "decode+preprocess": total - inner,  # open, decode, resize, normalise and the glue around
        "forward": timings["forward"],
        "gradcam": timings["gradcam"],
        "overlay": timings["overlay"],
        "total": total,
    }
    if segmenter is not None and analysis.model_input is not None:
        outline = outline_once(segmenter, analysis.model_input)
        stages["outline"] = outline["total"]
        stages["total + outline"] = total + outline["total"]
    return stages


class BaselineApp:
    """What a typical demo app does: no_grad forward, then forward + full backward with fresh hooks.

    Squashes the photo to a square (224×224), keeps parameters trainable (so backward computes every
    weight gradient), default memory format, overlay and PNG at the photo's full size.
    """

    def __init__(self, manifest: Manifest, size: int = 224) -> None:
        self.size = (size, size)
        self.model = manifest.build_model().eval()
        self.layer = target_layer(self.model, manifest.architecture)
        self.mean = np.array(manifest.mean, dtype=np.float32)
        self.std = np.array(manifest.std, dtype=np.float32)

    def analyse(self, path: Path) -> tuple[np.ndarray, bytes, dict[str, float]]:
        timings: dict[str, float] = {}
        started = total_started = time.perf_counter()
        photo = Image.open(path).convert("RGB")
        pixels = np.asarray(photo.resize(self.size), dtype=np.float32) / 255.0
        pixels = (pixels - self.mean) / self.std
        batch = torch.from_numpy(pixels.transpose(2, 0, 1)).unsqueeze(0).float()
        timings["decode+preprocess"] = ms_since(started)

        started = time.perf_counter()
        with torch.no_grad():
            probabilities = torch.softmax(self.model(batch), dim=1)[0].numpy()
        timings["forward"] = ms_since(started)

        started = time.perf_counter()
        kept: dict[str, torch.Tensor] = {}
        forward_hook = self.layer.register_forward_hook(lambda m, i, o: kept.__setitem__("activation", o))
        backward_hook = self.layer.register_full_backward_hook(lambda m, gi, go: kept.__setitem__("gradient", go[0]))
        try:
            self.model.zero_grad()
            logits = self.model(batch)
            logits[0, int(probabilities.argmax())].backward()
        finally:
            forward_hook.remove()
            backward_hook.remove()
        weights = kept["gradient"].mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * kept["activation"]).sum(dim=1))[0].detach()
        cam = (cam / cam.max().clamp(min=1e-8)).numpy()
        cam = cv2.resize(cam, photo.size)
        timings["gradcam"] = ms_since(started)

        started = time.perf_counter()
        heat = cv2.applyColorMap(np.uint8(255 * cam), cv2.COLORMAP_JET)
        bgr = cv2.cvtColor(np.asarray(photo), cv2.COLOR_RGB2BGR)
        png = cv2.imencode(".png", cv2.addWeighted(bgr, 0.6, heat, 0.4, 0))[1].tobytes()
        timings["overlay"] = ms_since(started)
        timings["total"] = ms_since(total_started)
        return probabilities, png, timings


@dataclass
class PhotoRun:
    ours: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES + OUTLINE_STAGES})
    baseline: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    forward_only: list[float] = field(default_factory=list)

    @property
    def speedup(self) -> float | None:
        if not self.baseline["total"]:
            return None
        return median(self.baseline["total"]) / median(self.ours["total"])

    @property
    def classify_and_cam_ratio(self) -> float:
        """Median forward + Grad-CAM of ``analyse`` over the median forward-only time."""
        both = [f + g for f, g in zip(self.ours["forward"], self.ours["gradcam"], strict=True)]
        return median(both) / median(self.forward_only)

    @property
    def full_ratio(self) -> float:
        return median(self.ours["total"]) / median(self.forward_only)


def side_by_side(
    classifier: Classifier | Ensemble,
    baseline: BaselineApp | None,
    paths: Sequence[Path],
    repeats: int,
    baseline_repeats: int,
    segmenter: Segmenter | None = None,
) -> PhotoRun:
    """Ours, the model's forward alone and the baseline photo after photo: all see the machine at the same moment.

    An ensemble has no single-model baseline (a demo app runs one model): ``baseline`` is None.
    """
    run = PhotoRun()
    inputs = {path: model_input(classifier, path) for path in paths}
    if baseline is None:
        baseline_repeats = 0
    for path in paths[:2]:  # warm-up: allocator, oneDNN primitives, file cache
        ours_once(classifier, path, segmenter)
        forward_only_once(classifier, inputs[path])
        if baseline is not None:
            baseline.analyse(path)
    for round_ in range(max(repeats, baseline_repeats)):
        for path in paths:
            if round_ < repeats:
                for stage, value in ours_once(classifier, path, segmenter).items():
                    run.ours[stage].append(value)
                run.forward_only.append(forward_only_once(classifier, inputs[path]))
            if baseline is not None and round_ < baseline_repeats:
                for stage, value in baseline.analyse(path)[2].items():
                    run.baseline[stage].append(value)
    return run


# --- batches, drift, memory ---------------------------------------------------------------------------------


def batch_rate(classifier: Classifier, paths: Sequence[Path], batch_size: int, gradcam: bool, rounds: int) -> float:
    """Photos per second of ``analyse_batch`` over the photo files (decode included), best round."""
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for start in range(0, len(paths), batch_size):
            photos = [Image.open(path) for path in paths[start : start + batch_size]]
            try:
                classifier.analyse_batch(photos, gradcam=gradcam, batch_size=batch_size)
            finally:
                for photo in photos:
                    photo.close()
        best = max(best, len(paths) / (time.perf_counter() - started))
    return best


def drift(classifier: Classifier, paths: Sequence[Path], count: int) -> tuple[float, float, float]:
    """Medians of the first and last hundred of ``count`` consecutive analyses, and the change in %."""
    window = max(1, min(100, count // 10))
    times = [ours_once(classifier, paths[i % len(paths)])["total"] for i in range(count)]
    first, last = median(times[:window]), median(times[-window:])
    return first, last, 100.0 * (last - first) / first


def memory_probe(manifests: Sequence[Path], photo: Path) -> dict[str, Any]:
    """In this (fresh) process: load every model (and segmenter), analyse one photo with each, report peak RSS."""
    configure_torch_threads()
    classifiers = [analyser_from_manifest(path) for path in manifests if not is_segmentation_manifest(path)]
    segmenters = [Segmenter.from_manifest(path) for path in manifests if is_segmentation_manifest(path)]
    loaded_mb = proc_status_mb("VmRSS")
    for classifier in classifiers:
        with Image.open(photo) as image:
            analysis = classifier.analyse(image)
        for segmenter in segmenters:
            if analysis.model_input is not None:
                outline_once(segmenter, analysis.model_input)
    return {
        "models": len(classifiers),
        "segmenters": len(segmenters),
        "loaded_mb": loaded_mb,
        "peak_mb": proc_status_mb("VmHWM"),
    }


def measure_memory(manifests: Sequence[Path], photo: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.engine", "--memory-probe", str(photo), *map(str, manifests)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the run ---------------------------------------------------------------------------------------------


def cell(values: list[float]) -> str:
    """Median / p95 of timings in ms."""
    return f"{fmt(median(values))} / {fmt(p95(values))}"


def stage_cells(stages: dict[str, list[float]]) -> list[str]:
    return [cell(stages[s]) for s in STAGES]


def is_efficientnet(manifest: Any) -> bool:
    """A single EfficientNet (an ensemble is held to its own targets)."""
    return isinstance(manifest, Manifest) and "efficientnet" in manifest.architecture


def run(args: argparse.Namespace) -> Report:
    threads = configure_torch_threads()
    background = other_heavy_processes()
    report = Report()
    print_machine(threads, background)

    manifests = find_manifests(args.weights_dir)
    if args.models:
        manifests = [p for p in manifests if load_manifest(p).name in args.models]
    if not manifests:
        raise SystemExit(f"no model manifests in {args.weights_dir}")
    workdir = Path(tempfile.mkdtemp(prefix="dermatrack-bench-photos."))
    try:
        photos = photo_paths(args.images, args.limit)
        with Image.open(photos[0]) as first:
            size = f"{first.width}×{first.height}"
        label = "HAM10000 sample" if args.images.resolve() == DEFAULT_IMAGES else args.images.name
        sets = {
            f"{label} ({len(photos)} photos, {size})": photos,
            f"phone size ({len(photos)} photos, {args.phone_size[0]}×{args.phone_size[1]} JPEG q90)": phone_copies(
                photos, workdir, args.phone_size
            ),
        }
        classifiers = {p: analyser_from_manifest(p) for p in manifests}
        segmenter = load_segmenter(args.weights_dir)
        run_engine(args, report, classifiers, sets, segmenter)
        section("Peak memory of a worker process")
        segmenter_paths = [segmenter.manifest.path] if segmenter and segmenter.manifest.path else []
        memory = measure_memory([*manifests, *segmenter_paths], list(sets.values())[1][0])
        outlined = " and outlines it with the segmentation model" if memory["segmenters"] else ""
        print(
            f"A fresh process that loads all {memory['models']} models and analyses one phone-size photo with each"
            f"{outlined}: {fmt(memory['loaded_mb'], 0)} MB resident after loading, peak (VmHWM) "
            f"{fmt(memory['peak_mb'], 0)} MB."
        )
        uploads.run_uploads(args, report, photos[0], workdir / "uploads")
        report_pdf.run_report(args, report)
        section("Upload to finished, through the real stack")
        if args.end_to_end:
            run_end_to_end(args, report, sets)
        else:
            print("Not run: pass `--end-to-end` (or use `manage.py benchmark`).")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    after = other_heavy_processes()
    print(f"\nAfter the run: load average {os.getloadavg()[0]:.2f}, {fmt(cpu_busy_percent(), 0)}% of the CPUs busy.")
    if background or after:
        print("WARNING: other heavy processes were running at the start or the end of the measurement:")
        for line in dict.fromkeys(background + after):
            print(f"- `{line[:150]}`")
    print_verdicts(report)
    return report


def analysis_flops(classifier: Classifier | Ensemble) -> tuple[int, int]:
    """(FLOPs of one photo's forward passes, parameters): an ensemble counts every member on every view."""
    if isinstance(classifier, Ensemble):
        flops = sum(model_flops(m.build_model(), m.input_size) for m in classifier.member_manifests)
        params = sum(p.numel() for model in classifier.models for p in model.parameters())
        return flops * len(classifier.views), params
    manifest = classifier.manifest
    return model_flops(manifest.build_model(), manifest.input_size), sum(
        p.numel() for p in classifier.model.parameters()
    )


def run_engine(
    args: argparse.Namespace,
    report: Report,
    classifiers: dict[Path, Classifier | Ensemble],
    sets: dict[str, list[Path]],
    segmenter: Segmenter | None = None,
) -> None:
    rate = gemm_gflops(args.gemm_size)
    runs = {
        (set_name, path): side_by_side(
            classifier,
            None if isinstance(classifier, Ensemble) else BaselineApp(classifier.manifest, args.baseline_size),
            paths,
            args.repeats,
            args.baseline_repeats,
            segmenter,
        )
        for set_name, paths in sets.items()
        for path, classifier in classifiers.items()
    }
    first_set = next(iter(sets))

    section("Models and the FLOP floor")
    print(
        f"Matrix-multiply rate: {fmt(rate, 0)} GFLOP/s (fp32 {args.gemm_size}×{args.gemm_size} GEMM in torch, best of "
        f"10, {torch.get_num_threads()} threads). GFLOPs = 2 × multiply-adds of the convolutions and matmuls of one "
        "forward at batch 1 (torch FlopCounterMode; normalisation and activations not counted); floor = GFLOPs / GEMM "
        f"rate. Forward-only: the model on a preprocessed photo (batch 1, inference mode), {first_set}.\n"
    )
    rows = []
    for path, classifier in classifiers.items():
        manifest = classifier.manifest
        flops, params = analysis_flops(classifier)
        forward = runs[(first_set, path)].forward_only
        floor = flops / (rate * 1e9) * 1000
        rows.append(
            [
                manifest.name,
                manifest.architecture,
                "×".join(map(str, manifest.input_size)),
                fmt(params / 1e6, 1) + " M",
                fmt(flops / 1e9, 2),
                fmt(floor, 1),
                f"{fmt(median(forward))} / {fmt(p95(forward))}",
                fmt(median(forward) / floor, 2) + "×",
            ]
        )
    headers = ["model", "architecture", "input", "params", "GFLOPs", "floor ms", "forward-only ms (median / p95)"]
    print(table([*headers, "forward ÷ floor"], rows))

    outline_columns = list(OUTLINE_STAGES) if segmenter is not None else []
    for set_name in sets:
        section(f"Per photo, {set_name}: milliseconds, median / p95")
        if segmenter is not None:
            print(
                f"`outline`: the lesion outline by {segmenter.manifest.name} on the photo the classifier decoded "
                "(segmentation, measurements, mask PNG, polygon), as the worker makes it after the classification.\n"
            )
        rows = []
        short = set_name.split(" (")[0]
        for path, classifier in classifiers.items():
            name = classifier.manifest.name
            photo_run = runs[(set_name, path)]
            cam_ratio, full_ratio = photo_run.classify_and_cam_ratio, photo_run.full_ratio
            speedup = photo_run.speedup
            outline_cells = [cell(photo_run.ours[stage]) for stage in outline_columns]
            rows.append(
                [name, "ours", *stage_cells(photo_run.ours), *outline_cells, fmt(speedup, 1) + "×" if speedup else ""]
            )
            if speedup is not None:
                rows.append([name, "baseline", *stage_cells(photo_run.baseline), *["–" for _ in outline_columns], ""])
            forward = photo_run.forward_only
            rows.append(
                [
                    name,
                    "forward-only",
                    "",
                    f"{fmt(median(forward))} / {fmt(p95(forward))}",
                    "",
                    "",
                    "",
                    *["" for _ in outline_columns],
                    f"ours: fwd+CAM {fmt(cam_ratio, 2)}×, total {fmt(full_ratio, 1)}×",
                ]
            )
            if speedup is not None:
                report.check(
                    f"{name}, {short}: ours ≥ {SPEEDUP_MIN:.0f}× faster than the baseline",
                    f"{fmt(speedup, 1)}×",
                    speedup >= SPEEDUP_MIN,
                )
            report.check(
                f"{name}, {short}: classify + Grad-CAM ≤ {GRADCAM_OVER_FORWARD_MAX}× forward-only",
                f"{fmt(cam_ratio, 2)}× (full pipeline {fmt(full_ratio, 1)}×)",
                cam_ratio <= GRADCAM_OVER_FORWARD_MAX,
            )
        print(table(["model", "pipeline", *STAGES, *outline_columns, "baseline ÷ ours; ours ÷ forward-only"], rows))

    if segmenter is not None:
        outline_section(args, segmenter, next(iter(classifiers.values())), sets)

    section("Decoding: open and decode to RGB, ms (median / p95)")
    classifier = next(iter(classifiers.values()))
    rows = []
    for set_name, paths in sets.items():
        full = [decode_ms(path, None) for path in paths]
        draft = [decode_ms(path, classifier) for path in paths]
        rows.append(
            [
                set_name.split(" (")[0],
                f"{fmt(median([t for t, _ in full]))} / {fmt(p95([t for t, _ in full]))}",
                f"{fmt(median([t for t, _ in draft]))} / {fmt(p95([t for t, _ in draft]))}",
                "×".join(map(str, draft[0][1])),
            ]
        )
    input_size = "×".join(map(str, classifier.manifest.input_size[:0:-1]))
    print(f"The engine decodes JPEGs in draft mode at no less than twice the model input ({input_size}).\n")
    print(table(["photos", "full decode", "engine decode (draft)", "decoded size"], rows))

    section("Batch re-analysis (analyse_batch, photo files opened and decoded inside the timing): photos/s")
    rows = []
    for set_name, paths in sets.items():
        short = set_name.split(" (")[0]
        for classifier in classifiers.values():
            rates = {
                (size, cam): batch_rate(classifier, paths, size, cam, args.batch_rounds)
                for cam in (False, True)
                for size in args.batch_sizes
            }
            rows.append([short, classifier.manifest.name, *(fmt(r, 1) for r in rates.values())])
            if is_efficientnet(classifier.manifest):
                best = max(rates[(size, False)] for size in args.batch_sizes)
                report.check(
                    f"{classifier.manifest.name}, {short}: re-analysis without Grad-CAM ≥ {REANALYSIS_MIN_PER_S:.0f}/s",
                    f"{fmt(best, 1)} photos/s",
                    best >= REANALYSIS_MIN_PER_S,
                )
    headers = [f"batch {s}{' + Grad-CAM' if cam else ''}" for cam in (False, True) for s in args.batch_sizes]
    print(table(["photos", "model", *headers], rows))

    window = max(1, min(100, args.drift // 10))
    section(f"{args.drift} consecutive analyses (ours, with Grad-CAM, {first_set} cycled)")
    rows = []
    for classifier in classifiers.values():
        if args.drift_models == "efficientnet" and not is_efficientnet(classifier.manifest):
            continue
        first, last, change = drift(classifier, sets[first_set], args.drift)
        rows.append([classifier.manifest.name, fmt(first), fmt(last), f"{change:+.1f}%"])
        report.check(
            f"{classifier.manifest.name}: {args.drift} analyses, first vs last {window} "
            f"within {DRIFT_MAX_PERCENT:.0f}%",
            f"{change:+.1f}%",
            abs(change) <= DRIFT_MAX_PERCENT,
        )
    print(table(["model", f"first {window}, median ms", f"last {window}, median ms", "drift"], rows))


def size_arg(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return (width, height)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared with ``manage.py benchmark``)."""
    parser.add_argument("--weights-dir", type=Path, default=DEFAULT_WEIGHTS, help="folder of manifests [ml/weights]")
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="photos [the HAM10000 sample]")
    parser.add_argument("--models", nargs="*", help="only these model names")
    parser.add_argument("--limit", type=int, help="use only the first N photos")
    parser.add_argument("--phone-size", type=size_arg, default=PHONE_SIZE, help="WxH of the upscaled copies")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the photos for per-photo timings")
    parser.add_argument("--baseline-repeats", type=int, default=1, help="passes for the baseline")
    parser.add_argument("--baseline-size", type=int, default=224, help="the baseline's square input [224]")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--batch-rounds", type=int, default=3, help="passes per batch setting (best is kept)")
    parser.add_argument("--drift", type=int, default=1000, help="consecutive analyses for the drift check")
    parser.add_argument("--drift-models", choices=["all", "efficientnet"], default="all")
    parser.add_argument("--gemm-size", type=int, default=2048)
    parser.add_argument("--end-to-end", action="store_true", help="also time uploads through the real stack")
    parser.add_argument("--uploads", type=int, default=50, help="measured uploads per photo set (end to end)")
    parser.add_argument("--warmup-uploads", type=int, default=3)
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target fails")
    uploads.add_arguments(parser)
    report_pdf.add_arguments(parser)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    parser.add_argument("--memory-probe", nargs="+", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--upload-probe", nargs=3, metavar=("PATH", "PIXELS", "BYTES"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_probe:
        photo, *manifests = args.memory_probe
        print(json.dumps(memory_probe([Path(m) for m in manifests], Path(photo))))
        return 0
    if args.upload_probe:
        path, pixels, limit = args.upload_probe
        print(json.dumps(uploads.upload_probe(Path(path), int(pixels), int(limit))))
        return 0
    report = run(args)
    return 1 if args.strict and not all(v.passed for v in report.verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
