"""Separation quality: SI-SDR, RMSE after optimal scaling and wide-band PESQ.

SI-SDR and RMSE are batched torch functions over ``(..., samples)``, computed in float64.
PESQ calls the ITU-T P.862.2 reference implementation (the ``pesq`` package) once per
signal pair.

Edge cases have documented, finite values — never NaN or infinity:

* SI-SDR is limited to ``±SI_SDR_LIMIT_DB`` (120 dB): an exact (scaled) copy scores +120; a
  silent estimate, or any estimate of a silent reference, −120; silence for silence 0.
* PESQ cannot score a pair when it detects no utterance (silence) or the signals are shorter
  than ¼ s; such a pair scores :data:`PESQ_WB_MIN`, the worst wide-band score, with a logged
  warning (or raises :class:`~mixseq.errors.InputError` with ``on_error="raise"``).
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import numpy as np
import pesq as pesq_lib
import torch
from torch import Tensor

from mixseq.errors import InputError, ShapeError
from mixseq_audio.audioio import resample

__all__ = ["PESQ_WB_MIN", "SI_SDR_LIMIT_DB", "pesq_wb", "rmse", "separation_scores", "si_sdr"]

logger = logging.getLogger(__name__)

#: Bound on |SI-SDR| in dB: the energy ratio is floored at 1e-12 of the signals' energy.
SI_SDR_LIMIT_DB = 120.0
#: Lowest wide-band PESQ (MOS-LQO of the raw score −0.5 through the P.862.2 mapping).
PESQ_WB_MIN = 0.999 + 4.0 / (1.0 + math.exp(1.3669 * 0.5 + 3.8224))


def _pair(estimate: Tensor, reference: Tensor) -> tuple[Tensor, Tensor]:
    if estimate.shape != reference.shape or estimate.dim() < 1:
        raise ShapeError(
            f"estimate: expected the reference's dims (..., samples) {tuple(reference.shape)}, "
            f"got {tuple(estimate.shape)}"
        )
    if estimate.is_complex() or reference.is_complex():
        raise ShapeError("estimate, reference: expected real waveforms, got complex tensors")
    return estimate.to(torch.float64), reference.to(torch.float64)


def si_sdr(estimate: Tensor, reference: Tensor, *, zero_mean: bool = True) -> Tensor:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019).

    ``estimate``, ``reference``: shape ``(..., samples)``. Returns shape ``(...)``, float64,
    within ``±SI_SDR_LIMIT_DB``. ``zero_mean`` removes each signal's mean first.
    """
    est, ref = _pair(estimate, reference)
    if zero_mean:
        est = est - est.mean(dim=-1, keepdim=True)
        ref = ref - ref.mean(dim=-1, keepdim=True)
    ref_energy = ref.square().sum(dim=-1, keepdim=True)
    scale = (est * ref).sum(dim=-1, keepdim=True) / torch.where(ref_energy > 0, ref_energy, 1.0)
    target = scale * ref
    target_energy = target.square().sum(dim=-1)
    noise_energy = (est - target).square().sum(dim=-1)
    # relative floor: bounds the ratio to 1e±12 (±120 dB); the absolute tiny keeps 0/0 at 0 dB
    floor = 10 ** (-SI_SDR_LIMIT_DB / 10) * (target_energy + noise_energy) + torch.finfo(torch.float64).tiny
    ratio = 10 * torch.log10((target_energy + floor) / (noise_energy + floor))
    # a silent estimate of a non-silent reference explains nothing: the worst score, not 0/0
    silent = (est.square().sum(dim=-1) == 0) & (ref_energy.squeeze(-1) > 0)
    ratio = torch.where(silent, -SI_SDR_LIMIT_DB, ratio)
    return ratio.clamp(-SI_SDR_LIMIT_DB, SI_SDR_LIMIT_DB)


def rmse(estimate: Tensor, reference: Tensor) -> Tensor:
    """Root-mean-square error after scaling the estimate optimally (least squares).

    ``min_α sqrt(mean((α·ŝ − s)²))``. ``estimate``, ``reference``: shape ``(..., samples)``.
    Returns shape ``(...)``, float64. A silent estimate scores the reference's RMS.
    """
    est, ref = _pair(estimate, reference)
    est_energy = est.square().sum(dim=-1, keepdim=True)
    scale = (est * ref).sum(dim=-1, keepdim=True) / torch.where(est_energy > 0, est_energy, 1.0)
    return (scale * est - ref).square().mean(dim=-1).sqrt()


def pesq_wb(
    estimate: Tensor,
    reference: Tensor,
    *,
    sample_rate: int = 16000,
    on_error: Literal["min", "raise"] = "min",
) -> Tensor:
    """Wide-band PESQ (ITU-T P.862.2) of each estimate against its reference.

    ``estimate``, ``reference``: shape ``(..., samples)`` at ``sample_rate`` (resampled to
    16 kHz when needed). Returns shape ``(...)``, float64, in ``[PESQ_WB_MIN, 4.64]``. Pairs PESQ
    cannot score (no utterance detected, shorter than ¼ s, silent estimate) score
    :data:`PESQ_WB_MIN` with ``on_error="min"``, or raise :class:`InputError` with
    ``"raise"``.
    """
    if on_error not in ("min", "raise"):
        raise InputError(f"on_error: expected 'min' or 'raise', got {on_error!r}")
    est, ref = _pair(estimate, reference)
    if sample_rate != 16000:
        est, ref = resample(est, sample_rate, 16000), resample(ref, sample_rate, 16000)
    batch_shape = est.shape[:-1]
    est_rows = est.reshape(-1, est.shape[-1]).cpu().numpy()
    ref_rows = ref.reshape(-1, ref.shape[-1]).cpu().numpy()
    scores = np.full(len(est_rows), PESQ_WB_MIN)
    failures: list[str] = []
    for i, (e, r) in enumerate(zip(est_rows, ref_rows, strict=True)):
        value, reason = _pesq_one(e, r)
        if reason is None:
            scores[i] = value
        elif on_error == "raise":
            raise InputError(f"PESQ cannot score pair {i}: {reason}")
        else:
            failures.append(f"{i}: {reason}")
    if failures:
        logger.warning("PESQ scored %d pair(s) %.2f (worst): %s", len(failures), PESQ_WB_MIN, "; ".join(failures))
    return torch.from_numpy(scores).reshape(batch_shape)


def _pesq_one(estimate: np.ndarray, reference: np.ndarray) -> tuple[float, str | None]:
    """The score of one pair, or ``PESQ_WB_MIN`` and why it could not be scored."""
    if not np.any(estimate):
        return PESQ_WB_MIN, "the estimate is silent"
    try:
        value = float(pesq_lib.pesq(16000, reference, estimate, "wb"))
    except pesq_lib.PesqError as exc:  # NoUtterancesError, BufferTooShortError, ...
        message = exc.args[0] if exc.args else exc
        return PESQ_WB_MIN, message.decode() if isinstance(message, bytes) else str(message)
    if not math.isfinite(value):
        return PESQ_WB_MIN, "PESQ returned a non-finite score"
    return max(value, PESQ_WB_MIN), None


def separation_scores(
    estimate: Tensor,
    reference: Tensor,
    *,
    mixture: Tensor | None = None,
    sample_rate: int = 16000,
    with_pesq: bool = True,
) -> dict[str, Tensor]:
    """All scores of estimates against references, keyed by name.

    ``estimate``, ``reference`` (and ``mixture``): shape ``(..., samples)``. Returns
    ``si_sdr``, ``rmse``, ``pesq`` (if ``with_pesq``) and, given the mixture,
    ``si_sdr_improvement`` (over the mixture as estimate), each shape ``(...)``.
    """
    scores = {"si_sdr": si_sdr(estimate, reference), "rmse": rmse(estimate, reference)}
    if mixture is not None:
        scores["si_sdr_improvement"] = scores["si_sdr"] - si_sdr(mixture.expand_as(reference), reference)
    if with_pesq:
        scores["pesq"] = pesq_wb(estimate, reference, sample_rate=sample_rate)
    return scores
