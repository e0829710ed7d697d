"""Variational EM on synthetic crossing sources: recovery, monotone ELBO, ragged batches."""

from __future__ import annotations

import pytest
import torch

from mixseq import EMConfig, Engine, Gaussian, Initialization, InputError, ShapeError, load_result, save_result
from mixseq.builtins import GaussianObservationModel, LinearGaussianDynamicsModel
from mixseq.initialization import block_warm_start
from mixseq.metrics import assignment_accuracy, best_permutation
from mixseq.simulate import crossing_sources

NOISE = 0.03


def make_engine(**config) -> Engine:
    return Engine(
        observation_model=GaussianObservationModel(obs_dim=2, noise_variance=NOISE**2),
        dynamics=LinearGaussianDynamicsModel(order=2, process_variance=1e-6),
        **config,
    )


def make_data(n_sources: int, n_batch: int = 16, n_steps: int = 60, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return crossing_sources(n_batch=n_batch, n_steps=n_steps, n_sources=n_sources, noise_std=NOISE,
                            detect_prob=0.85, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("n_sources", [2, 3, 4])
def test_recovers_crossing_sources(n_sources: int) -> None:
    data = make_data(n_sources)
    engine = make_engine(max_iterations=20)
    init = block_warm_start(engine, data.obs, data.obs_mask, n_sources=n_sources, block_size=10, iterations=10,
                            generator=1)
    result = engine.run(data.obs, data.obs_mask, n_sources=n_sources, init=init, generator=1)
    accuracy = assignment_accuracy(result.assignments, data.labels)
    assert accuracy.mean() >= 0.95, f"mean accuracy {accuracy.mean():.3f}"
    # States: each true source against the fitted source that took its observations.
    permutation = best_permutation(result.assignments, data.labels)
    matched = torch.gather(result.posterior.mean, 2, permutation[:, None, :, None].expand_as(data.states))
    errors = (matched - data.states).abs().median(dim=1).values.median(dim=0).values
    assert bool((errors < 2 * NOISE).all()), errors


def test_elbo_never_decreases_with_exact_steps() -> None:
    data = make_data(3, n_batch=8)
    result = make_engine(max_iterations=25).run(data.obs, data.obs_mask, n_sources=3, generator=0)
    trace = result.elbo.sum(dim=1)
    assert bool((torch.diff(trace) >= -1e-8 * trace.abs()[1:]).all()), trace


def test_ragged_batch_equals_one_by_one() -> None:
    data = make_data(2, n_batch=3, n_steps=40)
    lengths = [40, 25, 31]
    time_mask = torch.arange(40).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    obs_mask = data.obs_mask.clone()
    obs_mask[1, :, 1] = False  # a second sequence with fewer observations per frame
    engine = make_engine(max_iterations=8)
    batched = engine.run(data.obs, obs_mask, time_mask, n_sources=2, generator=0)
    for b, length in enumerate(lengths):
        single = engine.run(data.obs[b : b + 1, :length], obs_mask[b : b + 1, :length], n_sources=2, generator=0)
        assert torch.allclose(batched.posterior.mean[b, :length], single.posterior.mean[0], atol=1e-6)
        assert torch.allclose(batched.assignments[b, :length], single.assignments[0], atol=1e-6)
        assert torch.allclose(batched.elbo[:, b], single.elbo[:, 0], rtol=1e-8, atol=1e-6)


def test_empty_frames_and_empty_sequence() -> None:
    data = make_data(2, n_batch=2, n_steps=20)
    obs_mask = data.obs_mask.clone()
    obs_mask[0, 5:9] = False  # frames without observations
    obs_mask[1] = False  # a sequence with none at all
    result = make_engine(max_iterations=5).run(data.obs, obs_mask, n_sources=2, generator=0)
    assert bool(torch.isfinite(result.posterior.mean).all())
    assert bool(torch.isfinite(result.elbo).all())
    assert bool((result.assignments[1] == 0).all())
    # Through the gap the posterior interpolates: it stays between the neighbouring frames.
    gap = result.posterior.mean[0, 5:9]
    assert bool(torch.isfinite(gap).all())


def test_deterministic_under_a_seed_and_dtypes() -> None:
    data = make_data(3, n_batch=4, n_steps=20)
    obs_mask = data.obs_mask.clone()
    obs_mask[:, 0, 1:] = False  # fewer first-frame observations than sources: random seeding
    engine = make_engine(max_iterations=4)
    first = engine.run(data.obs, obs_mask, n_sources=3, generator=7)
    second = engine.run(data.obs, obs_mask, n_sources=3, generator=7)
    assert torch.equal(first.posterior.mean, second.posterior.mean)
    single = engine.run(data.obs, obs_mask, n_sources=3, generator=7, dtype=torch.float32)
    assert single.posterior.mean.dtype == torch.float32
    assert torch.allclose(single.posterior.mean.double(), first.posterior.mean, atol=1e-2)


def test_stops_on_relative_elbo_change() -> None:
    data = make_data(2, n_batch=4)
    result = make_engine(max_iterations=200, tolerance=1e-7, patience=2).run(data.obs, data.obs_mask, n_sources=2)
    assert result.converged and result.n_iterations < 200
    assert result.elbo.shape == (result.n_iterations, 4)


def test_one_dynamics_model_per_source() -> None:
    data = make_data(2, n_batch=2, n_steps=20)
    slow = LinearGaussianDynamicsModel(order=2, process_variance=1e-6)
    loose = LinearGaussianDynamicsModel(order=1, process_variance=1e-2)
    engine = Engine(observation_model=GaussianObservationModel(obs_dim=2, noise_variance=NOISE**2),
                    dynamics=[slow, loose], max_iterations=3)
    result = engine.run(data.obs, data.obs_mask, n_sources=2)
    assert result.posterior.mean.shape == (2, 20, 2, 2)
    with pytest.raises(InputError, match=r"one model per source"):
        engine.run(data.obs, data.obs_mask, n_sources=3)


def test_dataset_round_trips_through_netcdf(tmp_path) -> None:
    data = make_data(2, n_batch=2, n_steps=10)
    dataset = make_engine(max_iterations=3, keep_history=True).fit(data.obs, data.obs_mask, n_sources=2, generator=3)
    assert dataset["mean"].dims == ("batch", "time", "source", "state")
    assert dataset["assignments"].dims == ("batch", "time", "obs", "source")
    assert dataset["elbo"].dims == ("iteration", "batch")
    assert dataset.attrs["seed"] == 3 and "mixseq" in dataset.attrs["plugin_versions"]
    save_result(dataset, tmp_path / "fit.nc")
    loaded = load_result(tmp_path / "fit.nc")
    assert loaded.identical(dataset) or all(
        (loaded[name].values == dataset[name].values).all() for name in dataset.data_vars
    )
    assert loaded["obs_mask"].dtype == bool and loaded.attrs == dataset.attrs


def test_complex_means_round_trip(tmp_path) -> None:
    from mixseq.results import FitResult

    mean = torch.complex(torch.randn(1, 3, 2, 4), torch.randn(1, 3, 2, 4))
    result = FitResult(posterior=Gaussian(mean=mean, variance=torch.ones(1, 3, 2, 4)),
                       assignments=torch.full((1, 3, 4, 2), 0.5), elbo=torch.zeros(2, 1),
                       obs_mask=torch.ones(1, 3, 4, dtype=torch.bool), time_mask=torch.ones(1, 3, dtype=torch.bool),
                       n_iterations=2, converged=False)
    save_result(result.to_dataset(), tmp_path / "c.nc")
    assert (load_result(tmp_path / "c.nc")["mean"].values == mean.numpy()).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"obs": torch.zeros(2, 5, 3)}, ShapeError, r"obs: expected dims \(batch, time, obs, 2\)"),
        ({"obs": torch.zeros(2, 5, 3, 2, 1)}, ShapeError, "obs: expected dims"),
        ({"obs_mask": torch.ones(2, 5, dtype=torch.bool)}, ShapeError, r"obs_mask: expected dims \(batch, time, obs\)"),
        ({"obs_mask": torch.ones(2, 5, 3)}, InputError, "obs_mask: expected a boolean tensor"),
        ({"time_mask": torch.ones(2, 4, dtype=torch.bool)}, ShapeError, "time_mask: expected dims"),
        ({"n_sources": 0}, InputError, "n_sources: expected an integer >= 1, got 0"),
        ({"obs": "abc"}, InputError, "obs: expected a tensor"),
        ({"generator": "seed"}, InputError, "generator: expected"),
    ],
)
def test_bad_input_is_named(kwargs, error, pattern) -> None:
    arguments = {"obs": torch.zeros(2, 5, 3, 2), "obs_mask": None, "time_mask": None, "n_sources": 2}
    arguments.update(kwargs)
    obs = arguments.pop("obs")
    with pytest.raises(error, match=pattern):
        make_engine(max_iterations=1).run(obs, **arguments)


def test_nan_outside_the_mask_is_an_error_but_inside_is_fine() -> None:
    obs = torch.zeros(1, 4, 2, 2)
    obs[0, 2, 1] = float("nan")
    mask = torch.ones(1, 4, 2, dtype=torch.bool)
    with pytest.raises(InputError, match=r"NaN or inf at \(batch, time, obs\) = \(0, 2, 1\)"):
        make_engine(max_iterations=1).run(obs, mask, n_sources=1)
    mask[0, 2, 1] = False
    result = make_engine(max_iterations=2).run(obs, mask, n_sources=1)
    assert bool(torch.isfinite(result.posterior.mean).all())


def test_non_positive_variances_are_rejected() -> None:
    with pytest.raises(InputError, match=r"noise_variance: expected positive"):
        GaussianObservationModel(obs_dim=2, noise_variance=0.0)
    with pytest.raises(InputError, match=r"process_variance: expected positive"):
        LinearGaussianDynamicsModel(process_variance=-1.0)
    data = make_data(2, n_batch=1, n_steps=5)
    bad = Initialization(posterior=Gaussian(mean=torch.zeros(1, 5, 2, 2), variance=torch.zeros(1, 5, 2, 2)))
    with pytest.raises(InputError, match=r"init.posterior.variance: expected positive"):
        make_engine(max_iterations=1).run(data.obs, data.obs_mask, n_sources=2, init=bad)


def test_bad_configuration_and_components() -> None:
    with pytest.raises(InputError, match=r"max_iterations"):
        EMConfig(max_iterations=0)
    with pytest.raises(InputError, match=r"observation_model: expected a mixseq.ObservationModel"):
        Engine(observation_model="box", dynamics=LinearGaussianDynamicsModel())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"dynamics: expected"):
        Engine(observation_model=GaussianObservationModel(obs_dim=2), dynamics=[])
