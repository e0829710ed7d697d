"""Per-sequence calibration of a learned model's predictive variance by the ELBO (off by default)."""

from __future__ import annotations

import attrs
import pytest
import torch

from mixseq import Engine
from mixseq.builtins import LinearGaussianDynamicsModel
from mixseq_mot import BoxObservationModel, SinkhornAssignmentPrior, get_preset, make_tracker
from mixseq_mot.calibration import calibrate_variance_scale, combine_fits, scalable_dynamics, variance_scaled
from mixseq_mot.recovery import choose_best, initialize

from .test_presets import walkers

dynamics = pytest.importorskip("mixseq_dvae.dynamics")
config = pytest.importorskip("mixseq_dvae.config")


def _deep_ar() -> object:
    net_config = config.DeepARConfig(normalization="first_box", variance="fixed", fixed_variance=1e-4)
    return dynamics.DeepARDynamicsModel(config=net_config, seed=0)


def _engine(model: object) -> Engine:
    return Engine(observation_model=BoxObservationModel(), dynamics=model,
                  assignment_prior=SinkhornAssignmentPrior(iterations=10), max_iterations=4)


def test_only_models_with_a_variance_scale_are_calibrated() -> None:
    model = _deep_ar()
    assert scalable_dynamics(_engine(model)) == [model]
    assert scalable_dynamics(_engine(LinearGaussianDynamicsModel())) == []
    with variance_scaled([model], 8.0):
        assert model.variance_scale == 8.0
    assert model.variance_scale == 1.0
    obs, mask, _ = walkers(n_batch=2, n_steps=20)
    time_mask = torch.ones(2, 20, dtype=torch.bool)
    chosen = calibrate_variance_scale(_engine(LinearGaussianDynamicsModel()), obs, mask, time_mask, n_sources=3,
                                      factors=(1.0, 4.0))
    assert chosen.tolist() == [0, 0]


def test_calibration_picks_the_best_elbo_per_sequence() -> None:
    obs, mask, _ = walkers(n_batch=3, n_steps=20)
    time_mask = torch.ones(3, 20, dtype=torch.bool)
    model = _deep_ar()
    engine = _engine(model)
    factors = (1.0, 30.0, 1000.0)
    chosen = calibrate_variance_scale(engine, obs, mask, time_mask, n_sources=3, factors=factors, iterations=3)
    init = initialize(engine, obs, mask, time_mask, n_sources=3, method="link")
    finals = []
    for factor in factors:  # the same, one factor at a time
        model.variance_scale = factor
        finals.append(engine.with_config(max_iterations=3).run(obs, mask, time_mask, n_sources=3, init=init).elbo[-1])
    model.variance_scale = 1.0
    assert chosen.tolist() == choose_best(torch.stack(finals)).tolist()


def test_tracker_groups_sequences_by_their_scale(monkeypatch) -> None:
    import mixseq_mot.presets

    obs, mask, _ = walkers(n_batch=3, n_steps=20)
    preset = attrs.evolve(get_preset("default"), variance_scales=(1.0, 30.0, 1000.0), calibration_iterations=3,
                          starts=("link",), reseed=False)
    tracker = make_tracker(preset, dynamics=_deep_ar(), max_iterations=4)
    calibrated = tracker.track(obs, mask, n_sources=3, generator=0)  # the ELBO's choice
    assert calibrated.variance_scale is not None and set(calibrated.variance_scale.tolist()) <= {1.0, 30.0, 1000.0}
    # Whatever the choice, each sequence equals its own fit at its scale: force two groups.
    monkeypatch.setattr(mixseq_mot.presets, "calibrate_variance_scale", lambda *a, **k: torch.tensor([2, 0, 2]))
    result = tracker.track(obs, mask, n_sources=3, generator=0)
    monkeypatch.undo()
    assert result.variance_scale is not None and result.variance_scale.tolist() == [1000.0, 1.0, 1000.0]
    for b in range(3):
        alone = make_tracker(attrs.evolve(preset, variance_scales=(float(result.variance_scale[b]),)),
                             dynamics=_deep_ar(), max_iterations=4).track(obs[b:b + 1], mask[b:b + 1], n_sources=3)
        torch.testing.assert_close(result.boxes[b], alone.boxes[0])


def test_combine_fits_pads_the_shorter_trace() -> None:
    obs, mask, _ = walkers(n_batch=3, n_steps=12)
    time_mask = torch.ones(3, 12, dtype=torch.bool)
    engine = _engine(LinearGaussianDynamicsModel(order=2, process_variance=1e-6))
    init = initialize(engine, obs, mask, time_mask, n_sources=3, method="link")
    a = engine.with_config(max_iterations=2).run(obs[[0, 2]], mask[[0, 2]], n_sources=3,
                                                 init=attrs.evolve(init, posterior=_rows(init.posterior, [0, 2]),
                                                                   initial_state=_rows(init.initial_state, [0, 2])))
    b = engine.with_config(max_iterations=4).run(obs[[1]], mask[[1]], n_sources=3,
                                                 init=attrs.evolve(init, posterior=_rows(init.posterior, [1]),
                                                                   initial_state=_rows(init.initial_state, [1])))
    fit = combine_fits([(torch.tensor([0, 2]), a), (torch.tensor([1]), b)], 3)
    assert fit.n_iterations == 4 and fit.elbo.shape == (4, 3)
    torch.testing.assert_close(fit.elbo[:, 0], torch.cat([a.elbo[:, 0], a.elbo[-1:, 0].expand(2)]))
    torch.testing.assert_close(fit.posterior.mean[1], b.posterior.mean[0])
    torch.testing.assert_close(fit.posterior.mean[2], a.posterior.mean[1])


def _rows(gaussian, rows):
    from mixseq import Gaussian

    return Gaussian(mean=gaussian.mean[rows], variance=gaussian.variance[rows])
