"""The observation model of single-channel separation in the STFT domain.

Every time-frequency bin ``x_ft`` of the mixture is emitted by exactly one source
(``w_ft = n``), as a circular complex Gaussian around that source's bin::

    p(x_ft | w_ft = n, s_ftn) = N_c(x_ft; s_ftn, v_x,ft),   v_x,ft = ratio·|x_ft|² + floor

In mixseq's layout an STFT frame is one time step whose ``obs`` axis runs over the frequency
bins, each a 1-vector: observations ``(batch, time, freq, 1)``, complex. A source's state is
its ``freq`` complex bins, and observation ``k`` only concerns state element ``k``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from mixseq import Gaussian, GaussianMessage, Initialization, InputError, ObservationModel, ShapeError

__all__ = ["STFTObservationModel", "observations_to_stft", "stft_to_observations"]


class STFTObservationModel(ObservationModel):
    """Circular complex Gaussian noise around the assigned source, one assignment per bin.

    Parameters
    ----------
    n_bins
        Number of frequency bins (``n_fft // 2 + 1``); the state size of every source.
    variance_ratio
        ``v_x = variance_ratio · |x|²`` (0.03 in the paper): the noise is relative to the
        observed power, so the model is invariant to the mixture's level.
    variance_floor
        Added to ``v_x`` so that digital silence never divides by zero. The default,
        ``1e-10``, lies below the 16-bit quantisation noise of a peak-normalised signal in
        any bin of a 1024-point STFT (about ``4e-8``), so it only acts on true zeros.
    assignment_scale
        Multiplier on the scores in E-W only (1: exact variational EM).
    """

    obs_dim = 1
    is_complex = True

    def __init__(
        self,
        *,
        n_bins: int = 513,
        variance_ratio: float = 0.03,
        variance_floor: float = 1e-10,
        assignment_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if n_bins <= 0:
            raise InputError(f"n_bins: expected a positive integer, got {n_bins}")
        if not variance_ratio > 0 or not variance_floor > 0 or not assignment_scale > 0:
            raise InputError(
                "STFTObservationModel: expected variance_ratio, variance_floor and "
                f"assignment_scale > 0, got {variance_ratio}, {variance_floor}, {assignment_scale}"
            )
        self.n_bins = n_bins
        self.variance_ratio = variance_ratio
        self.variance_floor = variance_floor
        self.assignment_scale = assignment_scale
        self._cache: tuple[Any, ...] | None = None

    def extra_repr(self) -> str:
        """Settings shown by ``repr``."""
        return (
            f"n_bins={self.n_bins}, variance_ratio={self.variance_ratio}, "
            f"variance_floor={self.variance_floor}, assignment_scale={self.assignment_scale}"
        )

    def state_dim(self, obs_dim: int) -> int:
        """A source's state holds one complex value per bin: ``n_bins``."""
        if obs_dim != self.obs_dim:
            raise ShapeError(f"obs_dim: expected {self.obs_dim} (one complex value per bin), got {obs_dim}")
        return self.n_bins

    def validate(self, obs: Tensor) -> None:
        """Raise :class:`ShapeError` unless ``obs`` has shape ``(batch, time, n_bins, 1)``, complex."""
        super().validate(obs)
        if obs.shape[2] != self.n_bins:
            raise ShapeError(f"obs: expected dims (batch, time, {self.n_bins}, 1), got {tuple(obs.shape)}")

    def _bins(self, obs: Tensor, obs_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Checked bins with padding zeroed, their noise variance and the float mask.

        Returns ``x`` (complex), ``v_x`` and the mask, each shape ``(batch, time, freq)``.
        EM calls this twice per iteration with the same tensors: the result of the last call is
        kept (keyed by the tensors' identity and version) and reused.
        """
        key = (id(obs), obs._version, id(obs_mask), obs_mask._version)
        cached = self._cache
        if cached is not None and cached[0] == key and cached[1] is obs and cached[2] is obs_mask:
            return cached[3]
        self.validate(obs)
        if obs_mask.shape != obs.shape[:3] or obs_mask.dtype != torch.bool:
            raise ShapeError(
                f"obs_mask: expected bool dims {tuple(obs.shape[:3])}, got {obs_mask.dtype} "
                f"{tuple(obs_mask.shape)}"
            )
        # padding may hold anything (even NaN): replace it before any arithmetic
        x = torch.where(obs_mask, obs[..., 0], torch.zeros((), dtype=obs.dtype, device=obs.device))
        bins = (x, self.observation_variance(x), obs_mask.to(x.real.dtype))
        self._cache = (key, obs, obs_mask, bins)
        return bins

    def observation_variance(self, x: Tensor) -> Tensor:
        """``v_x = variance_ratio · |x|² + variance_floor``.

        ``x``: complex bins, any shape. Returns the same shape, real and positive.
        """
        return self.variance_ratio * _power(x) + self.variance_floor

    def message(self, obs: Tensor, obs_mask: Tensor, assignments: Tensor) -> GaussianMessage:
        """Precision ``η/v_x`` and precision × mean ``η·x/v_x`` per source and bin.

        ``obs``: shape ``(batch, time, freq, 1)``, complex. ``obs_mask``: shape
        ``(batch, time, freq)``. ``assignments``: shape ``(batch, time, freq, source)``.
        Returns a message of shape ``(batch, time, source, freq)``; zero where masked.
        """
        x, v_x, mask = self._bins(obs, obs_mask)
        if assignments.shape[:3] != x.shape or assignments.dim() != 4:
            raise ShapeError(
                f"assignments: expected dims ({', '.join(map(str, x.shape))}, source), got "
                f"{tuple(assignments.shape)}"
            )
        precision = (assignments * (mask / v_x).unsqueeze(-1)).transpose(-1, -2)
        return GaussianMessage(precision=precision, precision_mean=precision * x.unsqueeze(-2))

    def expected_log_likelihood(self, obs: Tensor, obs_mask: Tensor, posterior: Gaussian) -> Tensor:
        """``E_q[log N_c(x; s, v_x)] = −log(π v_x) − (|x − μ|² + v) / v_x``.

        ``obs``: shape ``(batch, time, freq, 1)``. ``posterior``: shape
        ``(batch, time, source, freq)``, complex mean. Returns shape
        ``(batch, time, freq, source)``; zero where masked.
        """
        x, v_x, _ = self._bins(obs, obs_mask)
        n_batch, n_steps, n_bins = x.shape
        if posterior.mean.dim() != 4 or posterior.mean.shape[:2] != (n_batch, n_steps) or (
            posterior.mean.shape[3] != n_bins
        ):
            raise ShapeError(
                f"posterior: expected dims ({n_batch}, {n_steps}, source, {n_bins}), got "
                f"{tuple(posterior.mean.shape)}"
            )
        # computed in the posterior's (batch, time, source, freq) layout, transposed at the end
        v = v_x.unsqueeze(-2)
        distance = _power(x.unsqueeze(-2) - posterior.mean) + posterior.variance
        ell = -torch.log(math.pi * v) - distance / v
        ell = torch.where(obs_mask.unsqueeze(-2), ell, torch.zeros((), dtype=ell.dtype, device=ell.device))
        return ell.transpose(-1, -2)

    def initialize(
        self, obs: Tensor, obs_mask: Tensor, n_sources: int, *, generator: torch.Generator | None
    ) -> Initialization:
        """Every source starts as the whole mixture, every bin shared equally.

        ``q(w_ft = n) = 1/N``; ``q(s_ftn)`` has the mixture ``x_ft`` as mean and the
        observation noise ``v_x,ft`` as variance. The dynamics' first E-Z step then runs each
        source's model on the mixture (the paper's "DVAE-init"). Deterministic:
        ``generator`` is unused.
        """
        if n_sources <= 0:
            raise InputError(f"n_sources: expected a positive integer, got {n_sources}")
        x, v_x, mask = self._bins(obs, obs_mask)
        shape = (*x.shape[:2], n_sources, x.shape[2])
        mean = x.unsqueeze(-2).expand(shape).clone()
        variance = v_x.unsqueeze(-2).expand(shape).clone()  # the floor on padding: never zero
        assignments = (mask / n_sources).unsqueeze(-1).expand(*x.shape, n_sources).clone()
        return Initialization(posterior=Gaussian(mean=mean, variance=variance), assignments=assignments)


def _power(x: Tensor) -> Tensor:
    """``|x|²`` of complex ``x`` as ``re² + im²`` (``abs`` takes a square root first). Same shape."""
    if not x.is_complex():
        return x.square()
    real = torch.view_as_real(x)
    return real[..., 0].square() + real[..., 1].square()


def stft_to_observations(spectrogram: Tensor, n_frames: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """mixseq observations from complex STFTs.

    ``spectrogram``: shape ``(batch, freq, frames)``, complex (torchaudio's layout).
    ``n_frames``: valid frames per item, shape ``(batch,)`` (default: all).
    Returns ``obs``, shape ``(batch, frames, freq, 1)``, and ``obs_mask``, shape
    ``(batch, frames, freq)``.
    """
    if spectrogram.dim() != 3 or not spectrogram.is_complex():
        raise ShapeError(
            f"spectrogram: expected complex dims (batch, freq, frames), got {spectrogram.dtype} "
            f"{tuple(spectrogram.shape)}"
        )
    n_batch, n_bins, n_steps = spectrogram.shape
    obs = spectrogram.transpose(1, 2).unsqueeze(-1).contiguous()
    if n_frames is None:
        mask = torch.ones(n_batch, n_steps, n_bins, dtype=torch.bool, device=obs.device)
    else:
        if n_frames.shape != (n_batch,):
            raise ShapeError(f"n_frames: expected dims ({n_batch},), got {tuple(n_frames.shape)}")
        steps = torch.arange(n_steps, device=obs.device)
        mask = (steps < n_frames.to(obs.device).unsqueeze(-1)).unsqueeze(-1).expand(n_batch, n_steps, n_bins)
    return obs, mask.contiguous()


def observations_to_stft(states: Tensor) -> Tensor:
    """Source STFTs in torchaudio's layout from per-source states.

    ``states``: shape ``(batch, time, source, freq)`` (e.g. the posterior means).
    Returns shape ``(batch, source, freq, time)``.
    """
    if states.dim() != 4:
        raise ShapeError(f"states: expected dims (batch, time, source, freq), got {tuple(states.shape)}")
    return states.permute(0, 2, 3, 1)
