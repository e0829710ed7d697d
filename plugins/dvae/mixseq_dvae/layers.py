"""Building blocks shared by the networks: MLPs, Gaussian heads, losses, time shifts."""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor, nn

__all__ = [
    "GaussianHead",
    "backward_lstm",
    "gaussian_kl",
    "gaussian_nll",
    "itakura_saito",
    "lstm_step",
    "mlp",
    "sample_gaussian",
    "shift_right",
]

_LOG_2PI = math.log(2.0 * math.pi)
_LSTM_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def mlp(in_dim: int, hidden: tuple[int, ...]) -> tuple[nn.Module, int]:
    """A tanh MLP ``in_dim → hidden[0] → … → hidden[-1]`` and its output size.

    With no hidden layer it is the identity.
    """
    layers: list[nn.Module] = []
    size = in_dim
    for width in hidden:
        layers += [nn.Linear(size, width), nn.Tanh()]
        size = width
    return (nn.Sequential(*layers) if layers else nn.Identity()), size


class GaussianHead(nn.Module):
    """MLP body plus linear mean and log-variance outputs.

    ``mean=False`` gives a variance-only head (zero-mean complex decoder).
    """

    def __init__(self, *, in_dim: int, hidden: tuple[int, ...], out_dim: int, mean: bool = True) -> None:
        super().__init__()
        self.body, size = mlp(in_dim, hidden)
        self.mean = nn.Linear(size, out_dim) if mean else None
        self.logvar = nn.Linear(size, out_dim)

    def forward(self, inputs: Tensor) -> tuple[Tensor | None, Tensor]:
        """Mean (or ``None``) and log-variance. Shape ``(..., out_dim)`` each."""
        features = self.body(inputs)
        mean = self.mean(features) if self.mean is not None else None
        return mean, self.logvar(features)


def floor_logvar(raw: Tensor, min_variance: float) -> Tensor:
    """``log(exp(raw) + min_variance)``: a smooth variance floor.

    Noise-free training data would otherwise drive the variance to zero and the
    likelihood to infinity.
    """
    return torch.logaddexp(raw, torch.full_like(raw, math.log(min_variance)))


def sample_gaussian(mean: Tensor, logvar: Tensor, *, generator: torch.Generator | None) -> Tensor:
    """One reparameterised sample ``mean + exp(logvar/2)·ε``. Shape of ``mean``."""
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + torch.exp(0.5 * logvar) * eps


def gaussian_nll(x: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """``-log N(x; mean, exp(logvar))`` per element. Shape of ``x``."""
    return 0.5 * (_LOG_2PI + logvar + (x - mean).square() * torch.exp(-logvar))


def itakura_saito(power: Tensor, logvar: Tensor) -> Tensor:
    """Itakura–Saito divergence ``p/v − log(p/v) − 1`` per element, ``v = exp(logvar)``.

    Equal to the circular complex Gaussian NLL ``log(πv) + p/v`` up to a term free of
    ``v``. ``power`` is ``|s|²``, floored at 1e-12 so that exact zeros (digital silence)
    keep the logarithm finite.
    """
    power = power.clamp_min(1e-12)  # log(0) in silent bins
    ratio = power * torch.exp(-logvar)
    return ratio - torch.log(ratio) - 1.0


def gaussian_kl(q_mean: Tensor, q_logvar: Tensor, p_mean: Tensor, p_logvar: Tensor) -> Tensor:
    """``KL(N(q) ‖ N(p))`` per element. Shape of ``q_mean``."""
    return 0.5 * (p_logvar - q_logvar + (torch.exp(q_logvar) + (q_mean - p_mean).square()) * torch.exp(-p_logvar) - 1.0)


def shift_right(x: Tensor) -> Tensor:
    """``x`` delayed by one step along time, zero at ``t = 0``. Shape ``(batch, time, d)``."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


def _reverse_valid(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence within its own length; padding stays at the end."""
    n_steps = x.shape[1]
    t = torch.arange(n_steps, device=x.device)[None, :]
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return torch.gather(x, 1, idx[..., None].expand_as(x))


def backward_lstm(rnn: nn.LSTM, x: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Run ``rnn`` from the end of each sequence to its start.

    ``x``: shape ``(batch, time, d)``; ``lengths``: valid steps per sequence, shape
    ``(batch,)`` (``None``: all). Padding after a sequence's end never reaches its valid
    steps. Returns shape ``(batch, time, rnn.hidden_size)``.
    """
    if lengths is None:
        out, _ = rnn(torch.flip(x, dims=[1]))
        return torch.flip(out, dims=[1])
    out, _ = rnn(_reverse_valid(x, lengths))
    return _reverse_valid(out, lengths)


def lstm_step(rnn: nn.LSTM, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """One step of a single-layer ``nn.LSTM`` with its own weights (no sequence overhead).

    ``x``: shape ``(batch, input)``; ``state``: ``(h, c)``, each ``(batch, hidden)``.
    Returns the new ``(h, c)``; equal to ``rnn`` over a sequence of length one.
    """
    w_ih, w_hh, b_ih, b_hh = (cast(Tensor, getattr(rnn, f"{name}_l0")) for name in _LSTM_WEIGHTS)
    h, c = torch.lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh)
    return h, c
