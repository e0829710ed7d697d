"""Domain-independent starting points for variational EM.

:func:`block_warm_start` is the MixDVAE paper's warm start made generic: the sequence is
cut into blocks; EM runs on each block from a trajectory seeded by the previous block's
last frame, and the concatenated block posteriors start the full fit. With
``extrapolate=True`` (the default) the seed continues the previous block's recent motion
instead of standing still, which keeps crossing sources apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from mixseq.errors import InputError
from mixseq.interfaces import Gaussian, Initialization

if TYPE_CHECKING:
    from mixseq.engine import Engine

__all__ = ["block_warm_start", "trajectory_initialization"]


def trajectory_initialization(
    start: Tensor, velocity: Tensor | None, n_steps: int, variance: Tensor | float
) -> Initialization:
    """A straight-line (or constant, ``velocity=None``) posterior from ``start``.

    ``start`` and ``velocity``: shape ``(batch, source, state)``. Returns a posterior of
    shape ``(batch, time, source, state)`` with the given variance everywhere.
    """
    steps = torch.arange(n_steps, dtype=start.real.dtype, device=start.device).view(1, n_steps, 1, 1)
    mean = start.unsqueeze(1).expand(-1, n_steps, -1, -1)
    if velocity is not None:
        mean = mean + steps * velocity.unsqueeze(1)
    var = torch.as_tensor(variance, dtype=start.real.dtype, device=start.device)
    return Initialization(posterior=Gaussian(mean=mean.contiguous(),
                                             variance=var.expand(mean.shape).contiguous()))


def block_warm_start(
    engine: Engine,
    obs: Any,
    obs_mask: Any = None,
    time_mask: Any = None,
    *,
    n_sources: int,
    block_size: int = 30,
    iterations: int = 20,
    extrapolate: bool = True,
    velocity_window: int = 5,
    generator: torch.Generator | int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Initialization:
    """Fit block after block and return the concatenated posterior as an initialisation.

    ``obs``: shape ``(batch, time, obs, obs_dim)``; masks as in :meth:`Engine.run`. The
    first block starts from the observation model's own initialisation, whose
    ``initial_state`` (the prior at ``t = 0``, if any) is kept in the result.
    """
    if block_size < 2:
        raise InputError(f"block_size: expected an integer >= 2, got {block_size!r}")
    prepared = engine._prepare(obs, obs_mask, time_mask, device, dtype)
    gen = generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        gen = torch.Generator(device=prepared.obs.device).manual_seed(generator)
    if gen is not None and not isinstance(gen, torch.Generator):
        raise InputError(f"generator: expected a torch.Generator or an int seed, got {type(generator).__name__}")
    n_steps = prepared.obs.shape[1]
    block_engine = engine.with_config(max_iterations=iterations, tolerance=None, keep_history=False)
    means, variances = [], []
    first = engine.observation_model.initialize(prepared.obs[:, :block_size], prepared.obs_mask[:, :block_size],
                                                n_sources, generator=gen)
    seed: Initialization | None = first
    for start in range(0, n_steps, block_size):
        stop = min(start + block_size, n_steps)
        result = block_engine.run(prepared.obs[:, start:stop], prepared.obs_mask[:, start:stop],
                                  prepared.time_mask[:, start:stop], n_sources=n_sources, init=seed,
                                  generator=gen)
        means.append(result.posterior.mean)
        variances.append(result.posterior.variance)
        if stop < n_steps:
            seed = _next_seed(result.posterior, min(block_size, n_steps - stop), extrapolate, velocity_window)
    posterior = Gaussian(mean=torch.cat(means, dim=1), variance=torch.cat(variances, dim=1))
    return Initialization(posterior=posterior, initial_state=first.initial_state)


def _next_seed(posterior: Gaussian, n_steps: int, extrapolate: bool, window: int) -> Initialization:
    last = posterior.mean[:, -1]
    velocity = None
    if extrapolate and posterior.mean.shape[1] > 1:
        span = min(window, posterior.mean.shape[1] - 1)
        velocity = (last - posterior.mean[:, -1 - span]) / span
        last = last + velocity  # the next block starts one step later
    return trajectory_initialization(last, velocity, n_steps, posterior.variance[:, -1].unsqueeze(1))
