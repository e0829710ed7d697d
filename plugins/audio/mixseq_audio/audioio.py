"""Reading and writing audio robustly, and long signals as overlapping chunks.

Everything a user can hand to ``mixseq separate`` goes through :func:`read_audio`: any file
that libsndfile reads (wav, flac, ogg, mp3, aiff, ...). Conversions are documented and warned
about with :class:`~mixseq.errors.InputWarning`; inputs that cannot be used raise
:class:`~mixseq.errors.InputError` naming the file.

Long signals are separated in overlapping chunks: :func:`split_chunks` cuts them and
:func:`overlap_add` stitches the processed chunks back with complementary ``sin²``/``cos²``
cross-fades, so identical overlaps reconstruct the input exactly and differing ones blend
without a seam.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import attrs
import numpy as np
import soundfile as sf
import torch
import torchaudio
from torch import Tensor

from mixseq.errors import InputError, InputWarning, ShapeError
from mixseq.fileio import atomic_path

__all__ = [
    "AudioClip",
    "ChunkPlan",
    "overlap_add",
    "read_audio",
    "resample",
    "split_chunks",
    "write_audio",
]

#: Share of samples at full scale above which an input is reported as clipped.
CLIPPING_FRACTION = 1e-3
#: Magnitude treated as full scale when looking for clipping (integer formats stop at 1).
FULL_SCALE = 0.999


@attrs.frozen(kw_only=True)
class AudioClip:
    """A mono waveform with where it came from.

    ``waveform``: shape ``(samples,)``, float32, at ``sample_rate``.
    """

    waveform: Tensor
    sample_rate: int
    original_sample_rate: int
    original_channels: int
    path: Path | None = None

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.waveform.shape[-1] / self.sample_rate


def resample(waveform: Tensor, orig_freq: int, new_freq: int) -> Tensor:
    """Band-limited resampling along the last axis (``torchaudio.functional.resample``).

    ``waveform``: shape ``(..., samples)``. Returns shape ``(..., samples · new / orig)``.
    """
    if orig_freq == new_freq:
        return waveform
    return torchaudio.functional.resample(waveform, orig_freq, new_freq)


def read_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int = 16000,
    min_samples: int = 1024,
    warn: bool = True,
) -> AudioClip:
    """Load any audio file as a mono float32 waveform at ``sample_rate``.

    Parameters
    ----------
    path
        The file; its format is recognised from its content.
    sample_rate
        Rate of the returned waveform; other rates are resampled.
    min_samples
        Shortest acceptable length after resampling (default: one STFT window).
    warn
        Issue :class:`InputWarning` for mixing down, resampling, silence and clipping.

    Returns
    -------
    AudioClip
        ``waveform`` of shape ``(samples,)``.

    Raises
    ------
    InputError
        The file is missing, not audio, empty, shorter than ``min_samples`` or holds
        non-finite samples.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: expected an audio file, but no such file exists")
    try:
        data, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise InputError(f"{source}: expected an audio file soundfile can read, got: {exc}") from exc
    n_samples, n_channels = data.shape
    if n_samples == 0 or n_channels == 0:
        raise InputError(f"{source}: expected audio samples, got an empty file")
    if not np.isfinite(data).all():
        raise InputError(f"{source}: expected finite samples, got NaN or infinity")
    full_scale = float(np.mean(np.abs(data) >= FULL_SCALE))
    mono = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if n_channels > 1 and warn:
        warnings.warn(
            f"{source}: mixed {n_channels} channels down to mono", InputWarning, stacklevel=2
        )
    if rate != sample_rate:
        if warn:
            warnings.warn(
                f"{source}: resampled from {rate} Hz to {sample_rate} Hz", InputWarning, stacklevel=2
            )
        mono = resample(mono, rate, sample_rate)
    if mono.shape[-1] < min_samples:
        raise InputError(
            f"{source}: expected at least {min_samples} samples at {sample_rate} Hz "
            f"({min_samples / sample_rate:.3f} s), got {mono.shape[-1]}"
        )
    if warn and not bool(mono.abs().max() > 0):
        warnings.warn(f"{source}: the input is silent", InputWarning, stacklevel=2)
    if warn and full_scale > CLIPPING_FRACTION:
        warnings.warn(
            f"{source}: {100 * full_scale:.2f} % of the samples are at full scale; the input "
            "looks clipped and separation quality may suffer",
            InputWarning,
            stacklevel=2,
        )
    return AudioClip(
        waveform=mono.to(torch.float32).contiguous(),
        sample_rate=sample_rate,
        original_sample_rate=int(rate),
        original_channels=int(n_channels),
        path=source,
    )


def write_audio(
    path: str | os.PathLike[str],
    waveform: Tensor,
    sample_rate: int,
    *,
    source_rate: int | None = None,
    subtype: str = "FLOAT",
) -> Path:
    """Write a waveform atomically, resampled to ``sample_rate``.

    ``waveform``: shape ``(samples,)`` or ``(channels, samples)``, real and finite, at
    ``source_rate`` (default: already at ``sample_rate``). ``subtype`` is a soundfile subtype;
    ``"FLOAT"`` never clips. The format follows the file name's suffix. Returns the path.
    """
    target = Path(path)
    if waveform.is_complex() or waveform.dim() not in (1, 2):
        raise ShapeError(
            f"waveform: expected real (samples,) or (channels, samples), got {waveform.dtype} "
            f"{tuple(waveform.shape)}"
        )
    if not bool(torch.isfinite(waveform).all()):
        raise InputError(f"{target}: refusing to write non-finite samples")
    signal = waveform.detach().to("cpu", torch.float32)
    if source_rate is not None and source_rate != sample_rate:
        signal = resample(signal, source_rate, sample_rate)
    array = signal.numpy().T if signal.dim() == 2 else signal.numpy()
    with atomic_path(target) as tmp:
        sf.write(tmp, array, sample_rate, subtype=subtype)
    return target


@attrs.frozen(kw_only=True)
class ChunkPlan:
    """How :func:`split_chunks` cut a signal, so that :func:`overlap_add` can undo it.

    ``length`` samples (or frames) along ``dim`` were cut into ``n_chunks`` chunks of
    ``chunk_length`` starting every ``hop = chunk_length - overlap``; the last chunk is
    zero-padded.
    """

    length: int
    chunk_length: int
    overlap: int
    n_chunks: int
    dim: int

    @property
    def hop(self) -> int:
        """Distance between chunk starts."""
        return self.chunk_length - self.overlap

    def indices(self) -> Tensor:
        """Position of every chunk element in the padded signal. Shape ``(n_chunks, chunk)``."""
        starts = torch.arange(self.n_chunks) * self.hop
        return starts[:, None] + torch.arange(self.chunk_length)

    def mask(self) -> Tensor:
        """``True`` where a chunk holds signal, ``False`` on padding. Shape ``(n_chunks, chunk)``."""
        return self.indices() < self.length

    def weights(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """Cross-fade weights that sum to one over overlapping chunks. Shape ``(n_chunks, chunk)``.

        ``sin²`` ramps in, ``cos²`` ramps out over each overlap; the first chunk does not ramp
        in and the last does not ramp out.
        """
        weights = torch.ones(self.n_chunks, self.chunk_length, dtype=dtype)
        if self.overlap > 0 and self.n_chunks > 1:
            phase = math.pi * (torch.arange(self.overlap, dtype=torch.float64) + 0.5) / (2 * self.overlap)
            ramp_in = torch.sin(phase).square().to(dtype)
            weights[1:, : self.overlap] = ramp_in
            weights[:-1, self.chunk_length - self.overlap :] = ramp_in.flip(0)
        return weights


def split_chunks(
    signal: Tensor, chunk_length: int, overlap: int, *, dim: int = -1
) -> tuple[Tensor, ChunkPlan]:
    """Cut ``signal`` into overlapping chunks along ``dim``.

    ``signal``: shape ``(..., length, ...)`` with ``length`` at ``dim``. Returns the chunks,
    shape ``(..., n_chunks, chunk_length, ...)`` (the chunk axis inserted before ``dim``), and
    the :class:`ChunkPlan`. The last chunk is zero-padded; :meth:`ChunkPlan.mask` says where.
    """
    if chunk_length <= 0 or not 0 <= overlap < chunk_length:
        raise InputError(
            f"split_chunks: expected chunk_length > 0 and 0 <= overlap < chunk_length, got "
            f"chunk_length={chunk_length}, overlap={overlap}"
        )
    if signal.dim() == 0:
        raise ShapeError("signal: expected at least one dimension, got a scalar")
    dim = dim % signal.dim()
    length = signal.shape[dim]
    if length == 0:
        raise InputError("split_chunks: the signal is empty")
    hop = chunk_length - overlap
    n_chunks = 1 + math.ceil(max(length - chunk_length, 0) / hop)
    plan = ChunkPlan(length=length, chunk_length=chunk_length, overlap=overlap, n_chunks=n_chunks, dim=dim)
    padded_length = (n_chunks - 1) * hop + chunk_length
    moved = signal.movedim(dim, -1)
    moved = torch.nn.functional.pad(moved, (0, padded_length - length))
    chunks = moved[..., plan.indices().to(signal.device)]  # (..., n_chunks, chunk_length)
    return chunks.movedim((-2, -1), (dim, dim + 1)), plan


def overlap_add(chunks: Tensor, plan: ChunkPlan) -> Tensor:
    """Stitch processed chunks back into one signal with the plan's cross-fades.

    ``chunks``: shape ``(..., n_chunks, chunk_length, ...)`` as :func:`split_chunks` returned
    it (other axes may have changed size). Returns shape ``(..., length, ...)``.
    """
    dim = plan.dim
    if chunks.dim() < dim + 2 or chunks.shape[dim : dim + 2] != (plan.n_chunks, plan.chunk_length):
        raise ShapeError(
            f"chunks: expected dims (..., {plan.n_chunks}, {plan.chunk_length}, ...) at axis "
            f"{dim}, got {tuple(chunks.shape)}"
        )
    moved = chunks.movedim((dim, dim + 1), (-2, -1))
    weights = plan.weights(moved.real.dtype).to(moved.device)
    weighted = (moved * weights).flatten(-2)
    padded_length = (plan.n_chunks - 1) * plan.hop + plan.chunk_length
    out = moved.new_zeros((*moved.shape[:-2], padded_length))
    out.index_add_(-1, plan.indices().flatten().to(moved.device), weighted)
    return out[..., : plan.length].movedim(-1, dim)
