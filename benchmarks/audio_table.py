"""The paper's Table 3 on held-out data: speech + flute at −5 dB, T = 50, 100 and 300 frames.

    python benchmarks/audio_table.py [--mixtures data/audio/mixtures/test] [--lengths 50 100 300]
        [--no-pesq] [--no-paper] [--threads 1] [--quick]

Data: the test mixture set (:func:`mixseq_audio.mixtures.load_mixture_set`: 300-frame excerpts
of the held-out speech and flute splits at a speech-to-flute ratio of −5 dB) cut into
consecutive sequences of T frames; each sequence (mixture and references, one gain) is
peak-normalised, as in the paper. Sequences where a reference is more than 40 dB below the
mixture (nothing to separate) are dropped.

Methods, all weakly supervised by the same single-source training corpora
(``data/audio/{speech,flute}/train``):

* **MixDVAE** — :class:`mixseq_audio.separation.Separator` with its defaults (DVAE-init, then EM
  stopped by the ELBO rule within the default budget, chosen on the valid mixtures);
* **MixDVAE, paper form** — ``init="mixture"``, ``η = 1/N``, Gaussian power samples, 70
  iterations, no early stop;
* **DVAE-init** — the paper's initial estimate alone (E-Z on the mixture, one E-S step with
  ``η = 1/N``; 0 EM iterations);
* **DVAE Wiener filter** — ``init="wiener"`` alone: Wiener masks from each DVAE's variance
  on the mixture power (0 EM iterations);
* **VKF-DVAE-init** — the same EM and stopping rule with per-bin complex AR(1) Kalman dynamics
  (:class:`mixseq_audio.dynamics.ComplexAR1DynamicsModel`, fitted on the training corpora) in
  place of the DVAEs, started from the DVAE-init;
* **NMF**, **temporal NMF** — supervised IS-NMF with one dictionary per source
  (:mod:`mixseq_audio.baselines`), Wiener masks.

Scores per source: RMSE after optimal scaling, SI-SDR, SI-SDR improvement over the mixture,
wide-band PESQ. Writes ``benchmarks/output/audio_table.md`` and prints it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from mixseq_audio.baselines import NMFConfig, NMFSeparator
from mixseq_audio.data import load_segments, load_spectra
from mixseq_audio.dynamics import ComplexAR1DynamicsModel
from mixseq_audio.metrics import pesq_wb, rmse, si_sdr
from mixseq_audio.mixtures import mixture_sequences
from mixseq_audio.separation import DEFAULT_ITERATIONS, Separator
from mixseq_audio.transforms import STFT

HERE = Path(__file__).resolve().parent
SOURCES = ("speech", "flute")
#: NMF settings chosen on the valid mixtures (T = 100; 32 or 64 atoms per source, temporal weight
#: 0, 1, 10, 100: 32 atoms and weight 100 scored best).
NMF_COMPONENTS = 32
TEMPORAL_WEIGHT = 100.0


def _batched(method: Callable[[Tensor], Tensor], mix: Tensor, batch: int) -> Tensor:
    return torch.cat([method(mix[i : i + batch]) for i in range(0, mix.shape[0], batch)])


class Methods:
    """Every method as ``mixtures (n, samples) -> estimates (n, 2, samples)``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.iterations: dict[str, list[int]] = {}
        self.stft = STFT()
        self._mixdvae: Separator | None = None
        self._nmf: dict[float, NMFSeparator] = {}
        self._vkf: list[ComplexAR1DynamicsModel] | None = None

    def _separator(self, **overrides: object) -> Separator:
        return Separator(self.args.sources.split(","), **overrides)  # type: ignore[arg-type]

    def _em(self, name: str, separator: Separator) -> Callable[[Tensor], Tensor]:
        def run(mix: Tensor) -> Tensor:
            spec = self.stft(mix)
            out = separator.separate_spectrograms(spec, generator=separator._generator(0))
            self.iterations.setdefault(name, []).append(out.n_iterations)
            return self.stft.inverse(out.sources, length=mix.shape[-1])

        return run

    def mixdvae(self) -> Callable[[Tensor], Tensor]:
        return self._em("MixDVAE", self._separator())

    def mixdvae_paper(self) -> Callable[[Tensor], Tensor]:
        return self._em("MixDVAE, paper form (70 iterations)",
                        self._separator(init="mixture", assignments="uniform", power_sample="gaussian",
                                        iterations=70, tolerance=None))

    def dvae_init(self) -> Callable[[Tensor], Tensor]:
        return self._em("DVAE-init (0 iterations)", self._separator(init="mixture", iterations=0))

    def dvae_wiener(self) -> Callable[[Tensor], Tensor]:
        return self._em("DVAE Wiener filter (init='wiener', 0 iterations)",
                        self._separator(init="wiener", iterations=0))

    def vkf(self) -> Callable[[Tensor], Tensor]:
        if self._vkf is None:
            self._vkf = [ComplexAR1DynamicsModel.fit(load_segments(self.args.corpora / s, "train")) for s in SOURCES]
        return self._em("VKF-DVAE-init", self._separator(dynamics=self._vkf))

    def nmf(self, temporal_weight: float, n_components: int = NMF_COMPONENTS) -> Callable[[Tensor], Tensor]:
        key = (temporal_weight, n_components)
        if key not in self._nmf:
            config = NMFConfig(n_components=n_components, temporal_weight=temporal_weight)
            cache = self.args.cache / f"nmf-{n_components}-{temporal_weight:g}.pt"
            if cache.is_file():  # dictionaries learned by an earlier run with the same settings
                self._nmf[key] = NMFSeparator(list(torch.load(cache, weights_only=True)), config=config)
            else:
                corpora = [load_spectra(self.args.corpora / s / "train.npy") for s in SOURCES]
                fitted = NMFSeparator.fit(corpora, config=config, generator=torch.Generator().manual_seed(0))
                cache.parent.mkdir(parents=True, exist_ok=True)
                torch.save(list(fitted.dictionary.split(fitted.sizes, dim=1)), cache)
                self._nmf[key] = fitted
        separator = self._nmf[key]

        def run(mix: Tensor) -> Tensor:
            spec = self.stft(mix)
            return self.stft.inverse(separator(spec, generator=torch.Generator().manual_seed(0)), length=mix.shape[-1])

        return run


def scores(estimates: Tensor, references: Tensor, mixture: Tensor, with_pesq: bool) -> dict[str, Tensor]:
    """Per-sequence scores, each ``(n, 2)``."""
    out = {"rmse": rmse(estimates, references), "si_sdr": si_sdr(estimates, references)}
    out["si_sdri"] = out["si_sdr"] - si_sdr(mixture.unsqueeze(1).expand_as(references), references)
    if with_pesq:
        out["pesq"] = pesq_wb(estimates, references)
    return out


def table(rows: list[tuple[str, dict[str, Tensor], str, str]], with_pesq: bool) -> list[str]:
    metrics = ["rmse", "si_sdr", "si_sdri"] + (["pesq"] if with_pesq else [])
    labels = {"rmse": "RMSE", "si_sdr": "SI-SDR", "si_sdri": "SI-SDRi", "pesq": "PESQ"}
    head = [f"{s} {labels[m]}" for s in SOURCES for m in metrics]
    lines = ["| method | " + " | ".join(head) + " | EM it. | CPU s/seq |", "|---" * (len(head) + 3) + "|"]
    for name, values, iterations, speed in rows:
        cells = []
        for j in range(len(SOURCES)):
            for m in metrics:
                v = values[m][:, j].double().mean()
                cells.append(f"{v:.3f}" if m == "rmse" else f"{v:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {iterations} | {speed} |")
    return lines


def run(args: argparse.Namespace) -> str:
    methods = Methods(args)
    plan: list[tuple[str, Callable[[], Callable[[Tensor], Tensor]]]] = [
        ("MixDVAE", methods.mixdvae),
        ("DVAE-init (0 iterations)", methods.dvae_init),
        ("DVAE Wiener filter (init='wiener', 0 iterations)", methods.dvae_wiener),
        ("VKF-DVAE-init", methods.vkf),
        ("NMF", lambda: methods.nmf(0.0)),
        ("temporal NMF", lambda: methods.nmf(TEMPORAL_WEIGHT)),
    ]
    if args.paper:
        plan.insert(1, ("MixDVAE, paper form (70 iterations)", methods.mixdvae_paper))
    lines = ["# Single-channel separation of speech and flute (paper Table 3 columns)", "",
             f"Command: `python {' '.join(sys.argv)}`  ",
             f"Test mixtures `{args.mixtures}` (held-out speech and flute, −5 dB speech-to-flute), cut into T-frame "
             "sequences, each peak-normalised; means over sequences. SI-SDRi: improvement over the mixture. "
             f"MixDVAE default: at most {DEFAULT_ITERATIONS} EM iterations with the ELBO stopping rule "
             "(chosen on the valid mixtures, `benchmarks/output/audio_iterations.md`). CPU seconds of this "
             f"process per sequence, {torch.get_num_threads()} thread(s), on a shared machine.", ""]
    for n_frames in args.lengths:
        mix, refs = mixture_sequences(args.mixtures, n_frames)
        if args.quick:
            mix, refs = mix[:16], refs[:16]
        rows = [("mixture", scores(mix.unsqueeze(1).expand_as(refs).contiguous(), refs, mix, args.pesq), "-", "-")]
        for name, make in plan:
            method = make()
            methods.iterations.pop(name, None)
            start = time.process_time()
            estimates = _batched(method, mix, args.batch)
            seconds = time.process_time() - start
            if not bool(torch.isfinite(estimates).all()):
                raise RuntimeError(f"{name}: non-finite estimates")
            its = methods.iterations.get(name)
            iterations = "-" if its is None else (str(its[0]) if len(set(its)) == 1 else f"{min(its)}–{max(its)}")
            rows.append((name, scores(estimates, refs, mix, args.pesq), iterations, f"{seconds / mix.shape[0]:.3f}"))
            print(f"T={n_frames} {name}: {seconds:.0f} s", file=sys.stderr)
        lines += [f"## T = {n_frames} frames ({(n_frames - 1) * 256 / 16000:.2f} s): {mix.shape[0]} sequences", ""]
        lines += table(rows, args.pesq)
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixtures", type=Path, default=Path("data/audio/mixtures/test"))
    parser.add_argument("--corpora", type=Path, default=Path("data/audio"), help="folder of the speech/flute corpora")
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 300])
    parser.add_argument("--sources", default="speech,flute", help="as for mixseq separate (NAME=CHECKPOINT works)")
    parser.add_argument("--cache", type=Path, default=Path("runs/audio/baselines"),
                        help="folder for the learned NMF dictionaries (reused when present)")
    parser.add_argument("--no-pesq", dest="pesq", action="store_false")
    parser.add_argument("--no-paper", dest="paper", action="store_false", help="skip the 70-iteration row")
    parser.add_argument("--batch", type=int, default=64, help="sequences per EM run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="16 sequences per length")
    parser.add_argument("--output", type=Path, default=HERE / "output" / "audio_table.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
