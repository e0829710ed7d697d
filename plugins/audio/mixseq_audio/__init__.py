"""mixseq-audio: single-channel source separation in the STFT domain for mixseq.

The public names below are imported on first use, so that loading the plugin (which the
``mixseq`` command does at every start) does not pull in torchaudio, pesq or matplotlib.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("mixseq-audio")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

#: Public name -> module that defines it.
_EXPORTS = {
    "AudioClip": "audioio",
    "ChunkPlan": "audioio",
    "read_audio": "audioio",
    "write_audio": "audioio",
    "split_chunks": "audioio",
    "overlap_add": "audioio",
    "STFT": "transforms",
    "STFTConfig": "transforms",
    "stft": "transforms",
    "istft": "transforms",
    "power_spectrogram": "transforms",
    "CorpusConfig": "data",
    "load_spectra": "data",
    "load_segments": "data",
    "mix_at_snr": "data",
    "peak_normalize": "data",
    "load_mixture_set": "mixtures",
    "STFTObservationModel": "observation",
    "stft_to_observations": "observation",
    "observations_to_stft": "observation",
    "si_sdr": "metrics",
    "rmse": "metrics",
    "pesq_wb": "metrics",
    "separation_scores": "metrics",
    "NMFConfig": "baselines",
    "NMFSeparator": "baselines",
    "plot_separation": "plotting",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"mixseq_audio.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mixseq_audio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
