"""Vector observations with isotropic or diagonal Gaussian noise: ``o = s + ε``."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mixseq.errors import InputError
from mixseq.interfaces import Gaussian, GaussianMessage, Initialization, ObservationModel


class GaussianObservationModel(ObservationModel):
    """``p(o_tk | w_tk = n, s_tn) = N(o_tk; s_tn, diag σ²)`` with a learnable-by-EM ``σ²``.

    Parameters
    ----------
    obs_dim
        Size of one observation vector (and of the state).
    noise_variance
        ``σ²``: a positive scalar or one value per dimension.
    update_noise
        Re-estimate ``σ²`` in the M step (shared over dimensions stays per dimension).
    assignment_scale
        Multiplier on the E-W scores (1 is exact variational EM).
    """

    noise_variance: Tensor

    def __init__(
        self,
        *,
        obs_dim: int,
        noise_variance: float | Tensor = 1.0,
        update_noise: bool = False,
        assignment_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if not isinstance(obs_dim, int) or obs_dim < 1:
            raise InputError(f"obs_dim: expected a positive int, got {obs_dim!r}")
        variance = torch.as_tensor(noise_variance, dtype=torch.get_default_dtype()).expand(obs_dim).clone()
        if not bool(torch.all(variance > 0)) or not bool(torch.all(torch.isfinite(variance))):
            raise InputError(f"noise_variance: expected positive finite values, got {noise_variance!r}")
        if assignment_scale <= 0:
            raise InputError(f"assignment_scale: expected a positive number, got {assignment_scale!r}")
        self.obs_dim = obs_dim
        self.update_noise = update_noise
        self.assignment_scale = float(assignment_scale)
        self.register_buffer("noise_variance", variance)

    def state_dim(self, obs_dim: int) -> int:
        return obs_dim

    def message(self, obs: Tensor, obs_mask: Tensor, assignments: Tensor) -> GaussianMessage:
        weights = assignments * obs_mask.unsqueeze(-1).to(assignments.dtype)
        inverse_variance = 1.0 / self.noise_variance.to(obs.dtype)
        total_weight = weights.sum(dim=2)  # (batch, time, source)
        precision = total_weight.unsqueeze(-1) * inverse_variance
        precision_mean = torch.einsum("btkn,btkd->btnd", weights, obs) * inverse_variance
        return GaussianMessage(precision=precision, precision_mean=precision_mean)

    def expected_log_likelihood(self, obs: Tensor, obs_mask: Tensor, posterior: Gaussian) -> Tensor:
        variance = self.noise_variance.to(obs.dtype)
        inverse_variance = 1.0 / variance
        # ||o - m||²_Λ = o'Λo - 2 o'Λm + m'Λm: three small contractions instead of a
        # (batch, time, obs, source, state) difference tensor.
        obs_term = torch.einsum("btkd,d->btk", obs.square(), inverse_variance).unsqueeze(-1)
        cross = torch.einsum("btkd,btnd->btkn", obs * inverse_variance, posterior.mean)
        mean_term = torch.einsum("btnd,d->btn", posterior.second_moment(), inverse_variance).unsqueeze(2)
        log_norm = -0.5 * (self.obs_dim * math.log(2 * math.pi) + variance.log().sum())
        ell = log_norm - 0.5 * (obs_term - 2 * cross + mean_term)
        return ell * obs_mask.unsqueeze(-1).to(ell.dtype)

    def m_step(self, obs: Tensor, obs_mask: Tensor, assignments: Tensor, posterior: Gaussian) -> None:
        if not self.update_noise:
            return
        weights = assignments * obs_mask.unsqueeze(-1).to(assignments.dtype)
        squared = (
            torch.einsum("btkn,btkd->d", weights, obs.square())
            - 2 * torch.einsum("btkn,btkd,btnd->d", weights, obs, posterior.mean)
            + torch.einsum("btkn,btnd->d", weights, posterior.second_moment())
        )
        total = weights.sum().clamp_min(1.0)  # no observation at all: keep a finite estimate
        # Floor so that a perfect fit cannot drive σ² to zero and the next E step to inf.
        self.noise_variance.copy_((squared / total).clamp_min(1e-8))

    def initialize(
        self, obs: Tensor, obs_mask: Tensor, n_sources: int, *, generator: torch.Generator | None
    ) -> Initialization:
        return first_frame_initialization(obs, obs_mask, n_sources, generator=generator)

    def extra_repr(self) -> str:
        return f"obs_dim={self.obs_dim}, update_noise={self.update_noise}, assignment_scale={self.assignment_scale}"


def first_frame_initialization(
    obs: Tensor, obs_mask: Tensor, n_sources: int, *, generator: torch.Generator | None
) -> Initialization:
    """Seed source ``n`` with the ``n``-th observation of each sequence's first full frame.

    The first full frame is the first with at least ``N`` observations, or else the one with
    the most. When that frame has fewer than ``N`` observations, the remaining sources reuse them in
    turn, jittered by a tenth of the observations' spread in fixed directions so that they can
    separate. The
    posterior is constant over time with the observations' variance. An empty sequence
    starts at zero.

    ``obs``: shape ``(batch, time, obs, obs_dim)``; ``obs_mask``: ``(batch, time, obs)``.
    Returns a posterior of shape ``(batch, time, source, obs_dim)``.
    """
    n_batch, n_steps, _n_obs, obs_dim = obs.shape
    weights = obs_mask.to(obs.dtype)
    counts = obs_mask.sum(dim=2)  # (batch, time)
    enough = counts >= n_sources
    # The first frame that sees every source; failing that, the fullest frame (0 if empty).
    first_frame = torch.where(enough.any(dim=1), torch.argmax(enough.to(torch.int8), dim=1),
                              torch.argmax(counts, dim=1))
    batch_index = torch.arange(n_batch, device=obs.device)
    frame_obs = obs[batch_index, first_frame]  # (batch, obs, obs_dim)
    frame_mask = obs_mask[batch_index, first_frame]  # (batch, obs)
    count = frame_mask.sum(dim=1)  # (batch,)
    # Stable sort puts the valid observations first, in their original order.
    order = torch.argsort((~frame_mask).to(torch.int8), dim=1, stable=True)
    source_index = torch.arange(n_sources, device=obs.device)
    slot = torch.remainder(source_index.unsqueeze(0), count.clamp_min(1).unsqueeze(1))  # (batch, source)
    seeds = torch.gather(frame_obs, 1, torch.gather(order, 1, slot).unsqueeze(-1).expand(-1, -1, obs_dim))
    seeds = seeds * (count > 0).to(obs.dtype)[:, None, None]

    total = weights.sum(dim=(1, 2)).clamp_min(1.0)[:, None]  # empty sequence: avoid 0/0
    mean_obs = torch.einsum("btk,btkd->bd", weights, obs) / total
    spread = (torch.einsum("btk,btkd->bd", weights, obs.square()) / total - mean_obs.square()).clamp_min(0)
    spread = torch.where(spread > 0, spread, torch.ones_like(spread))  # one observation: unit scale
    duplicate = (source_index.unsqueeze(0) >= count.unsqueeze(1)).to(obs.dtype).unsqueeze(-1)
    # The jitter depends on the source index only, never on the batch, so that a batched
    # fit equals the same sequences fitted one by one.
    directions = torch.randn(n_sources, obs_dim, generator=torch.Generator().manual_seed(n_sources), dtype=obs.dtype)
    seeds = seeds + duplicate * 0.1 * spread.sqrt().unsqueeze(1) * directions.to(obs.device)

    mean = seeds.unsqueeze(1).expand(n_batch, n_steps, n_sources, obs_dim).contiguous()
    variance = spread.unsqueeze(1).unsqueeze(1).expand_as(mean).contiguous()
    return Initialization(posterior=Gaussian(mean=mean, variance=variance))
