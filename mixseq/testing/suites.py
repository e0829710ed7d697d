"""The shared checks behind :mod:`mixseq.testing`."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from mixseq.interfaces import AssignmentPrior, DynamicsModel, Gaussian, GaussianMessage, ObservationModel

__all__ = ["AssignmentPriorConformance", "DynamicsModelConformance", "ObservationModelConformance"]

N_STEPS, N_OBS, N_SOURCES = 6, 3, 2


def _devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _stack_equal(batched: Tensor, singles: list[Tensor], tol: float) -> None:
    stacked = torch.cat(singles, dim=0)
    assert batched.shape == stacked.shape, f"batched {tuple(batched.shape)} vs stacked {tuple(stacked.shape)}"
    assert torch.allclose(batched, stacked, atol=tol, rtol=tol), "a batched call differs from stacked single calls"


class ObservationModelConformance:
    """Checks for an :class:`~mixseq.ObservationModel`. Implement :meth:`make_model`."""

    #: Size of one observation vector given to the model.
    obs_dim: int = 4

    def make_model(self) -> ObservationModel:
        raise NotImplementedError

    def make_obs(self, n_batch: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
        """Observations of shape ``(batch, time, obs, obs_dim)``; override for special domains."""
        model = self.make_model()
        shape = (n_batch, N_STEPS, N_OBS, self.obs_dim)
        if model.is_complex:
            real = torch.randn(*shape, 2, generator=generator, dtype=dtype)
            return torch.complex(real[..., 0], real[..., 1])
        return torch.rand(*shape, generator=generator, dtype=dtype) + 0.5

    def _inputs(self, n_batch: int, dtype: torch.dtype = torch.float64) -> tuple[Any, ...]:
        generator = torch.Generator().manual_seed(0)
        model = self.make_model().to(dtype)
        obs = self.make_obs(n_batch, generator, dtype)
        mask = torch.rand(n_batch, N_STEPS, N_OBS, generator=generator) < 0.8
        assignments = torch.softmax(torch.randn(n_batch, N_STEPS, N_OBS, N_SOURCES, generator=generator,
                                                dtype=dtype), dim=-1)
        state_dim = model.state_dim(self.obs_dim)
        mean_dtype = obs.dtype if model.is_complex else dtype
        mean = obs.mean(dim=2, keepdim=True).expand(-1, -1, N_SOURCES, -1)
        if state_dim != self.obs_dim:
            mean = torch.zeros(n_batch, N_STEPS, N_SOURCES, state_dim, dtype=mean_dtype)
        posterior = Gaussian(mean=mean.to(mean_dtype).contiguous(),
                             variance=torch.full(mean.shape, 0.1, dtype=dtype))
        return model, obs, mask, assignments, posterior

    def test_shapes_batch_1_and_3(self) -> None:
        for n_batch in (1, 3):
            model, obs, mask, assignments, posterior = self._inputs(n_batch)
            model.validate(obs)
            message = model.message(obs, mask, assignments)
            state_dim = model.state_dim(self.obs_dim)
            assert message.precision.shape == (n_batch, N_STEPS, N_SOURCES, state_dim)
            assert message.precision_mean.shape == (n_batch, N_STEPS, N_SOURCES, state_dim)
            assert not message.precision.is_complex() and bool((message.precision >= 0).all())
            ell = model.expected_log_likelihood(obs, mask, posterior)
            assert ell.shape == (n_batch, N_STEPS, N_OBS, N_SOURCES)
            assert bool(torch.isfinite(ell).all())
            assert bool((ell[~mask] == 0).all()), "masked observations must score zero"

    def test_masked_observations_change_nothing(self) -> None:
        model, obs, mask, assignments, _posterior = self._inputs(2)
        garbage = obs.clone()
        garbage[~mask] = garbage[~mask] * 7 + 3
        first = model.message(obs, mask, assignments)
        second = model.message(garbage, mask, assignments)
        assert torch.allclose(first.precision, second.precision)
        assert torch.allclose(first.precision_mean, second.precision_mean)

    def test_batched_equals_stacked(self) -> None:
        model, obs, mask, assignments, posterior = self._inputs(3)
        batched = model.message(obs, mask, assignments)
        singles = [model.message(obs[i : i + 1], mask[i : i + 1], assignments[i : i + 1]) for i in range(3)]
        _stack_equal(batched.precision, [m.precision for m in singles], 1e-9)
        _stack_equal(batched.precision_mean, [m.precision_mean for m in singles], 1e-9)
        ell = model.expected_log_likelihood(obs, mask, posterior)
        ell_singles = [model.expected_log_likelihood(obs[i : i + 1], mask[i : i + 1],
                                                     posterior_slice(posterior, i)) for i in range(3)]
        _stack_equal(ell, ell_singles, 1e-9)

    def test_finite_gradients(self) -> None:
        model, obs, mask, _assignments, posterior = self._inputs(2)
        mean = posterior.mean.clone().requires_grad_(True)
        ell = model.expected_log_likelihood(obs, mask, Gaussian(mean=mean, variance=posterior.variance))
        ell.sum().backward()
        assert mean.grad is not None and bool(torch.isfinite(torch.view_as_real(mean.grad) if mean.is_complex()
                                                               else mean.grad).all())

    def test_float64_and_devices(self) -> None:
        for device in _devices():
            model, obs, mask, assignments, _posterior = self._inputs(1, torch.float64)
            model = model.to(device)
            message = model.message(obs.to(device), mask.to(device), assignments.to(device))
            assert message.precision.dtype == torch.float64
            assert message.precision.device.type == device


def posterior_slice(posterior: Gaussian, index: int) -> Gaussian:
    """Sequence ``index`` of a posterior, keeping the batch dimension."""
    return Gaussian(mean=posterior.mean[index : index + 1], variance=posterior.variance[index : index + 1])


class DynamicsModelConformance:
    """Checks for a :class:`~mixseq.DynamicsModel`. Implement :meth:`make_model`.

    Stochastic models (one reparameterised sample per E-Z step) are compared under the same
    seed; set ``stochastic = True`` when batched and single calls cannot draw the same noise.
    """

    state_dim: int = 4
    stochastic: bool = False
    tolerance: float = 1e-6

    def make_model(self) -> DynamicsModel:
        raise NotImplementedError

    def make_message(self, n_batch: int, dtype: torch.dtype) -> GaussianMessage:
        """A message of shape ``(batch, time, source, state)``; override for special domains."""
        generator = torch.Generator().manual_seed(1)
        shape = (n_batch, N_STEPS, N_SOURCES, self.state_dim)
        precision = torch.rand(*shape, generator=generator, dtype=dtype) * 50
        precision[:, 2] = 0  # a frame without observations
        mean = torch.rand(*shape, generator=generator, dtype=dtype)
        if self.make_model().is_complex:
            mean = torch.complex(mean, torch.rand(*shape, generator=generator, dtype=dtype))
        return GaussianMessage(precision=precision, precision_mean=precision * mean)

    def _run(self, model: DynamicsModel, message: GaussianMessage, seed: int = 0) -> Any:
        n_batch = message.precision.shape[0]
        time_mask = torch.ones(n_batch, N_STEPS, dtype=torch.bool, device=message.precision.device)
        generator = torch.Generator(device=message.precision.device).manual_seed(seed)
        variance = torch.ones_like(message.precision)
        mean = torch.where(message.precision > 0, message.precision_mean / message.precision.clamp_min(1e-9),
                           torch.zeros_like(message.precision_mean))
        start = Gaussian(mean=mean, variance=variance)
        latent = model.e_z_step(start, time_mask, generator=generator)
        return model.e_s_step(message, time_mask, latent=latent, initial_state=None, generator=generator)

    def test_shapes_batch_1_and_3(self) -> None:
        model = self.make_model().to(torch.float64)
        for n_batch in (1, 3):
            result = self._run(model, self.make_message(n_batch, torch.float64))
            shape = (n_batch, N_STEPS, N_SOURCES, self.state_dim)
            assert result.posterior.mean.shape == shape
            assert result.posterior.variance.shape == shape
            assert result.elbo.shape == (n_batch,)
            assert bool((result.posterior.variance > 0).all())
            assert bool(torch.isfinite(result.elbo).all())
            mean = result.posterior.mean
            assert bool(torch.isfinite(torch.view_as_real(mean) if mean.is_complex() else mean).all())

    def test_batched_equals_stacked(self) -> None:
        if self.stochastic:
            return
        model = self.make_model().to(torch.float64)
        message = self.make_message(3, torch.float64)
        batched = self._run(model, message)
        singles = [self._run(model, GaussianMessage(precision=message.precision[i : i + 1],
                                                    precision_mean=message.precision_mean[i : i + 1]))
                   for i in range(3)]
        _stack_equal(batched.posterior.variance, [s.posterior.variance for s in singles], self.tolerance)
        _stack_equal(torch.view_as_real(batched.posterior.mean) if batched.posterior.mean.is_complex()
                     else batched.posterior.mean,
                     [torch.view_as_real(s.posterior.mean) if s.posterior.mean.is_complex() else s.posterior.mean
                      for s in singles], self.tolerance)

    def test_posterior_follows_strong_messages(self) -> None:
        model = self.make_model().to(torch.float64)
        message = self.make_message(2, torch.float64)
        strong = GaussianMessage(precision=message.precision * 1e6, precision_mean=message.precision_mean * 1e6)
        result = self._run(model, strong)
        observed = strong.precision > 0
        target = strong.precision_mean[observed] / strong.precision[observed]
        assert torch.allclose(result.posterior.mean[observed], target, atol=1e-3), \
            "with very precise messages the posterior mean must follow them"

    def test_finite_gradients(self) -> None:
        model = self.make_model().to(torch.float64)
        message = self.make_message(2, torch.float64)
        precision_mean = message.precision_mean.clone().requires_grad_(True)
        with torch.enable_grad():
            result = self._run(model, GaussianMessage(precision=message.precision, precision_mean=precision_mean))
            mean = result.posterior.mean
            loss = (mean.abs() if mean.is_complex() else mean).sum() + result.elbo.sum()
            loss.backward()
        grad = precision_mean.grad
        assert grad is not None
        assert bool(torch.isfinite(torch.view_as_real(grad) if grad.is_complex() else grad).all())

    def test_float32_float64_and_devices(self) -> None:
        for device in _devices():
            for dtype in (torch.float32, torch.float64):
                model = copy.deepcopy(self.make_model()).to(device=device, dtype=dtype)
                message = self.make_message(1, dtype)
                message = GaussianMessage(precision=message.precision.to(device),
                                          precision_mean=message.precision_mean.to(device))
                result = self._run(model, message)
                assert result.posterior.variance.dtype == dtype
                assert result.posterior.variance.device.type == device


class AssignmentPriorConformance:
    """Checks for an :class:`~mixseq.AssignmentPrior`. Implement :meth:`make_prior`."""

    def make_prior(self) -> AssignmentPrior:
        raise NotImplementedError

    def _inputs(self, n_batch: int) -> tuple[Tensor, Tensor]:
        generator = torch.Generator().manual_seed(2)
        scores = torch.randn(n_batch, N_STEPS, N_OBS, N_SOURCES, generator=generator, dtype=torch.float64) * 3
        mask = torch.rand(n_batch, N_STEPS, N_OBS, generator=generator) < 0.8
        return scores, mask

    def test_shapes_and_normalisation(self) -> None:
        prior = self.make_prior()
        for n_batch in (1, 3):
            scores, mask = self._inputs(n_batch)
            log_prior = prior.log_prior(mask, N_SOURCES, torch.float64)
            assert log_prior.shape == (n_batch, N_STEPS, N_OBS, N_SOURCES)
            eta = prior.posterior(scores, mask)
            assert eta.shape == scores.shape
            assert bool(torch.isfinite(eta).all()) and bool((eta >= 0).all())
            assert torch.allclose(eta.sum(-1)[mask], torch.ones(()).double(), atol=1e-6)
            assert bool((eta[~mask] == 0).all())

    def test_batched_equals_stacked(self) -> None:
        prior = self.make_prior()
        scores, mask = self._inputs(3)
        batched = prior.posterior(scores, mask)
        _stack_equal(batched, [prior.posterior(scores[i : i + 1], mask[i : i + 1]) for i in range(3)], 1e-9)

    def test_finite_gradients(self) -> None:
        prior = self.make_prior()
        scores, mask = self._inputs(2)
        scores.requires_grad_(True)
        prior.posterior(scores, mask).square().sum().backward()
        assert scores.grad is not None and bool(torch.isfinite(scores.grad).all())
