"""Speed of MixDVAE separation (used by ``benchmarks/run.py``).

    python -m mixseq_audio.benchmark [--batch 16] [--frames 50] [--iterations 70] [--device cpu]
                                     [--threads 1]

The input is the bundled demo mixture (:mod:`mixseq_audio.demo`), cut circularly into
``n_batch`` sequences of ``n_frames`` STFT frames, each peak-normalised (the paper's
protocol). EM runs exactly ``iterations`` iterations (no early stop), so that times compare
across versions. Reported: wall seconds, process CPU seconds, both per sequence and per second
of audio, and the quality reached (mean SI-SDR per source, final ELBO per frame).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

from mixseq_audio.demo import load_demo

__all__ = ["demo_batch", "separation_speed"]


def demo_batch(n_batch: int, n_frames: int, *, hop: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_batch`` excerpts of the demo mixture, shape ``(batch, samples)``, and references ``(batch, 2, samples)``.

    Excerpt ``i`` starts ``i`` seconds·0.37 into the (circularly repeated) demo signals.
    """
    mixture, references, rate = load_demo()
    sources = torch.stack([references["speech"], references["flute"]])
    n_samples = (n_frames - 1) * hop
    length = mixture.shape[-1]
    starts = [int(0.37 * rate * i) % length for i in range(n_batch)]
    index = (torch.tensor(starts)[:, None] + torch.arange(n_samples)[None, :]) % length
    return mixture[index], sources[:, index].transpose(0, 1)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def separation_speed(n_batch: int, n_frames: int, iterations: int, device: str = "cpu") -> dict[str, Any]:
    """Time MixDVAE (DVAE-init + ``iterations`` EM iterations) on a batch of demo excerpts.

    Returns ``seconds_per_sequence``, ``seconds`` (wall), ``cpu_seconds`` (this process),
    ``seconds_per_audio_second`` and ``cpu_seconds_per_audio_second``, and ``quality``:
    ``si_sdr_speech``, ``si_sdr_flute`` (dB, means) and ``elbo_per_frame``.
    """
    from mixseq_audio.metrics import si_sdr
    from mixseq_audio.separation import Separator

    target = torch.device(device)
    separator = Separator(("speech", "flute"), device=target, iterations=iterations, tolerance=None)
    waves, references = demo_batch(n_batch, n_frames)
    peak = waves.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12)  # excerpts are never silent
    normalized = (waves / peak).to(target)
    warm = separator.stft(normalized[:1, : 10 * 256])
    separator.separate_spectrograms(warm, iterations=min(iterations, 2))
    _synchronize(target)
    wall, cpu = time.perf_counter(), time.process_time()
    spectrogram = separator.stft(normalized)
    result = separator.separate_spectrograms(spectrogram, generator=separator._generator(0))
    estimates = separator.stft.inverse(result.sources, length=waves.shape[-1])
    _synchronize(target)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scores = si_sdr(estimates.cpu(), references)
    audio_seconds = n_batch * waves.shape[-1] / separator.sample_rate
    elbo = result.elbo[-1].mean().item() / n_frames if result.elbo.numel() else float("nan")
    return {
        "seconds_per_sequence": wall / n_batch,
        "seconds": wall,
        "cpu_seconds": cpu,
        "seconds_per_audio_second": wall / audio_seconds,
        "cpu_seconds_per_audio_second": cpu / audio_seconds,
        "quality": {
            "si_sdr_speech": float(scores[:, 0].mean()),
            "si_sdr_flute": float(scores[:, 1].mean()),
            "elbo_per_frame": elbo,
        },
    }


def main() -> None:
    """Print one JSON line per configuration."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[16])
    parser.add_argument("--frames", type=int, nargs="+", default=[50])
    parser.add_argument("--iterations", type=int, default=70)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for n_frames in args.frames:
        for n_batch in args.batch:
            outcome = separation_speed(n_batch, n_frames, args.iterations, args.device)
            print(json.dumps({"n_batch": n_batch, "n_frames": n_frames, "iterations": args.iterations,
                              "device": args.device, "threads": torch.get_num_threads(), **outcome}))


if __name__ == "__main__":
    main()
