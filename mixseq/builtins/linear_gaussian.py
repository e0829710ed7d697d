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


def _transition(order: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    if order == 1:
        return torch.ones(1, 1, dtype=dtype, device=device)
    return torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=dtype, device=device)


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

    def _process_covariance(self, n_state: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """Shape ``(state, order, order)``: noise only on the last internal coordinate."""
        q = self.process_variance.to(dtype=dtype, device=device).expand(n_state)
        cov = torch.zeros(n_state, self.order, self.order, dtype=dtype, device=device)
        cov[:, -1, -1] = q
        return cov

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
        precision = message.precision * time_mask[:, :, None, None].to(message.precision.dtype)
        info = message.precision_mean * time_mask[:, :, None, None].to(message.precision.dtype)
        n_batch, n_steps, n_sources, n_state = precision.shape
        dtype, device, order = precision.dtype, precision.device, self.order
        transition = _transition(order, dtype, device)
        noise = self._process_covariance(n_state, dtype, device)  # (state, S, S)

        mean = torch.zeros(n_batch, n_sources, n_state, order, dtype=dtype, device=device)
        cov = torch.zeros(n_batch, n_sources, n_state, order, order, dtype=dtype, device=device)
        if initial_state is not None:
            mean[..., 0] = initial_state.mean
            cov[..., 0, 0] = initial_state.variance
        else:
            mean[..., 0] = self.initial_mean
            cov[..., 0, 0] = self.initial_variance
        if order == 2:
            cov[..., 1, 1] = self.initial_variance

        filtered_means, filtered_covs, predicted_means, predicted_covs = [], [], [], []
        log_normalizer = torch.zeros(n_batch, dtype=dtype, device=device)
        for t in range(n_steps):
            if t > 0:
                mean = mean @ transition.T
                cov = transition @ cov @ transition.T + noise
            predicted_means.append(mean)
            predicted_covs.append(cov)
            lam, h = precision[:, t], info[:, t]  # (batch, source, state)
            a, p = mean[..., 0], cov[..., 0, 0]
            denom = 1.0 + lam * p
            # log ∫ N(x; a, p) exp(-½λx² + hx) dx, written without dividing by p.
            log_normalizer = log_normalizer + (
                -0.5 * torch.log(denom) + 0.5 * (h.square() * p + 2 * a * h - a.square() * lam) / denom
            ).sum(dim=(1, 2))
            gain = cov[..., :, 0] / denom.unsqueeze(-1)  # P H / (1 + λ H'PH)
            mean = mean + gain * (h - lam * a).unsqueeze(-1)
            cov = cov - (lam.unsqueeze(-1) * gain).unsqueeze(-1) * cov[..., 0, :].unsqueeze(-2)
            filtered_means.append(mean)
            filtered_covs.append(cov)

        smoothed_mean = [filtered_means[-1]]
        smoothed_cov = [filtered_covs[-1]]
        for t in range(n_steps - 2, -1, -1):
            pf_cov = filtered_covs[t]
            pred_cov_next = predicted_covs[t + 1]
            # J = P_f A' P_pred⁻¹, via a solve on the transposed system.
            gain = torch.linalg.solve(pred_cov_next, transition @ pf_cov).transpose(-1, -2)
            mean_next = filtered_means[t] + (gain @ (smoothed_mean[-1] - predicted_means[t + 1]).unsqueeze(-1)).squeeze(-1)
            cov_next = pf_cov + gain @ (smoothed_cov[-1] - pred_cov_next) @ gain.transpose(-1, -2)
            smoothed_mean.append(mean_next)
            smoothed_cov.append(cov_next)
        smoothed_mean.reverse()
        smoothed_cov.reverse()
        position_mean = torch.stack([m[..., 0] for m in smoothed_mean], dim=1)  # (batch, time, source, state)
        # Clamp: round-off in the RTS recursion can push a tiny variance below zero.
        position_var = torch.stack([c[..., 0, 0] for c in smoothed_cov], dim=1).clamp_min(torch.finfo(dtype).tiny)
        posterior = Gaussian(mean=position_mean, variance=position_var)
        # E_q[log p(s)] + H[q] = log Z - E_q[log message], exact for the linear-Gaussian model.
        expected_message = (info * position_mean - 0.5 * precision * posterior.second_moment()).sum(dim=(1, 2, 3))
        return DynamicsResult(posterior=posterior, elbo=log_normalizer - expected_message)
