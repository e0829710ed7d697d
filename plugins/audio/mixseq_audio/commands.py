"""The ``mixseq`` subcommands of the audio plugin.

``mixseq evaluate-separation --reference REF.wav --estimate EST.wav [--mixture MIX.wav] [--json]``
scores an estimate against its reference: SI-SDR, RMSE after optimal scaling and wide-band
PESQ. Both files go through :func:`mixseq_audio.audioio.read_audio` (any format, mixed down to
mono, resampled to 16 kHz); when their lengths differ, the common beginning is scored and an
:class:`~mixseq.errors.InputWarning` says so.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from mixseq.errors import InputWarning

__all__ = ["configure_evaluate", "run_evaluate"]

EVALUATE_HELP = "score a separated source against its reference (SI-SDR, RMSE, PESQ)"


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
