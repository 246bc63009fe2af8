"""Follow-up change on a synthetic set with known truth: ``python -m benchmarks.followup --images DIR --masks DIR``.

From photos of the lesion-grouped **test** split (never trained or tuned on), upscaled from the
working copy's 200x150 to 600x450 as a dermatoscope photo would be, three kinds of follow-up pair:

- **re-photographed**: the same photo rotated (0-180°), zoomed (0.7-1.5x), shifted, with a
  brightness and white-balance change and mild blur: nothing grew, no colour is new;
- **grown**: the lesion (its ground-truth mask) enlarged about its centroid by 10-40% in
  diameter and blended into the unchanged skin, then re-photographed as above;
- **new colour**: a blue-grey or black patch of known size painted inside the lesion, then
  re-photographed.

Each pair goes through what the app does with two photos of one lesion: the shipped segmenter
outlines both, the measurements are made from the outlines, the newer photo is registered onto
the older from the skin around the lesion (``ml.engine.change.registration``), the change is
measured in that frame (``ml.engine.change.compare``) and the growth and new-colour flags are
decided by the app's thresholds. It prints a table and PASS/FAIL against the targets.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.support import table
from ml.engine.change.compare import compare
from ml.engine.change.registration import Registration, corner_error, register, warp_to_reference
from ml.engine.data import image_path, mask_path
from ml.engine.inference.views import FLIP_VIEWS
from ml.engine.manifest import SHIPPED_WEIGHTS_DIR, find_manifests
from ml.engine.segmentation.measurements import EmptyMaskError, LesionMeasurements, classify_colours
from ml.engine.segmentation.model import SEGMENTATION_KIND, Segmenter

DEFAULT_SPLIT = "efficientnet_lite0_ham10000.split.json"  # the lesion-grouped split every model was tested on
SIZE = (600, 450)  # width, height of the synthetic photos
GROWTH_THRESHOLD = 0.20  # the app's FOLLOWUP_GROWTH_THRESHOLD default
NEW_COLOUR_MIN_SHARE = 0.05  # the app's FOLLOWUP_NEW_COLOUR_MIN_SHARE default
PATCH_COLOURS = {"blue_grey": (112, 118, 138), "black": (38, 32, 31)}
TARGETS = {
    "alignment success": (">=", 0.95),
    "median corner error (% of diagonal)": ("<=", 3.0),
    "area ratio median abs. error": ("<=", 0.10),
    "growth flag false positives (re-photographed)": ("<=", 0.02),
    "growth flag detection (true growth >= 30%)": (">=", 0.95),
    "new-colour detection": (">=", 0.90),
    "new-colour false positives (re-photographed)": ("<=", 0.05),
}


@dataclass
class Pair:
    kind: str  # rephotographed, grown, new_colour
    image_id: str
    before: np.ndarray  # RGB reference photo
    after: np.ndarray  # RGB newer photo
    truth: tuple[tuple[float, float, float], tuple[float, float, float]]  # after -> before pixels
    true_area_ratio: float
    new_colour: str | None = None
    params: dict[str, float] = field(default_factory=dict)


def _load(images: Path, masks: Path, image_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    mpath = mask_path(masks, image_id)
    if mpath is None:
        return None
    rgb = cv2.cvtColor(cv2.imread(str(image_path(images, image_id))), cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(rgb, SIZE, interpolation=cv2.INTER_CUBIC)
    mask = cv2.resize(cv2.imread(str(mpath), cv2.IMREAD_GRAYSCALE), SIZE, interpolation=cv2.INTER_NEAREST) > 127
    return rgb, mask


FRAME_MARGIN = 0.02  # a re-photographed lesion stays this far (share of the side) inside the frame
DRAWS = 50


def _inside(mask: np.ndarray, forward: np.ndarray) -> bool:
    """Whether the lesion, moved by ``forward``, stays inside the frame with ``FRAME_MARGIN`` to spare."""
    ys, xs = np.nonzero(mask)
    points = np.stack([xs, ys], axis=1).astype(np.float64) @ forward[:, :2].T + forward[:, 2]
    width, height = SIZE
    mx, my = FRAME_MARGIN * width, FRAME_MARGIN * height
    return bool(
        points[:, 0].min() >= mx
        and points[:, 0].max() <= width - mx
        and points[:, 1].min() >= my
        and points[:, 1].max() <= height - my
    )


def rephotograph(
    rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict[str, float]] | None:
    """The photo taken again: rotated, zoomed, shifted, other exposure and white balance, mild blur.

    A clinician keeps the lesion in view: a draw that would push it out of the frame is drawn again
    (None when no draw keeps it, e.g. a lesion that fills the photo). Returns the new photo, the 2x3
    matrix mapping original pixels to new ones, and the parameters.
    """
    width, height = SIZE
    for _ in range(DRAWS):
        angle, zoom = float(rng.uniform(0, 180)), float(rng.uniform(0.7, 1.5))
        shift = rng.uniform(-0.06, 0.06, 2) * (width, height)
        forward = cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom)
        forward[:, 2] += shift
        if _inside(mask, forward):
            break
    else:
        return None
    moved = cv2.warpAffine(rgb, forward, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    gain = rng.uniform(0.85, 1.15) * rng.uniform(0.92, 1.08, 3)  # exposure x white balance
    moved = np.clip(moved.astype(np.float32) * gain + rng.uniform(-10, 10), 0, 255).astype(np.uint8)
    sigma = float(rng.uniform(0.3, 1.2))
    moved = cv2.GaussianBlur(moved, (0, 0), sigma)
    return moved, forward, {"angle": angle, "zoom": zoom, "blur": sigma}


def grow(rgb: np.ndarray, mask: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """The lesion enlarged by ``factor`` in diameter about its centroid, blended into the unchanged skin."""
    ys, xs = np.nonzero(mask)
    cx, cy = float(xs.mean()), float(ys.mean())
    scale = cv2.getRotationMatrix2D((cx, cy), 0.0, factor)
    big = cv2.warpAffine(rgb, scale, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    big_mask = cv2.warpAffine(mask.astype(np.uint8), scale, SIZE, flags=cv2.INTER_NEAREST) > 0
    feather = max(2.0, 0.02 * math.sqrt(float(big_mask.sum())))
    alpha = cv2.GaussianBlur(big_mask.astype(np.float32), (0, 0), feather)[..., None]
    out = (alpha * big + (1 - alpha) * rgb).astype(np.uint8)
    return out, big_mask | mask


def paint(
    rgb: np.ndarray, mask: np.ndarray, colour: str, share: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """A patch of ``colour`` covering about ``share`` of the lesion, inside it; the patch's true share."""
    area = float(mask.sum())
    radius = math.sqrt(share * area / math.pi)
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    candidates = np.argwhere(inside >= radius * 1.1)
    if len(candidates) == 0:
        candidates = np.argwhere(inside >= inside.max() * 0.8)
    y, x = candidates[rng.integers(len(candidates))]
    disc = np.zeros(mask.shape, dtype=np.float32)
    cv2.circle(disc, (int(x), int(y)), max(2, round(radius)), 1.0, -1)
    alpha = cv2.GaussianBlur(disc, (0, 0), max(1.0, radius * 0.15))[..., None] * 0.9
    texture = rng.normal(0, 6, rgb.shape).astype(np.float32)
    painted = np.asarray(PATCH_COLOURS[colour], dtype=np.float32) + texture
    out = np.clip(alpha * painted + (1 - alpha) * rgb.astype(np.float32), 0, 255).astype(np.uint8)
    return out, float((disc > 0.5).sum() / area)


def touches_border(mask: np.ndarray) -> bool:
    """A lesion cut by the photo's edge: its size is unknown in any photo of it."""
    return bool(mask[:2].any() or mask[-2:].any() or mask[:, :2].any() or mask[:, -2:].any())


@dataclass
class Skipped:
    no_mask: int = 0
    cut_by_the_frame: int = 0  # the lesion touches the original photo's edge
    no_framing: int = 0  # no re-photographing keeps the lesion in view
    colour_present: int = 0  # both patch colours are in the lesion already


def make_pairs(
    images: Path, masks: Path, image_ids: list[str], seed: int, skipped: Skipped | None = None
) -> list[Pair]:
    rng = np.random.default_rng(seed)
    skipped = skipped if skipped is not None else Skipped()
    pairs: list[Pair] = []
    for image_id in image_ids:
        loaded = _load(images, masks, image_id)
        if loaded is None:
            skipped.no_mask += 1
            continue
        rgb, mask = loaded
        if touches_border(mask):
            skipped.cut_by_the_frame += 1
            continue
        kind = ("rephotographed", "grown", "new_colour")[len(pairs) % 3]
        before, true_ratio, new_colour, params, lesion = rgb, 1.0, None, {}, mask
        if kind == "grown":
            factor = float(rng.uniform(1.10, 1.40))
            grown, lesion = grow(rgb, mask, factor)
            source, true_ratio, params = grown, float(lesion.sum() / mask.sum()), {"diameter_factor": factor}
        elif kind == "new_colour":
            # A colour the lesion does not have yet (on its ground-truth outline), blue-grey and black in turn.
            _, shares = classify_colours(rgb, mask)
            absent = [c for c in PATCH_COLOURS if shares.get(c, 0.0) < 0.01]
            if not absent:
                skipped.colour_present += 1
                continue
            preferred = ("blue_grey", "black")[len(pairs) // 3 % 2]
            new_colour = preferred if preferred in absent else absent[0]
            share = float(rng.uniform(0.06, 0.15))
            source, true_share = paint(rgb, mask, new_colour, share, rng)
            params = {"patch_share": true_share}
        else:
            source = rgb
        taken = rephotograph(source, lesion, rng)
        if taken is None:
            skipped.no_framing += 1
            continue
        after, forward, moved = taken
        truth = cv2.invertAffineTransform(forward)  # after pixels -> before pixels
        pairs.append(
            Pair(
                kind=kind,
                image_id=image_id,
                before=before,
                after=after,
                truth=((*map(float, truth[0]),), (*map(float, truth[1]),)),  # type: ignore[arg-type]
                true_area_ratio=true_ratio,
                new_colour=new_colour,
                params={**params, **moved},
            )
        )
    return pairs


def _outline(segmenter: Segmenter, rgb: np.ndarray) -> tuple[np.ndarray | None, LesionMeasurements | None]:
    mask, measured, _ = _outline_with_confidence(segmenter, rgb)
    return mask, measured


def _outline_with_confidence(
    segmenter: Segmenter, rgb: np.ndarray
) -> tuple[np.ndarray | None, LesionMeasurements | None, float | None]:
    from PIL import Image

    photo = Image.fromarray(rgb)
    segmentation = segmenter.segment(segmenter.prepare(photo))
    if not segmentation.found:
        return None, None, None
    try:
        measured = segmentation.measure(photo)
    except EmptyMaskError:
        return None, None, None
    return segmentation.mask, measured, float(segmentation.confidence)


@dataclass
class Outcome:
    pair: Pair
    registration: Registration
    corner_error_px: float | None
    area_ratio: float | None
    grew: bool
    new_colours: tuple[str, ...]
    comparable: bool
    seconds: float
    shares: dict[str, dict[str, float]] = field(default_factory=dict)  # colour shares before and after
    confidences: tuple[float | None, float | None] = (None, None)  # of the outlines compared


def run_pair(segmenter: Segmenter, pair: Pair) -> Outcome:
    started = time.perf_counter()
    mask_b, before, confidence_before = _outline_with_confidence(segmenter, pair.before)
    mask_a, after = _outline(segmenter, pair.after)
    confidence_after = None
    registration = register(pair.after, pair.before, moving_mask=mask_a, reference_mask=mask_b)
    error = corner_error(registration, pair.truth, SIZE) if registration.matrix is not None else None
    in_frame = False
    if registration.aligned and after is not None:
        # What the app does: the newer photo warped into the older one's frame and outlined there.
        warped = warp_to_reference(pair.after, registration, SIZE, fill=pair.before)
        _, aligned_after, confidence_after = _outline_with_confidence(segmenter, warped)
        if aligned_after is not None:
            after, in_frame = aligned_after, True
    if before is None or after is None:
        return Outcome(pair, registration, error, None, False, (), False, time.perf_counter() - started)
    change = compare(
        before,
        after,
        registration=registration,
        new_colour_min_share=NEW_COLOUR_MIN_SHARE,
        after_in_reference_frame=in_frame,
    )
    return Outcome(
        pair=pair,
        registration=registration,
        corner_error_px=error,
        area_ratio=change.area_ratio,
        grew=change.grew(GROWTH_THRESHOLD),
        new_colours=change.new_colours,
        comparable=change.comparable,
        seconds=time.perf_counter() - started,
        shares={"before": dict(before.colour_shares), "after": dict(after.colour_shares)},
        confidences=(confidence_before, confidence_after),
    )


def summarise(outcomes: list[Outcome]) -> dict[str, float]:
    diagonal = math.hypot(*SIZE)
    aligned = [o for o in outcomes if o.registration.status == "aligned"]
    errors = [o.corner_error_px for o in aligned if o.corner_error_px is not None]
    ratio_errors = [abs(o.area_ratio / o.pair.true_area_ratio - 1) for o in outcomes if o.area_ratio is not None]
    rephoto = [o for o in outcomes if o.pair.kind == "rephotographed"]
    big_growth = [
        o for o in outcomes if o.pair.kind == "grown" and o.pair.true_area_ratio - 1 >= 1.5 * GROWTH_THRESHOLD
    ]
    painted = [o for o in outcomes if o.pair.kind == "new_colour"]

    def rate(items: list[Outcome], hit: Any) -> float:
        return float(np.mean([bool(hit(o)) for o in items])) if items else float("nan")

    return {
        "pairs": len(outcomes),
        "alignment success": len(aligned) / len(outcomes) if outcomes else float("nan"),
        "median corner error (px)": float(np.median(errors)) if errors else float("nan"),
        "median corner error (% of diagonal)": 100 * float(np.median(errors)) / diagonal if errors else float("nan"),
        "area ratio median abs. error": float(np.median(ratio_errors)) if ratio_errors else float("nan"),
        "growth flag false positives (re-photographed)": rate(rephoto, lambda o: o.grew),
        "growth flag detection (true growth >= 30%)": rate(big_growth, lambda o: o.grew),
        "new-colour detection": rate(painted, lambda o: o.pair.new_colour in o.new_colours),
        "new-colour false positives (re-photographed)": rate(rephoto, lambda o: bool(o.new_colours)),
        "comparable pairs": rate(outcomes, lambda o: o.comparable),
        "seconds per pair (median)": float(np.median([o.seconds for o in outcomes])) if outcomes else float("nan"),
        "grown pairs >= 30%": len(big_growth),
        "re-photographed pairs": len(rephoto),
        "painted pairs": len(painted),
    }


def test_split_ids(split_file: Path) -> list[str]:
    return list(json.loads(split_file.read_text())["test"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.followup", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--masks", type=Path, required=True)
    parser.add_argument(
        "--split-file", type=Path, default=SHIPPED_WEIGHTS_DIR / "efficientnet_lite0_ham10000.split.json"
    )
    parser.add_argument("--weights-dir", type=Path, default=SHIPPED_WEIGHTS_DIR)
    parser.add_argument("--pairs", type=int, default=300, help="pairs to make (a third of each kind)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write every pair's outcome here")
    parser.add_argument("--flips", action="store_true", help="outline with 4 flips averaged (the app outlines once)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    manifests = find_manifests(args.weights_dir, kind=SEGMENTATION_KIND)
    if not manifests:
        parser.error(f"no segmentation model in {args.weights_dir}")
    segmenter = Segmenter.from_manifest(manifests[0], views=FLIP_VIEWS if args.flips else ("identity",))
    ids = test_split_ids(args.split_file)
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(ids, size=min(len(ids), args.pairs), replace=False).tolist())
    skipped = Skipped()
    pairs = make_pairs(args.images, args.masks, chosen, args.seed, skipped)
    outcomes = [run_pair(segmenter, pair) for pair in pairs]
    summary = summarise(outcomes)
    rows = []
    failed = False
    for name, value in summary.items():
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            op, bound = target
            ok = value >= bound if op == ">=" else value <= bound
            failed |= not ok
            verdict = f"{op} {bound:g}: {'PASS' if ok else 'FAIL'}"
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        rows.append([name, shown, verdict])
    print(
        f"Follow-up change on {len(pairs)} synthetic pairs from the test split ({args.split_file.name}), "
        f"segmenter {manifests[0].stem}, growth flag above +{100 * GROWTH_THRESHOLD:.0f}%, "
        f"new colour from {100 * NEW_COLOUR_MIN_SHARE:.0f}% of the lesion\n"
    )
    print(table(["measure", "value", "target"], rows))
    print(
        f"\nNot used: {skipped.cut_by_the_frame} photos whose lesion touches the photo's edge (its size is unknown), "
        f"{skipped.no_framing} whose lesion no re-photographing keeps in view, {skipped.no_mask} without a mask, "
        f"{skipped.colour_present} left unpainted because both patch colours are in the lesion already."
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "summary": summary,
                    "pairs": [
                        {
                            "kind": o.pair.kind,
                            "image_id": o.pair.image_id,
                            "params": o.pair.params,
                            "true_area_ratio": o.pair.true_area_ratio,
                            "new_colour": o.pair.new_colour,
                            "registration": o.registration.to_dict(),
                            "corner_error_px": o.corner_error_px,
                            "area_ratio": o.area_ratio,
                            "grew": o.grew,
                            "new_colours": list(o.new_colours),
                            "colour_shares": o.shares,
                            "outline_confidences": list(o.confidences),
                        }
                        for o in outcomes
                    ],
                },
                indent=1,
            )
            + "\n"
        )
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
