"""The built-in components pass the shared conformance suites."""

from __future__ import annotations

import torch

from mixseq.builtins import GaussianObservationModel, LinearGaussianDynamicsModel, UniformAssignmentPrior
from mixseq.interfaces import GaussianMessage
from mixseq.testing import AssignmentPriorConformance, DynamicsModelConformance, ObservationModelConformance


class TestGaussianObservationModel(ObservationModelConformance):
    obs_dim = 3

    def make_model(self) -> GaussianObservationModel:
        return GaussianObservationModel(obs_dim=3, noise_variance=torch.tensor([0.1, 0.2, 0.3]))


class TestRandomWalk(DynamicsModelConformance):
    state_dim = 3

    def make_model(self) -> LinearGaussianDynamicsModel:
        return LinearGaussianDynamicsModel(order=1, process_variance=0.05)


class TestConstantVelocity(DynamicsModelConformance):
    state_dim = 2

    def make_model(self) -> LinearGaussianDynamicsModel:
        return LinearGaussianDynamicsModel(order=2, process_variance=1e-3)


class TestUniformPrior(AssignmentPriorConformance):
    def make_prior(self) -> UniformAssignmentPrior:
        return UniformAssignmentPrior()


def _dense_smoother(model_var: float, init_var: float, precision: torch.Tensor, info: torch.Tensor):
    """Reference: the joint Gaussian of a 1-D random walk, solved as one dense system."""
    covariance = torch.linalg.inv(_posterior_precision(model_var, init_var, precision))
    return covariance @ info, torch.diagonal(covariance)


def test_kalman_smoother_matches_dense_solution() -> None:
    generator = torch.Generator().manual_seed(3)
    precision = torch.rand(12, generator=generator, dtype=torch.float64) * 4
    precision[5] = 0
    info = precision * torch.randn(12, generator=generator, dtype=torch.float64)
    model = LinearGaussianDynamicsModel(order=1, process_variance=0.3, initial_variance=2.0).double()
    message = GaussianMessage(precision=precision.view(1, 12, 1, 1), precision_mean=info.view(1, 12, 1, 1))
    result = model.e_s_step(message, torch.ones(1, 12, dtype=torch.bool), latent=None, initial_state=None,
                            generator=None)
    mean, variance = _dense_smoother(0.3, 2.0, precision, info)
    assert torch.allclose(result.posterior.mean.flatten(), mean, atol=1e-10)
    assert torch.allclose(result.posterior.variance.flatten(), variance, atol=1e-10)
    # At the optimum the ELBO term is log Z - E_q[log message], with log Z of the dense
    # Gaussian integral: -½ log det(I + Σ Λ) + ½ h' (Σ⁻¹ + Λ)⁻¹ h for the prior covariance Σ.
    joint = torch.linalg.inv(_posterior_precision(0.3, 2.0, precision))
    prior_cov = torch.linalg.inv(_posterior_precision(0.3, 2.0, torch.zeros(12, dtype=torch.float64)))
    log_z = -0.5 * torch.logdet(torch.eye(12, dtype=torch.float64) + prior_cov @ torch.diag(precision)) \
        + 0.5 * info @ joint @ info
    expected_message = (info * mean - 0.5 * precision * (mean.square() + variance)).sum()
    assert torch.allclose(result.elbo[0], log_z - expected_message, atol=1e-9)


def _posterior_precision(model_var: float, init_var: float, precision: torch.Tensor) -> torch.Tensor:
    n = precision.shape[0]
    joint = torch.diag(precision.clone())
    joint[0, 0] += 1 / init_var
    index = torch.arange(1, n)
    joint[index, index] += 1 / model_var
    joint[index - 1, index - 1] += 1 / model_var
    joint[index, index - 1] -= 1 / model_var
    joint[index - 1, index] -= 1 / model_var
    return joint
