"""The DynamicsModel wrappers: conformance suites, E-S algebra, masks, fine-tuning."""

from __future__ import annotations

import pytest
import torch

from mixseq.errors import InputError, ShapeError
from mixseq.interfaces import Gaussian, GaussianMessage
from mixseq.testing import DynamicsModelConformance
from mixseq_dvae._testing import SMALL_CONFIGS, boxes
from mixseq_dvae.dynamics import (
    DeepARDynamicsModel,
    DKFDynamicsModel,
    DVAEDynamicsModel,
    SRNNDynamicsModel,
    VRNNDynamicsModel,
)

# -- conformance suites (one per model) -------------------------------------------------------


class TestSRNNConformance(DynamicsModelConformance):
    stochastic = True  # one z sample per E-Z step: batch sizes draw different noise

    def make_model(self):
        return SRNNDynamicsModel(config=SMALL_CONFIGS["srnn"], seed=0)


class TestSRNNFirstBoxConformance(DynamicsModelConformance):
    stochastic = True

    def make_message(self, n_batch, dtype):
        # Scale-free dynamics need real boxes (x1 < x2, y1 < y2) to define their frame.
        precision = torch.rand(n_batch, 6, 2, 4, generator=torch.Generator().manual_seed(1), dtype=dtype) * 50
        precision[:, 2] = 0
        mean = boxes(n_batch * 2, 6, seed=1).to(dtype).reshape(n_batch, 2, 6, 4).transpose(1, 2)
        return GaussianMessage(precision=precision, precision_mean=precision * mean)

    def make_model(self):
        return SRNNDynamicsModel(config=SMALL_CONFIGS["srnn-first_box"], seed=0)


class TestSRNNComplexConformance(DynamicsModelConformance):
    stochastic = True
    state_dim = 5

    def make_model(self):
        return SRNNDynamicsModel(config=SMALL_CONFIGS["srnn-complex"], seed=0)


class TestVRNNConformance(DynamicsModelConformance):
    stochastic = True

    def make_model(self):
        return VRNNDynamicsModel(config=SMALL_CONFIGS["vrnn"], seed=0)


class TestDKFConformance(DynamicsModelConformance):
    stochastic = True

    def make_model(self):
        return DKFDynamicsModel(config=SMALL_CONFIGS["dkf"], seed=0)


class TestDeepARConformance(DynamicsModelConformance):
    def make_model(self):
        return DeepARDynamicsModel(config=SMALL_CONFIGS["deep_ar"], seed=0)


class TestDeepARComplexConformance(DynamicsModelConformance):
    state_dim = 5

    def make_model(self):
        # "mean": no power sampling, so batched and single calls must agree exactly.
        return DeepARDynamicsModel(config=SMALL_CONFIGS["deep_ar-complex"], seed=0, power_sample="mean")


# -- wrapper behaviour --------------------------------------------------------------------------


def _message(n_batch: int, n_steps: int, n_sources: int, *, seed: int = 0) -> GaussianMessage:
    g = torch.Generator().manual_seed(seed)
    obs = boxes(n_batch * n_sources, n_steps, seed=seed).double()
    obs = obs.reshape(n_batch, n_sources, n_steps, 4).permute(0, 2, 1, 3)
    precision = torch.full_like(obs, 1e4) * (torch.rand((*obs.shape[:3], 1), generator=g, dtype=torch.float64) < 0.8)
    return GaussianMessage(precision=precision, precision_mean=precision * obs)


def _run(model: DVAEDynamicsModel, message: GaussianMessage, time_mask=None, seed=0, initial_state=None):
    n_batch, n_steps = message.precision.shape[:2]
    if time_mask is None:
        time_mask = torch.ones(n_batch, n_steps, dtype=torch.bool)
    start = Gaussian(
        mean=message.precision_mean / message.precision.clamp_min(1.0), variance=torch.ones_like(message.precision)
    )
    g = torch.Generator().manual_seed(seed)
    latent = model.e_z_step(start, time_mask, generator=g)
    return latent, model.e_s_step(message, time_mask, latent=latent, initial_state=initial_state, generator=g)


@pytest.mark.parametrize("name", ["srnn", "srnn-first_box", "vrnn", "dkf", "deep_ar"])
def test_batched_equals_stacked_given_the_latent(name: str) -> None:
    model = DVAEDynamicsModel(config=SMALL_CONFIGS[name], seed=0).double()
    message = _message(3, 6, 2)
    mask = torch.ones(3, 6, dtype=torch.bool)
    latent, batched = _run(model, message)
    for i in range(3):
        rows = slice(2 * i, 2 * i + 2)  # batch i, both sources, in the folded order
        sample = latent.sample
        sub_latent = type(latent)(
            None if sample is None else type(sample)(*(f[rows] for f in sample)),
            None
            if latent.reference is None
            else type(latent.reference)(latent.reference.offset[rows], latent.reference.scale[rows]),
        )
        single = model.e_s_step(
            GaussianMessage(precision=message.precision[i : i + 1], precision_mean=message.precision_mean[i : i + 1]),
            mask[i : i + 1],
            latent=sub_latent,
            initial_state=None,
            generator=None,
        )
        torch.testing.assert_close(single.posterior.mean, batched.posterior.mean[i : i + 1])
        torch.testing.assert_close(single.posterior.variance, batched.posterior.variance[i : i + 1])
        torch.testing.assert_close(single.elbo, batched.elbo[i : i + 1])


def test_information_form_and_masked_steps() -> None:
    model = SRNNDynamicsModel(config=SMALL_CONFIGS["srnn"], seed=0).double()
    message = _message(2, 5, 3)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    _, result = _run(model, message, time_mask=mask)
    post = result.posterior
    assert post.mean.shape == (2, 5, 3, 4) and result.elbo.shape == (2,)
    assert bool(torch.isfinite(post.mean).all()) and bool((post.variance > 0).all())
    # With a strong message the posterior follows it; a masked step ignores it.
    lam = message.precision
    observed = (lam > 0) & mask[:, :, None, None]
    target = message.precision_mean[observed] / lam[observed]
    assert torch.allclose(post.mean[observed], target, atol=1e-2)
    assert bool((post.variance[observed] <= 1.0 / lam[observed] + 1e-12).all())
    assert bool((post.variance[1, 3:] > 1.0 / 1e4).all()), "masked steps must not take the message"


def test_elbo_ignores_masked_steps() -> None:
    model = DeepARDynamicsModel(config=SMALL_CONFIGS["deep_ar"], seed=0).double()
    message = _message(1, 6, 2)
    short = torch.ones(1, 6, dtype=torch.bool)
    short[0, 4:] = False
    _, full = _run(model, message)
    _, cut = _run(model, message, time_mask=short)
    garbage = GaussianMessage(precision=message.precision, precision_mean=message.precision_mean.clone())
    garbage.precision_mean[0, 4:] = 123.0
    _, cut_garbage = _run(model, garbage, time_mask=short)
    torch.testing.assert_close(cut.elbo, cut_garbage.elbo)
    assert not torch.allclose(cut.elbo, full.elbo)


def test_initial_state_pins_the_first_step() -> None:
    model = SRNNDynamicsModel(config=SMALL_CONFIGS["srnn-first_box"], seed=0).double()
    message = _message(2, 4, 2)
    message.precision[:, 0] = 0.0
    message.precision_mean[:, 0] = 0.0
    init = Gaussian(
        mean=torch.tensor([0.2, 0.3, 0.25, 0.5], dtype=torch.float64).expand(2, 2, 4).clone(),
        variance=torch.full((2, 2, 4), 1e-5, dtype=torch.float64),
    )
    _, result = _run(model, message, initial_state=init)
    torch.testing.assert_close(result.posterior.mean[:, 0], init.mean)
    torch.testing.assert_close(result.posterior.variance[:, 0], init.variance)


def test_complex_power_sampling_options() -> None:
    message = _message(1, 4, 2)
    cmessage = GaussianMessage(
        precision=message.precision[..., :4].repeat(1, 1, 1, 2)[..., :5],
        precision_mean=torch.complex(message.precision_mean, message.precision_mean).repeat(1, 1, 1, 2)[..., :5],
    )
    for mode in ("gaussian", "uniform", "mean"):
        model = SRNNDynamicsModel(config=SMALL_CONFIGS["srnn-complex"], seed=0, power_sample=mode).double()
        _, result = _run(model, cmessage)
        assert result.posterior.mean.is_complex() and bool(torch.isfinite(result.elbo).all())
    with pytest.raises(InputError, match="power_sample"):
        SRNNDynamicsModel(config=SMALL_CONFIGS["srnn-complex"], power_sample="laplace")


def test_fine_tuning_does_not_leak() -> None:
    model = SRNNDynamicsModel(config=SMALL_CONFIGS["srnn"], seed=0, finetune_steps=3, finetune_lr=1e-2).double()
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    message = _message(2, 5, 2)
    mask = torch.ones(2, 5, dtype=torch.bool)
    model.begin_fit()
    latent, result = _run(model, message)
    model.m_step(result.posterior, mask, latent)
    changed = any(not torch.equal(before[k], v) for k, v in model.network.state_dict().items())
    assert changed, "fine-tuning should update the weights during the fit"
    model.end_fit()
    for k, v in model.network.state_dict().items():
        torch.testing.assert_close(v, before[k])
    # Off by default: m_step is a no-op.
    plain = SRNNDynamicsModel(config=SMALL_CONFIGS["srnn"], seed=0).double()
    ref = {k: v.clone() for k, v in plain.network.state_dict().items()}
    plain.m_step(result.posterior, mask, latent)
    assert all(torch.equal(ref[k], v) for k, v in plain.network.state_dict().items())


def test_shape_and_model_checks() -> None:
    model = SRNNDynamicsModel(config=SMALL_CONFIGS["srnn"], seed=0)
    bad = GaussianMessage(precision=torch.ones(1, 3, 2, 5), precision_mean=torch.ones(1, 3, 2, 5))
    with pytest.raises(ShapeError, match="expected dims"):
        model.e_s_step(bad, torch.ones(1, 3, dtype=torch.bool), latent=None, initial_state=None, generator=None)
    with pytest.raises(InputError, match="expected a 'srnn' network"):
        SRNNDynamicsModel(config=SMALL_CONFIGS["deep_ar"])
    with pytest.raises(InputError, match="at most one"):
        SRNNDynamicsModel(config=SMALL_CONFIGS["srnn"], checkpoint="srnn-mot")
    with pytest.raises(InputError, match="expected checkpoint="):
        VRNNDynamicsModel()


def test_variance_calibration() -> None:
    message = _message(1, 5, 1)
    base = DeepARDynamicsModel(config=SMALL_CONFIGS["deep_ar"], seed=0).double()
    wide = DeepARDynamicsModel(network=base.network, variance_scale=10.0, min_variance=1e-3).double()
    _, a = _run(base, message)
    _, b = _run(wide, message)
    assert bool((b.posterior.variance >= a.posterior.variance).all())


def test_vkf_factory() -> None:
    from mixseq_dvae.baselines import vkf

    model = vkf()
    assert model.order == 2 and model.state_dim == 4
    assert vkf(preset=None, order=1).order == 1
    with pytest.raises(InputError, match="preset"):
        vkf(preset="audio")


@pytest.mark.skipif("srnn-mot-clean" not in __import__("mixseq_dvae").pretrained_names(), reason="not shipped")
class TestPretrainedSRNNConformance(TestSRNNFirstBoxConformance):
    """The shipped box model, on real boxes."""

    def make_model(self):
        return SRNNDynamicsModel(checkpoint="srnn-mot-clean")


@pytest.mark.skipif("srnn-mot" not in __import__("mixseq_dvae").pretrained_names(), reason="not shipped")
class TestPretrainedDenoisingSRNNConformance(TestSRNNFirstBoxConformance):
    """The default shipped box model, on real boxes."""

    def make_model(self):
        return SRNNDynamicsModel()
