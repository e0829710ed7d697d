"""Short-time Fourier transforms with the settings of the MixDVAE audio experiments.

16 kHz, ``n_fft`` 1024 (513 bins), a sine window of 1024 samples, hop 256, centred frames —
every value configurable through :class:`STFTConfig`. The transforms are torchaudio's
:class:`~torchaudio.transforms.Spectrogram` and :class:`~torchaudio.transforms.InverseSpectrogram`
with ``power=None`` (complex output).

Layouts follow torchaudio: a waveform is ``(..., samples)``, a spectrogram
``(..., freq, frames)``. The mixseq observation layout ``(batch, time, obs, 1)`` is built from it
by :func:`mixseq_audio.observation.stft_to_observations`.
"""

from __future__ import annotations

import math
from typing import Literal

import attrs
import torch
import torchaudio
from torch import Tensor, nn

from mixseq.errors import InputError, ShapeError

__all__ = ["STFT", "STFTConfig", "istft", "power_spectrogram", "sine_window", "stft"]


def sine_window(
    window_length: int, *, dtype: torch.dtype | None = None, device: torch.device | None = None
) -> Tensor:
    """The sine window ``w[n] = sin(π (n + ½) / N)``.

    Its square is a periodic Hann window, so with a hop of ``N/4`` analysis and synthesis with
    the same window reconstruct exactly. Shape ``(window_length,)``.
    """
    n = torch.arange(window_length, dtype=dtype or torch.get_default_dtype(), device=device)
    return torch.sin(math.pi * (n + 0.5) / window_length)


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise InputError(f"STFTConfig.{attribute.name}: expected a positive integer, got {value}")


@attrs.frozen(kw_only=True)
class STFTConfig:
    """Settings of the short-time Fourier transform.

    Parameters
    ----------
    sample_rate
        Sampling rate in Hz that waveforms are expected at.
    n_fft
        FFT size; the number of frequency bins is ``n_fft // 2 + 1``.
    win_length
        Window length in samples (at most ``n_fft``).
    hop_length
        Hop between frames in samples.
    window
        ``"sine"`` (the paper's) or ``"hann"``.
    center
        Centre frames on ``t · hop_length`` by padding ``n_fft // 2`` samples on both sides.
    pad_mode
        Padding of centred frames. ``"constant"`` (zeros, the default) works for any length;
        ``"reflect"`` (torch's default) needs more than ``n_fft // 2`` samples.
    """

    sample_rate: int = attrs.field(default=16000, validator=_positive)
    n_fft: int = attrs.field(default=1024, validator=_positive)
    win_length: int = attrs.field(default=1024, validator=_positive)
    hop_length: int = attrs.field(default=256, validator=_positive)
    window: Literal["sine", "hann"] = attrs.field(
        default="sine", validator=attrs.validators.in_(("sine", "hann"))
    )
    center: bool = True
    pad_mode: Literal["constant", "reflect"] = attrs.field(
        default="constant", validator=attrs.validators.in_(("constant", "reflect"))
    )

    def __attrs_post_init__(self) -> None:
        if self.win_length > self.n_fft:
            raise InputError(
                f"STFTConfig: win_length ({self.win_length}) must not exceed n_fft ({self.n_fft})"
            )
        if self.hop_length > self.win_length:
            raise InputError(
                f"STFTConfig: hop_length ({self.hop_length}) must not exceed "
                f"win_length ({self.win_length}), or samples are lost"
            )

    @property
    def n_bins(self) -> int:
        """Number of frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def n_frames(self, n_samples: int) -> int:
        """Number of frames the transform produces for ``n_samples`` samples."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return 1 + max(n_samples - self.n_fft, 0) // self.hop_length

    def n_samples(self, n_frames: int) -> int:
        """Number of samples spanned by ``n_frames`` centred frames, ``(n_frames - 1) · hop``."""
        return max(n_frames - 1, 0) * self.hop_length

    def to_dict(self) -> dict[str, object]:
        """The settings as a JSON-ready dictionary."""
        return attrs.asdict(self)


class STFT(nn.Module):
    """Forward and inverse STFT for one :class:`STFTConfig`.

    Parameters
    ----------
    config
        The transform's settings (default: the paper's).
    """

    def __init__(self, config: STFTConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else STFTConfig()
        cfg = self.config
        window_fn = sine_window if cfg.window == "sine" else torch.hann_window
        common = dict(
            n_fft=cfg.n_fft,
            win_length=cfg.win_length,
            hop_length=cfg.hop_length,
            window_fn=window_fn,
            center=cfg.center,
            pad_mode=cfg.pad_mode,
        )
        self.spectrogram = torchaudio.transforms.Spectrogram(power=None, **common)  # type: ignore[arg-type]
        self.inverse_spectrogram = torchaudio.transforms.InverseSpectrogram(**common)  # type: ignore[arg-type]

    def forward(self, waveform: Tensor) -> Tensor:
        """Complex STFT of ``waveform``.

        ``waveform``: shape ``(..., samples)``, real. Returns shape ``(..., freq, frames)``,
        complex.
        """
        if waveform.is_complex() or waveform.dim() < 1:
            raise ShapeError(f"waveform: expected real (..., samples), got {waveform.dtype} "
                             f"{tuple(waveform.shape)}")
        if self.config.pad_mode == "reflect" and waveform.shape[-1] <= self.config.n_fft // 2:
            raise InputError(
                f"waveform: reflect padding needs more than {self.config.n_fft // 2} samples, "
                f"got {waveform.shape[-1]}"
            )
        window = self.spectrogram.window
        if window.dtype != waveform.dtype or window.device != waveform.device:
            self.spectrogram.window = window.to(device=waveform.device, dtype=waveform.dtype)
        return self.spectrogram(waveform)

    def inverse(self, spectrogram: Tensor, length: int | None = None) -> Tensor:
        """Waveform from a complex STFT.

        ``spectrogram``: shape ``(..., freq, frames)``, complex. ``length``: number of output
        samples (default ``(frames - 1) · hop``). Returns shape ``(..., samples)``.
        """
        if not spectrogram.is_complex() or spectrogram.dim() < 2:
            raise ShapeError(
                f"spectrogram: expected complex (..., {self.config.n_bins}, frames), got "
                f"{spectrogram.dtype} {tuple(spectrogram.shape)}"
            )
        if spectrogram.shape[-2] != self.config.n_bins:
            raise ShapeError(
                f"spectrogram: expected dims (..., {self.config.n_bins}, frames), got "
                f"{tuple(spectrogram.shape)}"
            )
        real_dtype = spectrogram.real.dtype
        window = self.inverse_spectrogram.window
        if window.dtype != real_dtype or window.device != spectrogram.device:
            self.inverse_spectrogram.window = window.to(device=spectrogram.device, dtype=real_dtype)
        if length is None:
            length = self.config.n_samples(spectrogram.shape[-1])
        return self.inverse_spectrogram(spectrogram, length)


def stft(waveform: Tensor, config: STFTConfig | None = None) -> Tensor:
    """Complex STFT (functional form of :class:`STFT`).

    ``waveform``: shape ``(..., samples)``. Returns shape ``(..., freq, frames)``.
    """
    return STFT(config).forward(waveform)


def istft(spectrogram: Tensor, config: STFTConfig | None = None, length: int | None = None) -> Tensor:
    """Inverse STFT (functional form of :meth:`STFT.inverse`).

    ``spectrogram``: shape ``(..., freq, frames)``. Returns shape ``(..., samples)``.
    """
    return STFT(config).inverse(spectrogram, length)


def power_spectrogram(waveform: Tensor, config: STFTConfig | None = None) -> Tensor:
    """``|STFT|²`` laid out time first, as the DVAE trainer reads it.

    ``waveform``: shape ``(..., samples)``. Returns shape ``(..., frames, freq)``, real.
    """
    return stft(waveform, config).abs().square().transpose(-1, -2)
