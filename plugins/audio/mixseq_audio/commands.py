"""The ``mixseq`` subcommands of the audio plugin.

``mixseq separate MIX --sources speech,flute --output-dir DIR [--iterations K] [--device D] [--plot]``
separates a mixture with MixDVAE (:mod:`mixseq_audio.separation`) and writes one file per
source, ``DIR/<source>.wav`` (32-bit float WAV, never clipped), at the input's sample rate and
length. Inputs are handled as :func:`~mixseq_audio.audioio.read_audio` documents: any format
libsndfile reads; several channels are mixed down and other rates resampled to 16 kHz (both
reported on standard error); a silent input gives silent sources; a clipped input is separated
with a warning; files shorter than one STFT window (1024 samples at 16 kHz), missing, empty or
non-audio files are errors. Long files are separated in overlapping chunks, batch by batch.
Every output file is written to a temporary name first and all are moved into place only once
every one of them is complete: a failure never leaves a partial result.

``mixseq evaluate-separation --reference REF.wav --estimate EST.wav [--mixture MIX.wav] [--json]``
scores an estimate against its reference: SI-SDR, RMSE after optimal scaling and wide-band
PESQ. Both files go through :func:`mixseq_audio.audioio.read_audio` (any format, mixed down to
mono, resampled to 16 kHz); when their lengths differ, the common beginning is scored and an
:class:`~mixseq.errors.InputWarning` says so.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from mixseq.errors import InputWarning

__all__ = ["configure_evaluate", "configure_separate", "run_evaluate", "run_separate"]

EVALUATE_HELP = "score a separated source against its reference (SI-SDR, RMSE, PESQ)"
SEPARATE_HELP = "separate a single-channel mixture into its sources with MixDVAE (speech, flute)"
#: ``--plot`` draws at most this many seconds (a spectrogram of an hour is unreadable anyway).
PLOT_SECONDS = 30.0


def configure_evaluate(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mixseq evaluate-separation``."""
    parser.add_argument("--reference", type=Path, required=True, help="the true source (any audio file)")
    parser.add_argument("--estimate", type=Path, required=True, help="the separated source (any audio file)")
    parser.add_argument("--mixture", type=Path, default=None, help="the mixture, to report the SI-SDR improvement")
    parser.add_argument("--no-pesq", action="store_true", help="skip PESQ (the slowest score)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run_evaluate(args: argparse.Namespace) -> int:
    """Print the scores; return 0. Raises :class:`~mixseq.errors.InputError` on unusable files."""
    from mixseq_audio.audioio import read_audio
    from mixseq_audio.metrics import separation_scores

    paths = {"reference": args.reference, "estimate": args.estimate}
    if args.mixture is not None:
        paths["mixture"] = args.mixture
    waves = {name: read_audio(path).waveform for name, path in paths.items()}
    lengths = {name: wave.shape[-1] for name, wave in waves.items()}
    n_samples = min(lengths.values())
    if len(set(lengths.values())) > 1:
        warnings.warn(
            f"lengths differ ({', '.join(f'{k} {v}' for k, v in lengths.items())} samples at 16 kHz); "
            f"scoring the first {n_samples}",
            InputWarning,
            stacklevel=2,
        )
    waves = {name: wave[:n_samples] for name, wave in waves.items()}
    scores = separation_scores(
        waves["estimate"], waves["reference"], mixture=waves.get("mixture"), with_pesq=not args.no_pesq
    )
    result: dict[str, object] = {name: str(path) for name, path in paths.items()}
    result.update({"sample_rate": 16000, "samples": n_samples})
    result.update({name: round(float(value), 4) for name, value in scores.items()})
    if args.json:
        print(json.dumps(result))
        return 0
    labels = {"si_sdr": ("SI-SDR", "dB"), "si_sdr_improvement": ("SI-SDR improvement", "dB"),
              "rmse": ("RMSE (scaled)", ""), "pesq": ("PESQ (wide-band)", "")}  # fmt: skip
    for key, (label, unit) in labels.items():
        if key in scores:
            print(f"{label:<20} {float(scores[key]):8.3f} {unit}".rstrip())
    return 0


def configure_separate(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mixseq separate``."""
    from mixseq_audio.separation import DEFAULT_ITERATIONS, KNOWN_SOURCES

    parser.add_argument("mixture", type=Path, help="the mixture (any audio file; mono, or mixed down)")
    parser.add_argument("--sources", default="speech,flute",
                        help=f"comma-separated source names ({', '.join(sorted(KNOWN_SOURCES))}) or NAME=CHECKPOINT "
                             "items (default: speech,flute)")
    parser.add_argument("--output-dir", type=Path, required=True, help="folder for <source>.wav (created)")
    parser.add_argument("--iterations", type=int, default=None,
                        help=f"most EM iterations (default {DEFAULT_ITERATIONS}, stopping earlier on the ELBO; "
                             "70 with --no-early-stop is the paper's form; 0: the DVAE-init estimate)")
    parser.add_argument("--no-early-stop", action="store_true", help="always run --iterations (no ELBO rule)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    parser.add_argument("--max-batch", type=int, default=None, help="chunks separated together (memory bound)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the DVAE samples (default 0)")
    parser.add_argument("--plot", action="store_true",
                        help=f"also save DIR/separation.png: spectrograms of mixture and sources and the masks "
                             f"(first {PLOT_SECONDS:.0f} s)")


def _note(message: str) -> None:
    print(f"mixseq: note: {message}", file=sys.stderr)


def run_separate(args: argparse.Namespace) -> int:
    """Separate ``args.mixture`` and write one file per source; return 0.

    Raises :class:`~mixseq.errors.InputError` on unusable input (nothing is written then).
    """
    import contextlib

    import soundfile as sf
    import torch

    from mixseq.errors import InputError
    from mixseq.fileio import atomic_path
    from mixseq_audio.audioio import read_audio, resample
    from mixseq_audio.separation import SeparationConfig, Separator, parse_sources

    parse_sources(args.sources)  # unknown names fail before any work
    overrides: dict[str, object] = {"seed": args.seed}
    if args.iterations is not None:
        if args.iterations < 0:
            raise InputError(f"--iterations: expected an integer >= 0, got {args.iterations}")
        overrides["iterations"] = args.iterations
    if args.no_early_stop:
        overrides["tolerance"] = None
    if args.max_batch is not None:
        overrides["max_batch"] = args.max_batch
    config = SeparationConfig(**overrides)  # type: ignore[arg-type]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputWarning)
        clip = read_audio(args.mixture)
    for warning in caught:
        _note(str(warning.message))
    separator = Separator(args.sources, config=config, device=args.device)
    result = separator.separate(clip.waveform, progress=not args.quiet, with_masks=args.plot)
    n_out = sf.info(str(args.mixture)).frames
    rate = clip.original_sample_rate
    outputs: dict[str, torch.Tensor] = {}
    for name, wave in result.sources.items():
        wave = resample(wave, separator.sample_rate, rate) if rate != separator.sample_rate else wave
        wave = torch.nn.functional.pad(wave, (0, max(n_out - wave.shape[-1], 0)))[:n_out]
        if not bool(torch.isfinite(wave).all()):
            raise InputError(f"{args.mixture}: the separated {name} is not finite; nothing was written")
        outputs[name] = wave.contiguous()
    directory: Path = args.output_dir
    directory.mkdir(parents=True, exist_ok=True)
    figure = directory / "separation.png" if args.plot else None
    with contextlib.ExitStack() as stack:  # every file complete before any is moved into place
        for name, wave in outputs.items():
            tmp = stack.enter_context(atomic_path(directory / f"{name}.wav"))
            sf.write(tmp, wave.numpy(), rate, subtype="FLOAT", format="WAV")
        if figure is not None:
            _plot(stack.enter_context(atomic_path(figure)), result, separator)
    iterations = sorted(set(result.n_iterations))
    print(f"separated {args.mixture} ({n_out / rate:.2f} s at {rate} Hz) into {', '.join(outputs)}: "
          f"{result.n_chunks} chunk(s), {'/'.join(map(str, iterations))} EM iteration(s)")
    for name in outputs:
        print(f"  {name}: {directory / f'{name}.wav'}")
    if figure is not None:
        print(f"  plot: {figure}")
    return 0


def _plot(path: Path, result: object, separator: object) -> None:
    """Spectrograms of the mixture and sources and the masks (first :data:`PLOT_SECONDS`)."""
    from mixseq_audio.plotting import plot_separation
    from mixseq_audio.separation import Separation, Separator

    assert isinstance(result, Separation) and isinstance(separator, Separator)
    n_samples = int(PLOT_SECONDS * result.sample_rate)
    mixture = separator.stft(result.mixture[:n_samples])
    sources = {name: separator.stft(wave[:n_samples]) for name, wave in result.sources.items()}
    n_frames = mixture.shape[-1]
    masks = {name: mask[:, :n_frames] for name, mask in (result.masks or {}).items()}
    seconds = min(result.mixture.shape[-1], n_samples) / result.sample_rate
    plot_separation(path, mixture, sources, masks=masks, config=separator.stft.config,
                    title=f"MixDVAE separation ({seconds:.1f} s)")
