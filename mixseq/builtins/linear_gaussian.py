"""Linear-Gaussian source dynamics with an exact Kalman smoother as E-S step (VKF).

Every state coordinate evolves independently as a random walk (``order=1``) or a
constant-velocity model (``order=2``, a hidden velocity per coordinate). The smoother runs
batched over ``(batch, source, state)``; only the time axis is a Python loop.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mixseq.errors import InputError
from mixseq.interfaces import DynamicsModel, DynamicsResult, Gaussian, GaussianMessage

_Means = list[tuple[Tensor, Tensor]]  # per time: (position, velocity), each (batch, source, state)
_Covs = list[tuple[Tensor, Tensor, Tensor]]  # per time: (pos-pos, pos-vel, vel-vel)


# The recursions below spell out the 1×1 and 2×2 algebra (transition [[1, 1], [0, 1]] for
# order 2) as element-wise operations on (batch, source, state) tensors: generic batched
# matrix products and LAPACK calls on millions of tiny matrices cost far more.


def _forward(precision: Tensor, info: Tensor, m0: Tensor, c00: Tensor, c11: Tensor, q: Tensor,
             order: int) -> tuple[_Means, _Covs, _Means, _Covs]:
    """Kalman filter with an information-form update.

    Returns the filtered and the predicted means and covariances per time step.
    """
    n_steps = precision.shape[1]
    m1 = torch.zeros_like(m0)
    c01 = torch.zeros_like(m0)
    pred_m, pred_c, filt_m, filt_c = [], [], [], []
    for t in range(n_steps):
        if t > 0:
            if order == 1:
                c00 = c00 + q
            else:
                m0 = m0 + m1
                c00 = c00 + 2 * c01 + c11
                c01 = c01 + c11
                c11 = c11 + q
        pred_m.append((m0, m1))
        pred_c.append((c00, c01, c11))
        lam, h = precision[:, t], info[:, t]
        scale = 1.0 / (1.0 + lam * c00)
        residual = (h - lam * m0) * scale
        if order == 2:
            m1 = m1 + c01 * residual
            c11 = c11 - lam * c01.square() * scale
            c01 = c01 * scale
        m0 = m0 + c00 * residual
        c00 = c00 * scale
        filt_m.append((m0, m1))
        filt_c.append((c00, c01, c11))
    return filt_m, filt_c, pred_m, pred_c


def _backward(fm: _Means, fc: _Covs, pm: _Means, pc: _Covs, order: int) -> tuple[Tensor, Tensor]:
    """Rauch–Tung–Striebel smoother. Returns the position mean and variance per time."""
    n_steps = len(fm)
    s0, s1 = fm[-1]
    v00, v01, v11 = fc[-1]
    means, variances = [s0], [v00]
    for t in range(n_steps - 2, -1, -1):
        f00 = fc[t][0]
        a = pc[t + 1][0]
        d0 = s0 - pm[t + 1][0]
        e00 = v00 - a
        if order == 1:
            gain = f00 / a
            s0 = fm[t][0] + gain * d0
            v00 = f00 + gain.square() * e00
        else:
            f01, f11 = fc[t][1], fc[t][2]
            b, c = pc[t + 1][1], pc[t + 1][2]
            inv_det = 1.0 / (a * c - b * b)
            # J = P_f A' P_pred⁻¹ with P_f A' = [[f00+f01, f01], [f01+f11, f11]].
            r0, r1 = f00 + f01, f01 + f11
            j00, j01 = (r0 * c - f01 * b) * inv_det, (f01 * a - r0 * b) * inv_det
            j10, j11 = (r1 * c - f11 * b) * inv_det, (f11 * a - r1 * b) * inv_det
            d1 = s1 - pm[t + 1][1]
            e01, e11 = v01 - b, v11 - c
            s0 = fm[t][0] + j00 * d0 + j01 * d1
            s1 = fm[t][1] + j10 * d0 + j11 * d1
            jd00, jd01 = j00 * e00 + j01 * e01, j00 * e01 + j01 * e11
            jd10, jd11 = j10 * e00 + j11 * e01, j10 * e01 + j11 * e11
            v00 = f00 + jd00 * j00 + jd01 * j01
            v01 = f01 + jd00 * j10 + jd01 * j11
            v11 = f11 + jd10 * j10 + jd11 * j11
        means.append(s0)
        variances.append(v00)
    means.reverse()
    variances.reverse()
    return torch.stack(means, dim=1), torch.stack(variances, dim=1)


class LinearGaussianDynamicsModel(DynamicsModel):
    """``x_t = A x_{t-1} + ε``, ``ε ~ N(0, Q)``, per coordinate, observed through its position.

    Parameters
    ----------
    order
        1: random walk on the state; 2: constant velocity (a hidden velocity per coordinate).
    process_variance
        Variance of the position noise per step (``order=1``), or of the velocity noise
        (``order=2``). A scalar or one value per state coordinate.
    initial_variance
        Variance of the state at ``t = 0`` when no ``initial_state`` is given (the position;
        for ``order=2`` also the velocity).
    initial_mean
        Mean of the position at ``t = 0`` when no ``initial_state`` is given.
    state_dim
        Fix the state size, or ``None`` for any size (per-coordinate parameters must then be
        scalars).
    """

    process_variance: Tensor

    def __init__(
        self,
        *,
        order: int = 1,
        process_variance: float | Tensor = 1e-2,
        initial_variance: float = 1e2,
        initial_mean: float = 0.0,
        state_dim: int | None = None,
    ) -> None:
        super().__init__()
        if order not in (1, 2):
            raise InputError(f"order: expected 1 or 2, got {order!r}")
        q = torch.as_tensor(process_variance, dtype=torch.get_default_dtype())
        if not bool(torch.all(q > 0)) or not bool(torch.all(torch.isfinite(q))):
            raise InputError(f"process_variance: expected positive finite values, got {process_variance!r}")
        if not initial_variance > 0:
            raise InputError(f"initial_variance: expected a positive number, got {initial_variance!r}")
        if q.dim() > 1 or (q.dim() == 1 and state_dim is not None and q.numel() != state_dim):
            raise InputError(
                f"process_variance: expected a scalar or shape ({state_dim},), got {tuple(q.shape)}"
            )
        self.order = order
        self.state_dim = state_dim
        self.initial_variance = float(initial_variance)
        self.initial_mean = float(initial_mean)
        self.register_buffer("process_variance", q)

    def extra_repr(self) -> str:
        return f"order={self.order}, state_dim={self.state_dim}"

    def e_s_step(
        self,
        message: GaussianMessage,
        time_mask: Tensor,
        *,
        latent: Any = None,
        initial_state: Gaussian | None = None,
        generator: torch.Generator | None = None,
    ) -> DynamicsResult:
        if message.precision_mean.is_complex():
            raise InputError("LinearGaussianDynamicsModel: expected real states, got complex messages")
        out_dtype = message.precision.dtype
        # The RTS recursion inverts predicted covariances that are nearly singular when the
        # process noise is small; in float32 that cancels to zero, so it always runs in float64.
        dtype = torch.float64
        valid = time_mask[:, :, None, None].to(dtype)
        precision = message.precision.to(dtype) * valid
        info = message.precision_mean.to(dtype) * valid
        n_batch, _n_steps, n_sources, n_state = precision.shape
        device, order = precision.device, self.order

        shape = (n_batch, n_sources, n_state)
        q = self.process_variance.to(dtype=dtype, device=device).expand(n_state)
        if initial_state is not None:
            position = initial_state.mean.to(dtype).expand(shape)
            position_var = initial_state.variance.to(dtype).expand(shape)
        else:
            position = torch.full(shape, self.initial_mean, dtype=dtype, device=device)
            position_var = torch.full(shape, self.initial_variance, dtype=dtype, device=device)
        velocity_var = torch.full(shape, self.initial_variance, dtype=dtype, device=device)
        fm, fc, pm, pc = _forward(precision, info, position, position_var, velocity_var, q, order)
        smoothed_mean, smoothed_var = _backward(fm, fc, pm, pc, order)

        # log ∫ N(x; a, p) exp(-½λx² + hx) dx per step, written without dividing by p.
        a = torch.stack([m[0] for m in pm], dim=1)
        p = torch.stack([c[0] for c in pc], dim=1)
        denom = 1.0 + precision * p
        log_step = -0.5 * torch.log(denom) + 0.5 * (info.square() * p + 2 * a * info - a.square() * precision) / denom
        log_normalizer = log_step.sum(dim=(1, 2, 3))
        position_mean = smoothed_mean
        # Clamp: round-off in the RTS recursion can push a tiny variance below zero.
        position_var = smoothed_var.clamp_min(torch.finfo(out_dtype).tiny)
        # E_q[log p(s)] + H[q] = log Z - E_q[log message], exact for the linear-Gaussian model.
        second_moment = position_mean.square() + position_var
        expected_message = (info * position_mean - 0.5 * precision * second_moment).sum(dim=(1, 2, 3))
        posterior = Gaussian(mean=position_mean.to(out_dtype), variance=position_var.to(out_dtype))
        return DynamicsResult(posterior=posterior, elbo=(log_normalizer - expected_message).to(out_dtype))
