"""A linear-Gaussian (Kalman) dynamics for complex STFT states: the VKF baseline.

The core's :class:`~mixseq.builtins.LinearGaussianDynamicsModel` handles real states only.
Here every frequency bin of a source follows its own circular complex AR(1) process::

    s_0f ~ N_c(0, P_f),    s_tf = a_f s_{t−1,f} + e_tf,    e_tf ~ N_c(0, q_f),

with a complex coefficient ``a_f`` (a stationary sinusoid advances its phase by a fixed angle
per hop) and ``q_f = (1 − |a_f|²) P_f`` so that the process is stationary with power
``P_f``. :meth:`ComplexAR1DynamicsModel.fit` estimates ``a_f`` and ``P_f`` by least squares
from a single-source corpus — the same weak supervision as the DVAEs.

E-S is the exact Kalman smoother (forward filter, Rauch–Tung–Striebel backward pass) with
the observation messages in information form, batched over batch, sources and bins; the
ELBO term ``E_q[log p(s)] + H[q(s)]`` is ``log Z − E_q[Σ_t log φ_t(s_t)]``, with ``Z`` the
normaliser of prior × messages accumulated by the filter and ``φ_t`` the messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from mixseq.errors import InputError, ShapeError
from mixseq.interfaces import DynamicsModel, DynamicsResult, Gaussian, GaussianMessage
from mixseq_audio.transforms import STFT, STFTConfig

__all__ = ["ComplexAR1DynamicsModel"]

#: Floor on the per-bin power, relative to the mean power over bins: an empty bin in the
#: corpus must still have a positive prior variance.
RELATIVE_POWER_FLOOR = 1e-8
#: |a| is kept below this so that q = (1 − |a|²) P stays positive.
MAX_COEFFICIENT = 0.999


class ComplexAR1DynamicsModel(DynamicsModel):
    """Per-bin circular complex AR(1) dynamics with an exact Kalman smoother.

    Parameters
    ----------
    coefficient
        ``a_f``, shape ``(freq,)``, complex (or real), ``|a_f| < 1``.
    power
        Stationary power ``P_f``, shape ``(freq,)``, positive.
    """

    is_complex = True

    def __init__(self, *, coefficient: Tensor, power: Tensor) -> None:
        super().__init__()
        if coefficient.dim() != 1 or power.shape != coefficient.shape:
            raise ShapeError(
                f"coefficient, power: expected dims (freq,) each, got {tuple(coefficient.shape)} and "
                f"{tuple(power.shape)}"
            )
        if not bool((power > 0).all()) or not bool((coefficient.abs() < 1).all()):
            raise InputError("ComplexAR1DynamicsModel: expected power > 0 and |coefficient| < 1")
        self.state_dim = int(power.shape[0])
        coefficient = coefficient.to(torch.complex128)
        # real and imaginary parts apart: Module.to(dtype=float) would discard a complex buffer's
        # imaginary part when the engine moves its components
        self.coefficient_real: Tensor
        self.coefficient_imag: Tensor
        self.power: Tensor
        self.register_buffer("coefficient_real", coefficient.real.to(torch.float32))
        self.register_buffer("coefficient_imag", coefficient.imag.to(torch.float32))
        self.register_buffer("power", power.to(torch.float32))

    @property
    def coefficient(self) -> Tensor:
        """``a_f``, shape ``(freq,)``, complex."""
        return torch.complex(self.coefficient_real, self.coefficient_imag)

    def extra_repr(self) -> str:
        """Size and mean |a|."""
        return f"state_dim={self.state_dim}, mean_abs_coefficient={float(self.coefficient.abs().mean()):.3f}"

    @classmethod
    def fit(
        cls,
        waveforms: Sequence[Tensor],
        *,
        stft_config: STFTConfig | None = None,
        max_coefficient: float = MAX_COEFFICIENT,
    ) -> ComplexAR1DynamicsModel:
        """Least-squares AR(1) per bin from single-source recordings.

        ``waveforms``: each shape ``(samples,)`` at the STFT's rate (e.g. the corpus segments of
        :func:`~mixseq_audio.data.load_segments`, peak-normalised like the mixtures).
        ``a_f = Σ s_t conj(s_{t−1}) / Σ |s_{t−1}|²``, ``P_f = mean |s_t|²``.
        """
        transform = STFT(stft_config)
        cross = torch.zeros(transform.config.n_bins, dtype=torch.complex128)
        energy_prev = torch.zeros(transform.config.n_bins, dtype=torch.float64)
        energy = torch.zeros(transform.config.n_bins, dtype=torch.float64)
        n_frames = 0
        for wave in waveforms:
            spec = transform(wave.to(torch.float32)).to(torch.complex128)  # (freq, frames)
            if spec.shape[-1] < 2:
                continue
            cross += (spec[:, 1:] * spec[:, :-1].conj()).sum(-1)
            energy_prev += spec[:, :-1].abs().square().sum(-1)
            energy += spec.abs().square().sum(-1)
            n_frames += spec.shape[-1]
        if n_frames == 0:
            raise InputError("ComplexAR1DynamicsModel.fit: expected recordings of at least two frames")
        power = energy / n_frames
        power = power.clamp_min(RELATIVE_POWER_FLOOR * float(power.mean()))
        coefficient = cross / energy_prev.clamp_min(torch.finfo(torch.float64).tiny)
        magnitude = coefficient.abs()
        coefficient = torch.where(magnitude > max_coefficient, coefficient / magnitude * max_coefficient, coefficient)
        return cls(coefficient=coefficient, power=power)

    def e_s_step(
        self,
        message: GaussianMessage,
        time_mask: Tensor,
        *,
        latent: Any,
        initial_state: Gaussian | None,
        generator: torch.Generator | None,
    ) -> DynamicsResult:
        """Exact smoothing. ``message``: shape ``(batch, time, source, freq)``; returns the same."""
        precision, h = message.precision, message.precision_mean
        if precision.dim() != 4 or precision.shape[-1] != self.state_dim:
            raise ShapeError(
                f"message: expected dims (batch, time, source, {self.state_dim}), got {tuple(precision.shape)}"
            )
        n_batch, n_steps, n_sources, n_bins = precision.shape
        real = precision.dtype
        maskf = time_mask.to(real)[:, :, None, None]
        precision = precision * maskf
        h = h * maskf
        a = torch.complex(self.coefficient_real.to(real), self.coefficient_imag.to(real))
        power = self.power.to(real)
        q = (1.0 - a.abs().square()) * power
        abs_a2 = a.abs().square()
        if initial_state is not None:
            mean_p, var_p = initial_state.mean.to(h.dtype), initial_state.variance.to(real)
        else:
            mean_p = torch.zeros(n_batch, n_sources, n_bins, dtype=h.dtype, device=h.device)
            var_p = power.expand(n_batch, n_sources, n_bins)
        filt_m: list[Tensor] = []
        filt_v: list[Tensor] = []
        pred_m: list[Tensor] = []
        pred_v: list[Tensor] = []
        log_z = torch.zeros(n_batch, dtype=real, device=h.device)
        for t in range(n_steps):
            if t > 0:
                mean_p = a * filt_m[-1]
                var_p = abs_a2 * filt_v[-1] + q
            v = 1.0 / (precision[:, t] + 1.0 / var_p)
            m = v * (h[:, t] + mean_p / var_p)
            log_z = log_z + (torch.log(v / var_p) + (m.real.square() + m.imag.square()) / v
                             - (mean_p.real.square() + mean_p.imag.square()) / var_p).sum(dim=(1, 2))
            filt_m.append(m)
            filt_v.append(v)
            pred_m.append(mean_p)
            pred_v.append(var_p)
        means, variances = [filt_m[-1]], [filt_v[-1]]
        for t in range(n_steps - 2, -1, -1):  # Rauch–Tung–Striebel
            gain = filt_v[t] * a.conj() / pred_v[t + 1]
            means.append(filt_m[t] + gain * (means[-1] - pred_m[t + 1]))
            variances.append(filt_v[t] + gain.abs().square() * (variances[-1] - pred_v[t + 1]))
        mean = torch.stack(means[::-1], dim=1)
        variance = torch.stack(variances[::-1], dim=1)
        second = mean.real.square() + mean.imag.square() + variance
        expected_log_message = -precision * second + 2 * (h.conj() * mean).real
        elbo = log_z - expected_log_message.sum(dim=(1, 2, 3))
        return DynamicsResult(posterior=Gaussian(mean=mean, variance=variance), elbo=elbo)
