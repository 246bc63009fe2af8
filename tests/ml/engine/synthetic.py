"""Synthetic test material for the engine: tiny models, photos with known content, a HAM10000-layout folder.

Nothing here reads ``/work/shared`` or downloads weights.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from ml.engine.architectures import create_classifier_model
from ml.engine.labels import HAM10000_CLASSES
from ml.engine.manifest import Manifest, save_model
from ml.engine.training.segmentation import SegTrainConfig
from ml.engine.training.train import TrainConfig

TINY_ARCHITECTURE = "tf_efficientnet_lite0"
TINY_INPUT = (3, 64, 80)  # C, H, W: landscape, to exercise non-square inputs
GREY = (128, 128, 128)
RED = (255, 0, 0)
GREEN = (0, 255, 0)

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels
PhotoFactory = Callable[..., Image.Image]


class RegionNet(nn.Module):
    """A model whose evidence is known: class 0 is "red", class 1 is "green but not red".

    ``features`` (conv 4x4 stride 4 + ReLU, the Grad-CAM layer) has a red detector
    channel and a green detector channel, each 0 on grey. The head is global average
    pooling and a linear layer; class 1 weighs the red channel negatively, so a correct
    Grad-CAM for class 1 must be zero on red patches.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 2, kernel_size=4, stride=4), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 7)
        with torch.no_grad():
            weight = torch.zeros(2, 3, 4, 4)
            weight[0, 0], weight[0, 1], weight[0, 2] = 1.0, -0.5, -0.5  # red minus the rest
            weight[1, 1], weight[1, 0], weight[1, 2] = 1.0, -0.5, -0.5  # green minus the rest
            self.features[0].weight.copy_(weight / 16)
            self.features[0].bias.zero_()
            self.fc.weight.zero_()
            self.fc.bias.zero_()
            self.fc.weight[0, 0] = 10.0
            self.fc.weight[1, 0] = -10.0
            self.fc.weight[1, 1] = 10.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def make_region_manifest() -> Manifest:
    """A manifest for ``RegionNet``: input 64x80, pixels scaled to [0, 1] and not shifted."""
    return Manifest(
        name="region",
        architecture="regionnet",  # not in the table: tests pass the target layer directly
        weights_file="unused.safetensors",
        weights_sha256="0" * 64,
        input_size=list(TINY_INPUT),
        mean=[0.0, 0.0, 0.0],
        std=[1.0, 1.0, 1.0],
        interpolation="bilinear",
    )


def draw_photo(
    width: int,
    height: int,
    patches: Sequence[tuple[Box, tuple[int, int, int]]] = (),
    background: tuple[int, int, int] = GREY,
) -> Image.Image:
    """An RGB photo of one colour with solid rectangular patches."""
    image = Image.new("RGB", (width, height), background)
    for (left, top, right, bottom), colour in patches:
        image.paste(colour, (left, top, right, bottom))
    return image


def jpeg_image(image: Image.Image, orientation: int | None = None, quality: int = 95) -> Image.Image:
    """The image saved as JPEG (with an EXIF orientation tag if given) and reopened lazily."""
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
    buffer.seek(0)
    return Image.open(buffer)


def write_tiny_model(
    folder: Path,
    name: str = "tiny",
    architecture: str = TINY_ARCHITECTURE,
    seed: int = 0,
    **options: object,
) -> Manifest:
    """A random-initialised timm model saved with ``save_model`` (64x80 input, mean = std = 0.5)."""
    torch.manual_seed(seed)
    model = create_classifier_model(architecture)
    return save_model(
        model,
        folder / f"{name}.json",
        name=name,
        architecture=architecture,
        input_size=TINY_INPUT,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        description="random weights for tests",
        **options,  # type: ignore[arg-type]
    )


def count_hooks(model: nn.Module) -> int:
    """Forward, forward-pre, backward and backward-pre hooks on every module of a model."""
    total = 0
    for module in model.modules():
        for attribute in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
        ):
            total += len(getattr(module, attribute, {}))
    return total


COLOURS = {
    "akiec": (200, 90, 80),
    "bcc": (230, 170, 170),
    "bkl": (150, 110, 70),
    "df": (170, 120, 110),
    "mel": (40, 30, 30),
    "nv": (110, 70, 50),
    "vasc": (190, 30, 60),
}


def make_ham_folder(root: Path, per_class: int = 4) -> Path:
    """A HAM10000-layout folder: images/, masks/ and the metadata CSV, with synthetic lesions."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = []
    for dx in HAM10000_CLASSES:
        for n in range(per_class):
            image_id = f"ISIC_{dx}{n:03d}"
            skin = tuple(int(c) for c in rng.integers(190, 235, 3))
            image = Image.new("RGB", (80, 60), skin)
            mask = Image.new("L", (80, 60), 0)
            box = (int(rng.integers(10, 30)), int(rng.integers(8, 20)), int(rng.integers(50, 70)), 50)
            ImageDraw.Draw(image).ellipse(box, fill=COLOURS[dx])
            ImageDraw.Draw(mask).ellipse(box, fill=255)
            image.save(root / "images" / f"{image_id}.jpg", quality=90)
            mask.save(root / "masks" / f"{image_id}_segmentation.png")
            rows.append([f"HAM_{dx}{n:03d}", image_id, dx, "histo", "50.0", "female", "back"])
    with (root / "HAM10000_metadata.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"])
        writer.writerows(rows)
    return root


def _tiny_run(ham_folder: Path, tmp_path: Path, output: str) -> dict[str, object]:
    """What every tiny training run shares: two steps at 48×64 on one thread, nothing downloaded."""
    return {
        "data": str(ham_folder),
        "output": output,
        "out_dir": str(tmp_path / "weights"),
        "runs_dir": str(tmp_path / "runs"),
        "epochs": 1,
        "batch_size": 4,
        "image_size": (48, 64),
        "max_steps": 2,
        "pretrained": "none",
        "threads": 1,
        "eval_batch_size": 16,
        "progress": False,
        "command": "pytest",
    }


def tiny_config(ham_folder: Path, tmp_path: Path, **overrides: object) -> TrainConfig:
    """A tiny classifier training run (``tiny``, tf_efficientnet_lite0) on ``ham_folder``."""
    values = {"arch": TINY_ARCHITECTURE, **_tiny_run(ham_folder, tmp_path, "tiny"), **overrides}
    return TrainConfig(**values)  # type: ignore[arg-type]


def tiny_seg_config(ham_folder: Path, tmp_path: Path, **overrides: object) -> SegTrainConfig:
    """A tiny segmentation training run (``tiny_seg``) on ``ham_folder``."""
    values = {**_tiny_run(ham_folder, tmp_path, "tiny_seg"), **overrides}
    return SegTrainConfig(**values)  # type: ignore[arg-type]
