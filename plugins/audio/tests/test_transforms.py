from __future__ import annotations

import pytest
import torch

from mixseq.errors import InputError, ShapeError
from mixseq_audio.transforms import STFT, STFTConfig, istft, power_spectrogram, sine_window, stft


def test_defaults_are_the_papers() -> None:
    config = STFTConfig()
    assert (config.sample_rate, config.n_fft, config.win_length, config.hop_length) == (16000, 1024, 1024, 256)
    assert config.window == "sine" and config.center and config.n_bins == 513


def test_sine_window_squared_is_hann_and_sums_flat_at_quarter_hop() -> None:
    w = sine_window(1024, dtype=torch.float64)
    assert torch.allclose(w.square(), torch.hann_window(1024, periodic=True, dtype=torch.float64), atol=4e-3)
    ola = w.square().view(4, 256).sum(0)
    assert torch.allclose(ola, torch.full_like(ola, 2.0), atol=1e-12)


@pytest.mark.parametrize("n_samples", [1, 700, 16000, 16001])
def test_round_trip(n_samples: int) -> None:
    x = torch.randn(2, n_samples, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    spec = stft(x)
    assert spec.shape == (2, 513, STFTConfig().n_frames(n_samples)) and spec.is_complex()
    assert torch.allclose(istft(spec, length=n_samples), x, atol=1e-10)


def test_batched_equals_single_and_float32() -> None:
    x = torch.randn(3, 4000, generator=torch.Generator().manual_seed(1))
    module = STFT()
    batched = module(x)
    assert torch.allclose(batched, torch.stack([module(row) for row in x]), atol=1e-5)
    assert torch.allclose(module.inverse(batched, 4000), x, atol=1e-5)


def test_power_spectrogram_is_time_first() -> None:
    x = torch.randn(1600)
    power = power_spectrogram(x)
    assert power.shape == (STFTConfig().n_frames(1600), 513)
    assert torch.allclose(power, stft(x).abs().square().T)


def test_configurable_hann_and_reflect() -> None:
    config = STFTConfig(n_fft=512, win_length=512, hop_length=128, window="hann", pad_mode="reflect")
    x = torch.randn(3000, dtype=torch.float64)
    assert torch.allclose(istft(stft(x, config), config, 3000), x, atol=1e-10)
    with pytest.raises(InputError, match="reflect"):
        stft(torch.randn(100), config)


def test_bad_config_and_inputs() -> None:
    with pytest.raises(InputError):
        STFTConfig(win_length=2048)
    with pytest.raises(InputError):
        STFTConfig(hop_length=0)
    with pytest.raises(ShapeError):
        istft(torch.randn(513, 4))
    with pytest.raises(ShapeError):
        istft(torch.randn(100, 4, dtype=torch.complex64))
    with pytest.raises(ShapeError):
        stft(torch.randn(10, dtype=torch.complex64))
