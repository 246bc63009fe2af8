"""Build the deployed analysis from trained members, choosing everything on validation.

    python -m ml.engine.training.build_ensemble --data DATA --members NAME [NAME ...] --output NAME

Every member must have been trained on the same lesion-grouped split (checked). On the
validation split, through the app's preprocessing, the members' logits are computed for all
eight test-time views (cached under ``runs/logits``). Then, choosing only on validation
(out-of-fold where something is fitted on it):

1. the views (none, the four flips, all eight) and the way to combine (mean of calibrated
   probabilities, a fusion head over the logits, the same head with the patient context),
2. the members (every subset), within a per-photo budget of counted GFLOPs (``--max-gflops``),
3. the decision rule: a logit adjustment for accuracy + balanced accuracy, kept only if it
   survives the halves cross-check, then the temperature,
4. the melanoma threshold: the highest P(mel) threshold that flags ``--mel-sensitivity`` of
   the validation melanomas.

The held-out test split is then measured once for the chosen analysis and for the ablation
rows (each lever changed alone); it chooses nothing. Writes ``NAME.json`` (the ensemble
manifest) and ``reports/NAME.build.json`` (candidates, choices, ablation).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ml.engine.architectures import model_flops
from ml.engine.data import IMAGES_DIR, METADATA_NAME, Record, Split, read_metadata
from ml.engine.evaluation.decision_rule import fit_logit_bias, fit_temperature, logit_bias_cross_check, softmax
from ml.engine.evaluation.logits import batched_logits, file_batches
from ml.engine.evaluation.metrics import (
    classification_metrics,
    flag_metrics,
    specificity_at_sensitivity,
    threshold_for_sensitivity,
)
from ml.engine.inference.context import PatientContext, context_matrix, context_of
from ml.engine.inference.ensemble_manifest import COMBINE_FUSION, COMBINE_MEAN, EnsembleManifest
from ml.engine.inference.preprocess import PreprocessConfig
from ml.engine.inference.views import FLIP_VIEWS, VIEWS
from ml.engine.labels import HAM10000_CLASSES
from ml.engine.manifest import SHIPPED_WEIGHTS_DIR, Manifest, ManifestError
from ml.engine.training.fusion import cross_validate_fusion

MEL = HAM10000_CLASSES.index("mel")
VIEW_SETS: dict[str, tuple[str, ...]] = {"none": ("identity",), "flips": FLIP_VIEWS, "all8": VIEWS}
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / "runs" / "logits"
# Aim above the 90% melanoma sensitivity asked of the flag: with ~150 validation melanomas the
# sensitivity measured on them is itself uncertain by about two points.
DEFAULT_MEL_SENSITIVITY = 0.92
# About 350 ms of forward passes per photo on the 2-core development CPU (the benchmark measured
# EfficientNet-Lite0 at 0.75 GFLOPs in 16 ms), leaving room in the 1 s upload-to-finished target
# for decoding, Grad-CAM, the overlay and the segmentation.
DEFAULT_MAX_GFLOPS = 16.0


@dataclass(frozen=True)
class Candidate:
    members: tuple[int, ...]
    views: str  # a key of VIEW_SETS
    combine: str  # "mean", "fusion" or "fusion+context"

    def describe(self, names: Sequence[str]) -> str:
        return f"{' + '.join(names[i] for i in self.members)} | views {self.views} | {self.combine}"


@dataclass
class Fitted:
    """A candidate fitted on validation: out-of-fold validation logits and the test logits."""

    candidate: Candidate
    val_logits: np.ndarray
    test_logits: np.ndarray
    fusion: dict[str, Any] | None
    fusion_C: float | None


# -- logits of the members ------------------------------------------------------------
def view_logits(
    manifest: Manifest,
    images_dir: Path,
    ids: Sequence[str],
    cache_dir: Path,
    device: str,
    batch_size: int = 32,
) -> np.ndarray:
    """(N, 8 views, classes) logits of one member through the app's preprocessing, cached by weights and ids."""
    key = hashlib.sha256(("\n".join(ids) + manifest.weights_sha256).encode()).hexdigest()[:20]
    path = cache_dir / f"{manifest.name}-{key}.npy"
    if path.is_file():
        cached: np.ndarray = np.load(path)
        return cached
    model = manifest.build_model()
    config = PreprocessConfig.from_manifest(manifest)
    started = time.time()
    logits = batched_logits(
        model,
        file_batches(images_dir, ids, config, batch_size),
        views=VIEWS,
        device=device,
        progress=True,
        total=-(-len(ids) // batch_size),
    )
    print(f"  {manifest.name}: logits of {len(ids)} images x 8 views in {time.time() - started:.0f}s", flush=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, logits)
    return logits


def member_gflops(manifest: Manifest) -> float:
    """GFLOPs of one forward pass of one view through the member (torch's FlopCounterMode).

    Counted, not timed: a timing taken while a training run shares the CPU measures the training
    run. The benchmark then times the chosen analysis on a quiet machine.
    """
    return model_flops(manifest.build_model(), manifest.input_size) / 1e9


# -- candidates ---------------------------------------------------------------------------
def fit_candidate(
    candidate: Candidate,
    val_views: list[np.ndarray],
    test_views: list[np.ndarray],
    temperatures: Sequence[float],
    val_labels: np.ndarray,
    val_groups: Sequence[str],
    val_contexts: Sequence[PatientContext],
    test_contexts: Sequence[PatientContext],
    seed: int = 0,
) -> Fitted:
    """A candidate's combined logits: out of fold on validation, on test from the head fitted on all of it."""
    view_index = [VIEWS.index(v) for v in VIEW_SETS[candidate.views]]
    val = np.stack([val_views[m][:, view_index].mean(axis=1) for m in candidate.members], axis=1)
    test = np.stack([test_views[m][:, view_index].mean(axis=1) for m in candidate.members], axis=1)
    if candidate.combine == COMBINE_MEAN:
        t = np.asarray([temperatures[m] for m in candidate.members]).reshape(1, -1, 1)

        def mean_log_probs(x: np.ndarray) -> np.ndarray:
            log_p = x / t - np.logaddexp.reduce(x / t, axis=2, keepdims=True)
            mean: np.ndarray = np.logaddexp.reduce(log_p, axis=1) - np.log(x.shape[1])
            return mean

        return Fitted(candidate, mean_log_probs(val), mean_log_probs(test), None, None)
    use_context = candidate.combine == "fusion+context"
    cv = cross_validate_fusion(val, val_contexts, val_labels, val_groups, use_context=use_context, seed=seed)
    test_logits = cv.head.logits(test, context_matrix(test_contexts) if use_context else None)
    return Fitted(candidate, cv.out_of_fold_logits, test_logits, cv.head.to_dict(), cv.C)


@dataclass
class Decision:
    logit_bias: list[float] | None
    temperature: float
    melanoma_threshold: float
    bias_cross_check: dict[str, float] | None


def fit_decision(logits: np.ndarray, labels: np.ndarray, mel_sensitivity: float) -> Decision:
    """Logit adjustment (only if it carries over between halves), temperature, melanoma threshold."""
    check = logit_bias_cross_check(logits, labels, accuracy_weight=1.0)
    kept = check["gain"] > 0
    bias = fit_logit_bias(logits, labels, accuracy_weight=1.0, cross_check=False) if kept else np.zeros(logits.shape[1])
    temperature = fit_temperature(logits + bias, labels)
    probabilities = softmax(logits, temperature, bias)
    threshold = threshold_for_sensitivity(probabilities[:, MEL], labels == MEL, mel_sensitivity)
    return Decision(
        logit_bias=[round(float(b), 4) for b in bias] if kept else None,
        temperature=float(temperature),
        melanoma_threshold=round(threshold, 6),
        bias_cross_check=check,
    )


def held_out_score(decision: Decision) -> float:
    """What a candidate is chosen by: the mean of accuracy and balanced accuracy on held-out halves of
    validation, under the decision rule it would deploy (with the logit adjustment only if kept)."""
    check = decision.bias_cross_check or {}
    key = "held_out_objective_with_bias" if decision.logit_bias is not None else "held_out_objective_without_bias"
    return float(check[key]) / 2


def measure(logits: np.ndarray, labels: np.ndarray, decision: Decision | None) -> dict[str, Any]:
    """Headline numbers of combined logits under a decision rule (plain argmax, T = 1 without one)."""
    bias = np.asarray(decision.logit_bias) if decision and decision.logit_bias else None
    temperature = decision.temperature if decision else 1.0
    probabilities = softmax(logits, temperature, bias)
    metrics = classification_metrics(labels, probabilities)
    metrics["melanoma"]["specificity_at_90_sensitivity"] = specificity_at_sensitivity(
        probabilities[:, MEL], labels == MEL, 0.90
    )
    if decision is not None:
        flags = probabilities[:, MEL] >= decision.melanoma_threshold
        metrics["melanoma_flag"] = {"threshold": decision.melanoma_threshold, **flag_metrics(labels, flags, MEL)}
    return metrics


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    mel = metrics["melanoma"]
    row = {
        "accuracy": round(metrics["accuracy"], 4),
        "balanced_accuracy": round(metrics["balanced_accuracy"], 4),
        "mel_auc": None if mel["auc"] is None else round(float(mel["auc"]), 4),
        "mel_specificity_at_90_sensitivity": round(mel["specificity_at_90_sensitivity"], 4),
    }
    if "melanoma_flag" in metrics:
        flag = metrics["melanoma_flag"]
        row["mel_flag_sensitivity"] = round(flag["sensitivity"], 4)
        row["mel_flag_specificity"] = round(flag["specificity"], 4)
    return row


# -- the run ----------------------------------------------------------------------------------
def check_same_split(manifests: Sequence[Manifest]) -> Split:
    """All members must share one split (else one could have trained on another's test images)."""
    splits = []
    for manifest in manifests:
        path = manifest.split_path
        if path is None or not path.is_file():
            raise ManifestError(f"member {manifest.name!r} has no saved split file")
        splits.append(Split.load(path))
    first = splits[0]
    for manifest, split in zip(manifests[1:], splits[1:], strict=True):
        if (sorted(split.train), sorted(split.val), sorted(split.test)) != (
            sorted(first.train),
            sorted(first.val),
            sorted(first.test),
        ):
            raise ManifestError(f"member {manifest.name!r} was trained on another split than {manifests[0].name!r}")
    return first


def build(args: argparse.Namespace) -> dict[str, Any]:
    started = time.time()
    data = Path(args.data)
    metadata = Path(args.metadata) if args.metadata else data / METADATA_NAME
    weights_dir = Path(args.out_dir)
    manifests = [Manifest.load(_resolve(name, weights_dir)) for name in args.members]
    outside = [m.name for m in manifests if m.path is None or m.path.parent.resolve() != weights_dir.resolve()]
    if outside:
        raise ManifestError(f"members must lie in {weights_dir} beside the ensemble: {', '.join(outside)}")
    names = [m.name for m in manifests]
    if len({tuple(m.input_size) for m in manifests}) != 1:
        raise ManifestError("members must share one input size (one preprocessing for the photo)")
    split = check_same_split(manifests)
    by_id: dict[str, Record] = {r.image_id: r for r in read_metadata(metadata)}
    val_ids, test_ids = list(split.val), list(split.test)
    val_labels = np.array([by_id[i].label for i in val_ids])
    test_labels = np.array([by_id[i].label for i in test_ids])
    val_groups = [by_id[i].lesion_id for i in val_ids]
    val_contexts = [context_of(by_id[i]) for i in val_ids]
    test_contexts = [context_of(by_id[i]) for i in test_ids]

    print(f"members {names}; {len(val_ids)} validation / {len(test_ids)} test images", flush=True)
    cache = Path(args.cache)
    val_views = [view_logits(m, data / IMAGES_DIR, val_ids, cache, args.device) for m in manifests]
    test_views = [view_logits(m, data / IMAGES_DIR, test_ids, cache, args.device) for m in manifests]
    temperatures = [float(m.temperature) for m in manifests]
    costs = {n: round(member_gflops(m), 3) for n, m in zip(names, manifests, strict=True)}
    print(f"GFLOPs per view: {json.dumps(costs)}", flush=True)

    def cost(c: Candidate) -> float:
        return sum(costs[names[m]] for m in c.members) * len(VIEW_SETS[c.views])

    fitted: dict[Candidate, Fitted] = {}
    rows: list[dict[str, Any]] = []

    def evaluate_candidate(c: Candidate) -> float:
        if c not in fitted:
            fitted[c] = fit_candidate(
                c, val_views, test_views, temperatures, val_labels, val_groups, val_contexts, test_contexts
            )
            decision = fit_decision(fitted[c].val_logits, val_labels, args.mel_sensitivity)
            val = measure(fitted[c].val_logits, val_labels, decision)
            rows.append(
                {
                    "candidate": c.describe(names),
                    **asdict(c),
                    "gflops": round(cost(c), 2),
                    "val": headline(val),
                    "logit_bias_kept": decision.logit_bias is not None,
                    "score": round(held_out_score(decision), 4),
                }
            )
            print(f"  {c.describe(names):<90} val {rows[-1]['val']}  ({rows[-1]['gflops']} GFLOPs)", flush=True)
        score: float = next(r["score"] for r in rows if r["candidate"] == c.describe(names))
        return score

    everyone = tuple(range(len(manifests)))
    combines = [COMBINE_MEAN, COMBINE_FUSION] + ([] if args.no_context else ["fusion+context"])
    # 1. views and combination with every member; 2. the members with those; all within the budget.
    stage_one = [Candidate(everyone, v, c) for v in VIEW_SETS for c in combines]
    affordable = [c for c in stage_one if cost(c) <= args.max_gflops] or [min(stage_one, key=cost)]
    best = max(affordable, key=evaluate_candidate)
    subsets = [s for r in range(1, len(manifests) + 1) for s in itertools.combinations(everyone, r)]
    stage_two = [Candidate(s, best.views, best.combine) for s in subsets]
    for views in VIEW_SETS:  # fewer members may afford more views
        stage_two += [Candidate(s, views, best.combine) for s in subsets if views != best.views]
    affordable = [c for c in stage_two if cost(c) <= args.max_gflops] or [best]
    best = max(affordable, key=evaluate_candidate)
    chosen = fitted[best]
    decision = fit_decision(chosen.val_logits, val_labels, args.mel_sensitivity)
    print(f"chosen: {best.describe(names)}; decision {asdict(decision)}", flush=True)

    # The ablation: each lever changed alone from the chosen analysis (test measured, never used to choose).
    def ablation_row(lever: str, c: Candidate, with_decision: bool = True) -> dict[str, Any]:
        if c not in fitted:
            evaluate_candidate(c)
        f = fitted[c]
        d = fit_decision(f.val_logits, val_labels, args.mel_sensitivity) if with_decision else None
        return {
            "lever": lever,
            "analysis": c.describe(names) + ("" if with_decision else " | plain argmax"),
            "gflops": round(cost(c), 2),
            "val": headline(measure(f.val_logits, val_labels, d)),
            "test": headline(measure(f.test_logits, test_labels, d)),
        }

    ablation = [ablation_row("chosen analysis", best)]
    ablation.append(ablation_row("decision rule: plain argmax, T = 1", best, with_decision=False))
    for m in everyone:
        ablation.append(ablation_row(f"backbone: {names[m]} alone", Candidate((m,), best.views, best.combine)))
    for views in VIEW_SETS:
        if views != best.views:
            ablation.append(ablation_row(f"views: {views}", Candidate(best.members, views, best.combine)))
    for combine in combines:
        if combine != best.combine:
            ablation.append(ablation_row(f"combine: {combine}", Candidate(best.members, best.views, combine)))

    test_metrics = measure(chosen.test_logits, test_labels, decision)
    val_metrics = measure(chosen.val_logits, val_labels, decision)
    print(f"test: {headline(test_metrics)}", flush=True)
    manifest = EnsembleManifest(
        name=args.output,
        members=[
            {"name": names[m], "manifest": _file_name(manifests[m]), "weights_sha256": manifests[m].weights_sha256}
            for m in best.members
        ],
        views=list(VIEW_SETS[best.views]),
        combine=COMBINE_FUSION if best.combine.startswith(COMBINE_FUSION) else COMBINE_MEAN,
        fusion=chosen.fusion,
        input_size=list(manifests[0].input_size),
        interpolation=manifests[0].interpolation,
        temperature=decision.temperature,
        logit_bias=decision.logit_bias,
        melanoma_threshold=decision.melanoma_threshold,
        split_file=manifests[0].split_file,
        metrics={
            "val": {"metrics": val_metrics, "out_of_fold": chosen.fusion is not None},
            "test": {"metrics": test_metrics, "images": len(test_ids), "image_set": "test split", "source": "build"},
            "split": "test",
        },
        training={
            "command": args.command,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.time() - started, 1),
            "choice": {**asdict(best), "description": best.describe(names), "fusion_C": chosen.fusion_C},
            "decision": asdict(decision),
            "mel_sensitivity_target": args.mel_sensitivity,
            "max_gflops": args.max_gflops,
            "member_gflops_per_view": costs,
            "selection": "mean of accuracy and balanced accuracy on held-out halves of validation (out-of-fold "
            "logits for fitted heads), under each candidate's decision rule",
        },
        description=(
            f"Ensemble of {len(best.members)} ({', '.join(names[m] for m in best.members)}), "
            f"{len(VIEW_SETS[best.views])} view(s), {best.combine}; chosen on validation."
        ),
    )
    manifest.write(weights_dir / f"{args.output}.json")
    report = {
        "command": args.command,
        "members": names,
        "candidates": rows,
        "chosen": best.describe(names),
        "decision": asdict(decision),
        "ablation": ablation,
        "member_gflops_per_view": costs,
    }
    report_path = weights_dir / "reports" / f"{args.output}.build.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {manifest.path} and {report_path} in {time.time() - started:.0f}s", flush=True)
    return report


def _file_name(manifest: Manifest) -> str:
    """A member's manifest file, which must lie in the ensemble's folder (members are named relative to it)."""
    if manifest.path is None:
        raise ManifestError(f"member {manifest.name!r} was not loaded from a file")
    return manifest.path.name


def _resolve(name: str, weights_dir: Path) -> Path:
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        return path
    candidate = weights_dir / f"{name}.json"
    if not candidate.is_file():
        raise ManifestError(f"no manifest {name!r} in {weights_dir}")
    return candidate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml.engine.training.build_ensemble", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", required=True, help="HAM10000-layout folder (images/, metadata CSV)")
    parser.add_argument("--metadata", default=None, help="metadata CSV (default DATA/HAM10000_metadata.csv)")
    parser.add_argument("--members", nargs="+", required=True, help="member manifest names (or paths)")
    parser.add_argument("--output", required=True, help="name of the ensemble manifest")
    parser.add_argument("--out-dir", default=str(SHIPPED_WEIGHTS_DIR), help="folder of the members and the output")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="folder for cached member logits")
    parser.add_argument(
        "--max-gflops",
        type=float,
        default=DEFAULT_MAX_GFLOPS,
        help="forward budget per photo, all members and views (GFLOPs, counted)",
    )
    parser.add_argument("--mel-sensitivity", type=float, default=DEFAULT_MEL_SENSITIVITY)
    parser.add_argument("--no-context", action="store_true", help="do not consider the patient context")
    parser.add_argument("--device", default="cpu")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command = shlex.join(["python", "-m", "ml.engine.training.build_ensemble", *(argv or sys.argv[1:])])
    try:
        build(args)
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
