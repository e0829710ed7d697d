"""The complex AR(1) Kalman dynamics (VKF baseline): exact against dense Gaussian algebra."""

from __future__ import annotations

import math

import pytest
import torch

from mixseq import GaussianMessage
from mixseq.errors import InputError, ShapeError
from mixseq.testing import DynamicsModelConformance
from mixseq_audio.dynamics import ComplexAR1DynamicsModel


def _model(n_bins: int = 4, seed: int = 0) -> ComplexAR1DynamicsModel:
    g = torch.Generator().manual_seed(seed)
    radius = 0.2 + 0.7 * torch.rand(n_bins, generator=g, dtype=torch.float64)
    angle = 2 * math.pi * torch.rand(n_bins, generator=g, dtype=torch.float64)
    power = 0.5 + torch.rand(n_bins, generator=g, dtype=torch.float64)
    return ComplexAR1DynamicsModel(coefficient=torch.polar(radius, angle), power=power)


class TestComplexAR1Conformance(DynamicsModelConformance):
    state_dim = 4

    def make_model(self) -> ComplexAR1DynamicsModel:
        return _model(self.state_dim)


def test_smoother_and_elbo_equal_dense_algebra() -> None:
    model = _model(2).to(torch.float64)
    g = torch.Generator().manual_seed(3)
    n_steps, n_bins = 5, 2
    precision = torch.rand(1, n_steps, 1, n_bins, generator=g, dtype=torch.float64) * 3
    precision[0, 2] = 0  # no observation at t = 2
    h = torch.complex(torch.randn(1, n_steps, 1, n_bins, generator=g, dtype=torch.float64),
                      torch.randn(1, n_steps, 1, n_bins, generator=g, dtype=torch.float64)) * precision
    result = model.e_s_step(GaussianMessage(precision=precision, precision_mean=h),
                            torch.ones(1, n_steps, dtype=torch.bool), latent=None, initial_state=None, generator=None)
    a = model.coefficient.to(torch.complex128)
    power = model.power.double()
    elbo = 0.0
    for f in range(n_bins):
        i = torch.arange(n_steps)
        lag = (i[:, None] - i[None, :]).to(torch.complex128)
        # Cov(s_i, s_j) = E[s_i conj(s_j)] = a^(i-j) P for i >= j; Hermitian
        cov = torch.where(lag.real >= 0, a[f] ** lag, (a[f].conj()) ** (-lag)) * power[f]
        prior_precision = torch.linalg.inv(cov)
        posterior_cov = torch.linalg.inv(prior_precision + torch.diag(precision[0, :, 0, f].to(torch.complex128)))
        mean = posterior_cov @ h[0, :, 0, f]
        torch.testing.assert_close(result.posterior.mean[0, :, 0, f], mean)
        torch.testing.assert_close(result.posterior.variance[0, :, 0, f], posterior_cov.diagonal().real)
        second = posterior_cov + torch.outer(mean, mean.conj())
        expected_log_prior = (-n_steps * math.log(math.pi) - torch.linalg.slogdet(cov)[1]
                              - torch.trace(prior_precision @ second).real)
        entropy = n_steps * math.log(math.pi * math.e) + torch.linalg.slogdet(posterior_cov)[1]
        elbo += float(expected_log_prior + entropy)
    assert float(result.elbo[0]) == pytest.approx(elbo, rel=1e-9)


def test_fit_recovers_an_ar1_process() -> None:
    from mixseq_audio.transforms import STFT

    g = torch.Generator().manual_seed(0)
    t = torch.arange(32000) / 16000
    wave = torch.sin(2 * math.pi * 1000 * t) + 0.01 * torch.randn(32000, generator=g)
    model = ComplexAR1DynamicsModel.fit([wave])
    bin_ = round(1000 / 16000 * 1024)  # 64: a stationary sinusoid at a bin centre
    a = complex(model.coefficient[bin_])
    assert abs(a) > 0.95  # strongly predictable from frame to frame
    assert abs(a - complex(math.cos(2 * math.pi * bin_ * 256 / 1024), 0)) < 0.05  # phase advance of a hop
    spec = STFT()(wave)
    assert float(model.power[bin_]) == pytest.approx(float(spec[bin_].abs().square().mean()), rel=1e-3)


def test_bad_parameters() -> None:
    with pytest.raises(InputError):
        ComplexAR1DynamicsModel(coefficient=torch.tensor([1.5 + 0j]), power=torch.ones(1))
    with pytest.raises(InputError):
        ComplexAR1DynamicsModel(coefficient=torch.tensor([0.5 + 0j]), power=torch.zeros(1))
    with pytest.raises(ShapeError):
        ComplexAR1DynamicsModel(coefficient=torch.zeros(2, dtype=torch.complex64), power=torch.ones(3))
    with pytest.raises(InputError):
        ComplexAR1DynamicsModel.fit([torch.zeros(10)])


def test_survives_a_float_dtype_move() -> None:
    model = _model(3)
    before = model.coefficient.clone()
    model.to(torch.float64).to(torch.float32)
    torch.testing.assert_close(model.coefficient, before.to(torch.complex64))
