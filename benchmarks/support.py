"""Helpers of the benchmarks: verdicts, statistics, tables, machine facts, test photos, FLOPs."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from ml.engine.inference.classifier import available_cpus


@dataclass
class Verdict:
    target: str
    measured: str
    passed: bool
    note: str = ""


@dataclass
class Report:
    verdicts: list[Verdict] = field(default_factory=list)

    def check(self, target: str, measured: str, passed: bool, note: str = "") -> None:
        self.verdicts.append(Verdict(target, measured, passed, note))


def print_verdicts(report: Report) -> None:
    section("Targets")
    rows = [[v.target, v.measured, "PASS" if v.passed else "FAIL"] for v in report.verdicts]
    print(table(["target", "measured", "result"], rows))
    failed = [v for v in report.verdicts if not v.passed]
    print(f"\n{len(report.verdicts) - len(failed)} PASS, {len(failed)} FAIL")


def median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def p95(values: Sequence[float]) -> float:
    return float(np.percentile(values, 95)) if len(values) else float("nan")


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, so the output can go into the README as it is."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def section(title: str) -> None:
    print(f"\n### {title}\n", flush=True)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def other_heavy_processes() -> list[str]:
    """Processes that keep a CPU busy (training, tests, other benchmarks), which skew every number."""
    try:
        ps = subprocess.run(["ps", "-eo", "pid,pcpu,args"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return []
    found = []
    for line in ps.splitlines()[1:]:
        pid, pcpu, command = line.split(None, 2)
        if int(pid) != os.getpid() and (float(pcpu) >= 25.0 or "ml.engine.training.train" in command):
            found.append(f"{pcpu}% {command}")
    return found


def cpu_busy_percent(seconds: float = 1.0) -> float:
    """Share of all cores busy over a short sample (/proc/stat), taken while this process idles."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    try:
        busy_before, total_before = sample()
        time.sleep(seconds)
        busy_after, total_after = sample()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return 100.0 * (busy_after - busy_before) / max(1, total_after - total_before)


def print_machine(threads: int, background: list[str]) -> None:
    section("Machine")
    flags = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = [flag for flag in ("avx2", "avx512f", "amx_bf16") if f" {flag}" in cpuinfo]
        flags = f" ({', '.join(found)})" if found else ""
    except OSError:
        pass
    print(f"- CPU: {cpu_model()}{flags}; {available_cpus()} cores available to this process")
    print(f"- torch {torch.__version__}: {threads} intra-op threads, {torch.get_num_interop_threads()} inter-op")
    print(f"- OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), Pillow {Image.__version__}")
    print(f"- before the run: load average {os.getloadavg()[0]:.2f}, {fmt(cpu_busy_percent(), 0)}% of the CPUs busy")
    if background:
        print("- WARNING: other heavy processes were running when the benchmark started:")
        for line in background:
            print(f"  - `{line[:150]}`")
    else:
        print("- no training or other benchmark running alongside")


def photo_paths(folder: Path, limit: int | None) -> list[Path]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not paths:
        raise SystemExit(f"no photos in {folder}")
    return paths[:limit] if limit else paths


def phone_copies(paths: Sequence[Path], folder: Path, size: tuple[int, int]) -> list[Path]:
    """The photos upscaled to a phone's resolution (long side first) as JPEG quality 90."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in paths:
        with Image.open(path) as photo:
            rgb = photo.convert("RGB")
        target = size if rgb.width >= rgb.height else (size[1], size[0])
        copy = folder / f"{path.stem}_{target[0]}x{target[1]}.jpg"
        rgb.resize(target, Image.Resampling.BICUBIC).save(copy, "JPEG", quality=90)
        out.append(copy)
    return out


def gemm_gflops(n: int, repeats: int = 10) -> float:
    """Best fp32 rate of an n×n by n×n matrix product at the current thread count, in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best / 1e9


def proc_status_mb(key: str, pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"
