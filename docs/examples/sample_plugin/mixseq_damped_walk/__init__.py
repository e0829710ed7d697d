"""mixseq-damped-walk: a sample mixseq plugin that adds one dynamics model.

The damped random walk (a discretised Ornstein–Uhlenbeck process) pulls every state
coordinate back towards a level ``μ``::

    s_t = μ + φ (s_{t-1} − μ) + ε_t,    ε_t ~ N(0, q),    0 < φ ≤ 1

``φ = 1`` is the plain random walk; with ``φ < 1`` the state forgets where it was and
stays, in the long run, within ``N(μ, q / (1 − φ²))``. Its E-S step is an exact Kalman
smoother, run on every ``(batch, source, state)`` coordinate at once.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

import mixseq

__all__ = ["DampedRandomWalkDynamicsModel", "register_dynamics_models"]
__version__ = "0.1.0"


class DampedRandomWalkDynamicsModel(mixseq.DynamicsModel):
    """``s_t = μ + φ (s_{t-1} − μ) + ε_t``, ``ε_t ~ N(0, q)``, independently per coordinate.

    Parameters
    ----------
    damping
        ``φ`` in ``(0, 1]``: the fraction of the distance to ``level`` kept from one step to
        the next.
    process_variance
        ``q > 0``: the variance of the noise added at each step.
    level
        ``μ``: where the state is pulled to.
    initial_variance
        Variance of the state at ``t = 0`` when the engine gives no ``initial_state``; the
        default ``None`` uses the stationary variance ``q / (1 − φ²)`` (or ``100`` when
        ``φ = 1``, which has none).
    """

    def __init__(
        self,
        *,
        damping: float = 0.95,
        process_variance: float = 1e-3,
        level: float = 0.0,
        initial_variance: float | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < damping <= 1.0:
            raise mixseq.InputError(f"damping: expected a number in (0, 1], got {damping!r}")
        if not process_variance > 0:
            raise mixseq.InputError(f"process_variance: expected a positive number, got {process_variance!r}")
        if initial_variance is None:
            initial_variance = process_variance / (1.0 - damping**2) if damping < 1.0 else 100.0
        if not initial_variance > 0:
            raise mixseq.InputError(f"initial_variance: expected a positive number, got {initial_variance!r}")
        self.damping = float(damping)
        self.process_variance = float(process_variance)
        self.level = float(level)
        self.initial_variance = float(initial_variance)

    def extra_repr(self) -> str:
        return f"damping={self.damping}, process_variance={self.process_variance}, level={self.level}"

    def e_s_step(
        self,
        message: mixseq.GaussianMessage,
        time_mask: Tensor,
        *,
        latent: Any = None,
        initial_state: mixseq.Gaussian | None = None,
        generator: torch.Generator | None = None,
    ) -> mixseq.DynamicsResult:
        """Kalman filter and Rauch–Tung–Striebel smoother over time; exact posterior and ELBO term.

        ``message``: shape ``(batch, time, source, state)``; ``time_mask``: ``(batch, time)``.
        Returns the posterior marginals, shape ``(batch, time, source, state)``, and
        ``E_q[log p(s)] + H[q(s)]`` per sequence, shape ``(batch,)``.
        """
        if message.precision_mean.is_complex():
            raise mixseq.InputError("DampedRandomWalkDynamicsModel: expected real states, got complex messages")
        valid = time_mask[:, :, None, None].to(message.precision.dtype)
        precision = message.precision * valid  # frames after a sequence's end carry no message
        info = message.precision_mean * valid
        n_steps = precision.shape[1]
        phi, q, mu = self.damping, self.process_variance, self.level

        if initial_state is not None:
            mean = initial_state.mean.expand_as(precision[:, 0])
            variance = initial_state.variance.expand_as(precision[:, 0])
        else:
            mean = torch.full_like(precision[:, 0], mu)
            variance = torch.full_like(precision[:, 0], self.initial_variance)

        # Forward: predict, then update with the message in information form.
        predicted: list[tuple[Tensor, Tensor]] = []
        filtered: list[tuple[Tensor, Tensor]] = []
        for t in range(n_steps):
            if t > 0:
                mean = mu + phi * (mean - mu)
                variance = phi**2 * variance + q
            predicted.append((mean, variance))
            lam, h = precision[:, t], info[:, t]
            scale = 1.0 / (1.0 + lam * variance)
            mean = mean + variance * (h - lam * mean) * scale
            variance = variance * scale
            filtered.append((mean, variance))

        # Backward: smooth.
        means, variances = [mean], [variance]
        for t in range(n_steps - 2, -1, -1):
            f_mean, f_var = filtered[t]
            p_mean, p_var = predicted[t + 1]
            gain = f_var * phi / p_var
            mean = f_mean + gain * (mean - p_mean)
            variance = f_var + gain.square() * (variance - p_var)
            means.append(mean)
            variances.append(variance)
        posterior_mean = torch.stack(means[::-1], dim=1)
        posterior_var = torch.stack(variances[::-1], dim=1)

        # ELBO term: E_q[log p(s)] + H[q] = log Z − E_q[log message], where
        # Z = Π_t ∫ N(s; a_t, p_t) exp(−½ λ_t s² + h_t s) ds under the predictions (a_t, p_t).
        a = torch.stack([m for m, _ in predicted], dim=1)
        p = torch.stack([v for _, v in predicted], dim=1)
        denom = 1.0 + precision * p
        log_z = -0.5 * torch.log(denom) + 0.5 * (info.square() * p + 2 * a * info - a.square() * precision) / denom
        second_moment = posterior_mean.square() + posterior_var
        expected_log_message = info * posterior_mean - 0.5 * precision * second_moment
        elbo = (log_z - expected_log_message).sum(dim=(1, 2, 3))
        return mixseq.DynamicsResult(posterior=mixseq.Gaussian(mean=posterior_mean, variance=posterior_var), elbo=elbo)

    def stationary_std(self) -> float:
        """The long-run standard deviation around ``level`` (``inf`` for ``φ = 1``)."""
        return math.sqrt(self.process_variance / (1.0 - self.damping**2)) if self.damping < 1.0 else math.inf


@mixseq.hookimpl
def register_dynamics_models(register: Any) -> None:
    """Register ``damped_random_walk``: :class:`DampedRandomWalkDynamicsModel`."""
    register("damped_random_walk", DampedRandomWalkDynamicsModel)
