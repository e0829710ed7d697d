"""The plugin's own tests: mixseq's conformance suite, plus what is special about this model."""

from __future__ import annotations

import torch
from mixseq_damped_walk import DampedRandomWalkDynamicsModel

import mixseq
from mixseq.simulate import crossing_sources
from mixseq.testing import DynamicsModelConformance


class TestDampedRandomWalkConformance(DynamicsModelConformance):
    """Shapes at batch 1 and 3, batched = stacked, strong messages followed, finite gradients,
    float32/float64 and every available device — all from mixseq.testing."""

    state_dim = 4

    def make_model(self) -> DampedRandomWalkDynamicsModel:
        return DampedRandomWalkDynamicsModel(damping=0.9, process_variance=0.01)


def test_registered_by_name() -> None:
    model = mixseq.create_component("dynamics_models", "damped_random_walk", damping=0.8)
    assert isinstance(model, DampedRandomWalkDynamicsModel) and model.damping == 0.8
    assert mixseq.registry("dynamics_models")["damped_random_walk"].plugin == "mixseq-damped-walk"


def test_without_messages_the_state_relaxes_to_the_level() -> None:
    model = DampedRandomWalkDynamicsModel(damping=0.5, process_variance=0.1, level=2.0)
    shape = (1, 30, 1, 1)
    message = mixseq.GaussianMessage(precision=torch.zeros(shape), precision_mean=torch.zeros(shape))
    message.precision[:, 0] = 1e6  # pin the first step at 10
    message.precision_mean[:, 0] = 1e7
    result = model.e_s_step(message, torch.ones(1, 30, dtype=torch.bool), latent=None, initial_state=None)
    mean, variance = result.posterior.mean.flatten(), result.posterior.variance.flatten()
    assert abs(mean[0] - 10) < 1e-3 and abs(mean[-1] - 2.0) < 1e-3
    assert abs(variance[-1] - model.stationary_std() ** 2) < 1e-4


def test_elbo_never_decreases_in_the_engine() -> None:
    data = crossing_sources(n_batch=2, n_steps=30, n_sources=2, generator=torch.Generator().manual_seed(0))
    engine = mixseq.Engine(
        observation_model=mixseq.create_component("observation_models", "gaussian", obs_dim=2, noise_variance=0.05**2),
        dynamics=DampedRandomWalkDynamicsModel(damping=0.99, process_variance=1e-3),
        max_iterations=15,
    )
    elbo = engine.run(data.obs, data.obs_mask, n_sources=2, generator=0, dtype=torch.float64).elbo.sum(dim=1)
    assert bool((elbo[1:] >= elbo[:-1] - 1e-6 * elbo.abs()[1:]).all())
