"""The deployed analysis's manifest, torch-free: an ensemble's members, views, combination and decisions.

An ensemble manifest (``"kind": "ensemble"``) names its member manifests (each pinned by its
weights' sha256), the test-time views, how the members are combined (a fusion head or the mean
of their calibrated probabilities), the decision rule and the melanoma threshold. Reading and
validating it needs no torch, so a web process registers the models without loading them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.engine.inference.fusion import FusionHead
from ml.engine.inference.views import check_views
from ml.engine.labels import HAM10000_CLASSES
from ml.engine.manifest import MANIFEST_VERSION, Manifest, ManifestError, ManifestFile, read_manifest_json

ENSEMBLE_KIND = "ensemble"
COMBINE_FUSION = "fusion"
COMBINE_MEAN = "mean"


@dataclass
class EnsembleManifest(ManifestFile):
    """What the engine needs to rebuild, verify and describe a deployed ensemble."""

    name: str
    members: list[dict[str, str]]  # [{"name", "manifest" (relative file), "weights_sha256"}]
    views: list[str] = field(default_factory=lambda: ["identity"])
    combine: str = COMBINE_MEAN
    fusion: dict[str, Any] | None = None  # FusionHead.to_dict() when combine == "fusion"
    kind: str = ENSEMBLE_KIND
    classes: list[str] = field(default_factory=lambda: list(HAM10000_CLASSES))
    input_size: list[int] = field(default_factory=lambda: [3, 224, 224])
    interpolation: str = "bicubic"
    temperature: float = 1.0
    logit_bias: list[float] | None = None
    melanoma_threshold: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  # how it was built and chosen
    split_file: str | None = None
    description: str = ""
    created_at: str = ""
    version: int = MANIFEST_VERSION
    path: Path | None = field(default=None, compare=False, repr=False)

    # -- what the app reads of any manifest ---------------------------------------------
    @property
    def architecture(self) -> str:
        names = [Path(m["manifest"]).stem for m in self.members]
        return f"ensemble of {len(names)} ({', '.join(names)})"

    @property
    def weights_sha256(self) -> str:
        """One fingerprint of the members' weights, the views and the fusion (changes with any of them)."""
        digest = hashlib.sha256()
        for member in self.members:
            digest.update(member["weights_sha256"].encode())
        digest.update(json.dumps([self.views, self.combine, self.fusion, self.logit_bias, self.temperature]).encode())
        return digest.hexdigest()

    @property
    def fusion_head(self) -> FusionHead | None:
        return FusionHead.from_dict(self.fusion) if self.fusion else None

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> EnsembleManifest:
        manifest: EnsembleManifest = cls.from_json(data, path, {"name", "members"})
        return manifest

    def validate(self) -> None:
        if list(self.classes) != list(HAM10000_CLASSES):
            raise ManifestError(f"ensemble {self.name!r} has classes {self.classes}; expected {list(HAM10000_CLASSES)}")
        if not self.members or any({"name", "manifest", "weights_sha256"} - m.keys() for m in self.members):
            raise ManifestError(f"ensemble {self.name!r}: members need name, manifest and weights_sha256")
        try:
            check_views(self.views)
        except ValueError as exc:
            raise ManifestError(f"ensemble {self.name!r}: {exc}") from exc
        if self.combine not in (COMBINE_FUSION, COMBINE_MEAN):
            raise ManifestError(f"ensemble {self.name!r}: combine must be {COMBINE_FUSION!r} or {COMBINE_MEAN!r}")
        if self.combine == COMBINE_FUSION:
            if not self.fusion:
                raise ManifestError(f"ensemble {self.name!r}: combine 'fusion' needs a fusion head")
            try:
                head = FusionHead.from_dict(self.fusion)
            except (TypeError, ValueError) as exc:
                raise ManifestError(f"ensemble {self.name!r}: bad fusion head: {exc}") from exc
            if head.members != len(self.members):
                raise ManifestError(f"ensemble {self.name!r}: fusion head fitted on {head.members} members")
        if not self.temperature > 0:
            raise ManifestError(f"ensemble {self.name!r}: temperature must be positive")
        if self.logit_bias is not None and len(self.logit_bias) != len(self.classes):
            raise ManifestError(f"ensemble {self.name!r}: logit_bias needs one value per class")
        if self.melanoma_threshold is not None and not 0.0 <= self.melanoma_threshold <= 1.0:
            raise ManifestError(f"ensemble {self.name!r}: melanoma_threshold must lie in [0, 1]")

    # -- members -------------------------------------------------------------------------
    def member_manifests(self) -> list[Manifest]:
        """The members' manifests, each checked against the sha256 this ensemble pinned."""
        out = []
        for member in self.members:
            manifest = Manifest.load(self.folder / member["manifest"])
            if manifest.weights_sha256 != member["weights_sha256"]:
                raise ManifestError(
                    f"ensemble {self.name!r}: member {member['name']!r} has other weights than the ensemble was "
                    f"built with (sha256 {manifest.weights_sha256[:12]}…, pinned {member['weights_sha256'][:12]}…)"
                )
            if manifest.input_size != self.input_size:
                raise ManifestError(
                    f"ensemble {self.name!r}: member {member['name']!r} takes {manifest.input_size}, "
                    f"the ensemble {self.input_size}"
                )
            out.append(manifest)
        return out

    def verify(self) -> None:
        for manifest in self.member_manifests():
            manifest.verify()


AnyManifest = Manifest | EnsembleManifest


def load_manifest(path: Path | str) -> AnyManifest:
    """A model manifest or an ensemble manifest, by its ``kind``."""
    path = Path(path)
    data = read_manifest_json(path)
    if data.get("kind") == ENSEMBLE_KIND:
        return EnsembleManifest.from_dict(data, path)
    return Manifest.load(path)


__all__ = [
    "COMBINE_FUSION",
    "COMBINE_MEAN",
    "ENSEMBLE_KIND",
    "AnyManifest",
    "EnsembleManifest",
    "load_manifest",
]
