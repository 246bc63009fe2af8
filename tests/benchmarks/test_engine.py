"""The benchmark runs end to end on a tiny model and prints every section with a verdict per target."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from django.core.management import call_command

from benchmarks import engine as bench
from tests.helpers import SAMPLE_PHOTOS_DIR, write_ensemble, write_random_segmenter, write_tiny_model

SECTIONS = (
    "Machine",
    "Models and the FLOP floor",
    "Per photo, HAM10000 sample",
    "Per photo, phone size",
    "Lesion outline per photo",
    "Decoding",
    "Batch re-analysis",
    "consecutive analyses",
    "Peak memory of a worker process",
    "Peak memory of an upload of the largest allowed photo",
    "PDF visit report of six large photos",
    "Upload to finished, through the real stack",
    "Targets",
)


@pytest.mark.benchmark
@pytest.mark.slow
def test_benchmark_prints_every_section_on_a_tiny_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "weights"
    write_tiny_model(weights, "tiny_effnet")
    write_random_segmenter(weights, "tiny_unet")  # outlines are timed when a segmentation model is installed
    argv = [
        "--weights-dir",
        str(weights),
        "--images",
        str(SAMPLE_PHOTOS_DIR),
        "--limit",
        "2",
        "--phone-size",
        "320x240",
    ]
    argv += ["--repeats", "1", "--drift", "20", "--gemm-size", "128", "--batch-sizes", "2", "--batch-rounds", "1"]
    argv += ["--baseline-size", "64", "--upload-max-pixels", "120000", "--report-photo-side", "400"]
    argv += ["--report-repeats", "1"]

    assert bench.main(argv) == 0

    out = capsys.readouterr().out
    for title in SECTIONS:
        assert re.search(rf"^### .*{re.escape(title)}", out, re.MULTILINE), f"section {title!r} missing"
    assert "torch " in out and "GFLOP/s" in out
    assert "| tiny_effnet | ours |" in out and "| tiny_effnet | baseline |" in out
    assert re.search(r"\| tiny_effnet \| tf_efficientnet_lite0 \| 3×64×80 \| [\d.]+ M \| [\d.]+ \|", out)
    assert re.search(r"peak \(VmHWM\) \d+ MB", out)
    assert "and outlines it with the segmentation model" in out
    # per photo: the five classification stages, then the outline and the total with it
    assert re.search(r"^\| model \| pipeline \| .* \| total \| outline \| total \+ outline \|", out, re.MULTILINE)
    assert re.search(r"^\| tiny_effnet \| ours \|( [\d.]+ / [\d.]+ \|){7} [\d.]+×", out, re.MULTILINE)
    assert re.search(r"^\| HAM10000 sample \|( [\d.]+ / [\d.]+ \|){4}$", out, re.MULTILINE)
    assert "Not run: pass `--end-to-end`" in out
    # the upload's peak memory, one row per photo shape, a verdict for the two stored as decoded
    assert re.search(r"\| one-colour PNG \(the review's file\) \| 346×346 \| [\d.]+ \| \d+ \| \d+ \| [\d.]+× \|", out)
    assert len(re.findall(r"^\| upload of the largest allowed photo, .* \| (PASS|FAIL) \|$", out, re.MULTILINE)) == 2
    verdicts = re.findall(r"^\| tiny_effnet.* \| (PASS|FAIL) \|$", out, re.MULTILINE)
    # per photo set: speed-up and classify + Grad-CAM ratio; re-analysis per set; drift
    assert len(verdicts) == 2 * 2 + 2 + 1


def test_manage_py_benchmark_runs_the_end_to_end_part_unless_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(bench, "run", lambda args: seen.append(args) or bench.Report())

    call_command("benchmark", "--limit", "3")
    call_command("benchmark", "--skip-end-to-end", "--weights-dir", "/tmp/elsewhere")

    assert [args.end_to_end for args in seen] == [True, False]
    assert seen[0].limit == 3 and seen[0].uploads == 50 and seen[0].weights_dir == bench.DEFAULT_WEIGHTS
    assert seen[1].weights_dir == Path("/tmp/elsewhere")


@pytest.mark.benchmark
@pytest.mark.slow
def test_benchmark_times_an_ensemble_against_its_own_forward_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ml.engine.architectures import model_flops
    from ml.engine.manifest import Manifest

    weights = tmp_path / "weights"
    for seed, name in enumerate(("m1", "m2")):
        write_tiny_model(weights, name, seed=seed)
    write_ensemble(weights, ["m1", "m2"], name="tiny_ensemble")
    argv = ["--weights-dir", str(weights), "--models", "tiny_ensemble", "--images", str(SAMPLE_PHOTOS_DIR)]
    argv += ["--limit", "2", "--phone-size", "320x240", "--repeats", "1", "--drift", "10", "--gemm-size", "128"]
    argv += ["--batch-sizes", "2", "--batch-rounds", "1"]

    assert bench.main(argv) == 0

    out = capsys.readouterr().out
    assert "| tiny_ensemble | ours |" in out and "| tiny_ensemble | baseline |" not in out
    # GFLOPs of the ensemble: two members, two views each.
    row = re.search(r"\| tiny_ensemble \| ensemble of 2 [^|]* \| 3×64×80 \| [\d.]+ M \| ([\d.]+) \|", out)
    assert row is not None
    first = Manifest.load(weights / "m1.json")
    one_pass = model_flops(first.build_model(), first.input_size) / 1e9
    assert float(row.group(1)) == pytest.approx(4 * one_pass, abs=0.01)
    verdicts = re.findall(r"^\| tiny_ensemble.* \| (PASS|FAIL) \|$", out, re.MULTILINE)
    # per photo set: classify + Grad-CAM ratio only (no single-model baseline); drift; no re-analysis target
    assert len(verdicts) == 2 + 1
