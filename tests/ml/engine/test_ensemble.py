"""The deployed analysis as one unit: members x views, fusion with context, two decisions, one Grad-CAM."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml.engine.inference.classifier import Classifier
from ml.engine.inference.context import PatientContext
from ml.engine.inference.ensemble import Ensemble, analyser_from_manifest
from ml.engine.inference.ensemble_manifest import COMBINE_FUSION, COMBINE_MEAN, EnsembleManifest, load_manifest
from ml.engine.inference.views import FLIP_VIEWS, VIEWS
from ml.engine.manifest import Manifest, ManifestError
from ml.engine.training.fusion import fit_fusion_head
from tests.ml.engine.synthetic import RED, TINY_INPUT, RegionNet, draw_photo, make_region_manifest, write_tiny_model


def member_entry(manifest: Manifest) -> dict[str, str]:
    assert manifest.path is not None
    return {"name": manifest.name, "manifest": manifest.path.name, "weights_sha256": manifest.weights_sha256}


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> list[Manifest]:
    folder = tmp_path_factory.mktemp("ensemble-weights")
    return [
        write_tiny_model(folder, "first", seed=0, temperature=1.5),
        write_tiny_model(folder, "second", seed=1, temperature=0.8),
    ]


def ensemble_manifest(members: list[Manifest], **options: object) -> EnsembleManifest:
    values: dict[str, object] = {
        "name": "tiny_ensemble",
        "members": [member_entry(m) for m in members],
        "views": list(FLIP_VIEWS),
        "combine": COMBINE_MEAN,
        "input_size": list(TINY_INPUT),
    }
    values.update(options)
    manifest = EnsembleManifest(**values)  # type: ignore[arg-type]
    folder = members[0].folder
    manifest.write(folder / f"{manifest.name}.json")
    return manifest


def member_view_logits(manifest: Manifest, photo: Image.Image, views: tuple[str, ...]) -> torch.Tensor:
    """A member's logits on each view of the photo, computed the long way round."""
    from ml.engine.inference.preprocess import PreprocessConfig, prepare_model_input
    from ml.engine.inference.views import apply_view

    tensor = prepare_model_input(photo, PreprocessConfig.from_manifest(manifest)).tensor[None]
    model = manifest.build_model()
    with torch.inference_mode():
        return torch.cat([model(apply_view(tensor, v)) for v in views])


def test_mean_of_members_over_views_matches_the_long_way_round(members: list[Manifest]) -> None:
    manifest = ensemble_manifest(members, melanoma_threshold=0.0)
    photo = draw_photo(100, 70, [((30, 20, 70, 50), RED)])
    with Ensemble.from_manifest(manifest.path) as ensemble:  # type: ignore[arg-type]
        analysis = ensemble.analyse(photo.copy(), gradcam=True)
    log_probs = []
    for member in members:
        logits = member_view_logits(member, photo, FLIP_VIEWS).mean(dim=0)
        log_probs.append(torch.log_softmax(logits / member.temperature, dim=-1))
    expected = torch.stack(log_probs).exp().mean(dim=0)
    assert list(analysis.probabilities.values()) == pytest.approx(expected.tolist(), abs=1e-4)
    assert analysis.top_class == max(analysis.probabilities, key=analysis.probabilities.get)  # type: ignore[arg-type]
    assert analysis.melanoma_flag is True and analysis.melanoma_threshold == 0.0
    assert analysis.overlay_png is not None and analysis.overlay_png.startswith(b"\x89PNG")
    assert analysis.cam is not None and analysis.cam.shape == (70, 100)
    assert set(analysis.timings) == {"preprocess", "forward", "gradcam", "overlay", "total"}


def test_fusion_with_context_uses_the_head_and_the_patient(members: list[Manifest]) -> None:
    rng = np.random.default_rng(0)
    n = 200
    labels = rng.integers(0, 7, n)
    logits = rng.normal(0, 1, (n, 2, 7))
    sites = ["palms/soles" if y == 4 else "head/neck" for y in labels]
    contexts = [PatientContext(age=50.0, site=s) for s in sites]
    head = fit_fusion_head(logits, contexts, labels, use_context=True, C=10.0)
    manifest = ensemble_manifest(members, name="fused", combine=COMBINE_FUSION, fusion=head.to_dict())
    photo = draw_photo(90, 60, [((20, 10, 60, 40), RED)])
    with Ensemble.from_manifest(manifest.path) as ensemble:  # type: ignore[arg-type]
        acral = ensemble.analyse(photo.copy(), gradcam=False, context=PatientContext(site="palms/soles"))
        face = ensemble.analyse(photo.copy(), gradcam=False, context=PatientContext(site="head/neck"))
        unknown = ensemble.analyse(photo.copy(), gradcam=False)
    # The same photo: only the context differs, and the head learnt that palms/soles means "mel".
    assert acral.probabilities["mel"] > face.probabilities["mel"]
    assert acral.context == {"age": None, "sex": None, "site": "palms/soles"}
    assert unknown.context is None
    expected = head.logits(
        np.stack([member_view_logits(m, photo, FLIP_VIEWS).mean(dim=0).numpy() for m in members])[None],
        PatientContext(site="palms/soles").features()[None],
    )
    probabilities = np.exp(expected - np.logaddexp.reduce(expected, axis=1, keepdims=True))[0]
    assert list(acral.probabilities.values()) == pytest.approx(probabilities.tolist(), abs=1e-4)


def test_grad_cam_of_the_ensemble_finds_the_evidence_in_every_view(make_photo: Callable[..., Image.Image]) -> None:
    """Two RegionNets over all eight views: the class-0 (red) heatmap lies on the red patch, views undone."""
    nets = [RegionNet().eval(), RegionNet().eval()]
    member = make_region_manifest()
    manifest = EnsembleManifest(
        name="regions",
        members=[{"name": "region", "manifest": "unused.json", "weights_sha256": "0" * 64}] * 2,
        views=list(VIEWS),
        input_size=list(TINY_INPUT),
    )
    photo = make_photo(80, 64, [((4, 4, 28, 28), RED)])  # top-left corner: not symmetric under any view
    with Ensemble(
        manifest, [(nets[0], member), (nets[1], member)], target_layer_modules=[n.features for n in nets]
    ) as ensemble:
        analysis = ensemble.analyse(photo, target_class=0)
        hooks = sum(len(n.features._forward_hooks) for n in nets)
    cam = analysis.cam
    assert cam is not None
    inside = cam[4:28, 4:28].mean()
    elsewhere = cam[36:, 40:].mean()
    assert inside > 0.5 and elsewhere < 0.05
    assert hooks == 2
    assert sum(len(n.features._forward_hooks) for n in nets) == 0  # closed: hooks removed


def test_members_with_other_weights_or_inputs_are_refused(members: list[Manifest], tmp_path: Path) -> None:
    manifest = ensemble_manifest(members, name="pinned")
    data = json.loads(manifest.path.read_text())  # type: ignore[union-attr]
    data["members"][1]["weights_sha256"] = "f" * 64
    bad = members[0].folder / "pinned_bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="other weights than the ensemble was built with"):
        Ensemble.from_manifest(bad)
    data = json.loads(manifest.path.read_text())  # type: ignore[union-attr]
    data["input_size"] = [3, 32, 32]
    bad.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="takes"):
        Ensemble.from_manifest(bad)
    data["views"] = ["upside_down"]
    bad.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="unknown view"):
        load_manifest(bad)


def test_the_loader_gives_a_classifier_or_an_ensemble(members: list[Manifest]) -> None:
    manifest = ensemble_manifest(members, name="loader")
    with analyser_from_manifest(members[0].path) as single:  # type: ignore[arg-type]
        assert isinstance(single, Classifier)
    with analyser_from_manifest(manifest.path) as ensemble:  # type: ignore[arg-type]
        assert isinstance(ensemble, Ensemble)
        assert "ensemble of 2" in ensemble.manifest.architecture
    assert len(manifest.weights_sha256) == 64
    assert manifest.weights_sha256 != ensemble_manifest(members, name="other", views=["identity"]).weights_sha256


def test_the_ensembles_analysis_keeps_the_prepared_input_for_a_segmenter(members: list[Manifest]) -> None:
    manifest = ensemble_manifest(members, name="input")
    with Ensemble.from_manifest(manifest.path) as ensemble:  # type: ignore[arg-type]
        analysis = ensemble.analyse(draw_photo(90, 60, [((10, 10, 40, 40), RED)]))
    assert analysis.model_input is not None
    assert analysis.model_input.geometry == analysis.geometry
    assert analysis.model_input.config == ensemble.preprocess_config


def test_batches_with_contexts_equal_single_calls(members: list[Manifest]) -> None:
    manifest = ensemble_manifest(members, name="batch", views=["identity", "transpose"])
    photos = [draw_photo(90, 60, [((10 * i, 10, 10 * i + 30, 40), RED)]) for i in range(3)]
    with Ensemble.from_manifest(manifest.path) as ensemble:  # type: ignore[arg-type]
        batch = ensemble.analyse_batch([p.copy() for p in photos], batch_size=2)
        single = [ensemble.analyse(p.copy(), gradcam=False) for p in photos]
        with pytest.raises(ValueError, match="one context per photo"):
            ensemble.analyse_batch(photos, contexts=[None])
    for a, b in zip(batch, single, strict=True):
        assert list(a.probabilities.values()) == pytest.approx(list(b.probabilities.values()), abs=1e-5)


def test_the_melanoma_range_is_the_middle_half_of_every_members_reading_on_every_view(members: list[Manifest]) -> None:
    manifest = ensemble_manifest(members, temperature=1.7)
    photo = draw_photo(100, 70, [((30, 20, 70, 50), RED)])
    with Ensemble.from_manifest(manifest.path) as ensemble:  # type: ignore[arg-type]
        analysis = ensemble.analyse(photo.copy(), gradcam=False)
    mel = members[0].classes.index("mel")
    readings = [
        float(p)
        for member in members
        for p in torch.softmax(
            torch.log_softmax(member_view_logits(member, photo, FLIP_VIEWS) / member.temperature, dim=-1)
            / manifest.temperature,
            dim=-1,
        )[:, mel]
    ]
    assert analysis.melanoma_range is not None
    assert len(readings) == 8
    assert analysis.melanoma_range == pytest.approx(tuple(np.percentile(readings, [25, 75])), abs=1e-5)
    single = ensemble_manifest(members[:1], name="one_view", views=["identity"])
    with Ensemble.from_manifest(single.path) as ensemble:  # type: ignore[arg-type]
        assert ensemble.analyse(photo.copy(), gradcam=False).melanoma_range is None  # one reading: no spread
