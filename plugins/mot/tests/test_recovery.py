"""Recovery of lost sources: several starts in one batch, and re-seeding collapsed sources."""

from __future__ import annotations

import attrs
import torch

from mixseq import Engine, Gaussian
from mixseq.builtins import LinearGaussianDynamicsModel, UniformAssignmentPrior
from mixseq.results import FitResult
from mixseq_mot import BoxObservationModel, SinkhornAssignmentPrior, track
from mixseq_mot.recovery import (
    choose_best,
    initialize,
    lost_sources,
    multi_start,
    reseed_lost_sources,
)

from .test_presets import walkers


def _engine(prior=None, iterations: int = 8) -> Engine:
    return Engine(observation_model=BoxObservationModel(),
                  dynamics=LinearGaussianDynamicsModel(order=2, process_variance=1e-7),
                  assignment_prior=prior or SinkhornAssignmentPrior(iterations=10), max_iterations=iterations)


def test_choose_best_takes_the_earliest_of_equal_elbos() -> None:
    elbo = torch.tensor([[1.0, 5.0, -3.0], [1.0 + 1e-13, 7.0, -3.0], [0.5, 7.0 + 1e-12, -2.0]],
                        dtype=torch.float64)
    assert choose_best(elbo).tolist() == [0, 1, 2]


def test_multi_start_equals_the_best_of_separate_fits() -> None:
    """Batched: every start of every sequence in one call equals the starts fitted one by one."""
    obs, mask, _ = walkers(n_batch=3, n_steps=36)
    time_mask = torch.ones(3, 36, dtype=torch.bool)
    engine = _engine()
    starts = ("first-frame", "link", "warm-start")
    fit, choice = multi_start(engine, obs, mask, time_mask, n_sources=3, starts=starts, generator=0,
                              warm_start_options={"block_size": 12, "iterations": 4})
    separate = []
    for name in starts:
        init = initialize(engine, obs, mask, time_mask, n_sources=3, method=name, generator=0,
                          warm_start_options={"block_size": 12, "iterations": 4})
        separate.append(engine.run(obs, mask, time_mask, n_sources=3, init=init, generator=0))
    finals = torch.stack([f.elbo[-1] for f in separate])
    assert choice.tolist() == choose_best(finals).tolist()
    for b, s in enumerate(choice.tolist()):
        torch.testing.assert_close(fit.posterior.mean[b], separate[s].posterior.mean[b])
        torch.testing.assert_close(fit.elbo[:, b], separate[s].elbo[:, b])
        torch.testing.assert_close(fit.assignments[b], separate[s].assignments[b])
    assert fit.posterior.mean.shape == (3, 36, 3, 4) and fit.obs_mask.shape == (3, 36, 3)


def _fit(mean: torch.Tensor, assignments: torch.Tensor) -> FitResult:
    n_batch, n_steps, _, _ = mean.shape
    return FitResult(posterior=Gaussian(mean=mean, variance=torch.full_like(mean, 1e-4)), assignments=assignments,
                     elbo=torch.zeros(1, n_batch), obs_mask=torch.ones(assignments.shape[:3], dtype=torch.bool),
                     time_mask=torch.ones(n_batch, n_steps, dtype=torch.bool), n_iterations=1, converged=False)


def test_lost_sources_finds_starved_and_duplicated_sources() -> None:
    box = torch.tensor([0.1, 0.1, 0.2, 0.4], dtype=torch.float64)
    mean = torch.stack([box, box + 0.3, box + 0.6]).expand(2, 10, 3, 4).clone()
    eta = torch.zeros(2, 10, 3, 3, dtype=torch.float64)
    eta[:, :, [0, 1, 2], [0, 1, 2]] = 1.0
    eta[0, :, 2, 2] = 0.0  # sequence 0: source 2 explains nothing
    eta[0, :, 2, 1] = 1.0
    mean[1, :, 1] = mean[1, :, 0] + 0.001  # sequence 1: source 1 sits on source 0
    eta[1, :3, 1, 1] = 0.0  # ... and is the less supported of the two
    assert lost_sources(_fit(mean, eta)).tolist() == [[False, False, True], [False, True, False]]


def test_reseeding_recovers_sources_that_collapsed() -> None:
    """Side-by-side walkers under the independent prior: one source takes both people; re-seeding fixes it."""
    from .test_priors import _distinct_tracks, two_walkers

    data = [two_walkers(seed, gap=0.02, speed_b=0.005) for seed in (2, 3, 5)]
    obs = torch.cat([d[0] for d in data])
    mask = torch.cat([d[1] for d in data])
    engine = _engine(UniformAssignmentPrior(), iterations=20)
    before = track(engine, obs, mask, n_sources=2, init="warm-start", generator=0)
    assert all(_distinct_tracks(before.boxes[b], data[b][2]) < 0.5 for b in range(3))  # collapsed
    assert lost_sources(before.fit).any(dim=1).all()
    time_mask = torch.ones(3, 60, dtype=torch.bool)
    fit, improved = reseed_lost_sources(engine, obs, mask, time_mask, before.fit, n_sources=2, generator=0)
    assert improved.all() and bool((fit.elbo[-1] > before.fit.elbo[-1]).all())
    assert all(_distinct_tracks(fit.posterior.mean[b], data[b][2]) > 0.85 for b in range(3))
    assert fit.n_iterations == fit.elbo.shape[0] == 40
    fit.to_dataset()  # the merged result is still a well-formed result


def test_reseeding_leaves_good_fits_alone() -> None:
    obs, mask, _ = walkers(n_batch=2)
    engine = _engine()
    before = track(engine, obs, mask, n_sources=3, init="link", generator=0)
    time_mask = torch.ones(2, 40, dtype=torch.bool)
    after, improved = reseed_lost_sources(engine, obs, mask, time_mask, before.fit, n_sources=3, generator=0)
    assert not improved.any() and after is before.fit


def test_tracker_reports_the_winning_start() -> None:
    from mixseq_mot import get_preset, make_tracker

    obs, mask, _ = walkers(n_batch=2)
    preset = attrs.evolve(get_preset("default"), starts=("link", "first-frame"))
    result = make_tracker(preset, dynamics=LinearGaussianDynamicsModel(order=2, process_variance=1e-6),
                          max_iterations=6).track(obs, mask, n_sources=3, generator=0)
    assert result.start is not None and set(result.start.tolist()) <= {0, 1}
    assert result.reseeded is not None and result.reseeded.shape == (2,)
