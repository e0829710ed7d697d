"""VRNN and DKF, the other natural DVAE-family members (Girin et al. 2021)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mixseq_dvae.base import Pass, SequenceNetwork, Step, lstm_state
from mixseq_dvae.config import DKFConfig, VRNNConfig
from mixseq_dvae.layers import GaussianHead, backward_lstm, lstm_step, mlp, sample_gaussian, shift_right

__all__ = ["DKF", "VRNN"]


class VRNN(SequenceNetwork):
    """Variational RNN: the latent feeds back into the recurrence.

    ``h_t = LSTM(h_{t-1}, [φ_x(x_{t-1}), φ_z(z_{t-1})])``; prior ``p(z_t | h_t)``;
    decoder ``p(x_t | φ_z(z_t), h_t)``; encoder ``q(z_t | φ_x(x_t), h_t)``.
    """

    name = "vrnn"
    config: VRNNConfig

    def __init__(self, config: VRNNConfig) -> None:
        super().__init__(config)
        c = config
        self.x_mlp, x_feat = mlp(c.x_dim, c.x_hidden)
        self.z_mlp, z_feat = mlp(c.z_dim, c.z_hidden)
        self.rnn = nn.LSTM(x_feat + z_feat, c.rnn_dim, batch_first=True)
        self.encoder = GaussianHead(in_dim=x_feat + c.rnn_dim, hidden=c.encoder_hidden, out_dim=c.z_dim)
        self.prior = GaussianHead(in_dim=c.rnn_dim, hidden=c.prior_hidden, out_dim=c.z_dim)
        self.decoder = GaussianHead(
            in_dim=z_feat + c.rnn_dim, hidden=c.decoder_hidden, out_dim=c.x_dim, mean=c.decoder == "gaussian"
        )

    def _recur(
        self, prev_feat: Tensor, z_prev: Tensor, carry: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor, Tensor]:
        h, c = lstm_step(self.rnn, torch.cat([prev_feat, self.z_mlp(z_prev)], dim=-1), carry)
        new = (h, c)
        p_mean, p_logvar = self.prior(h)
        assert p_mean is not None
        return h, new, p_mean, p_logvar

    def _decode(self, h: Tensor, z: Tensor) -> tuple[Tensor | None, Tensor]:
        mean, raw = self.decoder(torch.cat([self.z_mlp(z), h], dim=-1))
        return mean, self.floor(raw)

    def _full_pass(self, prev: Tensor, x: Tensor, lengths: Tensor | None, *, generator: torch.Generator | None) -> Pass:
        n_batch, n_steps, _ = x.shape
        prev_feat, x_feat = self.x_mlp(prev), self.x_mlp(x)
        carry = lstm_state(n_batch, self.config.rnn_dim, x)
        z_prev = x.new_zeros(n_batch, self.config.z_dim)
        hs, zs, qm, qv, pm, pv = [], [], [], [], [], []
        for t in range(n_steps):  # z feeds the recurrence: sequential by construction
            h, carry, p_mean, p_logvar = self._recur(prev_feat[:, t], z_prev, carry)
            q_mean, q_logvar = self.encoder(torch.cat([x_feat[:, t], h], dim=-1))
            assert q_mean is not None
            z_prev = sample_gaussian(q_mean, q_logvar, generator=generator)
            hs.append(h)
            zs.append(z_prev)
            qm.append(q_mean)
            qv.append(q_logvar)
            pm.append(p_mean)
            pv.append(p_logvar)
        h_all, z = torch.stack(hs, 1), torch.stack(zs, 1)
        mean, logvar = self._decode(h_all, z)
        return Pass(mean, logvar, torch.stack(qm, 1), torch.stack(qv, 1), torch.stack(pm, 1), torch.stack(pv, 1), z)

    def _initial_carry(self, n: int, like: Tensor) -> tuple[Tensor, ...]:
        h, c = lstm_state(n, self.config.rnn_dim, like)
        return h, c, like.new_zeros(n, self.config.z_dim)

    causal_encoder = True

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
        h, (h1, c1), p_mean, p_logvar = self._recur(self.x_mlp(prev), z_prev, (h0, c0))
        q_mean = q_logvar = None
        if z is None and x is not None:
            q_mean, q_logvar = self.encoder(torch.cat([self.x_mlp(x), h], dim=-1))
            assert q_mean is not None
            z = sample_gaussian(q_mean, q_logvar, generator=generator)
        elif z is None:
            z = sample_gaussian(p_mean, p_logvar, generator=generator)
        mean, logvar = self._decode(h, z)
        return Step(mean, logvar, p_mean, p_logvar, (h1, c1, z), q_mean, q_logvar, z)


class _GatedTransition(nn.Module):
    """DKF's gated transition: ``mean = (1 − g)·A z + g·f(z)``, ``g = σ(MLP(z))``."""

    def __init__(self, z_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.gate_body, size = mlp(z_dim, hidden)
        self.gate = nn.Linear(size, z_dim)
        self.proposal_body, psize = mlp(z_dim, hidden)
        self.proposal = nn.Linear(psize, z_dim)
        self.linear = nn.Linear(z_dim, z_dim)
        self.logvar = nn.Linear(z_dim, z_dim)
        with torch.no_grad():  # start close to the identity map, as in Krishnan et al.
            self.linear.weight.copy_(torch.eye(z_dim))
            self.linear.bias.zero_()

    def forward(self, z_prev: Tensor) -> tuple[Tensor, Tensor]:
        gate = torch.sigmoid(self.gate(self.gate_body(z_prev)))
        proposal = self.proposal(self.proposal_body(z_prev))
        mean = (1.0 - gate) * self.linear(z_prev) + gate * proposal
        return mean, self.logvar(torch.relu(proposal))


class DKF(SequenceNetwork):
    """Deep Kalman filter: ``z_t ~ p(z_t | z_{t-1})``, ``x_t ~ p(x_t | z_t)``.

    The prediction at ``t`` depends on the past only through ``z``: the E-S input ``x_{t-1}``
    is not used (DKF has no deterministic recurrence on ``x``).
    """

    name = "dkf"
    config: DKFConfig

    def __init__(self, config: DKFConfig) -> None:
        super().__init__(config)
        c = config
        self.x_mlp, x_feat = mlp(c.x_dim, c.x_hidden)
        self.g_rnn = nn.LSTM(x_feat, c.encoder_rnn_dim, batch_first=True)
        self.encoder = GaussianHead(in_dim=c.encoder_rnn_dim + c.z_dim, hidden=c.encoder_hidden, out_dim=c.z_dim)
        self.transition = _GatedTransition(c.z_dim, c.prior_hidden)
        self.decoder = GaussianHead(
            in_dim=c.z_dim, hidden=c.decoder_hidden, out_dim=c.x_dim, mean=c.decoder == "gaussian"
        )

    def _decode(self, z: Tensor) -> tuple[Tensor | None, Tensor]:
        mean, raw = self.decoder(z)
        return mean, self.floor(raw)

    def _full_pass(self, prev: Tensor, x: Tensor, lengths: Tensor | None, *, generator: torch.Generator | None) -> Pass:
        g = backward_lstm(self.g_rnn, self.x_mlp(x), lengths)
        n_batch, n_steps, _ = x.shape
        z_prev = x.new_zeros(n_batch, self.config.z_dim)
        zs, qm, qv = [], [], []
        for t in range(n_steps):  # the encoder's z-chain is sequential
            q_mean, q_logvar = self.encoder(torch.cat([g[:, t], z_prev], dim=-1))
            assert q_mean is not None
            z_prev = sample_gaussian(q_mean, q_logvar, generator=generator)
            zs.append(z_prev)
            qm.append(q_mean)
            qv.append(q_logvar)
        z = torch.stack(zs, 1)
        p_mean, p_logvar = self.transition(shift_right(z))
        mean, logvar = self._decode(z)
        return Pass(mean, logvar, torch.stack(qm, 1), torch.stack(qv, 1), p_mean, p_logvar, z)

    def _initial_carry(self, n: int, like: Tensor) -> tuple[Tensor, ...]:
        return (like.new_zeros(n, self.config.z_dim),)

    def _step(
        self,
        prev: Tensor,
        z: Tensor | None,
        carry: tuple[Tensor, ...],
        *,
        generator: torch.Generator | None,
        x: Tensor | None = None,
    ) -> Step:
        (z_prev,) = carry
        p_mean, p_logvar = self.transition(z_prev)
        if z is None:
            z = sample_gaussian(p_mean, p_logvar, generator=generator)
        mean, logvar = self._decode(z)
        return Step(mean, logvar, p_mean, p_logvar, (z,), z=z)
