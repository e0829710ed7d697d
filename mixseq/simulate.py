"""Synthetic mixtures for tests, demos and benchmarks: crossing linear sources.

Each source moves on a straight line with a little random-walk jitter; the lines cross.
Every frame, each source emits one noisy observation with probability ``detect_prob``,
and the observations of a frame are shuffled, so their order says nothing of the source.
"""

from __future__ import annotations

import attrs
import torch
from torch import Tensor

from mixseq.errors import InputError

__all__ = ["SyntheticMixture", "crossing_sources"]


@attrs.frozen(kw_only=True)
class SyntheticMixture:
    """Observations with their truth.

    ``obs``: shape ``(batch, time, obs, state)``, ``obs = source`` count per frame.
    ``obs_mask``: ``(batch, time, obs)``. ``states``: ``(batch, time, source, state)``.
    ``labels``: the source of each observation, ``(batch, time, obs)``, ``-1`` where masked.
    """

    obs: Tensor
    obs_mask: Tensor
    states: Tensor
    labels: Tensor


def crossing_sources(
    *,
    n_batch: int,
    n_steps: int,
    n_sources: int,
    state_dim: int = 2,
    noise_std: float = 0.05,
    process_std: float = 0.001,
    detect_prob: float = 0.9,
    spread: float = 1.0,
    lane_gap: float = 0.3,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> SyntheticMixture:
    """Draw ``n_batch`` sequences of ``n_sources`` sources whose paths cross mid-sequence.

    Source ``n`` starts at height ``spread·(n - (N-1)/2)`` on the first axis and ends at the
    mirrored height, so all paths meet near the middle. On the other axes each source keeps
    to a lane ``lane_gap·spread`` from its neighbours and drifts slowly.
    """
    if n_sources < 1 or n_steps < 1 or n_batch < 1 or state_dim < 1:
        raise InputError("crossing_sources: n_batch, n_steps, n_sources and state_dim must be >= 1")
    if not 0.0 <= detect_prob <= 1.0:
        raise InputError(f"detect_prob: expected a probability in [0, 1], got {detect_prob!r}")

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator, dtype=dtype)

    offsets = spread * (torch.arange(n_sources, dtype=dtype) - (n_sources - 1) / 2)
    start = torch.zeros(n_batch, n_sources, state_dim, dtype=dtype)
    start[..., 0] = offsets + 0.1 * spread * randn(n_batch, n_sources)
    if state_dim > 1:
        # The other axes put each source in its own lane, in random order, so that paths
        # cross on the first axis while staying separable as a whole.
        lanes = torch.argsort(rand(n_batch, n_sources, state_dim - 1), dim=1).to(dtype)
        start[..., 1:] = lane_gap * spread * (lanes - (n_sources - 1) / 2)
    velocity = torch.zeros_like(start)
    velocity[..., 0] = -2 * start[..., 0] / max(n_steps - 1, 1)
    if state_dim > 1:
        velocity[..., 1:] = 0.05 * spread / max(n_steps, 1) * randn(n_batch, n_sources, state_dim - 1)
    # Constant velocity plus a velocity random walk: the linear-Gaussian model of order 2.
    velocity_noise = process_std * randn(n_batch, n_steps, n_sources, state_dim)
    velocity_noise[:, 0] = 0
    velocities = velocity.unsqueeze(1) + torch.cumsum(velocity_noise, dim=1)
    states = start.unsqueeze(1) + torch.cumsum(velocities, dim=1) - velocities[:, :1]

    detected = rand(n_batch, n_steps, n_sources) < detect_prob
    noisy = states + noise_std * randn(n_batch, n_steps, n_sources, state_dim)
    order = torch.argsort(rand(n_batch, n_steps, n_sources), dim=-1)  # shuffle within each frame
    obs = torch.gather(noisy, 2, order.unsqueeze(-1).expand_as(noisy))
    obs_mask = torch.gather(detected, 2, order)
    labels = torch.where(obs_mask, order, torch.full_like(order, -1))
    obs = torch.where(obs_mask.unsqueeze(-1), obs, torch.full_like(obs, float("nan")))
    return SyntheticMixture(obs=obs, obs_mask=obs_mask, states=states, labels=labels)
