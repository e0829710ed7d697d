from __future__ import annotations

import math

import pytest
import torch

from mixseq import Gaussian, InputError, ShapeError
from mixseq.testing import ObservationModelConformance
from mixseq_audio.observation import STFTObservationModel, observations_to_stft, stft_to_observations
from mixseq_audio.transforms import stft


class TestSTFTConformance(ObservationModelConformance):
    obs_dim = 1

    def make_model(self) -> STFTObservationModel:
        return STFTObservationModel(n_bins=3)  # the suite uses 3 observations (= bins) per step


def _inputs(seed: int = 0, n_batch: int = 2, n_steps: int = 4, n_bins: int = 5, n_sources: int = 3):
    g = torch.Generator().manual_seed(seed)
    obs = torch.complex(torch.randn(n_batch, n_steps, n_bins, 1, generator=g, dtype=torch.float64),
                        torch.randn(n_batch, n_steps, n_bins, 1, generator=g, dtype=torch.float64))
    obs[0, 1, 2] = 0  # digital silence in one bin
    mask = torch.rand(n_batch, n_steps, n_bins, generator=g) < 0.8
    eta = torch.softmax(torch.randn(n_batch, n_steps, n_bins, n_sources, generator=g, dtype=torch.float64), -1)
    mean = torch.complex(torch.randn(n_batch, n_steps, n_sources, n_bins, generator=g, dtype=torch.float64),
                         torch.randn(n_batch, n_steps, n_sources, n_bins, generator=g, dtype=torch.float64))
    variance = torch.rand(n_batch, n_steps, n_sources, n_bins, generator=g, dtype=torch.float64)
    return obs, mask, eta, Gaussian(mean=mean, variance=variance)


def test_message_and_likelihood_equal_a_slow_loop() -> None:
    obs, mask, eta, posterior = _inputs()
    model = STFTObservationModel(n_bins=5, variance_ratio=0.05, variance_floor=1e-6)
    message = model.message(obs, mask, eta)
    ell = model.expected_log_likelihood(obs, mask, posterior)
    n_batch, n_steps, n_bins, n_sources = eta.shape
    for b in range(n_batch):
        for t in range(n_steps):
            for f in range(n_bins):
                x = complex(obs[b, t, f, 0])
                v_x = 0.05 * abs(x) ** 2 + 1e-6
                for n in range(n_sources):
                    on = bool(mask[b, t, f])
                    precision = float(eta[b, t, f, n]) / v_x if on else 0.0
                    assert float(message.precision[b, t, n, f]) == pytest.approx(precision, rel=1e-12)
                    assert complex(message.precision_mean[b, t, n, f]) == pytest.approx(precision * x, rel=1e-12)
                    mu, v = complex(posterior.mean[b, t, n, f]), float(posterior.variance[b, t, n, f])
                    expected = -math.log(math.pi * v_x) - (abs(x - mu) ** 2 + v) / v_x if on else 0.0
                    assert float(ell[b, t, f, n]) == pytest.approx(expected, rel=1e-12)


def test_digital_silence_stays_finite() -> None:
    model = STFTObservationModel(n_bins=4)
    obs = torch.zeros(1, 3, 4, 1, dtype=torch.complex64)
    mask = torch.ones(1, 3, 4, dtype=torch.bool)
    init = model.initialize(obs, mask, 2, generator=None)
    message = model.message(obs, mask, init.assignments)
    ell = model.expected_log_likelihood(obs, mask, init.posterior)
    for tensor in (message.precision, torch.view_as_real(message.precision_mean), ell):
        assert bool(torch.isfinite(tensor).all())
    assert float(message.precision.max()) == pytest.approx(0.5 / model.variance_floor, rel=1e-5)


def test_padding_may_hold_nan() -> None:
    obs, mask, eta, posterior = _inputs(1)
    model = STFTObservationModel(n_bins=5)
    poisoned = obs.clone()
    poisoned[~mask] = complex(float("nan"), float("nan"))
    for a, b in ((model.message(obs, mask, eta).precision_mean, model.message(poisoned, mask, eta).precision_mean),
                 (model.expected_log_likelihood(obs, mask, posterior),
                  model.expected_log_likelihood(poisoned, mask, posterior))):
        assert torch.equal(a, b)


def test_initialize_shares_every_bin_and_copies_the_mixture() -> None:
    obs, mask, _, _ = _inputs(2)
    model = STFTObservationModel(n_bins=5)
    init = model.initialize(obs, mask, 3, generator=torch.Generator().manual_seed(0))
    assert init.assignments.shape == (2, 4, 5, 3)
    assert torch.allclose(init.assignments.sum(-1), mask.double())
    assert torch.allclose(init.assignments[mask], torch.full((int(mask.sum()), 3), 1 / 3, dtype=torch.float64))
    assert init.posterior.mean.shape == (2, 4, 3, 5)
    x = torch.where(mask, obs[..., 0], 0)
    for n in range(3):
        assert torch.equal(init.posterior.mean[:, :, n], x)
    assert bool((init.posterior.variance > 0).all())
    assert init.initial_state is None


def test_stft_observation_layout_round_trip() -> None:
    wave = torch.randn(2, 4000, generator=torch.Generator().manual_seed(3))
    spec = stft(wave)
    obs, mask = stft_to_observations(spec, n_frames=torch.tensor([16, 10]))
    assert obs.shape == (2, 16, 513, 1) and mask.shape == (2, 16, 513)
    assert bool(mask[1, :10].all()) and not bool(mask[1, 10:].any())
    STFTObservationModel().validate(obs)
    states = obs[..., 0].unsqueeze(2).expand(-1, -1, 2, -1)  # two "sources" equal to the mixture
    assert torch.equal(observations_to_stft(states)[:, 0], spec)


def test_bad_inputs() -> None:
    model = STFTObservationModel(n_bins=5)
    obs, mask, eta, posterior = _inputs()
    assert model.state_dim(1) == 5
    with pytest.raises(ShapeError):
        model.state_dim(2)
    with pytest.raises(ShapeError):
        model.message(obs.real, mask, eta)
    with pytest.raises(ShapeError):
        model.message(obs[:, :, :4], mask[:, :, :4], eta[:, :, :4])
    with pytest.raises(ShapeError):
        model.message(obs, mask.double(), eta)
    with pytest.raises(ShapeError):
        model.message(obs, mask, eta[:, :2])
    with pytest.raises(ShapeError):
        model.expected_log_likelihood(obs, mask, Gaussian(mean=posterior.mean[:, :, :, :3],
                                                          variance=posterior.variance[:, :, :, :3]))
    with pytest.raises(InputError):
        STFTObservationModel(variance_ratio=0)
    with pytest.raises(InputError):
        model.initialize(obs, mask, 0, generator=None)
    with pytest.raises(ShapeError):
        stft_to_observations(torch.randn(2, 5, 3))
