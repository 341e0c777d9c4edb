"""Throughput and memory figures: real (non-pad) tokens/s, padding waste, estimated MFU, peak memory."""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import torch

# Dense bf16 peak FLOP/s by GPU name fragment (vendor datasheets, without sparsity).
_PEAK_BF16 = {
    "H200": 989e12,
    "H100": 989e12,
    "GH200": 989e12,
    "B200": 2250e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
    "4090": 165e12,
    "3090": 71e12,
}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def peak_cuda_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def reset_cuda_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def device_peak_flops(device: torch.device) -> float | None:
    """Datasheet bf16 peak of the GPU, or None when unknown (CPUs: too varied to guess honestly)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for fragment, flops in _PEAK_BF16.items():
        if fragment in name:
            return flops
    return None


def cpu_has_native_bf16() -> bool:
    """Does this CPU compute bf16 natively (AVX512-BF16 or AMX)? Elsewhere bf16 is emulated and slow."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def train_flops_per_token(model: torch.nn.Module, mean_length: float) -> float:
    """Approximate training FLOPs per real token: 6 x non-embedding params + attention scores.

    Embedding lookups cost no multiply-adds, so they are left out (PaLM appendix B convention);
    attention adds 12 x layers x hidden x sequence length per token (forward + backward).
    """
    embedding = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    params = sum(p.numel() for p in model.parameters()) - embedding
    config = getattr(model, "config", None)
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "num_layers", 0) or 0
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", 0) or 0
    return 6.0 * params + 12.0 * layers * hidden * mean_length


def estimate_mfu(
    flops_per_token: float, tokens_per_s: float, device: torch.device, world_size: int = 1
) -> float | None:
    peak = device_peak_flops(device)
    if peak is None or tokens_per_s <= 0:
        return None
    return flops_per_token * tokens_per_s / (peak * world_size)


class RssSampler:
    """Peak RSS while a block runs, sampled by a background thread (ru_maxrss never goes down,
    so it cannot tell two phases of one process apart)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.start_mb = 0.0
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        import psutil

        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, process.memory_info().rss / 2**20)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        import psutil

        self.start_mb = self.peak_mb = psutil.Process().memory_info().rss / 2**20
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class Stopwatch:
    """Accumulated seconds over start/stop segments.

    On CUDA, ``stop`` waits for queued kernels first: the CPU runs ahead of the GPU, so without
    it the training segment would end early and its work would be billed to the next segment.
    Stops happen only where the loop synchronizes anyway (evaluation, checkpoint).
    """

    def __init__(self, device: torch.device | None = None) -> None:
        self.device = device
        self.total = 0.0
        self._start: float | None = None

    def start(self) -> None:
        self._start = time.perf_counter()

    def stop(self) -> None:
        if self._start is not None:
            if self.device is not None and self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.total += time.perf_counter() - self._start
            self._start = None


class Throughput:
    """Tokens and samples trained: in total (the fit's telemetry) and since the last evaluation (each
    history entry's rates, the progress bar's tokens/s). Per process: rates multiply by the ranks."""

    def __init__(self) -> None:
        self.real_tokens = self.padded_tokens = self.samples = 0
        self.new_window()

    def add(self, real_tokens: int, padded_tokens: int, samples: int) -> None:
        self.real_tokens += real_tokens
        self.padded_tokens += padded_tokens
        self.samples += samples
        self.window_tokens += real_tokens
        self.window_samples += samples

    def rates(self, world: int) -> tuple[float, float]:
        """(tokens/s, samples/s) over every rank since the window began."""
        seconds = max(time.perf_counter() - self.window_began, 1e-9)
        return self.window_tokens * world / seconds, self.window_samples * world / seconds

    def new_window(self) -> None:
        self.window_tokens = self.window_samples = 0
        self.window_began = time.perf_counter()


def fit_telemetry(
    train_seconds: float,
    totals: list,
    *,
    model: torch.nn.Module,
    train: Any,
    dev: torch.device,
    world: int,
    started: float,
    params: Any,
    bf16: bool,
    frozen_layers: int | None,
    schedule_shortened: bool,
    plan_waste: Callable[[], float],
) -> dict[str, Any]:
    """A fit's telemetry: ``totals`` are the real tokens, padded tokens and samples summed over ranks;
    ``plan_waste`` gives the batch plan's padding share when nothing was trained (a resumed, finished fit)."""
    real_tokens, padded_tokens, samples = totals
    tokens_per_s = real_tokens / train_seconds if train_seconds else 0.0
    flops = train_flops_per_token(model, float(train.lengths.mean()) if len(train) else 0.0)
    return {
        "tokens_per_s": tokens_per_s,
        "samples_per_s": samples / train_seconds if train_seconds else 0.0,
        "padding_waste": (1.0 - real_tokens / padded_tokens) if padded_tokens else plan_waste(),
        "peak_rss_mb": peak_rss_mb(),
        "peak_cuda_mb": peak_cuda_mb(dev),
        "est_mfu": estimate_mfu(flops, tokens_per_s, dev, world),
        "seconds": time.time() - started,
        "train_seconds": train_seconds,
        "real_tokens": int(real_tokens),
        "world_size": world,
        "compile": params.compile,
        "precision": "bf16" if bf16 else "fp32",
        "frozen_layers": frozen_layers,
        "schedule_shortened": schedule_shortened,
    }
