"""The deployed analysis as one unit: several trained members, test-time views, patient context, two decisions.

An ensemble manifest (``"kind": "ensemble"``) names its member manifests (each pinned by its
weights' sha256), the test-time views, how the members are combined (a fusion head over their
logits and the patient context, ``ml.engine.inference.fusion``, or the mean of their calibrated
probabilities), the decision rule (temperature, optional logit bias) and the melanoma
threshold. To the app it is one model: one prediction and one heatmap per photo.

``Ensemble.analyse`` decodes the photo once, runs every member on all views of it in one
batch per member, fuses, and takes the Grad-CAM of the fused top class from the same passes:
one gradient of the fused score reaches every member's feature maps; each view's map is turned
back to the photo's orientation before the maps are averaged.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Unpack

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.engine.architectures import UnknownArchitectureError, target_layer
from ml.engine.inference.classifier import (
    Analyser,
    AnalyserOptions,
    calibrated_probabilities,
)
from ml.engine.inference.context import PatientContext
from ml.engine.inference.ensemble_manifest import COMBINE_FUSION, EnsembleManifest, load_manifest
from ml.engine.inference.gradcam import GradCAM, grad_cam_maps, normalise_cams
from ml.engine.inference.preprocess import PreprocessConfig
from ml.engine.inference.views import apply_view, undo_view, views_by_shape
from ml.engine.labels import MELANOMA
from ml.engine.manifest import Manifest, ManifestError


def combine_member_logits(
    member_logits: torch.Tensor,
    manifest: EnsembleManifest,
    temperatures: Sequence[float],
    context: torch.Tensor | None,
) -> torch.Tensor:
    """(N, members, classes) view-averaged logits -> the ensemble's (N, classes) logits (differentiable)."""
    if manifest.combine == COMBINE_FUSION:
        head = manifest.fusion_head
        assert head is not None
        return head.torch_logits(member_logits, context if head.use_context else None)
    # Mean of the members' temperature-calibrated probabilities, as log-probabilities.
    t = torch.tensor(list(temperatures), dtype=member_logits.dtype, device=member_logits.device).view(1, -1, 1)
    log_probs = torch.log_softmax(member_logits / t, dim=-1)
    return torch.logsumexp(log_probs, dim=1) - math.log(member_logits.shape[1])


class Ensemble(Analyser):
    """Loaded members sharing one preprocessing, with a Grad-CAM each; same calls as ``Classifier``."""

    manifest: EnsembleManifest

    def __init__(
        self,
        manifest: EnsembleManifest,
        members: Sequence[tuple[nn.Module, Manifest]],
        *,
        target_layer_modules: Sequence[nn.Module] | None = None,
        **options: Unpack[AnalyserOptions],
    ) -> None:
        self._take_options(manifest, options)
        self.manifest = manifest
        self.device = torch.device(options.get("device") or "cpu")
        self.views = tuple(manifest.views)
        self.view_groups = views_by_shape(self.views)
        # Decoded once at [0, 1]; each member's normalisation is applied to the shared tensor.
        self.preprocess_config = PreprocessConfig(
            height=manifest.height,
            width=manifest.width,
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
            interpolation=manifest.interpolation,
            allow_rotation=self.allow_rotation,
        )
        self.models: list[nn.Module] = []
        self.member_manifests: list[Manifest] = []
        self.gradcams: list[GradCAM] = []
        self._normalise: list[tuple[torch.Tensor, torch.Tensor]] = []
        for index, (model, member) in enumerate(members):
            model.eval().requires_grad_(False).to(self.device)
            if self.channels_last:
                model.to(memory_format=torch.channels_last)
            try:
                layer = (
                    target_layer_modules[index]
                    if target_layer_modules is not None
                    else target_layer(model, member.architecture)
                )
            except (UnknownArchitectureError, AttributeError) as exc:
                self.close()
                raise ManifestError(f"no Grad-CAM layer for member {member.name!r}: {exc}") from exc
            self.models.append(model)
            self.member_manifests.append(member)
            self.gradcams.append(GradCAM(model, layer))
            self._normalise.append(
                (
                    torch.tensor(member.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1),
                    torch.tensor(member.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1),
                )
            )
        self._member_temperatures = [float(m.temperature) for m in self.member_manifests]
        self._head = manifest.fusion_head
        self._mel = self.classes.index(MELANOMA) if MELANOMA in self.classes else None

    @classmethod
    def from_manifest(cls, path: Path | str | EnsembleManifest, **options: Unpack[AnalyserOptions]) -> Ensemble:
        """Load an ensemble manifest and its members (each verified by sha256)."""
        manifest = path if isinstance(path, EnsembleManifest) else load_manifest(path)
        if not isinstance(manifest, EnsembleManifest):
            raise ManifestError(f"{path} is a single-model manifest, not an ensemble")
        members = [(m.build_model(), m) for m in manifest.member_manifests()]
        return cls(manifest, members, **options)

    @property
    def uses_context(self) -> bool:
        return self._head is not None and self._head.use_context

    # -- analysis -------------------------------------------------------------------------
    def _photos_per_chunk(self, batch_size: int) -> int:
        """A view group runs its photos' views as one batch: ``batch_size // views per group`` photos (at least one).

        Measured on the 2-core development machine with 8 views (groups of 4): 4 photos per chunk
        re-analyse 4.3 photos/s, 16 photos (64 inputs) only 2.4/s.
        """
        return max(1, batch_size // max(len(group) for group in self.view_groups))

    def _member_pass(
        self, m: int, inputs: torch.Tensor, gradcam: bool
    ) -> tuple[torch.Tensor, list[tuple[list[int], torch.Tensor]], torch.Tensor]:
        """One member on every view of the batch: (N, classes) view-mean logits, the activations kept, and the
        (views, N, classes) logits of each view (detached)."""
        mean, std = self._normalise[m]
        x = (inputs - mean) / std
        n = x.shape[0]
        per_view: list[torch.Tensor | None] = [None] * len(self.views)
        kept: list[tuple[list[int], torch.Tensor]] = []
        for group in self.view_groups:
            batch = torch.cat([apply_view(x, self.views[i]) for i in group])
            if self.channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            if gradcam:
                logits = self.gradcams[m].forward(batch)
                kept.append((group, self.gradcams[m].take_activation()))
            else:
                with torch.inference_mode():
                    logits = self.models[m](batch)
            for j, i in enumerate(group):
                per_view[i] = logits[j * n : (j + 1) * n]
        stacked = torch.stack([v for v in per_view if v is not None]).float()
        return stacked.mean(dim=0), kept, stacked.detach()

    def logits(self, inputs: torch.Tensor, context: PatientContext | None = None) -> torch.Tensor:
        """The ensemble's logits for prepared inputs in [0, 1] (N, 3, H, W): every member on every view, fused.

        The forward-only path (no Grad-CAM), e.g. for timing the analysis against its own forward passes.
        """
        context_tensor = None
        if self.uses_context:
            row = (context or PatientContext()).features()
            context_tensor = torch.from_numpy(np.repeat(row[None], inputs.shape[0], axis=0)).to(self.device)
        with torch.inference_mode():
            members = [self._member_pass(m, inputs.to(self.device), False)[0] for m in range(len(self.models))]
            return combine_member_logits(
                torch.stack(members, dim=1), self.manifest, self._member_temperatures, context_tensor
            )

    def _fused_cams(self, score: torch.Tensor, kept: list[list[tuple[list[int], torch.Tensor]]], n: int) -> np.ndarray:
        """Grad-CAM of the fused score on every member and view, back in the photo's orientation, averaged."""
        activations = [act for member in kept for _, act in member]
        with torch.inference_mode(False), torch.enable_grad():
            gradients = torch.autograd.grad(score, activations)
        member_maps = []
        g = iter(gradients)
        with torch.no_grad():
            for member in kept:
                total: torch.Tensor | None = None
                for group, activation in member:
                    maps = grad_cam_maps(activation, next(g))  # (len(group) * n, h, w)
                    for j, i in enumerate(group):
                        view_map = undo_view(maps[j * n : (j + 1) * n], self.views[i])
                        if total is not None and view_map.shape[-2:] != total.shape[-2:]:
                            view_map = F.interpolate(view_map[:, None], size=total.shape[-2:], mode="bilinear")[:, 0]
                        total = view_map if total is None else total + view_map
                assert total is not None
                member_maps.append(normalise_cams(total))
            shape = member_maps[0].shape[-2:]
            resized = [
                m if m.shape[-2:] == shape else F.interpolate(m[:, None], size=shape, mode="bilinear")[:, 0]
                for m in member_maps
            ]
            return normalise_cams(torch.stack(resized).mean(dim=0)).float().cpu().numpy()

    def _forward(
        self, inputs: torch.Tensor, contexts: Sequence[PatientContext | None], gradcam: bool
    ) -> tuple[torch.Tensor, Any, np.ndarray | None]:
        """Every member on every view, fused; the activations each member kept for the Grad-CAM; the melanoma
        readings (N, members x views): each member's P(mel) on each view, calibrated as the score is."""
        context_tensor = None
        if self.uses_context:
            rows = [(c or PatientContext()).features() for c in contexts]
            context_tensor = torch.from_numpy(np.stack(rows)).to(self.device)
        kept: list[list[tuple[list[int], torch.Tensor]]] = []
        readings = []
        with _grad_mode(gradcam):
            member_logits = []
            for m in range(len(self.models)):
                logits, activations, per_view = self._member_pass(m, inputs, gradcam)
                member_logits.append(logits)
                kept.append(activations)
                # Each reading calibrated as the score is: the member's temperature, then the ensemble's.
                member_view = torch.log_softmax(per_view / self._member_temperatures[m], dim=-1)
                calibrated = calibrated_probabilities(member_view, self.temperature, self.logit_bias)
                readings.append(calibrated[..., self._mel])
            fused = combine_member_logits(
                torch.stack(member_logits, dim=1), self.manifest, self._member_temperatures, context_tensor
            )
        return fused, kept, torch.cat(readings).T.cpu().numpy() if self._mel is not None else None

    def _cams(self, logits: torch.Tensor, kept: Any, targets: list[int]) -> np.ndarray:
        index = torch.as_tensor(targets, dtype=torch.long, device=logits.device).view(-1, 1)
        return self._fused_cams(logits.gather(1, index).sum(), kept, len(targets))

    def _release(self, kept: Any) -> None:
        if kept:
            kept.clear()
        for cam in self.gradcams:
            cam.reset()

    # -- lifetime -------------------------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        """The first member (for code that inspects one network, e.g. its parameter count)."""
        return self.models[0]

    def close(self) -> None:
        """Remove every member's Grad-CAM hook."""
        for cam in self.gradcams:
            cam.close()

    def __repr__(self) -> str:
        return f"Ensemble({self.manifest.name!r}, {len(self.models)} members, {len(self.views)} views, {self.device})"


def _grad_mode(gradcam: bool) -> contextlib.ExitStack[bool | None]:
    """Autograd on for a Grad-CAM pass (whatever the caller's mode), inference mode otherwise."""
    stack = contextlib.ExitStack()
    if gradcam:
        stack.enter_context(torch.inference_mode(False))
        stack.enter_context(torch.enable_grad())
    else:
        stack.enter_context(torch.inference_mode())
    return stack


def analyser_from_manifest(path: Path | str, **options: Unpack[AnalyserOptions]) -> Analyser:
    """A ``Classifier`` for a model manifest or an ``Ensemble`` for an ensemble manifest."""
    from ml.engine.inference.classifier import Classifier

    manifest = load_manifest(path)
    if isinstance(manifest, EnsembleManifest):
        return Ensemble.from_manifest(manifest, **options)
    return Classifier(manifest.build_model(), manifest, **options)


__all__ = [
    "Ensemble",
    "analyser_from_manifest",
    "combine_member_logits",
]
