"""Classify photos from the command line, one JSON object per image (no database needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from PIL import Image, UnidentifiedImageError

from ml.engine.manifest import ManifestError
from ml.services import manifest_path_by_name


class Command(BaseCommand):
    help = "Analyse image files with a shipped model or ensemble (by default what the app deploys); JSON lines."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
        parser.add_argument("--model", help="model name in ML_WEIGHTS_DIR or a manifest path [default model]")
        parser.add_argument("--heatmap-dir", type=Path, help="write <image stem>_heatmap.png overlays here")

    def handle(self, *args: Any, **options: Any) -> None:
        from ml.engine.inference.ensemble import analyser_from_manifest

        try:
            path = manifest_path_by_name(options["model"])
            classifier = analyser_from_manifest(path)  # a single model or an ensemble, as the app runs it
        except ManifestError as exc:
            raise CommandError(str(exc)) from exc
        heatmap_dir: Path | None = options["heatmap_dir"]
        if heatmap_dir:
            heatmap_dir.mkdir(parents=True, exist_ok=True)
        failures = 0
        for name in options["images"]:
            path = Path(name)
            try:
                with Image.open(path) as photo:  # decoded by the engine, at reduced size if large
                    analysis = classifier.analyse(photo, gradcam=heatmap_dir is not None)
            except (FileNotFoundError, UnidentifiedImageError, OSError, ValueError) as exc:
                failures += 1
                self.stdout.write(json.dumps({"image": str(path), "error": f"cannot read image: {exc}"}))
                continue
            record: dict[str, Any] = {
                "image": str(path),
                "model": classifier.manifest.name,
                "top_class": analysis.top_class,
                "confidence": round(float(analysis.confidence), 6),
                "probabilities": {k: round(float(v), 6) for k, v in analysis.probabilities.items()},
                "melanoma_flag": analysis.melanoma_flag,
                "melanoma_threshold": analysis.melanoma_threshold,
                "melanoma_range": [round(v, 6) for v in analysis.melanoma_range] if analysis.melanoma_range else None,
            }
            if heatmap_dir and analysis.overlay_png:
                out = heatmap_dir / f"{path.stem}_heatmap.png"
                out.write_bytes(analysis.overlay_png)
                record["heatmap"] = str(out)
            self.stdout.write(json.dumps(record))
        if failures:
            raise CommandError(f"{failures} of {len(options['images'])} image(s) could not be read")
