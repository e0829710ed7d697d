"""How MixDVAE's separation quality evolves over EM iterations, and the stopping rule.

    python benchmarks/audio_iterations.py [--mixtures data/audio/mixtures/valid] [--lengths 50 300]
        [--iterations 70] [--tolerances 1e-2 3e-3 1e-3 3e-4 1e-4] [--patience 1 2 3] [--threads 1]

Runs 70 EM iterations (no early stop) on the *valid* mixtures cut into sequences of
``--lengths`` frames (each peak-normalised), records the SI-SDR of the posterior means of
both sources after every iteration and each sequence's ELBO trace, then replays the ELBO
stopping rule (relative change below ``tolerance`` for ``patience`` iterations) offline per
sequence. The defaults of :mod:`mixseq_audio.separation` are chosen from this table.

Writes ``benchmarks/output/audio_iterations.md`` and prints it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

from mixseq.interfaces import Gaussian
from mixseq_audio.metrics import si_sdr
from mixseq_audio.mixtures import mixture_sequences
from mixseq_audio.observation import STFTObservationModel, observations_to_stft
from mixseq_audio.separation import Separator

HERE = Path(__file__).resolve().parent


class _Recorder(STFTObservationModel):
    """The STFT model plus a record of every iteration's posterior means (via ``m_step``)."""

    def __init__(self) -> None:
        super().__init__()
        self.means: list[Tensor] = []

    def m_step(self, obs: Tensor, obs_mask: Tensor, assignments: Tensor, posterior: Gaussian) -> None:
        self.means.append(posterior.mean.detach().clone())


def stop_iteration(elbo: Tensor, tolerance: float, patience: int) -> Tensor:
    """Per sequence, the iteration count at which the engine's ELBO rule stops. ``elbo``: ``(iteration, n)``."""
    n_iter, n = elbo.shape
    stops = torch.full((n,), n_iter, dtype=torch.long)
    calm = torch.zeros(n, dtype=torch.long)
    done = torch.zeros(n, dtype=torch.bool)
    for i in range(1, n_iter):
        change = (elbo[i] - elbo[i - 1]).abs() / elbo[i - 1].abs().clamp_min(1e-12)
        calm = torch.where(change < tolerance, calm + 1, torch.zeros_like(calm))
        hit = (calm >= patience) & ~done
        stops[hit] = i + 1
        done |= hit
    return stops


def run(args: argparse.Namespace) -> str:
    options = {"init": args.init, "assignments": args.assignments, "power_sample": args.power_sample}
    lines = ["# MixDVAE on the valid mixtures: SI-SDR over EM iterations", "",
             f"Command: `python {' '.join(sys.argv)}`  ",
             f"Options {options}; {args.iterations} EM iterations after the DVAE-init, no early stop; SI-SDR (dB) "
             "of the posterior means, mean over sequences (iteration 0: the DVAE-init estimate); the ELBO "
             "stopping rule replayed per sequence.", ""]
    checkpoints = args.sources.split(",")
    offset = 1 if args.init == "mixture" else 0  # engine iterations spent on the DVAE-init
    for n_frames in args.lengths:
        mix, refs = mixture_sequences(args.mixtures, n_frames)
        if args.limit:
            mix, refs = mix[: args.limit], refs[: args.limit]
        recorder = _Recorder()
        separator = Separator(checkpoints, iterations=args.iterations, tolerance=None, **options)
        separator.engine.observation_model = separator.observation_model = recorder
        n = mix.shape[0]
        traces, elbos = [], []
        start = time.process_time()
        for first in range(0, n, args.batch):
            wave = mix[first : first + args.batch]
            ref = refs[first : first + args.batch]
            recorder.means.clear()
            spec = separator.stft(wave)
            out = separator.separate_spectrograms(spec, generator=separator._generator(first))
            per_iter = [si_sdr(separator.stft.inverse(observations_to_stft(m), length=wave.shape[-1]), ref)
                        for m in recorder.means]
            if not offset:
                init = separator.separate_spectrograms(spec, iterations=0, generator=separator._generator(first))
                per_iter.insert(0, si_sdr(separator.stft.inverse(init.sources, length=wave.shape[-1]), ref))
            traces.append(torch.stack(per_iter))  # (1 + iterations, batch, 2): row 0 is the DVAE-init
            elbos.append(out.elbo.double())
        seconds = time.process_time() - start
        trace = torch.cat(traces, dim=1)
        elbo = torch.cat(elbos, dim=1)  # (engine iterations, n)
        mixture_score = si_sdr(mix.unsqueeze(1).expand_as(refs), refs)
        mean = trace.mean(1)
        avg = mean.mean(-1)
        best = int(avg.argmax())
        lines += [f"## T = {n_frames} frames: {n} sequences ({seconds:.0f} s CPU)", "",
                  f"Mixture: speech {mixture_score[:, 0].mean():.2f}, flute {mixture_score[:, 1].mean():.2f} dB. "
                  f"Best mean of the two after {best} EM iteration(s).", "",
                  "| EM iterations | speech | flute | mean |", "|---|---|---|---|"]
        shown = sorted({0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 50, 60, args.iterations, best})
        for i in shown:
            if i < mean.shape[0]:
                lines.append(f"| {i} | {mean[i, 0]:.2f} | {mean[i, 1]:.2f} | {avg[i]:.2f} |")
        lines += ["", "ELBO stopping rule (at most `cap` EM iterations):", "",
                  "| tolerance | patience | cap | mean stop | speech | flute | mean |", "|---|---|---|---|---|---|---|"]
        for cap in args.caps:
            for tolerance in args.tolerances:
                for patience in args.patience:
                    stops = stop_iteration(elbo[: cap + offset], tolerance, patience) - offset
                    stops = stops.clamp(0, cap)
                    chosen = trace[stops, torch.arange(trace.shape[1])]  # (n, 2)
                    lines.append(f"| {tolerance:g} | {patience} | {cap} | {stops.double().mean():.1f} | "
                                 f"{chosen[:, 0].mean():.2f} | {chosen[:, 1].mean():.2f} | {chosen.mean():.2f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixtures", type=Path, default=Path("data/audio/mixtures/valid"))
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 300])
    parser.add_argument("--iterations", type=int, default=70)
    parser.add_argument("--caps", type=int, nargs="+", default=[10, 20, 70])
    parser.add_argument("--tolerances", type=float, nargs="+", default=[1e-2, 3e-3, 1e-3, 3e-4, 1e-4])
    parser.add_argument("--patience", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--sources", default="speech,flute", help="as for mixseq separate (NAME=CHECKPOINT works)")
    parser.add_argument("--init", choices=("mixture", "wiener"), default="mixture")
    parser.add_argument("--assignments", choices=("uniform", "posterior"), default="uniform")
    parser.add_argument("--power-sample", choices=("gaussian", "uniform", "mean"), default="gaussian")
    parser.add_argument("--limit", type=int, default=None, help="at most this many sequences per length")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=HERE / "output" / "audio_iterations.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
