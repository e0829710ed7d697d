from __future__ import annotations

import math

import pytest
import torch

from mixseq.errors import InputError, ShapeError
from mixseq.interfaces import Gaussian
from mixseq.testing import ObservationModelConformance
from mixseq_mot.linking import link_detections
from mixseq_mot.observation import LOOSE_VARIANCE, PIN_VARIANCE, BoxObservationModel


class TestBoxConformance(ObservationModelConformance):
    obs_dim = 4

    def make_model(self) -> BoxObservationModel:
        return BoxObservationModel()


def _boxes(*shape: int, generator: torch.Generator) -> torch.Tensor:
    """Random valid normalised xyxy boxes. Shape ``(*shape, 4)``."""
    xy = torch.rand(*shape, 2, generator=generator, dtype=torch.float64) * 0.7
    wh = 0.03 + torch.rand(*shape, 2, generator=generator, dtype=torch.float64) * 0.2
    return torch.cat([xy, xy + wh], dim=-1)


def _inputs(n_batch=2, n_steps=5, n_obs=4, n_sources=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = _boxes(n_batch, n_steps, n_obs, generator=g)
    mask = torch.rand(n_batch, n_steps, n_obs, generator=g) < 0.7
    obs[~mask] = float("nan")  # padding may hold anything
    eta = torch.softmax(torch.randn(n_batch, n_steps, n_obs, n_sources, generator=g, dtype=torch.float64), -1)
    mean = _boxes(n_batch, n_steps, n_sources, generator=g)
    var = torch.rand(n_batch, n_steps, n_sources, 4, generator=g, dtype=torch.float64) * 1e-3 + 1e-5
    return obs, mask, eta, Gaussian(mean=mean, variance=var)


def test_message_equals_explicit_loops():
    obs, mask, eta, _ = _inputs()
    model = BoxObservationModel(std_ratio=0.05)
    msg = model.message(obs, mask, eta)
    n_batch, n_steps, n_obs, n_sources = eta.shape
    o, m, e = obs.tolist(), mask.tolist(), eta.tolist()
    prec = [[[[0.0] * 4 for _ in range(n_sources)] for _ in range(n_steps)] for _ in range(n_batch)]
    prec_mean = [[[[0.0] * 4 for _ in range(n_sources)] for _ in range(n_steps)] for _ in range(n_batch)]
    for b in range(n_batch):
        for t in range(n_steps):
            for n in range(n_sources):
                for k in range(n_obs):
                    if not m[b][t][k]:
                        continue
                    x1, y1, x2, y2 = o[b][t][k]
                    w, h = x2 - x1, y2 - y1
                    for d, size in enumerate((w, h, w, h)):
                        phi = (0.05 * size) ** 2
                        prec[b][t][n][d] += e[b][t][k][n] / phi
                        prec_mean[b][t][n][d] += e[b][t][k][n] * o[b][t][k][d] / phi
    torch.testing.assert_close(msg.precision, torch.tensor(prec, dtype=torch.float64))
    torch.testing.assert_close(msg.precision_mean, torch.tensor(prec_mean, dtype=torch.float64))


def test_expected_log_likelihood_equals_explicit_loops():
    obs, mask, _, post = _inputs(seed=1)
    model = BoxObservationModel()
    ell = model.expected_log_likelihood(obs, mask, post)
    n_batch, n_steps, n_obs, _ = obs.shape
    n_sources = post.mean.shape[2]
    for b in range(n_batch):
        for t in range(n_steps):
            for k in range(n_obs):
                for n in range(n_sources):
                    if not mask[b, t, k]:
                        assert ell[b, t, k, n] == 0
                        continue
                    x1, y1, x2, y2 = obs[b, t, k].tolist()
                    w, h = x2 - x1, y2 - y1
                    ref = 0.0
                    for d, size in enumerate((w, h, w, h)):
                        phi = (0.04 * size) ** 2
                        o, m, v = obs[b, t, k, d].item(), post.mean[b, t, n, d].item(), post.variance[b, t, n, d].item()
                        ref += -0.5 * math.log(2 * math.pi * phi) - 0.5 * (o - m) ** 2 / phi - 0.5 * v / phi
                    assert ell[b, t, k, n].item() == pytest.approx(ref, rel=1e-10)


def test_masked_entries_and_shapes():
    obs, mask, eta, post = _inputs()
    model = BoxObservationModel()
    msg = model.message(obs, mask, eta)
    assert msg.precision.shape == (2, 5, 3, 4) and torch.isfinite(msg.precision_mean).all()
    none = model.message(obs, torch.zeros_like(mask), eta)
    assert (none.precision == 0).all() and (none.precision_mean == 0).all()
    with pytest.raises(ShapeError, match="obs"):
        model.message(obs[..., :3], mask, eta)
    with pytest.raises(ShapeError, match="assignments"):
        model.message(obs, mask, eta[:, :, :2])
    with pytest.raises(ShapeError, match="obs_mask"):
        model.expected_log_likelihood(obs, mask.float(), post)
    with pytest.raises(ShapeError):
        model.state_dim(3)


def test_options_are_validated():
    with pytest.raises(InputError, match="std_ratio"):
        BoxObservationModel(std_ratio=-1)
    with pytest.raises(InputError, match="std_ratio"):
        BoxObservationModel(std_ratio=(0.1, 0.2))
    with pytest.raises(InputError, match="assignment_scale"):
        BoxObservationModel(assignment_scale=0)
    with pytest.raises(InputError, match="init"):
        BoxObservationModel(init="magic")  # type: ignore[arg-type]
    assert BoxObservationModel(assignment_scale=0.008).assignment_scale == 0.008
    degenerate = torch.zeros(1, 1, 1, 4, dtype=torch.float64)
    var = BoxObservationModel().noise_variance(degenerate, torch.ones(1, 1, 1, dtype=torch.bool))
    assert torch.isfinite(var).all() and (var > 0).all()  # min_std floor


def test_m_step_recovers_the_noise_ratio():
    g = torch.Generator().manual_seed(4)
    truth = _boxes(1, 400, 1, generator=g)
    w = truth[..., 2] - truth[..., 0]
    h = truth[..., 3] - truth[..., 1]
    scale = torch.stack([w, h, w, h], dim=-1)
    obs = truth + 0.1 * scale * torch.randn(truth.shape, generator=g, dtype=torch.float64)
    mask = torch.ones(1, 400, 1, dtype=torch.bool)
    eta = torch.ones(1, 400, 1, 1, dtype=torch.float64)
    post = Gaussian(mean=truth, variance=torch.full(truth.shape, 1e-12, dtype=torch.float64))
    fixed = BoxObservationModel()
    fixed.m_step(obs, mask, eta, post)
    assert torch.allclose(fixed.std_ratio, torch.full((4,), 0.04, dtype=torch.float64))
    model = BoxObservationModel(update_noise=True)
    model.m_step(obs, mask, eta, post)
    # The ratio is relative to the observed box's size, the truth's size differs a little.
    assert torch.allclose(model.std_ratio, torch.full((4,), 0.1, dtype=torch.float64), rtol=0.15)


def test_first_frame_initialisation_is_the_papers():
    g = torch.Generator().manual_seed(2)
    obs = _boxes(2, 6, 3, generator=g)
    mask = torch.ones(2, 6, 3, dtype=torch.bool)
    init = BoxObservationModel().initialize(obs, mask, 3, generator=None)
    mean = init.posterior.mean
    assert mean.shape == (2, 6, 3, 4)
    torch.testing.assert_close(mean, obs[:, :1].expand(-1, 6, -1, -1))  # source n = detection n, constant
    assert init.initial_state is not None
    torch.testing.assert_close(init.initial_state.mean, obs[:, 0])
    assert (init.initial_state.variance == PIN_VARIANCE).all()
    assert (init.posterior.variance > 0).all()


def test_more_sources_than_first_frame_detections():
    # Frame 0: one detection. Frame 2: a second object appears. Source 3 has nothing.
    a = torch.tensor([0.1, 0.1, 0.2, 0.4], dtype=torch.float64)
    b = torch.tensor([0.6, 0.1, 0.7, 0.4], dtype=torch.float64)
    obs = torch.zeros(1, 5, 2, 4, dtype=torch.float64)
    mask = torch.zeros(1, 5, 2, dtype=torch.bool)
    obs[0, :, 0] = a
    mask[0, :, 0] = True
    obs[0, 2:, 1] = b + 0.01
    mask[0, 2:, 1] = True
    model = BoxObservationModel()
    init = model.initialize(obs, mask, 3, generator=None)
    mean = init.posterior.mean[0]
    torch.testing.assert_close(mean[:, 0], a.expand(5, 4))
    torch.testing.assert_close(mean[:, 1], (b + 0.01).expand(5, 4))  # seeded from a later frame
    centre = (mean[0, 2, :2] + mean[0, 2, 2:]) / 2  # the fallback: centred box
    torch.testing.assert_close(centre, torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert torch.isfinite(init.posterior.variance).all()
    assert init.initial_state.variance[0, :, 0].tolist() == [PIN_VARIANCE, LOOSE_VARIANCE, LOOSE_VARIANCE]
    empty = model.initialize(obs, torch.zeros_like(mask), 2, generator=None)
    assert torch.isfinite(empty.posterior.mean).all() and (empty.posterior.variance > 0).all()


def test_linker_and_link_initialisation():
    # Two objects moving right; object 0 is missed at t = 2 and 3; detection order flips.
    n_steps = 6
    t = torch.arange(n_steps, dtype=torch.float64)
    box0 = torch.stack([0.1 + 0.01 * t, 0.1 + 0 * t, 0.2 + 0.01 * t, 0.4 + 0 * t], dim=-1)
    box1 = box0 + torch.tensor([0.5, 0.0, 0.5, 0.0], dtype=torch.float64)
    obs = torch.zeros(1, n_steps, 3, 4, dtype=torch.float64)
    mask = torch.zeros(1, n_steps, 3, dtype=torch.bool)
    for step in range(n_steps):
        slots = (1, 0) if step % 2 else (0, 1)
        obs[0, step, slots[1]] = box1[step]
        mask[0, step, slots[1]] = True
        if step not in (2, 3):
            obs[0, step, slots[0]] = box0[step]
            mask[0, step, slots[0]] = True
    tracks = link_detections(obs, mask, 4)
    assert tracks.observed[0, :, 0].tolist() == [True, True, False, False, True, True]
    assert tracks.observed[0, :, 1].all() and not tracks.observed[0, :, 2:].any()
    torch.testing.assert_close(tracks.boxes[0, :, 0], box0)  # linear interpolation over the miss
    torch.testing.assert_close(tracks.boxes[0, :, 1], box1)
    assert tracks.gap[0, :, 0].tolist() == [0, 0, 1, 1, 0, 0]
    init = BoxObservationModel(init="link").initialize(obs, mask, 2, generator=None)
    torch.testing.assert_close(init.posterior.mean[0, :, 1], box0)  # longest track first
    torch.testing.assert_close(init.posterior.mean[0, :, 0], box1)
    batched = link_detections(torch.cat([obs, obs.flip(2)]), torch.cat([mask, mask.flip(2)]), 4)
    torch.testing.assert_close(batched.boxes[1, :, :2].sum(1), tracks.boxes[0, :, :2].sum(1))


def test_registered_and_fits_with_the_engine():
    from mixseq import Engine, create_component
    from mixseq.builtins import LinearGaussianDynamicsModel
    from mixseq_mot.evaluate import evaluate_arrays
    from mixseq_mot.tracking import track, warm_start

    model = create_component("observation_models", "box", std_ratio=0.04)
    assert isinstance(model, BoxObservationModel)
    n_steps = 40
    t = torch.arange(n_steps, dtype=torch.float64)[:, None]
    x = torch.tensor([0.1, 0.4, 0.7], dtype=torch.float64)[None] + 0.004 * t
    truth = torch.stack([x, 0.2 + 0 * x, x + 0.08, 0.5 + 0 * x], dim=-1)[None]  # (1, time, 3, 4)
    g = torch.Generator().manual_seed(0)
    obs = truth + 0.002 * torch.randn(truth.shape, generator=g, dtype=torch.float64)
    mask = torch.rand(1, n_steps, 3, generator=g) < 0.85
    mask[:, 0] = True
    obs = obs[:, :, [2, 0, 1]]  # detection order says nothing about identity
    mask = mask[:, :, [2, 0, 1]]
    engine = Engine(observation_model=model, dynamics=LinearGaussianDynamicsModel(process_variance=1e-4),
                    max_iterations=5)
    result = track(engine, obs, mask, n_sources=3, block_size=20, iterations=3)
    assert result.boxes.shape == (1, n_steps, 3, 4) and torch.isfinite(result.boxes).all()
    scores = evaluate_arrays(truth.numpy(), result.boxes.numpy(), hota=False).overall
    assert scores["mota"] > 0.95 and scores["num_switches"] == 0
    init = warm_start(engine, obs, mask, n_sources=3, block_size=20, iterations=2)
    assert init.initial_state is not None and init.posterior.mean.shape == (1, n_steps, 3, 4)
    linked = track(engine, obs, mask, n_sources=3, init="link")
    assert torch.isfinite(linked.boxes).all()


def test_linker_velocity_bridges_a_long_miss():
    # One box moving fast: after 4 missed frames the held box no longer overlaps it.
    n_steps = 12
    t = torch.arange(n_steps, dtype=torch.float64)
    box = torch.stack([0.1 + 0.02 * t, 0.1 + 0 * t, 0.15 + 0.02 * t, 0.3 + 0 * t], dim=-1)
    obs = box.view(1, n_steps, 1, 4).clone()
    mask = torch.ones(1, n_steps, 1, dtype=torch.bool)
    mask[0, 5:9] = False
    held = link_detections(obs, mask, 2, iou_threshold=0.3)
    assert held.observed[0, :, 0].sum() == 5 and held.observed[0, :, 1].sum() == 3  # the track broke
    moving = link_detections(obs, mask, 2, iou_threshold=0.3, velocity_smoothing=0.5)
    assert moving.observed[0, :, 0].sum() == 8 and not moving.observed[0, :, 1].any()
    with pytest.raises(ValueError, match="velocity_smoothing"):
        link_detections(obs, mask, 2, velocity_smoothing=2.0)
