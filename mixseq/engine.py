"""Variational EM for a mixture of sequence models, batched and masked.

One iteration: E-W (assignments from the scores under ``q(s)``), E-S (each dynamics model
turns the observation messages into ``q(s)``), E-Z (latent update), M (parameters), then
the ELBO. Python loops run only over iterations; batch, sources, observations and state
are tensor dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

from mixseq.builtins.uniform import UniformAssignmentPrior
from mixseq.errors import InputError, ShapeError
from mixseq.interfaces import (
    AssignmentPrior,
    DynamicsModel,
    Gaussian,
    GaussianMessage,
    Initialization,
    ObservationModel,
)
from mixseq.progress import ProgressBar
from mixseq.results import FitResult

__all__ = ["EMConfig", "Engine"]


def _positive(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 1:
        raise InputError(f"{attribute.name}: expected an integer >= 1, got {value!r}")


def _optional_tolerance(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise InputError(f"{attribute.name}: expected a positive number or None, got {value!r}")


@attrs.frozen(kw_only=True)
class EMConfig:
    """How long variational EM runs and what it keeps.

    ``max_iterations``: the iteration count (70 in the paper). ``tolerance``: stop once the
    relative ELBO change ``|ΔL| / |L|`` stays below it for ``patience`` iterations in a row
    (``None``: always run ``max_iterations``). ``min_iterations``: never stop before.
    ``keep_history``: keep the posterior means of every iteration.
    """

    max_iterations: int = attrs.field(default=70, validator=_positive)
    tolerance: float | None = attrs.field(default=None, validator=_optional_tolerance)
    patience: int = attrs.field(default=1, validator=_positive)
    min_iterations: int = attrs.field(default=1, validator=_positive)
    keep_history: bool = False


@attrs.frozen
class _Inputs:
    obs: Tensor
    obs_mask: Tensor
    time_mask: Tensor


class Engine:
    """Composes the components and fits them by variational EM.

    Parameters
    ----------
    observation_model
        How observations arise from their source's state.
    dynamics
        One :class:`DynamicsModel` shared by every source, or one per source (the same
        object may appear several times; sources sharing a model are run in one call).
    assignment_prior
        ``p(w)``; the uniform independent prior by default.
    config
        An :class:`EMConfig`; keyword overrides such as ``max_iterations=10`` also work.
    """

    def __init__(
        self,
        *,
        observation_model: ObservationModel,
        dynamics: DynamicsModel | Sequence[DynamicsModel],
        assignment_prior: AssignmentPrior | None = None,
        config: EMConfig | None = None,
        **config_overrides: Any,
    ) -> None:
        if not isinstance(observation_model, ObservationModel):
            raise InputError(
                f"observation_model: expected a mixseq.ObservationModel, got {type(observation_model).__name__}"
            )
        models = [dynamics] if isinstance(dynamics, DynamicsModel) else list(dynamics)
        if not models or not all(isinstance(m, DynamicsModel) for m in models):
            got = type(dynamics).__name__ if not models else ", ".join(type(m).__name__ for m in models)
            raise InputError(f"dynamics: expected a mixseq.DynamicsModel or a sequence of them, got {got}")
        prior = assignment_prior if assignment_prior is not None else UniformAssignmentPrior()
        if not isinstance(prior, AssignmentPrior):
            raise InputError(f"assignment_prior: expected a mixseq.AssignmentPrior, got {type(prior).__name__}")
        self.observation_model = observation_model
        self.assignment_prior = prior
        self.dynamics: list[DynamicsModel] = models
        self.shared_dynamics = isinstance(dynamics, DynamicsModel)
        self.config = attrs.evolve(config or EMConfig(), **config_overrides)
        for model in models:
            if model.is_complex != observation_model.is_complex:
                raise InputError(
                    f"dynamics: {type(model).__name__} models {'complex' if model.is_complex else 'real'} states "
                    f"but {type(observation_model).__name__} produces "
                    f"{'complex' if observation_model.is_complex else 'real'} ones"
                )

    def with_config(self, **overrides: Any) -> Engine:
        """A new engine sharing these components, with EM settings changed."""
        dynamics: DynamicsModel | list[DynamicsModel] = self.dynamics[0] if self.shared_dynamics else self.dynamics
        return Engine(observation_model=self.observation_model, dynamics=dynamics,
                      assignment_prior=self.assignment_prior, config=attrs.evolve(self.config, **overrides))

    # ------------------------------------------------------------------ set-up
    def _groups(self, n_sources: int, device: torch.device) -> list[tuple[DynamicsModel, Tensor | None]]:
        """Distinct dynamics models with the indices of the sources they drive."""
        if self.shared_dynamics:
            return [(self.dynamics[0], None)]
        if len(self.dynamics) != n_sources:
            raise InputError(
                f"dynamics: expected one model per source ({n_sources}), got {len(self.dynamics)}"
            )
        groups: dict[int, tuple[DynamicsModel, list[int]]] = {}
        for index, model in enumerate(self.dynamics):
            groups.setdefault(id(model), (model, []))[1].append(index)
        if len(groups) == 1:
            return [(self.dynamics[0], None)]
        return [(model, torch.tensor(idx, device=device)) for model, idx in groups.values()]

    def _modules(self) -> list[torch.nn.Module]:
        unique = {id(m): m for m in self.dynamics}
        return [self.observation_model, self.assignment_prior, *unique.values()]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Engine:
        """Move every component to ``device`` and/or floating ``dtype``; returns ``self``."""
        for module in self._modules():
            module.to(device=device, dtype=dtype)
        return self

    def _prepare(
        self, obs: Any, obs_mask: Any, time_mask: Any, device: torch.device | str | None, dtype: torch.dtype | None
    ) -> _Inputs:
        model = self.observation_model
        obs_t = _as_tensor("obs", obs)
        if obs_t.dim() == 3:
            obs_t = obs_t.unsqueeze(0)
            obs_mask = None if obs_mask is None else _as_tensor("obs_mask", obs_mask).unsqueeze(0)
            time_mask = None if time_mask is None else _as_tensor("time_mask", time_mask).unsqueeze(0)
        model.validate(obs_t)
        if dtype is not None and not (dtype.is_floating_point or dtype.is_complex):
            raise InputError(f"dtype: expected a floating dtype, got {dtype}")
        real_dtype = dtype or (obs_t.real.dtype if obs_t.is_floating_point() or obs_t.is_complex() else torch.float32)
        if real_dtype.is_complex:
            real_dtype = torch.empty(0, dtype=real_dtype).real.dtype
        complex_dtype = torch.complex64 if real_dtype == torch.float32 else torch.complex128
        target_dtype = complex_dtype if model.is_complex else real_dtype
        obs_t = obs_t.to(device=device, dtype=target_dtype)
        n_batch, n_steps, n_obs, _ = obs_t.shape
        mask = _mask("obs_mask", obs_mask, (n_batch, n_steps, n_obs), obs_t.device)
        tmask = _mask("time_mask", time_mask, (n_batch, n_steps), obs_t.device)
        mask = mask & tmask.unsqueeze(-1)
        finite = torch.isfinite(obs_t).all(dim=-1)
        if bool((mask & ~finite).any()):
            where = (mask & ~finite).nonzero()[0].tolist()
            raise InputError(
                f"obs: expected finite values wherever obs_mask is True, got NaN or inf at (batch, time, obs) = "
                f"{tuple(where)}"
            )
        obs_t = torch.where(mask.unsqueeze(-1), obs_t, torch.zeros((), dtype=obs_t.dtype, device=obs_t.device))
        return _Inputs(obs=obs_t, obs_mask=mask, time_mask=tmask)

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        obs: Any,
        obs_mask: Any = None,
        time_mask: Any = None,
        *,
        n_sources: int,
        init: Initialization | None = None,
        generator: torch.Generator | int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        progress: bool = False,
    ) -> Any:
        """Fit and return the result as an :class:`xarray.Dataset`.

        See :meth:`run` for the arguments; this is ``run(...).to_dataset()``.
        """
        return self.run(obs, obs_mask, time_mask, n_sources=n_sources, init=init, generator=generator,
                        device=device, dtype=dtype, progress=progress).to_dataset()

    def run(
        self,
        obs: Any,
        obs_mask: Any = None,
        time_mask: Any = None,
        *,
        n_sources: int,
        init: Initialization | None = None,
        generator: torch.Generator | int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        progress: bool = False,
    ) -> FitResult:
        """Run variational EM on a batch of sequences.

        Parameters
        ----------
        obs
            Observations. Shape ``(batch, time, obs, obs_dim)``, or ``(time, obs, obs_dim)``
            for one sequence. Padded entries may hold anything (NaN included) if masked.
        obs_mask
            ``True`` where an observation exists. Shape ``(batch, time, obs)``; default all.
        time_mask
            ``True`` on the valid frames of each sequence. Shape ``(batch, time)``; default all.
        n_sources
            Number of sources ``N`` (>= 1).
        init
            Starting point; by default the observation model's :meth:`initialize`.
        generator
            A :class:`torch.Generator` or an integer seed, for every random draw.
        device, dtype
            Where and in which floating precision to run (moves the components).
        progress
            Show a progress bar on a terminal.
        """
        if isinstance(n_sources, bool) or not isinstance(n_sources, int) or n_sources < 1:
            raise InputError(f"n_sources: expected an integer >= 1, got {n_sources!r}")
        inputs = self._prepare(obs, obs_mask, time_mask, device, dtype)
        real_dtype = inputs.obs.real.dtype
        self.to(device=inputs.obs.device, dtype=real_dtype)
        gen, seed = _generator(generator, inputs.obs.device)
        groups = self._groups(n_sources, inputs.obs.device)
        for model, _ in groups:
            model.begin_fit()
        try:
            with torch.no_grad():
                result = self._iterate(inputs, n_sources, init, gen, groups, progress)
        finally:
            for model, _ in groups:
                model.end_fit()
        return attrs.evolve(result, seed=seed, config=self.describe())

    def _iterate(
        self,
        inputs: _Inputs,
        n_sources: int,
        init: Initialization | None,
        generator: torch.Generator | None,
        groups: list[tuple[DynamicsModel, Tensor | None]],
        show_progress: bool,
    ) -> FitResult:
        obs, obs_mask, time_mask = inputs.obs, inputs.obs_mask, inputs.time_mask
        model, prior, config = self.observation_model, self.assignment_prior, self.config
        if init is None:
            init = model.initialize(obs, obs_mask, n_sources, generator=generator)
        posterior = _check_init(init, obs, n_sources, model)
        assignments = init.assignments
        latents = [dyn.e_z_step(_select(posterior, idx), time_mask, generator=generator) for dyn, idx in groups]
        scores = model.expected_log_likelihood(obs, obs_mask, posterior)
        elbos: list[Tensor] = []
        history: list[Tensor] = []
        calm, converged = 0, False
        with ProgressBar(config.max_iterations, desc="variational EM", enabled=show_progress) as bar:
            for iteration in range(config.max_iterations):
                if iteration > 0 or assignments is None:
                    assignments = prior.posterior(scores * model.assignment_scale, obs_mask)  # E-W
                message = model.message(obs, obs_mask, assignments)
                posterior, dynamics_elbo = self._e_s(message, time_mask, latents, init, generator, groups)  # E-S
                latents = [dyn.e_z_step(_select(posterior, idx), time_mask, generator=generator)  # E-Z
                           for dyn, idx in groups]
                model.m_step(obs, obs_mask, assignments, posterior)  # M
                prior.m_step(assignments, obs_mask)
                for (dyn, idx), latent in zip(groups, latents, strict=True):
                    dyn.m_step(_select(posterior, idx), time_mask, latent)
                scores = model.expected_log_likelihood(obs, obs_mask, posterior)
                elbo = self._assignment_elbo(scores, assignments, obs_mask, n_sources) + dynamics_elbo
                elbos.append(elbo)
                if config.keep_history:
                    history.append(posterior.mean)
                bar.update()
                if config.tolerance is not None and iteration > 0:
                    previous, current = float(elbos[-2].sum()), float(elbo.sum())
                    change = abs(current - previous) / max(abs(previous), 1e-12)
                    calm = calm + 1 if change < config.tolerance else 0
                    if calm >= config.patience and iteration + 1 >= config.min_iterations:
                        converged = True
                        break
        assert assignments is not None
        elbo_trace = torch.stack(elbos)
        if not bool(torch.isfinite(elbo_trace).all()):
            raise InputError(
                "the ELBO is not finite: an observation or variance is out of range for the model "
                "(check the observation scale and the noise settings)"
            )
        return FitResult(
            posterior=posterior, assignments=assignments, elbo=elbo_trace, obs_mask=obs_mask, time_mask=time_mask,
            n_iterations=len(elbos), converged=converged,
            history=torch.stack(history) if history else None,
        )

    def _e_s(
        self,
        message: GaussianMessage,
        time_mask: Tensor,
        latents: list[Any],
        init: Initialization,
        generator: torch.Generator | None,
        groups: list[tuple[DynamicsModel, Tensor | None]],
    ) -> tuple[Gaussian, Tensor]:
        if len(groups) == 1:
            result = groups[0][0].e_s_step(message, time_mask, latent=latents[0],
                                           initial_state=init.initial_state, generator=generator)
            return result.posterior, result.elbo
        mean = torch.empty_like(message.precision_mean)
        variance = torch.empty_like(message.precision)
        elbo = torch.zeros(message.precision.shape[0], dtype=message.precision.dtype, device=message.precision.device)
        for (dyn, idx), latent in zip(groups, latents, strict=True):
            assert idx is not None
            sub_message = GaussianMessage(precision=message.precision.index_select(2, idx),
                                          precision_mean=message.precision_mean.index_select(2, idx))
            initial = None if init.initial_state is None else Gaussian(
                mean=init.initial_state.mean.index_select(1, idx),
                variance=init.initial_state.variance.index_select(1, idx))
            result = dyn.e_s_step(sub_message, time_mask, latent=latent, initial_state=initial, generator=generator)
            mean.index_copy_(2, idx, result.posterior.mean)
            variance.index_copy_(2, idx, result.posterior.variance)
            elbo = elbo + result.elbo
        return Gaussian(mean=mean, variance=variance), elbo

    def _assignment_elbo(self, scores: Tensor, assignments: Tensor, obs_mask: Tensor, n_sources: int) -> Tensor:
        """``Σ η (E_q[log p(o|s)] + log p(w) - log η)`` per sequence. Shape ``(batch,)``."""
        log_prior = self.assignment_prior.log_prior(obs_mask, n_sources, scores.dtype)
        weights = assignments * obs_mask.unsqueeze(-1).to(assignments.dtype)
        terms = weights * (scores + log_prior) - torch.special.xlogy(weights, weights)
        return terms.sum(dim=(1, 2, 3))

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description of the configuration (for provenance)."""
        return {
            "observation_model": f"{type(self.observation_model).__name__}({self.observation_model.extra_repr()})",
            "assignment_prior": f"{type(self.assignment_prior).__name__}({self.assignment_prior.extra_repr()})",
            "dynamics": [f"{type(m).__name__}({m.extra_repr()})" for m in self.dynamics],
            "em": attrs.asdict(self.config),
        }


def _select(posterior: Gaussian, index: Tensor | None) -> Gaussian:
    if index is None:
        return posterior
    return Gaussian(mean=posterior.mean.index_select(2, index), variance=posterior.variance.index_select(2, index))


def _as_tensor(name: str, value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: expected a tensor or array, got {type(value).__name__}") from exc


def _mask(name: str, value: Any, shape: tuple[int, ...], device: torch.device) -> Tensor:
    if value is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    mask = _as_tensor(name, value)
    if tuple(mask.shape) != shape:
        dims = "(batch, time, obs)" if len(shape) == 3 else "(batch, time)"
        raise ShapeError(f"{name}: expected dims {dims} = {shape}, got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        raise InputError(f"{name}: expected a boolean tensor, got {mask.dtype}")
    return mask.to(device)


def _generator(
    generator: torch.Generator | int | None, device: torch.device
) -> tuple[torch.Generator | None, int | None]:
    if generator is None:
        return None, None
    if isinstance(generator, torch.Generator):
        return generator, generator.initial_seed()
    if isinstance(generator, int) and not isinstance(generator, bool):
        gen = torch.Generator(device=device)
        gen.manual_seed(generator)
        return gen, generator
    raise InputError(f"generator: expected a torch.Generator or an int seed, got {type(generator).__name__}")


def _check_init(init: Initialization, obs: Tensor, n_sources: int, model: ObservationModel) -> Gaussian:
    if not isinstance(init, Initialization):
        raise InputError(f"init: expected a mixseq.Initialization, got {type(init).__name__}")
    n_batch, n_steps, n_obs, obs_dim = obs.shape
    expected = (n_batch, n_steps, n_sources, model.state_dim(obs_dim))
    posterior = init.posterior
    if tuple(posterior.mean.shape) != expected:
        raise ShapeError(f"init.posterior: expected dims (batch, time, source, state) = {expected}, "
                         f"got {tuple(posterior.mean.shape)}")
    if not bool((posterior.variance > 0).all()) or not bool(torch.isfinite(posterior.variance).all()):
        raise InputError("init.posterior.variance: expected positive finite values")
    if init.assignments is not None and tuple(init.assignments.shape) != (n_batch, n_steps, n_obs, n_sources):
        raise ShapeError(f"init.assignments: expected dims (batch, time, obs, source) = "
                         f"{(n_batch, n_steps, n_obs, n_sources)}, got {tuple(init.assignments.shape)}")
    if init.initial_state is not None:
        state_shape = (n_batch, n_sources, expected[-1])
        if tuple(init.initial_state.mean.shape) != state_shape:
            raise ShapeError(f"init.initial_state: expected dims (batch, source, state) = {state_shape}, "
                             f"got {tuple(init.initial_state.mean.shape)}")
        if not bool((init.initial_state.variance > 0).all()):
            raise InputError("init.initial_state.variance: expected positive values")
    real = obs.real.dtype
    return Gaussian(mean=posterior.mean.to(device=obs.device, dtype=obs.dtype if model.is_complex else real),
                    variance=posterior.variance.to(device=obs.device, dtype=real))

