"""The GPU recipe's round trip, run on the CPU with a tiny folder: pack, train, bring back, finish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from ml.engine.data import read_metadata, split_by_lesion
from ml.engine.manifest import Manifest
from ml.engine.training.gpu_recipe import (
    MANIFESTS_NAME,
    check_sizes,
    finish,
    main,
    pack,
    quantise_for_trip,
    restore_from_trip,
)
from tests.ml.engine.synthetic import make_ham_folder


def test_pack_run_and_finish_round_trip(tmp_path: Path) -> None:
    ham = make_ham_folder(tmp_path / "ham", per_class=6)
    weights = tmp_path / "weights"
    split_file = weights / "efficientnet_lite0_ham10000.split.json"
    split_by_lesion(read_metadata(ham / "HAM10000_metadata.csv")).save(split_file)
    packed = pack(ham, tmp_path / ".carry" / "ham.tar", split_file)
    assert packed.stat().st_size > 0

    out = tmp_path / "OUT"
    code = main(
        [
            "run", "--pack", str(packed), "--out", str(out), "--minutes", "0.5", "--device", "cpu",
            "--members", "efficientnet_lite0_ham10000", "--image-size", "48", "64", "--epochs", "1",
            "--batch-size", "8", "--work", str(tmp_path / "work"),
        ]
    )  # fmt: skip
    assert code == 0
    returned = sorted(p.name for p in out.iterdir())
    assert returned == sorted(["efficientnet_lite0_ham10000.part0.safetensors", MANIFESTS_NAME, "recipe.log"])
    with safe_open(str(out / "efficientnet_lite0_ham10000.part0.safetensors"), "pt") as handle:
        assert handle.get_tensor("conv_stem.weight").dtype == torch.float16
    manifests = json.loads((out / MANIFESTS_NAME).read_text())
    assert manifests["efficientnet_lite0_ham10000"]["training"]["config"]["device"] == "cpu"
    assert "efficientnet_lite0_ham10000" in (out / "recipe.log").read_text()

    assert finish(out, ham, weights_dir=weights) == ["efficientnet_lite0_ham10000"]
    manifest = Manifest.load(weights / "efficientnet_lite0_ham10000.json")
    assert manifest.split_file == split_file.name
    assert manifest.metrics["test"]["images"] == len(json.loads(split_file.read_text())["test"])
    assert manifest.training["calibration"]["fitted_on"] == "val"


def test_members_that_cannot_come_back_are_refused_before_training() -> None:
    check_sizes(["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2", "resnet50"])
    with pytest.raises(ValueError, match="cannot come back"):
        check_sizes(["tf_efficientnet_lite2", "resnet50", "resnet50", "resnet50"])


def test_big_weights_travel_as_int8_parts_and_come_back_close() -> None:
    torch.manual_seed(0)
    state = {"conv.weight": torch.randn(64, 32, 3, 3).half(), "bn.bias": torch.randn(64).half()}
    trip = quantise_for_trip(state)
    assert trip["conv.weight"].dtype == torch.int8 and trip["bn.bias"].dtype == torch.float16
    back = restore_from_trip(trip)
    assert set(back) == set(state)
    error = (back["conv.weight"].float() - state["conv.weight"].float()).abs().max()
    step = state["conv.weight"].float().abs().amax(dim=(1, 2, 3)).max() / 127
    assert float(error) <= float(step) / 2 + 1e-3  # at most half a quantisation step
    assert torch.equal(back["bn.bias"], state["bn.bias"])


def test_a_member_from_another_split_is_not_taken(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    ham = make_ham_folder(tmp_path / "ham", per_class=6)
    split_by_lesion(read_metadata(ham / "HAM10000_metadata.csv")).save(
        weights / "efficientnet_lite0_ham10000.split.json"
    )
    source = tmp_path / "back"
    source.mkdir()
    fake = {"name": "m", "weights_file": "m.safetensors", "training": {"split_fingerprint": "0" * 64, "trip_parts": []}}
    (source / MANIFESTS_NAME).write_text(json.dumps({"m": fake}))
    with pytest.raises(ValueError, match="another split"):
        finish(source, ham, weights_dir=weights)
