"""Calibrating a learned dynamics model's predictive variance to the data, per sequence, by the ELBO.

A network trained on synthetic trajectories can be far too sure of its predictions on real
pedestrians: its predictive variance is then much smaller than the detection noise, the
posterior follows the prediction instead of the detections, and the tracks drift. Scaling
the predictive variance (``variance_scale`` of :class:`mixseq_dvae.dynamics.DVAEDynamicsModel`)
by the factor that maximises the ELBO is empirical Bayes: :func:`calibrate_variance_scale`
fits every sequence briefly once per candidate factor (one batched fit per factor) and
returns, per sequence, the factor with the highest final ELBO. Dynamics without a
``variance_scale`` (VKF) are left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import torch
from torch import Tensor

from mixseq.interfaces import DynamicsModel, Gaussian
from mixseq.results import FitResult
from mixseq_mot.recovery import choose_best, initialize

__all__ = ["calibrate_variance_scale", "combine_fits", "scalable_dynamics", "variance_scaled"]


def scalable_dynamics(engine: Any) -> list[DynamicsModel]:
    """The engine's distinct dynamics models that have a numeric ``variance_scale``."""
    unique = {id(m): m for m in engine.dynamics}
    return [m for m in unique.values() if isinstance(getattr(m, "variance_scale", None), (int, float))]


@contextlib.contextmanager
def variance_scaled(models: Sequence[DynamicsModel], factor: float) -> Iterator[None]:
    """Multiply every model's ``variance_scale`` by ``factor`` inside the block; restore it after."""
    saved: list[float] = [float(getattr(m, "variance_scale")) for m in models]  # noqa: B009
    try:
        for model, value in zip(models, saved, strict=True):
            setattr(model, "variance_scale", value * factor)  # noqa: B010 - an attribute of some models only
        yield
    finally:
        for model, value in zip(models, saved, strict=True):
            setattr(model, "variance_scale", value)  # noqa: B010


def calibrate_variance_scale(
    engine: Any,
    obs: Tensor,
    obs_mask: Tensor,
    time_mask: Tensor,
    *,
    n_sources: int,
    factors: Sequence[float],
    iterations: int = 10,
    start: str = "link",
    generator: torch.Generator | int | None = None,
) -> Tensor:
    """Per sequence, the index into ``factors`` of the predictive-variance scale with the best ELBO.

    Each factor is one batched fit of ``iterations`` EM iterations (no stopping test) from
    the ``start`` initialisation. ``obs``: shape ``(batch, time, obs, 4)``, zero where
    masked; masks as in :func:`~mixseq_mot.recovery.multi_start`. Returns shape
    ``(batch,)``; ties go to the earlier factor.
    """
    models = scalable_dynamics(engine)
    if not models or len(factors) < 2:
        return torch.zeros(obs.shape[0], dtype=torch.long, device=obs.device)
    init = initialize(engine, obs, obs_mask, time_mask, n_sources=n_sources, method=start, generator=generator)
    short = engine.with_config(max_iterations=iterations, tolerance=None, keep_history=False)
    finals = []
    for factor in factors:  # one batched fit per candidate factor
        with variance_scaled(models, factor):
            fit = short.run(obs, obs_mask, time_mask, n_sources=n_sources, init=init, generator=generator)
        finals.append(fit.elbo[-1])
    return choose_best(torch.stack(finals))


def combine_fits(parts: Sequence[tuple[Tensor, FitResult]], n_batch: int) -> FitResult:
    """One fit of the whole batch from fits of disjoint row sets ``(rows, fit)``.

    ELBO traces of different lengths are padded by holding each trace's last value (that
    part had stopped); ``n_iterations`` is the longest, ``converged`` whether all were.
    """
    if len(parts) == 1 and parts[0][0].numel() == n_batch:
        return parts[0][1]
    first = parts[0][1]
    length = max(fit.elbo.shape[0] for _, fit in parts)

    def blank(x: Tensor) -> Tensor:
        return x.new_zeros((n_batch, *x.shape[1:]))

    mean, variance = blank(first.posterior.mean), blank(first.posterior.variance)
    assignments, obs_mask, time_mask = blank(first.assignments), blank(first.obs_mask), blank(first.time_mask)
    elbo = first.elbo.new_zeros((length, n_batch))
    for rows, fit in parts:
        mean[rows] = fit.posterior.mean
        variance[rows] = fit.posterior.variance
        assignments[rows] = fit.assignments
        obs_mask[rows] = fit.obs_mask
        time_mask[rows] = fit.time_mask
        trace = fit.elbo
        elbo[:, rows] = torch.cat([trace, trace[-1:].expand(length - trace.shape[0], -1)])
    return attrs.evolve(first, posterior=Gaussian(mean=mean, variance=variance), assignments=assignments,
                        elbo=elbo, obs_mask=obs_mask, time_mask=time_mask, n_iterations=length,
                        converged=all(fit.converged for _, fit in parts), history=None)
