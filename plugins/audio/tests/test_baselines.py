from __future__ import annotations

import pytest
import torch

from mixseq.errors import InputError, ShapeError
from mixseq_audio.baselines import NMFConfig, NMFSeparator, _temporal_gradient, beta_divergence, nmf


def _templates(n_bins: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two sources with disjoint harmonic templates, shape (freq, 2) each."""
    g = torch.Generator().manual_seed(seed)
    a = torch.zeros(n_bins, 2, dtype=torch.float64)
    a[[2, 4, 6, 8], 0], a[[3, 6, 9, 12], 1] = 1.0, 1.0
    b = torch.zeros(n_bins, 2, dtype=torch.float64)
    b[[20, 25, 30], 0], b[[22, 33, 38], 1] = 1.0, 1.0
    return a + 1e-3 * torch.rand(n_bins, 2, generator=g, dtype=torch.float64), b + 1e-3


def _activations(n_batch: int, n_steps: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n_batch, 2, n_steps, generator=g, dtype=torch.float64) + 0.05


def test_temporal_gradient_matches_autograd() -> None:
    h = _activations(2, 7, 1).requires_grad_(True)
    n_steps = h.shape[-1]
    penalty = (n_steps * (h[..., 1:] - h[..., :-1]).square().sum(-1) / h.square().sum(-1)).sum()
    (grad,) = torch.autograd.grad(penalty, h)
    positive, negative = _temporal_gradient(h.detach())
    assert bool((positive >= 0).all()) and bool((negative >= 0).all())
    assert torch.allclose(positive - negative, grad, atol=1e-10)


@pytest.mark.parametrize("divergence", ["is", "kl"])
def test_nmf_decreases_the_divergence(divergence: str) -> None:
    wa, wb = _templates()
    v = torch.cat([wa, wb], 1) @ _activations(3, 30, 2).repeat(1, 2, 1)
    errors = []
    for n_iter in (1, 10, 60):
        w, h = nmf(v, 4, divergence=divergence, n_iter=n_iter, generator=torch.Generator().manual_seed(0))
        errors.append(float(beta_divergence(v, w @ h + 1e-12, 0.0 if divergence == "is" else 1.0).sum()))
        assert torch.allclose(w.sum(0), torch.ones(4, dtype=torch.float64))
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("temporal_weight", [0.0, 5.0])
def test_supervised_separation_recovers_the_sources(temporal_weight: float) -> None:
    wa, wb = _templates()
    train_a = (wa @ _activations(8, 20, 3)).transpose(1, 2)  # (chunks, time, freq) like a corpus
    train_b = (wb @ _activations(8, 20, 4)).transpose(1, 2)
    config = NMFConfig(n_components=2, n_iter_fit=150, n_iter_separate=150, temporal_weight=temporal_weight)
    separator = NMFSeparator.fit([train_a, train_b], config=config, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(5)
    phase = torch.exp(1j * 2 * torch.pi * torch.rand(2, 40, 25, generator=g, dtype=torch.float64))
    source_a = (wa @ _activations(2, 25, 6)).sqrt() * phase
    source_b = (wb @ _activations(2, 25, 7)).sqrt() * phase.conj()
    mixture = source_a + source_b
    estimates = separator(mixture, generator=torch.Generator().manual_seed(1))
    masks = separator.masks(mixture)
    assert estimates.shape == (2, 2, 40, 25) and masks.shape == (2, 2, 40, 25)
    assert torch.allclose(masks.sum(1), torch.ones(2, 40, 25, dtype=torch.float64))
    assert torch.allclose(estimates.sum(1), mixture)
    for estimate, truth in ((estimates[:, 0], source_a), (estimates[:, 1], source_b)):
        error = (estimate - truth).abs().square().sum() / truth.abs().square().sum()
        assert float(error) < 0.02


def test_silent_mixture_gives_finite_masks() -> None:
    separator = NMFSeparator([torch.rand(10, 3), torch.rand(10, 2)])
    masks = separator.masks(torch.zeros(1, 10, 4, dtype=torch.complex64))
    assert bool(torch.isfinite(masks).all())
    assert torch.allclose(masks.sum(1), torch.ones(1, 10, 4))


def test_bad_inputs() -> None:
    with pytest.raises(ShapeError):
        nmf(torch.rand(10, 4), 2)
    with pytest.raises(InputError):
        nmf(-torch.rand(1, 10, 4), 2)
    with pytest.raises(ShapeError):
        NMFSeparator([torch.rand(10, 3), torch.rand(9, 2)])
    with pytest.raises(InputError):
        NMFSeparator([])
    with pytest.raises(ShapeError):
        NMFSeparator([torch.rand(10, 3)]).masks(torch.rand(1, 10, 4))
    with pytest.raises(ValueError):
        NMFConfig(divergence="euclid")  # type: ignore[arg-type]
