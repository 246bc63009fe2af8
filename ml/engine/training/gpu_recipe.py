"""The whole training recipe in one run on a CUDA machine; the evaluation then runs on the CPU.

    # here: pack the data small for the trip (the original JPEGs, the metadata, the split)
    python -m ml.engine.training.gpu_recipe pack --data ../shared/data/ham10000 --out .carry/ham10000.tar
    # on the GPU machine (device tool, carry .carry): train every member into one output folder
    python -m ml.engine.training.gpu_recipe run --pack .carry/ham10000.tar --out "$OUT" --minutes 9
    # back here: calibrate + measure each member on the CPU, then build the deployed ensemble
    python -m ml.engine.training.gpu_recipe finish --from DIR --data ../shared/data/ham10000

The members are trained on the project's saved lesion-grouped split (the split file travels in
the pack), larger inputs and longer schedules than the CPU affords, the whole network
trainable; a ResNet50 from scratch is then distilled from the mean of the members (``--with-
resnet50``). Weights come back as float16 safetensors, with one ``manifests.json`` and one log.

Size limits of the device tool (this workplace): the working tree that travels is at most
64 MiB, and the repository's tracked weights alone are about that: move ``ml/weights/*.
safetensors`` out of the tree for the run (the recipe does not read them) and back afterwards.
At most 8 files of 16 MiB each (64 MiB) come back: weights travel in parts of 15 MiB, a
member too big for one part as int8; ``run`` refuses, before training anything, a member list
that would not fit (the three Lites and the ResNet50 do).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from ml.engine.data import IMAGES_DIR, METADATA_NAME, Split, image_path, read_metadata
from ml.engine.manifest import SHIPPED_WEIGHTS_DIR, file_sha256

DEFAULT_SPLIT = SHIPPED_WEIGHTS_DIR / "efficientnet_lite0_ham10000.split.json"
SPLIT_NAME = "split.json"
# float16 bytes per member (measured from saved weights), to check what can come back.
FP16_MIB = {"tf_efficientnet_lite0": 6.6, "tf_efficientnet_lite1": 8.3, "tf_efficientnet_lite2": 9.7, "resnet50": 45.0}
PART_BYTES = 15 * 2**20
MAX_FILES = 8
MAX_TOTAL_MIB = 60.0
SCALE_SUFFIX = "::scale"
GPU_MEMBERS: dict[str, str] = {
    "efficientnet_lite0_ham10000": "tf_efficientnet_lite0",
    "efficientnet_lite1_ham10000": "tf_efficientnet_lite1",
    "efficientnet_lite2_ham10000": "tf_efficientnet_lite2",
}
RESNET_NAME = "resnet50_ham10000"
MANIFESTS_NAME = "manifests.json"


def split_fingerprint(split: Split) -> str:
    """sha256 of the split's sorted ids per side."""
    text = json.dumps([sorted(split.train), sorted(split.val), sorted(split.test)])
    return hashlib.sha256(text.encode()).hexdigest()


def pack(data: Path, out: Path, split_file: Path = DEFAULT_SPLIT) -> Path:
    """One uncompressed tar (the JPEGs are compressed already) of the images, the metadata and the split."""
    metadata = data / METADATA_NAME
    records = read_metadata(metadata)
    split = Split.load(split_file)
    known = {r.image_id for r in records}
    if not set(split.train + split.val + split.test) <= known:
        raise ValueError(f"{split_file} names images that {metadata} does not list")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:
        tar.add(metadata, arcname=METADATA_NAME)
        tar.add(split_file, arcname=SPLIT_NAME)
        for record in records:
            path = image_path(data / IMAGES_DIR, record.image_id)
            tar.add(path, arcname=f"{IMAGES_DIR}/{path.name}")
    return out


def unpack(pack_path: Path, folder: Path) -> Path:
    """The pack as a HAM10000-layout folder (images/, metadata, split.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(pack_path) as tar:
        tar.extractall(folder, filter="data")
    return folder


def check_sizes(architectures: Sequence[str]) -> None:
    """Refuse before training a set of members that could not all come back (files and MiB)."""
    sizes = [FP16_MIB.get(a, MAX_TOTAL_MIB) for a in architectures]
    trip = [size / 2 if size * 2**20 > PART_BYTES else size for size in sizes]  # big ones travel as int8
    files = sum(max(1, math.ceil(size * 2**20 / PART_BYTES)) for size in trip) + 2  # + manifests.json + log
    if sum(trip) > MAX_TOTAL_MIB or files > MAX_FILES:
        raise ValueError(
            f"the weights of {list(architectures)} ({sum(trip):.0f} MiB in {files} files) cannot come back from the "
            f"device machine (at most {MAX_TOTAL_MIB:g} MiB in {MAX_FILES} files); train fewer members per run"
        )


def run(
    pack_path: Path,
    out: Path,
    minutes: float,
    *,
    members: Sequence[str],
    with_resnet50: bool,
    image_size: tuple[int, int],
    device: str,
    work: Path,
    epochs: int,
    batch_size: int,
) -> list[Path]:
    """Train every member (then the distilled ResNet50) within ``minutes``; weights and manifests into ``out``."""
    from ml.engine.training.config import TrainConfig
    from ml.engine.training.train import train

    architectures = [GPU_MEMBERS[m] for m in members] + (["resnet50"] if with_resnet50 else [])
    check_sizes(architectures)
    started = time.time()
    data = unpack(pack_path, work / "ham10000")
    trained = work / "weights"
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "recipe.log").open("a")
    shares = [1.0] * len(members) + ([1.5] if with_resnet50 else [])
    written: list[Path] = []
    base = TrainConfig(
        data=str(data),
        out_dir=str(trained),
        runs_dir=str(work / "runs"),
        split_file=str(data / SPLIT_NAME),
        image_size=image_size,
        device=device,
        epochs=epochs,
        batch_size=batch_size,
        lr=1e-3,
        freeze_blocks=0,
        class_weight_power=0.3,
        select="mean",
        patience=epochs,
        fp16_weights=True,
        calibrate_and_evaluate=False,
        progress=False,
        eval_batch_size=256,
    )
    for index, name in enumerate(members):
        budget = _share(minutes, started, shares, index)
        config = replace(base, arch=GPU_MEMBERS[name], output=name, time_budget_min=budget, command=_command(name))
        written.append(_train_logged(train, config, log))
    if with_resnet50:
        # The teacher is the mean of the members just trained (their soft targets, computed once).
        teacher = _mean_teacher(trained, members)
        config = replace(
            base,
            arch="resnet50",
            output=RESNET_NAME,
            pretrained="none",
            lr=2e-3,
            teacher=str(teacher),
            distill_alpha=0.7,
            time_budget_min=_share(minutes, started, shares, len(members)),
            command=_command(RESNET_NAME),
        )
        written.append(_train_logged(train, config, log))
    log.write(f"recipe finished in {(time.time() - started) / 60:.1f} min\n")
    log.close()
    return collect(written, out)


def collect(manifest_paths: Sequence[Path], out: Path) -> list[Path]:
    """What comes back: each member's weights in files of at most 15 MiB, one ``manifests.json``, the log.

    Members too big for one file (the ResNet50) travel as int8 with a scale per output channel
    (``quantise_for_trip``); ``finish`` turns them back into float16 here, and the evaluation on
    the CPU measures exactly the weights that are then shipped.
    """
    from safetensors.torch import load_file, save_file

    manifests = {}
    files = []
    for path in manifest_paths:
        manifest = json.loads(path.read_text())
        manifest["training"]["split_fingerprint"] = split_fingerprint(Split.load(path.parent / manifest["split_file"]))
        state = load_file(str(path.parent / manifest["weights_file"]))
        if sum(t.numel() * t.element_size() for t in state.values()) > PART_BYTES:
            state = quantise_for_trip(state)
            manifest["training"]["trip"] = "int8 per output channel"
        parts = []
        for index, chunk in enumerate(_chunks(state, PART_BYTES)):
            name = f"{manifest['name']}.part{index}.safetensors"
            save_file(chunk, str(out / name))
            parts.append(name)
            files.append(out / name)
        manifest["training"]["trip_parts"] = parts
        manifests[manifest["name"]] = manifest
    (out / MANIFESTS_NAME).write_text(json.dumps(manifests, indent=1) + "\n")
    return [*files, out / MANIFESTS_NAME]


def quantise_for_trip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights of 2+ dimensions as int8 with one float32 scale per output channel (``KEY::scale``)."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if tensor.is_floating_point() and tensor.dim() >= 2:
            flat = tensor.float().reshape(tensor.shape[0], -1)
            scale = flat.abs().amax(dim=1).clamp(min=1e-12) / 127.0
            out[key] = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8).reshape(tensor.shape)
            out[f"{key}{SCALE_SUFFIX}"] = scale
        else:
            out[key] = tensor
    return out


def restore_from_trip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of ``quantise_for_trip`` (as float16); plain states pass through."""
    out = {}
    for key, tensor in state.items():
        if key.endswith(SCALE_SUFFIX):
            continue
        scale = state.get(f"{key}{SCALE_SUFFIX}")
        if scale is not None:
            shape = tensor.shape
            tensor = (tensor.float().reshape(shape[0], -1) * scale[:, None]).reshape(shape).to(torch.float16)
        out[key] = tensor
    return out


def _chunks(state: dict[str, torch.Tensor], limit: int) -> list[dict[str, torch.Tensor]]:
    chunks: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if chunks[-1] and size + nbytes > limit:
            chunks.append({})
            size = 0
        chunks[-1][key] = tensor.contiguous()
        size += nbytes
    return chunks


def _share(minutes: float, started: float, shares: Sequence[float], index: int) -> float:
    """What is left of the budget, split by the shares of the runs still to go."""
    left = minutes - (time.time() - started) / 60
    return max(0.05, left * shares[index] / sum(shares[index:]))


def _command(name: str) -> str:
    return f"python -m ml.engine.training.gpu_recipe run ({name}): " + " ".join(sys.argv[1:])


def _train_logged(train_fn, config, log) -> Path:  # type: ignore[no-untyped-def]
    started = time.time()
    result = train_fn(config)
    best = {k: round(v, 4) for k, v in result.best_val.items() if k.startswith("val_")}
    log.write(
        f"{config.output}: {config.arch} {config.image_size} best epoch {result.best_epoch}, validation {best}, "
        f"{(time.time() - started) / 60:.1f} min\n"
    )
    log.flush()
    return Path(result.manifest_path)


def _mean_teacher(folder: Path, members: Sequence[str]) -> Path:
    """An ensemble manifest (mean of calibrated probabilities) over the members, as a distillation teacher."""
    from ml.engine.inference.ensemble_manifest import EnsembleManifest
    from ml.engine.manifest import Manifest

    loaded = [Manifest.load(folder / f"{m}.json") for m in members]
    teacher = EnsembleManifest(
        name="gpu_teacher",
        members=[{"name": m.name, "manifest": f"{m.name}.json", "weights_sha256": m.weights_sha256} for m in loaded],
        input_size=list(loaded[0].input_size),
    )
    # Beside the members, which it names relative to itself.
    return teacher.write(folder / "gpu_teacher.json")


def finish(source: Path, data: Path, weights_dir: Path = SHIPPED_WEIGHTS_DIR) -> list[str]:
    """Put the returned members into the weights folder, then calibrate and evaluate each on the CPU.

    The members were trained on the split that travelled in the pack, the project's saved split:
    each manifest is pointed at that file here (checked to be the same split).
    """
    from safetensors.torch import load_file, save_file

    from ml.engine.training.calibrate import main as calibrate_main

    split_name = DEFAULT_SPLIT.name
    expected = split_fingerprint(Split.load(weights_dir / split_name))
    names = []
    for name, manifest in json.loads((source / MANIFESTS_NAME).read_text()).items():
        if manifest["training"].get("split_fingerprint") != expected:
            raise ValueError(f"{name} was trained on another split than {split_name}: not taken")
        manifest["split_file"] = split_name
        state: dict[str, torch.Tensor] = {}
        for part in manifest["training"]["trip_parts"]:
            state.update(load_file(str(source / part)))
        weights = weights_dir / manifest["weights_file"]
        save_file(restore_from_trip(state), str(weights), metadata={"name": name})
        manifest["weights_sha256"] = file_sha256(weights)
        manifest["weights_dtype"] = "float16"
        (weights_dir / f"{name}.json").write_text(json.dumps(manifest, indent=2) + "\n")
        calibrate_main(["--model", str(weights_dir / f"{name}.json"), "--data", str(data), "--evaluate-test"])
        names.append(name)
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.engine.training.gpu_recipe", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="pack images, metadata and split for the trip")
    p.add_argument("--data", required=True)
    p.add_argument("--out", default=".carry/ham10000.tar")
    p.add_argument("--split-file", default=str(DEFAULT_SPLIT))
    r = commands.add_parser("run", help="train the recipe (on the GPU machine)")
    r.add_argument("--pack", required=True)
    r.add_argument("--out", required=True, help="output folder (the device tool's $OUT)")
    r.add_argument("--minutes", type=float, default=9.0, help="wall-clock budget for all training")
    r.add_argument("--members", nargs="+", default=list(GPU_MEMBERS), choices=list(GPU_MEMBERS))
    r.add_argument("--with-resnet50", action="store_true", help="then distil a ResNet50 from the members")
    r.add_argument("--image-size", type=int, nargs=2, default=[288, 384], metavar=("H", "W"))
    r.add_argument("--epochs", type=int, default=40, help="schedule length (the time budget may end it first)")
    r.add_argument("--batch-size", type=int, default=64)
    r.add_argument("--device", default="cuda")
    r.add_argument("--work", default="/tmp/dermatrack-gpu", help="scratch folder (unpacked data, checkpoints)")
    f = commands.add_parser("finish", help="calibrate and evaluate the returned members on the CPU")
    f.add_argument("--from", dest="source", required=True, help="folder the device run's files came back to")
    f.add_argument("--data", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "pack":
        path = pack(Path(args.data), Path(args.out), Path(args.split_file))
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    elif args.command == "run":
        written = run(
            Path(args.pack),
            Path(args.out),
            args.minutes,
            members=args.members,
            with_resnet50=args.with_resnet50,
            image_size=(args.image_size[0], args.image_size[1]),
            device=args.device,
            work=Path(args.work),
            epochs=args.epochs,
            batch_size=args.batch_size,
        )
        print("wrote " + ", ".join(str(p) for p in written))
    else:
        print("calibrated and evaluated: " + ", ".join(finish(Path(args.source), Path(args.data))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
