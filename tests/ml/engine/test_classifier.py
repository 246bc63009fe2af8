"""The Classifier API: probabilities, heatmaps, overlays, batches, timings and resource use."""

from __future__ import annotations

import ast
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ml.engine
from ml.engine.inference import classifier as classifier_module
from ml.engine.inference.classifier import TIMING_KEYS, Analysis, Classifier, available_cpus, configure_torch_threads
from ml.engine.inference.overlay import CAM_PNG_MAX_SIDE, fit_size
from ml.engine.labels import HAM10000_CLASSES
from ml.engine.manifest import ManifestError


def lesion_photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A skin-coloured photo with a dark blob somewhere, different per seed."""
    rng = np.random.default_rng(seed)
    pixels = np.empty((height, width, 3), dtype=np.float32)
    pixels[...] = (200, 150, 130)
    yy, xx = np.mgrid[0:height, 0:width]
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    blob = np.exp(-(((xx - cx) / (0.15 * width)) ** 2 + ((yy - cy) / (0.15 * height)) ** 2))
    pixels -= blob[..., None] * np.array([120, 100, 90])
    pixels += rng.normal(0, 6, size=pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return image.size


def test_probabilities_cover_the_seven_classes_and_sum_to_one(tiny_classifier: Classifier) -> None:
    analysis = tiny_classifier.analyse(lesion_photo(200, 150))
    assert isinstance(analysis, Analysis)
    assert list(analysis.probabilities) == list(HAM10000_CLASSES)
    assert sum(analysis.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= p <= 1.0 for p in analysis.probabilities.values())
    best = max(analysis.probabilities, key=analysis.probabilities.__getitem__)
    assert analysis.top_class == best == analysis.cam_class
    assert analysis.confidence == pytest.approx(analysis.probabilities[best])


def test_public_attributes(tiny_classifier: Classifier, tiny_manifest_path: Path) -> None:
    assert tiny_classifier.classes == HAM10000_CLASSES
    assert tiny_classifier.manifest.path == tiny_manifest_path
    assert isinstance(tiny_classifier.model, torch.nn.Module)
    assert not tiny_classifier.model.training
    assert not any(p.requires_grad for p in tiny_classifier.model.parameters())


def test_single_and_batch_analysis_agree(tiny_classifier: Classifier) -> None:
    photos = [
        lesion_photo(w, h, seed)
        for seed, (w, h) in enumerate([(200, 150), (150, 200), (320, 240), (90, 90), (600, 200)])
    ]
    single = [tiny_classifier.analyse(photo, gradcam=False) for photo in photos]
    batched = tiny_classifier.analyse_batch(photos, batch_size=3)
    assert len(batched) == len(photos)
    for one, many in zip(single, batched, strict=True):
        assert one.top_class == many.top_class
        for code in HAM10000_CLASSES:
            assert many.probabilities[code] == pytest.approx(one.probabilities[code], abs=1e-4)
        assert many.cam is None and many.overlay_png is None
    # Different photos, different answers: the batch is not one photo repeated.
    assert batched[0].probabilities != batched[1].probabilities


def test_batch_with_gradcam_matches_single_heatmaps(tiny_classifier: Classifier) -> None:
    photos = [lesion_photo(200, 150, 1), lesion_photo(150, 200, 2)]
    batched = tiny_classifier.analyse_batch(photos, gradcam=True)
    for photo, many in zip(photos, batched, strict=True):
        one = tiny_classifier.analyse(photo)
        assert many.cam is not None and one.cam is not None
        np.testing.assert_allclose(many.cam, one.cam, atol=1e-3)
        assert many.overlay_png is not None


def test_batch_edge_cases(tiny_classifier: Classifier) -> None:
    assert tiny_classifier.analyse_batch([]) == []
    with pytest.raises(ValueError, match="batch_size"):
        tiny_classifier.analyse_batch([lesion_photo(50, 50)], batch_size=0)


@pytest.mark.parametrize(("width", "height"), [(200, 150), (150, 200), (333, 111), (64, 80)])
def test_heatmap_and_overlay_follow_the_photo(tiny_classifier: Classifier, width: int, height: int) -> None:
    analysis = tiny_classifier.analyse(lesion_photo(width, height))
    assert analysis.cam is not None and analysis.overlay_png is not None
    assert analysis.cam.shape == (height, width)
    assert analysis.cam.dtype == np.float32
    assert analysis.cam.min() >= 0.0 and analysis.cam.max() <= 1.0
    assert png_size(analysis.overlay_png) == (width, height)

    cam_png = analysis.cam_png()
    assert cam_png is not None
    with Image.open(io.BytesIO(cam_png)) as gray:
        assert gray.mode == "L"
        assert gray.size == fit_size(width, height, CAM_PNG_MAX_SIDE)
        assert gray.width / gray.height == pytest.approx(width / height, abs=0.02)


def test_big_photos_get_a_capped_overlay_at_their_aspect(tiny_classifier: Classifier) -> None:
    photo = lesion_photo(2000, 1500)
    analysis = tiny_classifier.analyse(photo)
    assert png_size(analysis.overlay_png) == (1024, 768)
    assert analysis.cam is not None and analysis.cam.shape == (1500, 2000)
    with Image.open(io.BytesIO(analysis.cam_png(max_side=200))) as gray:
        assert gray.size == (200, 150)


def test_big_jpeg_overlay_keeps_the_aspect(tiny_classifier: Classifier, make_jpeg) -> None:
    photo = make_jpeg(lesion_photo(1600, 1200).resize((4032, 3024)), quality=80)
    analysis = tiny_classifier.analyse(photo)
    width, height = png_size(analysis.overlay_png)
    assert max(width, height) <= 1024
    assert width / height == pytest.approx(4032 / 3024, abs=0.01)
    assert analysis.cam is not None and analysis.cam.shape == (3024, 4032)


def test_without_gradcam_there_is_no_heatmap_and_the_same_probabilities(tiny_classifier: Classifier) -> None:
    photo = lesion_photo(200, 150)
    plain = tiny_classifier.analyse(photo, gradcam=False)
    explained = tiny_classifier.analyse(photo)
    assert plain.cam is None and plain.overlay_png is None and plain.cam_png() is None
    assert plain.cam_class is None
    for code in HAM10000_CLASSES:
        assert plain.probabilities[code] == pytest.approx(explained.probabilities[code], abs=1e-5)


@pytest.mark.parametrize("mode", [torch.inference_mode, torch.no_grad])
def test_heatmaps_work_inside_a_callers_no_grad_block(tiny_classifier: Classifier, mode) -> None:
    photo = lesion_photo(200, 150)
    reference = tiny_classifier.analyse(photo)
    with mode():
        single = tiny_classifier.analyse(photo)
        batched = tiny_classifier.analyse_batch([photo, photo], gradcam=True)
    for analysis in (single, *batched):
        assert analysis.cam is not None
        np.testing.assert_allclose(analysis.cam, reference.cam, atol=1e-3)


def test_target_class_chooses_what_the_heatmap_explains(tiny_classifier: Classifier) -> None:
    photo = lesion_photo(200, 150)
    by_code = tiny_classifier.analyse(photo, target_class="mel")
    by_index = tiny_classifier.analyse(photo, target_class=HAM10000_CLASSES.index("mel"))
    assert by_code.cam_class == by_index.cam_class == "mel"
    np.testing.assert_array_equal(by_code.cam, by_index.cam)
    with pytest.raises(ValueError, match="unknown class"):
        tiny_classifier.analyse(photo, target_class="eczema")
    with pytest.raises(ValueError, match="out of range"):
        tiny_classifier.analyse(photo, target_class=7)


def test_timings_are_reported_in_milliseconds(tiny_classifier: Classifier) -> None:
    timings = tiny_classifier.analyse(lesion_photo(200, 150)).timings
    assert set(timings) == set(TIMING_KEYS)
    assert all(value >= 0 for value in timings.values())
    assert timings["forward"] > 0 and timings["gradcam"] > 0 and timings["overlay"] > 0
    parts = sum(timings[key] for key in ("preprocess", "forward", "gradcam", "overlay"))
    assert timings["total"] == pytest.approx(parts)
    assert timings["total"] < 60_000
    plain = tiny_classifier.analyse(lesion_photo(200, 150), gradcam=False).timings
    assert plain["gradcam"] == 0.0 and plain["overlay"] == 0.0


def test_classifier_puts_the_model_in_eval_mode(region_net, region_manifest, make_photo) -> None:
    region_net.train()
    with Classifier(region_net, region_manifest, target_layer_module=region_net.features) as classifier:
        assert not classifier.model.training
        classifier.analyse(make_photo(100, 80))


def test_a_model_with_the_wrong_number_of_outputs_is_refused(region_manifest, make_photo) -> None:
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)
    )
    with (
        Classifier(model, region_manifest, target_layer_module=model[0]) as classifier,
        pytest.raises(ManifestError, match=r"shape \(1, 3\)"),
    ):
        classifier.analyse(make_photo(100, 80), gradcam=False)


def _resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# Without a leak the resident memory does not grow at all over these analyses; one that kept every
# Analysis (heatmap, overlay, model input: about 63 KB each here) grows past this bound.
LEAK_BOUND_PER_ANALYSIS = 40 * 1024
ANALYSES = 200


@pytest.mark.slow
def test_hooks_and_memory_stay_flat_over_200_analyses(tiny_manifest_path: Path, hook_count) -> None:
    classifier = Classifier.from_manifest(tiny_manifest_path)
    model = classifier.model
    assert hook_count(model) == 1  # the one Grad-CAM hook, registered once
    photos = [lesion_photo(120, 90, seed) for seed in range(5)]
    for photo in photos * 4:  # warm up allocators and caches
        classifier.analyse(photo)
    hooks_before = hook_count(model)
    has_proc = Path("/proc/self/statm").exists()
    rss_before = _resident_bytes() if has_proc else 0

    for i in range(ANALYSES):
        analysis = classifier.analyse(photos[i % len(photos)], gradcam=i % 5 != 4)

    assert hook_count(model) == hooks_before == 1
    assert analysis.probabilities
    if has_proc:
        grown = _resident_bytes() - rss_before
        assert grown < ANALYSES * LEAK_BOUND_PER_ANALYSIS, f"resident memory grew by {grown / 2**20:.1f} MB"
    classifier.close()
    assert hook_count(model) == 0


def test_threads_are_capped_but_a_callers_choice_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    assert available_cpus() >= 1
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TORCH_NUM_THREADS"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(classifier_module, "_threads_configured", False)
        assert configure_torch_threads() == 1  # never raised above what the caller set
        monkeypatch.setattr(classifier_module, "_threads_configured", False)
        monkeypatch.setattr(classifier_module, "available_cpus", lambda: 2)
        torch.set_num_threads(8)
        assert configure_torch_threads() == 2  # but the container's 2 CPUs are respected
    finally:
        torch.set_num_threads(previous)


def test_the_engine_never_imports_django() -> None:
    package = Path(ml.engine.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "django"]
    assert offenders == []


def test_the_analysis_keeps_the_prepared_input_for_a_segmenter(tiny_classifier: Classifier) -> None:
    analysis = tiny_classifier.analyse(lesion_photo(320, 240))
    item = analysis.model_input
    assert item is not None
    assert item.geometry == analysis.geometry
    assert (item.geometry.photo_width, item.geometry.photo_height) == (320, 240)
    assert item.config == tiny_classifier.preprocess_config  # a segmenter can tell how it was normalised
    assert tuple(item.tensor.shape) == (3, 64, 80)
