"""The DVAE dynamics inside the core engine (variational EM on two box sources)."""

from __future__ import annotations

import pytest
import torch

from mixseq import Engine, Gaussian, Initialization
from mixseq.builtins import GaussianObservationModel
from mixseq_dvae._testing import boxes
from mixseq_dvae.checkpoint import pretrained_names
from mixseq_dvae.dynamics import SRNNDynamicsModel


def _scene(n_batch: int = 2, n_steps: int = 12):
    truth = boxes(2 * n_batch, n_steps, seed=4).reshape(n_batch, 2, n_steps, 4).transpose(1, 2)  # (b, t, n, 4)
    noise = 0.002 * torch.randn(truth.shape, generator=torch.Generator().manual_seed(5))
    obs = truth + noise  # one detection per source per frame, in source order
    return truth, obs


@pytest.mark.parametrize("name", ["srnn-mot", "srnn-mot-clean"])
def test_engine_runs_with_pretrained_srnn(name: str) -> None:
    if name not in pretrained_names():
        pytest.skip(f"{name} is not shipped")
    truth, obs = _scene()
    init = Initialization(
        posterior=Gaussian(mean=obs.clone(), variance=torch.full_like(obs, 1e-4)),
        initial_state=Gaussian(mean=obs[:, 0].clone(), variance=torch.full_like(obs[:, 0], 1e-5)),
    )
    engine = Engine(
        observation_model=GaussianObservationModel(obs_dim=4, noise_variance=0.002**2),
        dynamics=SRNNDynamicsModel(checkpoint=name),
        max_iterations=3,
    )
    result = engine.run(obs, n_sources=2, init=init, generator=0)
    mean = result.posterior.mean
    assert mean.shape == truth.shape and bool(torch.isfinite(mean).all())
    # Sources seeded on their own detections stay on them.
    assert float((mean - truth).abs().max()) < 0.02
