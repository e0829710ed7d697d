"""Tracking presets: exact settings, the paper preset reproduces the released behaviour, stopping."""

from __future__ import annotations

import attrs
import pytest
import torch

from mixseq import EMConfig, Engine, InputError
from mixseq.builtins import LinearGaussianDynamicsModel, UniformAssignmentPrior
from mixseq.errors import ShapeError
from mixseq_mot import (
    PRESETS,
    BoxObservationModel,
    SinkhornAssignmentPrior,
    Tracker,
    get_preset,
    make_tracker,
    make_tracking_engine,
    track,
)
from mixseq_mot.presets import make_dynamics


def walkers(n_batch: int = 2, n_steps: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three walkers (normalised boxes), shuffled within frames, 15 % missed (never at t = 0)."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(n_steps, dtype=torch.float64).view(1, -1, 1)
    x0 = torch.tensor([0.1, 0.4, 0.7], dtype=torch.float64).view(1, 1, 3) + 0.02 * torch.rand(n_batch, 1, 3,
                                                                                               generator=gen)
    vx = torch.tensor([0.004, -0.002, -0.003], dtype=torch.float64).view(1, 1, 3)
    x = x0 + vx * t
    y = torch.full_like(x, 0.3)
    truth = torch.stack([x, y, x + 0.06, y + 0.3], dim=-1)  # (batch, time, source, 4)
    noisy = truth + 0.002 * torch.randn(truth.shape, generator=gen, dtype=torch.float64)
    order = torch.argsort(torch.rand(n_batch, n_steps, 3, generator=gen), dim=-1)
    obs = torch.gather(noisy, 2, order.unsqueeze(-1).expand(-1, -1, -1, 4))
    mask = torch.rand(n_batch, n_steps, 3, generator=gen) > 0.15
    mask[:, 0] = True
    return obs, mask, truth


def linear() -> LinearGaussianDynamicsModel:
    return LinearGaussianDynamicsModel(order=2, process_variance=1e-6)


def test_paper_preset_settings() -> None:
    paper = get_preset("paper")
    assert (paper.std_ratio, paper.assignment_scale, paper.prior) == (0.04, 0.008, "uniform")
    assert paper.starts == ("warm-start",) and not paper.reseed
    assert paper.warm_start == {"block_size": 30, "iterations": 20, "extrapolate": False}
    assert paper.em == EMConfig(max_iterations=70, tolerance=None)
    engine = make_tracking_engine("paper", dynamics=linear())
    assert isinstance(engine.assignment_prior, UniformAssignmentPrior)
    model = engine.observation_model
    assert isinstance(model, BoxObservationModel) and model.init == "first-frame"
    assert model.assignment_scale == 0.008 and not model.update_noise
    assert torch.allclose(model.std_ratio, torch.full((4,), 0.04, dtype=torch.float64))


def test_default_preset_settings() -> None:
    default = get_preset("default")
    assert (default.std_ratio, default.assignment_scale, default.prior) == (0.04, 1.0, "sinkhorn")
    assert default.starts == ("first-frame", "link", "warm-start") and default.reseed
    assert default.em.tolerance == 1e-4 and default.em.patience == 3 and default.em.max_iterations == 30
    assert default.em.min_iterations == 5 and default.variance_scales == ()
    engine = make_tracking_engine("default", dynamics=linear(), max_iterations=9)
    assert isinstance(engine.assignment_prior, SinkhornAssignmentPrior)
    assert engine.config.max_iterations == 9 and engine.config.tolerance == 1e-4
    assert sorted(PRESETS) == ["default", "paper"]
    with pytest.raises(InputError, match="preset"):
        get_preset("fast")
    with pytest.raises(InputError, match="starts"):
        attrs.evolve(default, starts=("nowhere",))


def test_paper_preset_reproduces_the_released_behaviour() -> None:
    """The paper preset is exactly: tempered E-W, uniform prior, 30/20 warm start, fixed iterations."""
    obs, mask, _ = walkers()
    released = Engine(observation_model=BoxObservationModel(std_ratio=0.04, assignment_scale=0.008),
                      dynamics=linear(), assignment_prior=UniformAssignmentPrior(), max_iterations=6)
    expected = track(released, obs, mask, n_sources=3, init="warm-start", generator=0, block_size=30, iterations=20)
    result = make_tracker("paper", dynamics=linear(), max_iterations=6).track(obs, mask, n_sources=3, generator=0)
    torch.testing.assert_close(result.boxes, expected.boxes)
    assert result.fit.n_iterations == 6 and not result.fit.converged
    assert result.start is not None and result.start.tolist() == [0, 0]


def test_default_preset_stops_on_the_elbo_and_tracks() -> None:
    from mixseq_mot.boxes import iou_matrix

    obs, mask, truth = walkers()
    tracker = make_tracker("default", dynamics=linear())
    result = tracker.track(obs, mask, n_sources=3, generator=0)
    assert result.fit.converged and 5 <= result.fit.n_iterations < 30
    assert result.boxes.shape == (2, 40, 3, 4) and result.box_mask.all()
    for b in range(2):  # every walker is covered by its own source on every frame
        for t in range(40):
            iou = iou_matrix(truth[b, t].numpy(), result.boxes[b, t].numpy())
            assert sorted(iou.argmax(1).tolist()) == [0, 1, 2] and iou.max(1).min() > 0.7
    assert "preset" in result.fit.config and result.fit.seed == 0
    assert repr(tracker).startswith("Tracker(preset='default'")


def test_one_sequence_without_batch_axis_and_input_checks() -> None:
    obs, mask, _ = walkers(n_batch=1)
    tracker = make_tracker("default", dynamics=linear(), max_iterations=6)
    single = tracker.track(obs[0], mask[0], n_sources=3, generator=0)
    batched = tracker.track(obs, mask, n_sources=3, generator=0)
    torch.testing.assert_close(single.boxes, batched.boxes)
    bad = obs.clone()
    bad[0, 3, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        tracker.track(bad, mask | True, n_sources=3)
    bad_mask = mask.clone()
    bad_mask[0, 3, 0] = False
    tracker.track(torch.where(bad_mask.unsqueeze(-1), bad, 0.0), bad_mask, n_sources=3)  # masked NaN is fine
    with pytest.raises(ShapeError, match="obs_mask"):
        tracker.track(obs, mask[:, :5], n_sources=3)
    with pytest.raises(InputError, match="boolean"):
        tracker.track(obs, mask.int(), n_sources=3)
    with pytest.raises(InputError, match="n_sources"):
        tracker.track(obs, mask, n_sources=0)
    with pytest.raises(InputError, match="BoxObservationModel"):
        Tracker(engine=Engine(observation_model=_gaussian(), dynamics=linear()), preset=get_preset("default"))


def _gaussian() -> object:
    from mixseq.builtins import GaussianObservationModel

    return GaussianObservationModel(obs_dim=4)


def test_dynamics_resolution() -> None:
    from mixseq.plugins import registry

    model = make_dynamics("linear_gaussian", preset="default")
    assert model.order == 2  # the preset's box settings for the core model
    assert make_dynamics(model) is model
    with pytest.raises(InputError, match="built model"):
        make_dynamics(model, order=1)
    if "srnn" not in registry("dynamics_models"):
        return
    try:
        from mixseq_dvae.checkpoint import pretrained_names
    except ImportError:  # pragma: no cover - mixseq-dvae without its checkpoint module
        return
    if "srnn-mot" in pretrained_names():
        assert type(make_dynamics(None)).__name__ == "SRNNDynamicsModel"
    else:
        from mixseq.errors import InputWarning

        with pytest.warns(InputWarning, match="SRNN checkpoint is not available"):
            fallback = make_dynamics(None)
        assert type(fallback).__name__ == "LinearGaussianDynamicsModel"
