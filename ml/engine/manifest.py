"""Weights manifests: the JSON file that describes a shipped safetensors model.

A manifest sits beside its weights in ``ml/weights/`` and names the architecture, class
order, input size, normalisation, calibration temperature, the sha256 of the weights,
the measured metrics and the training recipe. Weights whose hash or classes do not match
their manifest are refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:  # reading a manifest needs no torch: a web process registers models without it
    import torch
    from _typeshed import DataclassInstance
    from torch import nn

from ml.engine.architectures import UnknownArchitectureError, create_classifier_model
from ml.engine.labels import HAM10000_CLASSES

M = TypeVar("M", bound="nn.Module")

# The shipped models live here (the app reads ML_WEIGHTS_DIR, which defaults to the same folder).
SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
MANIFEST_SUFFIX = ".json"
MANIFEST_VERSION = 1
# Classifier manifests carry no "kind"; other shipped models (e.g. "segmentation") name theirs.
CLASSIFIER_KIND = "classifier"


class ManifestError(ValueError):
    """A manifest or its weights file is missing, malformed or does not match."""


def read_manifest_json(path: Path | str) -> dict[str, Any]:
    """A manifest file's JSON object, or a ManifestError that says what is wrong with the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ManifestError(f"manifest not found: {path}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest {path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"manifest {path} must be a JSON object")
    return data


class ManifestFile:
    """What every manifest (model, ensemble, segmenter) does with its file: JSON out and in, paths beside it.

    Subclasses are dataclasses with ``name``, ``created_at``, ``split_file``, ``input_size`` and a
    ``path`` field that is not written; ``validate()`` checks their own rules.
    """

    name: str
    created_at: str
    split_file: str | None
    input_size: list[int]
    path: Path | None

    @property
    def folder(self) -> Path:
        if self.path is None:
            raise ManifestError(f"manifest {self.name!r} has not been saved to or loaded from a file")
        return self.path.parent

    @property
    def split_path(self) -> Path | None:
        return self.folder / self.split_file if self.split_file else None

    @property
    def height(self) -> int:
        return int(self.input_size[1])

    @property
    def width(self) -> int:
        return int(self.input_size[2])

    def validate(self) -> None:
        """Check the manifest's own consistency (each kind adds its rules)."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(cast("DataclassInstance", self))  # every subclass is a dataclass
        data.pop("path")
        return data

    def write(self, path: Path | str) -> Path:
        """Write the manifest as indented JSON (after ``validate``) and remember where it lives."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.created_at:
            self.created_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.validate()
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        self.path = path
        return path

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | None, required: set[str]) -> Any:
        """A validated manifest from its JSON object (unknown keys ignored, ``required`` ones checked)."""
        missing = required - data.keys()
        if missing:
            raise ManifestError(f"manifest {path} lacks {', '.join(sorted(missing))}")
        known = {f for f in cls.__dataclass_fields__ if f != "path"}  # type: ignore[attr-defined]
        manifest = cls(**{k: v for k, v in data.items() if k in known})
        manifest.path = path
        manifest.validate()
        return manifest


class WeightsFile(ManifestFile):
    """A manifest of one network whose safetensors file lies beside it, pinned by sha256."""

    weights_file: str
    weights_sha256: str

    @property
    def weights_path(self) -> Path:
        return self.folder / self.weights_file

    def load_weights_into(self, model: M, what: str) -> M:
        """Load the (verified) safetensors file into ``model`` as float32, strictly; the model in eval mode."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(self.weights_path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ManifestError(f"weights file {self.weights_path.name} is not valid safetensors: {exc}") from exc
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ManifestError(f"weights file {self.weights_path.name} does not fit {what}: {exc}") from exc
        return model.eval()

    def verify(self) -> None:
        """Refuse weights that are missing or whose sha256 differs from the manifest."""
        weights = self.weights_path
        if not weights.is_file():
            raise ManifestError(f"weights file of {self.name!r} not found: {weights}")
        digest = file_sha256(weights)
        if digest != self.weights_sha256:
            raise ManifestError(
                f"weights file {weights.name} does not match its manifest "
                f"(sha256 {digest[:12]}…, manifest says {self.weights_sha256[:12]}…)"
            )


@dataclass
class Manifest(WeightsFile):
    """What the engine needs to rebuild, verify and describe one trained model."""

    name: str
    architecture: str
    weights_file: str  # relative to the manifest's folder
    weights_sha256: str
    classes: list[str] = field(default_factory=lambda: list(HAM10000_CLASSES))
    input_size: list[int] = field(default_factory=lambda: [3, 224, 224])  # C, H, W
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    interpolation: str = "bicubic"
    temperature: float = 1.0
    # Per-class additive logit offsets fitted on validation (zeros means plain argmax).
    logit_bias: list[float] | None = None
    # The melanoma flag: P(mel) at or above this, chosen on validation for high sensitivity.
    melanoma_threshold: float | None = None
    weights_dtype: str = "float32"
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    split_file: str | None = None  # relative to the manifest's folder
    description: str = ""
    created_at: str = ""
    version: int = MANIFEST_VERSION
    path: Path | None = field(default=None, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path | str) -> Manifest:
        """Read and validate a manifest file (the weights are checked by ``verify``)."""
        path = Path(path)
        data = read_manifest_json(path)
        if data.get("kind", CLASSIFIER_KIND) != CLASSIFIER_KIND:
            raise ManifestError(f"manifest {path} describes a {data['kind']!r} model, not a classifier")
        manifest: Manifest = cls.from_json(data, path, {"name", "architecture", "weights_file", "weights_sha256"})
        return manifest

    def validate(self) -> None:
        """Check the manifest's own consistency."""
        if list(self.classes) != list(HAM10000_CLASSES):
            raise ManifestError(
                f"manifest {self.name!r} has classes {self.classes}; "
                f"DermaTrack expects {list(HAM10000_CLASSES)} in that order"
            )
        if len(self.input_size) != 3 or self.input_size[0] != 3:
            raise ManifestError(f"manifest {self.name!r}: input_size must be [3, H, W]")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ManifestError(f"manifest {self.name!r}: mean and std need 3 values")
        if not self.temperature > 0:
            raise ManifestError(f"manifest {self.name!r}: temperature must be positive")
        if self.logit_bias is not None and len(self.logit_bias) != len(self.classes):
            raise ManifestError(f"manifest {self.name!r}: logit_bias needs one value per class")
        if self.melanoma_threshold is not None and not 0.0 <= self.melanoma_threshold <= 1.0:
            raise ManifestError(f"manifest {self.name!r}: melanoma_threshold must lie in [0, 1]")

    def build_model(self) -> nn.Module:
        """Verify the weights, build the architecture and load them (float32, eval mode)."""
        self.verify()
        try:
            model = create_classifier_model(self.architecture, num_classes=len(self.classes))
        except UnknownArchitectureError as exc:
            raise ManifestError(f"manifest {self.name!r}: {exc}") from exc
        return self.load_weights_into(model, f"architecture {self.architecture!r}")


def file_sha256(path: Path | str) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(
    model: nn.Module,
    manifest_path: Path | str,
    *,
    name: str,
    architecture: str,
    input_size: tuple[int, int, int] | list[int],
    mean: tuple[float, ...] | list[float],
    std: tuple[float, ...] | list[float],
    interpolation: str = "bicubic",
    temperature: float = 1.0,
    logit_bias: list[float] | None = None,
    melanoma_threshold: float | None = None,
    dtype: torch.dtype | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    split_file: str | None = None,
    description: str = "",
) -> Manifest:
    """Write ``<stem>.safetensors`` beside ``manifest_path`` and the manifest itself."""
    import torch

    dtype = dtype or torch.float32
    weights_path = write_weights(model, manifest_path, dtype, {"architecture": architecture, "name": name})
    manifest = Manifest(
        name=name,
        architecture=architecture,
        weights_file=weights_path.name,
        weights_sha256=file_sha256(weights_path),
        input_size=[int(x) for x in input_size],
        mean=[float(x) for x in mean],
        std=[float(x) for x in std],
        interpolation=interpolation,
        temperature=float(temperature),
        logit_bias=logit_bias,
        melanoma_threshold=melanoma_threshold,
        weights_dtype=str(dtype).removeprefix("torch."),
        metrics=metrics or {},
        training=training or {},
        split_file=split_file,
        description=description,
    )
    manifest.validate()
    manifest.write(manifest_path)
    return manifest


def write_weights(model: nn.Module, manifest_path: Path | str, dtype: torch.dtype, metadata: dict[str, str]) -> Path:
    """The model's state as ``<stem>.safetensors`` beside ``manifest_path`` (floats as ``dtype``); its path."""
    from safetensors.torch import save_file

    manifest_path = Path(manifest_path)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    weights_path = manifest_path.with_suffix(".safetensors")
    state = {
        k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(weights_path), metadata=metadata)
    return weights_path


def find_manifests(folder: Path | str, kind: str = CLASSIFIER_KIND) -> list[Path]:
    """Manifest files of one kind in a weights folder.

    ``classifier`` (the default) lists what can analyse a photo: single models (they name a
    weights file and no other kind) and ensembles (``"kind": "ensemble"`` naming members);
    ``segmentation`` lists the lesion segmenters.
    """
    found = []
    for path in sorted(Path(folder).glob(f"*{MANIFEST_SUFFIX}")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        own_kind = data.get("kind", CLASSIFIER_KIND)
        if kind == CLASSIFIER_KIND and own_kind == "ensemble":
            matches = "members" in data
        else:
            matches = "weights_file" in data and own_kind == kind
        if matches:
            found.append(path)
    return found


# The bar a model must pass on the held-out test split to analyse new photos by default (issue
# "Models a clinician can trust"); the model card states each model against it.
QUALITY_BAR: dict[str, float] = {
    "accuracy": 0.85,
    "balanced_accuracy": 0.72,
    "mel_flag_sensitivity": 0.90,
    "mel_flag_specificity": 0.82,
}


def bar_figures(test: dict[str, Any]) -> dict[str, float | None]:
    """The bar's four numbers from a manifest's ``metrics["test"]`` (an evaluation report or bare numbers)."""
    metrics = test.get("metrics")
    numbers: dict[str, Any] = metrics if isinstance(metrics, dict) else test
    flag_figures = numbers.get("melanoma_flag")
    flag: dict[str, Any] = flag_figures if isinstance(flag_figures, dict) else {}
    return {
        "accuracy": numbers.get("accuracy"),
        "balanced_accuracy": numbers.get("balanced_accuracy"),
        "mel_flag_sensitivity": flag.get("sensitivity"),
        "mel_flag_specificity": flag.get("specificity"),
    }


def passes_bar(test: dict[str, Any] | None) -> bool:
    """Whether measured test figures meet every number of ``QUALITY_BAR`` (missing figures fail)."""
    if not isinstance(test, dict):
        return False
    figures = bar_figures(test)
    return all(figures[k] is not None and float(figures[k]) >= v for k, v in QUALITY_BAR.items())  # type: ignore[arg-type]
