"""Deep AR: a deterministic autoregressive LSTM predictor (the MixDVAE baseline)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mixseq_dvae.base import Pass, SequenceNetwork, Step, lstm_state
from mixseq_dvae.config import DeepARConfig
from mixseq_dvae.layers import GaussianHead, lstm_step, mlp

__all__ = ["DeepAR"]


class DeepAR(SequenceNetwork):
    """``h_t = LSTM(h_{t-1}, MLP(x_{t-1}))``; ``x_t ~ N(μ(h_t), σ²)``.

    ``σ²`` is predicted by the output head (``variance="learned"``) or the constant
    ``fixed_variance``. No latent variables: E-Z does nothing.
    """

    name = "deep_ar"
    has_latent = False
    config: DeepARConfig

    def __init__(self, config: DeepARConfig) -> None:
        super().__init__(config)
        c = config
        self.x_mlp, x_feat = mlp(c.x_dim, c.x_hidden)
        self.rnn = nn.LSTM(x_feat, c.rnn_dim, batch_first=True)
        self.head = GaussianHead(
            in_dim=c.rnn_dim, hidden=c.output_hidden, out_dim=c.x_dim, mean=c.decoder == "gaussian"
        )
        self._log_fixed = math.log(c.fixed_variance)

    def _output(self, h: Tensor) -> tuple[Tensor | None, Tensor]:
        mean, raw = self.head(h)
        if self.config.variance == "fixed":
            raw = torch.full_like(raw, self._log_fixed)
        return mean, self.floor(raw)

    def _full_pass(self, prev: Tensor, x: Tensor, lengths: Tensor | None, *, generator: torch.Generator | None) -> Pass:
        h, _ = self.rnn(self.x_mlp(prev))
        mean, logvar = self._output(h)
        return Pass(mean, logvar)

    def _initial_carry(self, n: int, like: Tensor) -> tuple[Tensor, ...]:
        return lstm_state(n, self.config.rnn_dim, like)

    def _step(
        self,
        prev: Tensor,
        z: Tensor | None,
        carry: tuple[Tensor, ...],
        *,
        generator: torch.Generator | None,
        x: Tensor | None = None,
    ) -> Step:
        h, c = lstm_step(self.rnn, self.x_mlp(prev), (carry[0], carry[1]))
        mean, logvar = self._output(h)
        return Step(mean, logvar, None, None, (h, c))
