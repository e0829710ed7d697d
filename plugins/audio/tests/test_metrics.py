from __future__ import annotations

import logging
import math

import pytest
import torch

from mixseq.errors import InputError, ShapeError
from mixseq_audio.metrics import PESQ_WB_MIN, SI_SDR_LIMIT_DB, pesq_wb, rmse, separation_scores, si_sdr


def _noise(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_si_sdr_of_a_scaled_copy_is_large_and_finite() -> None:
    ref = _noise(3, 8000)
    value = si_sdr(0.3 * ref, ref)
    assert bool(torch.isfinite(value).all()) and bool((value > 100).all()) and bool((value <= SI_SDR_LIMIT_DB).all())


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 5.0, 20.0])
def test_si_sdr_of_added_orthogonal_noise_is_the_snr(snr_db: float) -> None:
    ref = _noise(8000)
    noise = _noise(8000, seed=1)
    noise = noise - (noise @ ref) / (ref @ ref) * ref  # exactly orthogonal: SI-SDR equals the SNR
    ref, noise = ref - ref.mean(), noise - noise.mean()
    noise = noise * torch.sqrt(ref.square().sum() / noise.square().sum() * 10 ** (-snr_db / 10))
    assert float(si_sdr(ref + noise, ref)) == pytest.approx(snr_db, abs=0.05)


def test_si_sdr_is_batched_and_scale_invariant() -> None:
    ref, est = _noise(4, 2, 1000), _noise(4, 2, 1000, seed=3) + _noise(4, 2, 1000)
    batched = si_sdr(est, ref)
    assert batched.shape == (4, 2)
    singles = torch.stack([torch.stack([si_sdr(est[i, j], ref[i, j]) for j in range(2)]) for i in range(4)])
    assert torch.allclose(batched, singles)
    assert torch.allclose(si_sdr(5 * est, ref), batched) and torch.allclose(si_sdr(est, 0.1 * ref), batched)


def test_si_sdr_edge_cases_are_bounded() -> None:
    zeros, ref = torch.zeros(1000), _noise(1000)
    assert float(si_sdr(zeros, zeros)) == 0.0
    assert float(si_sdr(ref, zeros)) == pytest.approx(-SI_SDR_LIMIT_DB, abs=0.01)
    assert float(si_sdr(zeros, ref)) == pytest.approx(-SI_SDR_LIMIT_DB, abs=0.01)


def test_rmse_after_optimal_scaling() -> None:
    ref = _noise(2000)
    assert float(rmse(4.0 * ref, ref)) == pytest.approx(0.0, abs=1e-12)
    noise = _noise(2000, seed=5)
    noise = noise - (noise @ ref) / (ref @ ref) * ref
    # the best scale of ref + n is |ref|²/(|ref|²+|n|²); the residual is known in closed form
    a, b = float(ref.square().sum()), float(noise.square().sum())
    expected = math.sqrt(a * b / (a + b) / 2000)
    assert float(rmse(ref + noise, ref)) == pytest.approx(expected, rel=1e-9)
    assert float(rmse(torch.zeros(2000), ref)) == pytest.approx(float(ref.square().mean().sqrt()))
    assert rmse(_noise(3, 100), _noise(3, 100, seed=2)).shape == (3,)


def test_shape_errors() -> None:
    with pytest.raises(ShapeError):
        si_sdr(torch.zeros(3, 10), torch.zeros(10))
    with pytest.raises(ShapeError):
        rmse(torch.zeros(10, dtype=torch.complex64), torch.zeros(10, dtype=torch.complex64))


def _speechlike(seconds: float = 2.0, seed: int = 0) -> torch.Tensor:
    """Harmonic bursts with a syllable rhythm: PESQ detects utterances in it."""
    t = torch.arange(int(16000 * seconds), dtype=torch.float64) / 16000
    f0 = 140 + 20 * torch.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * torch.cumsum(f0, 0) / 16000
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 12))
    envelope = torch.sin(2 * math.pi * 3 * t).clamp_min(0)
    return 0.3 * voiced * envelope + 1e-3 * _noise(t.shape[0], seed=seed)


def test_pesq_orders_quality_and_is_batched() -> None:
    ref = _speechlike()
    clean = pesq_wb(ref, ref)
    noisy = pesq_wb(torch.stack([ref + 0.05 * _noise(ref.shape[0]), ref + 0.3 * _noise(ref.shape[0])]),
                    torch.stack([ref, ref]))
    assert noisy.shape == (2,)
    assert float(clean) > 4.0 > float(noisy[0]) > float(noisy[1]) >= PESQ_WB_MIN


def test_pesq_failures_score_the_minimum_without_nan(caplog: pytest.LogCaptureFixture) -> None:
    ref = _speechlike()
    with caplog.at_level(logging.WARNING):
        scores = pesq_wb(torch.stack([torch.zeros_like(ref), ref]), torch.stack([ref, torch.zeros_like(ref)]))
    assert scores.tolist() == [PESQ_WB_MIN, PESQ_WB_MIN]
    assert "silent" in caplog.text and "No utterances" in caplog.text
    short = ref[:1000]
    assert float(pesq_wb(short, short)) == PESQ_WB_MIN
    with pytest.raises(InputError, match="1/4 of a second"):
        pesq_wb(short, short, on_error="raise")


def test_pesq_resamples_other_rates() -> None:
    ref = _speechlike()
    assert float(pesq_wb(ref[::2], ref[::2], sample_rate=8000)) > 4.0


def test_separation_scores() -> None:
    ref = _speechlike()
    mix = ref + _noise(ref.shape[0])
    scores = separation_scores(ref + 0.01 * _noise(ref.shape[0], seed=9), ref, mixture=mix, with_pesq=False)
    assert set(scores) == {"si_sdr", "rmse", "si_sdr_improvement"}
    assert float(scores["si_sdr_improvement"]) > 20
