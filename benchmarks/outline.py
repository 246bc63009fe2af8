"""The lesion outline in the benchmark: what the worker does after the classification, timed.

With a segmentation manifest in the weights folder, the per-photo tables of ``benchmarks.engine``
gain an ``outline`` stage (segmentation on the input the classifier prepared, measurements, mask
PNG and outline polygon, as ``ml.outlines`` makes them) and ``outline_section`` times its parts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.support import fmt, median, p95, section, table
from ml.engine.manifest import find_manifests
from ml.engine.segmentation.measurements import EmptyMaskError
from ml.engine.segmentation.model import SEGMENTATION_KIND, Segmenter

# Columns added to the per-photo tables: the outline, and the photo's work with it.
OUTLINE_STAGES = ("outline", "total + outline")
OUTLINE_PARTS = ("segment", "measure", "mask PNG + polygon", "total")


def load_segmenter(weights_dir: Path) -> Segmenter | None:
    """The first segmentation model in the weights folder, as the app picks it (None without one)."""
    paths = find_manifests(weights_dir, kind=SEGMENTATION_KIND)
    return Segmenter.from_manifest(paths[0]) if paths else None


def is_segmentation_manifest(path: Path) -> bool:
    return json.loads(path.read_text()).get("kind") == SEGMENTATION_KIND


def outline_once(segmenter: Segmenter, model_input: Any) -> dict[str, float]:
    """What ``ml.outlines`` does with the classifier's prepared input: segment, measure, mask PNG and polygon (ms)."""
    started = time.perf_counter()
    segmentation = segmenter.segment(model_input)
    segmented = time.perf_counter()
    if segmentation.found:
        with contextlib.suppress(EmptyMaskError):  # found at the model's size, empty at the measuring size
            segmentation.measure(model_input.photo)
    measured = time.perf_counter()
    if segmentation.found:
        segmentation.mask_png()
        segmentation.outline_points()
    ended = time.perf_counter()
    return {
        "segment": (segmented - started) * 1000,
        "measure": (measured - segmented) * 1000,
        "mask PNG + polygon": (ended - measured) * 1000,
        "total": (ended - started) * 1000,
    }


def outline_section(
    args: argparse.Namespace, segmenter: Segmenter, classifier: Any, sets: dict[str, list[Path]]
) -> None:
    """The outline's own stages, on inputs the first analyser prepared (as in the worker)."""
    manifest = segmenter.manifest
    section(f"Lesion outline per photo ({manifest.name}, input {manifest.width}×{manifest.height}): ms, median / p95")
    print(
        f"On the input {classifier.manifest.name} prepared from each photo: the segmentation (resize or re-prepare, "
        "forward, mask), the measurements (area, Feret diameters, asymmetry, border, colours on a mask at most "
        "1024 px long), then the mask PNG and the outline polygon the pages draw.\n"
    )
    rows = []
    for set_name, paths in sets.items():
        inputs = []
        for path in paths:
            with Image.open(path) as photo:
                inputs.append(classifier.analyse(photo, gradcam=False).model_input)
        for item in inputs[:2]:  # warm-up
            outline_once(segmenter, item)
        parts: dict[str, list[float]] = {part: [] for part in OUTLINE_PARTS}
        for _ in range(args.repeats):
            for item in inputs:
                for part, value in outline_once(segmenter, item).items():
                    parts[part].append(value)
        cells = [f"{fmt(median(parts[part]))} / {fmt(p95(parts[part]))}" for part in OUTLINE_PARTS]
        rows.append([set_name.split(" (")[0], *cells])
    print(table(["photos", *OUTLINE_PARTS], rows))
