"""The sequence networks: loss, step-by-step pass, encoder, batching."""

from __future__ import annotations

import pytest
import torch

from mixseq.errors import InputError, ShapeError
from mixseq_dvae._testing import SMALL_CONFIGS, boxes
from mixseq_dvae.config import SRNNConfig, config_from_dict, config_to_dict
from mixseq_dvae.layers import backward_lstm, shift_right
from mixseq_dvae.models import build_network


def _inputs(name: str, n: int = 3, n_steps: int = 7) -> torch.Tensor:
    config = SMALL_CONFIGS[name]
    if config.x_dim == 4:
        return boxes(n, n_steps).double()
    return torch.rand(n, n_steps, config.x_dim, generator=torch.Generator().manual_seed(0)).double() + 0.01


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_step_by_step_equals_full_pass(name: str) -> None:
    net = build_network(SMALL_CONFIGS[name]).double()
    x = _inputs(name)
    feats = net.features(x)
    out = net.full_pass(shift_right(feats), feats, None, generator=torch.Generator().manual_seed(0))
    carry = net.initial_carry(x.shape[0], x)
    prev = torch.zeros_like(feats[:, 0])
    for t in range(x.shape[1]):
        step = net.step(prev, None if out.z is None else out.z[:, t], carry, generator=None)
        carry, prev = step.carry, feats[:, t]
        torch.testing.assert_close(step.logvar, out.logvar[:, t])
        if out.mean is not None:
            torch.testing.assert_close(step.mean, out.mean[:, t])
        if out.p_mean is not None:
            torch.testing.assert_close(step.p_mean, out.p_mean[:, t])


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_loss_decreases(name: str) -> None:
    with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
        torch.manual_seed(0)
        net = build_network(SMALL_CONFIGS[name])
    x = _inputs(name, n=16, n_steps=10).float()
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = float(net.loss(x, generator=torch.Generator().manual_seed(1)).loss.detach())
    for _ in range(30):
        opt.zero_grad()
        net.loss(x, kl_weight=0.5, sampling_prob=0.3, generator=g).loss.backward()
        opt.step()
    last = float(net.loss(x, generator=torch.Generator().manual_seed(1)).loss.detach())
    assert last < first


def test_loss_mask_ignores_padding() -> None:
    net = build_network(SMALL_CONFIGS["srnn-backward"]).double()
    x = boxes(2, 8).double()
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1, 5:] = False
    garbage = x.clone()
    garbage[1, 5:] = 7.0
    a = net.loss(x, mask=mask, generator=torch.Generator().manual_seed(0))
    b = net.loss(garbage, mask=mask, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.loss, b.loss)


def test_backward_lstm_respects_lengths() -> None:
    rnn = torch.nn.LSTM(3, 4, batch_first=True).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([6, 4])
    out = backward_lstm(rnn, x, lengths)
    alone = backward_lstm(rnn, x[1:, :4])
    torch.testing.assert_close(out[1:, :4], alone)


def test_batched_equals_stacked_full_pass() -> None:
    net = build_network(SMALL_CONFIGS["srnn"]).double()
    x = boxes(3, 6).double()
    feats = net.features(x)
    batched = net.full_pass(shift_right(feats), feats, None, generator=torch.Generator().manual_seed(0))
    carry = net.initial_carry(3, x)
    # Same z for each sequence alone: the decoder/prior outputs must match row by row.
    for i in range(3):
        step_carry = tuple(c[:, i : i + 1] if c.dim() == 3 else c[i : i + 1] for c in carry)
        prev = torch.zeros(1, 4, dtype=torch.float64)
        for t in range(6):
            step = net.step(prev, batched.z[i : i + 1, t], step_carry, generator=None)
            step_carry, prev = step.carry, feats[i : i + 1, t]
            torch.testing.assert_close(step.mean, batched.mean[i : i + 1, t])


def test_encode_draws_one_sample_per_step() -> None:
    net = build_network(SMALL_CONFIGS["srnn"])
    x = boxes(2, 5)
    sample = net.encode(x, generator=torch.Generator().manual_seed(0))
    assert sample is not None and sample.z.shape == (2, 5, 4)
    again = net.encode(x, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(sample.z, again.z)
    assert build_network(SMALL_CONFIGS["deep_ar"]).encode(x) is None


def test_audio_preset_size() -> None:
    n_params = sum(p.numel() for p in build_network(SRNNConfig.audio()).parameters())
    assert 880_000 < n_params < 890_000
    n_box = sum(p.numel() for p in build_network(SRNNConfig.boxes()).parameters())
    assert 1_300 < n_box < 1_600


def test_config_round_trip_and_validation() -> None:
    config = SMALL_CONFIGS["srnn-complex"]
    assert config_from_dict("srnn", config_to_dict(config)) == config
    with pytest.raises(InputError, match="decoder"):
        SRNNConfig(decoder="poisson")
    with pytest.raises(InputError, match="first_box"):
        SRNNConfig.audio(normalization="first_box")
    with pytest.raises(InputError, match="unknown fields"):
        config_from_dict("srnn", {"x_dim": 4, "colour": "red"})
    with pytest.raises(ShapeError, match="expected real dims"):
        build_network(config).loss(torch.zeros(2, 3, 4))


def test_input_noise_keeps_clean_targets() -> None:
    net = build_network(SMALL_CONFIGS["srnn-relative"]).double()
    x = boxes(4, 6).double()
    clean = net.loss(x, generator=torch.Generator().manual_seed(0))
    same = net.loss(x, input_noise=0.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(clean.loss, same.loss)
    noisy = net.loss(x, input_noise=0.1, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(noisy.loss) and not torch.allclose(noisy.loss, clean.loss)


def test_relative_mode_is_translation_invariant() -> None:
    net = build_network(SMALL_CONFIGS["deep_ar-relative"]).double()
    x = boxes(2, 6).double()
    shift = torch.tensor([0.1, -0.05, 0.1, -0.05], dtype=torch.float64)
    a = net.full_pass(shift_right(x), x, None, generator=None)
    # Same sequence moved by a constant (after the first input, which sets the offset).
    xs = x + shift
    b = net.full_pass(shift_right(xs), xs, None, generator=None)
    torch.testing.assert_close(b.mean[:, 2:], a.mean[:, 2:] + shift)
    torch.testing.assert_close(b.logvar[:, 2:], a.logvar[:, 2:])
