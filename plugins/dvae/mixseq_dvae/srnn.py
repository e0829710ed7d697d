"""SRNN, the DVAE used by MixDVAE (``REFERENCE.md`` §2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mixseq_dvae.base import Pass, SequenceNetwork, Step, lstm_state
from mixseq_dvae.config import SRNNConfig
from mixseq_dvae.layers import GaussianHead, backward_lstm, lstm_step, mlp, sample_gaussian, shift_right

__all__ = ["SRNN"]


class SRNN(SequenceNetwork):
    """Stochastic RNN: a deterministic LSTM path ``h`` and a Markov latent path ``z``.

    * ``h_t = LSTM(h_{t-1}, MLP_x(x_{t-1}))``, ``x_{-1} = 0``
    * prior ``p(z_t | h_t, z_{t-1})``, decoder ``p(x_t | h_t, z_t)``
    * encoder ``q(z_t | h_t, x_t, z_{t-1})`` (causal) or ``q(z_t | g_t, z_{t-1})`` with
      ``g`` a backward LSTM over ``MLP([h_t, x_t])`` (backward)
    """

    name = "srnn"
    config: SRNNConfig

    def __init__(self, config: SRNNConfig) -> None:
        super().__init__(config)
        c = config
        self.x_mlp, x_feat = mlp(c.x_dim, c.x_hidden)
        self.rnn = nn.LSTM(x_feat, c.rnn_dim, batch_first=True)
        if c.encoder == "causal":
            self.hx_mlp = None
            self.g_rnn = None
            enc_in = c.rnn_dim + c.x_dim + c.z_dim
        else:
            self.hx_mlp, hx_feat = mlp(c.rnn_dim + c.x_dim, c.encoder_input_hidden)
            self.g_rnn = nn.LSTM(hx_feat, c.encoder_rnn_dim, batch_first=True)
            enc_in = c.encoder_rnn_dim + c.z_dim
        self.encoder = GaussianHead(in_dim=enc_in, hidden=c.encoder_hidden, out_dim=c.z_dim)
        self.prior = GaussianHead(in_dim=c.rnn_dim + c.z_dim, hidden=c.prior_hidden, out_dim=c.z_dim)
        self.decoder = GaussianHead(
            in_dim=c.rnn_dim + c.z_dim, hidden=c.decoder_hidden, out_dim=c.x_dim, mean=c.decoder == "gaussian"
        )

    def _decode(self, h: Tensor, z: Tensor) -> tuple[Tensor | None, Tensor]:
        mean, raw = self.decoder(torch.cat([h, z], dim=-1))
        return mean, self.floor(raw)

    def _prior(self, h: Tensor, z_prev: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = self.prior(torch.cat([h, z_prev], dim=-1))
        assert mean is not None
        return mean, logvar

    def _full_pass(self, prev: Tensor, x: Tensor, lengths: Tensor | None, *, generator: torch.Generator | None) -> Pass:
        h, _ = self.rnn(self.x_mlp(prev))
        if self.g_rnn is not None:
            assert self.hx_mlp is not None
            cond = backward_lstm(self.g_rnn, self.hx_mlp(torch.cat([h, x], dim=-1)), lengths)
        else:
            cond = torch.cat([h, x], dim=-1)
        n_batch, n_steps, _ = x.shape
        z_prev = x.new_zeros(n_batch, self.config.z_dim)
        zs, q_means, q_logvars = [], [], []
        for t in range(n_steps):  # the encoder's z-chain is sequential
            q_mean, q_logvar = self.encoder(torch.cat([cond[:, t], z_prev], dim=-1))
            assert q_mean is not None
            z_prev = sample_gaussian(q_mean, q_logvar, generator=generator)
            zs.append(z_prev)
            q_means.append(q_mean)
            q_logvars.append(q_logvar)
        z = torch.stack(zs, dim=1)
        p_mean, p_logvar = self._prior(h, shift_right(z))
        mean, logvar = self._decode(h, z)
        return Pass(mean, logvar, torch.stack(q_means, 1), torch.stack(q_logvars, 1), p_mean, p_logvar, z)

    def _initial_carry(self, n: int, like: Tensor) -> tuple[Tensor, ...]:
        h, c = lstm_state(n, self.config.rnn_dim, like)
        return h, c, like.new_zeros(n, self.config.z_dim)

    @property
    def causal_encoder(self) -> bool:  # type: ignore[override]
        """The box encoder is causal; the backward (audio) encoder is not."""
        return self.g_rnn is None

    def _step(
        self,
        prev: Tensor,
        z: Tensor | None,
        carry: tuple[Tensor, ...],
        *,
        generator: torch.Generator | None,
        x: Tensor | None = None,
    ) -> Step:
        h0, c0, z_prev = carry
        h, c = lstm_step(self.rnn, self.x_mlp(prev), (h0, c0))
        p_mean, p_logvar = self._prior(h, z_prev)
        q_mean = q_logvar = None
        if z is None and x is not None:
            q_mean, q_logvar = self.encoder(torch.cat([h, x, z_prev], dim=-1))
            assert q_mean is not None
            z = sample_gaussian(q_mean, q_logvar, generator=generator)
        elif z is None:
            z = sample_gaussian(p_mean, p_logvar, generator=generator)
        mean, logvar = self._decode(h, z)
        return Step(mean, logvar, p_mean, p_logvar, (h, c, z), q_mean, q_logvar, z)
