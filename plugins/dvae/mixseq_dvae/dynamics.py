"""The networks as :class:`mixseq.DynamicsModel` components (E-Z, E-S, fine-tuning).

E-Z encodes the current posterior means (complex states: the expected power
``E|s|² = |m|² + V``) and draws one reparameterised ``z`` per step.

E-S is a filter-like forward pass. At step ``t`` the network predicts
``(μ_θ, σ²_θ)`` from its input ``x_{t-1}`` and ``z_t``; the prediction is combined with the
observation message ``(Λ, h)`` per element in information form::

    V = 1 / (Λ + 1/σ²_θ)        m = V · (h + μ_θ / σ²_θ)        (complex: μ_θ = 0)

and the next input is the posterior mean ``m`` (boxes) or a sample of the power
``|s̃|²``, ``s̃ ~ N_c(m, V)`` (audio; ``power_sample="uniform"`` reproduces the released
code, which draws uniform instead of Gaussian noise; ``"mean"`` uses ``|m|² + V``). At
``t = 0`` the prediction is replaced by ``initial_state`` when given. Masked steps carry no
message, so ``m`` falls back to the prediction there.

The ELBO term is ``E_q[log p(s)] + H[q(s)] − KL(q(z) ‖ p(z))``, summed over the valid steps,
sources and state per batch element, with ``p(s_t | ·)`` the network's prediction at ``t``
(the prediction is driven by the posterior mean: a plug-in approximation of the
expectation over ``s_{t-1}``).

Sources are folded into the batch: ``(batch, time, source, state)`` → ``(batch·source,
time, state)``; the only Python loop is over time.
"""

from __future__ import annotations

import math
import os
from typing import Any, NamedTuple

import torch
from torch import Tensor

from mixseq.errors import InputError, ShapeError
from mixseq.interfaces import DynamicsModel, DynamicsResult, Gaussian, GaussianMessage
from mixseq_dvae.base import LatentSample, SequenceNetwork
from mixseq_dvae.checkpoint import Checkpoint, resolve_checkpoint
from mixseq_dvae.config import DVAEConfig
from mixseq_dvae.layers import gaussian_kl
from mixseq_dvae.models import build_network
from mixseq_dvae.normalization import Reference, box_reference

__all__ = [
    "DKFDynamicsModel",
    "DVAEDynamicsModel",
    "DVAELatent",
    "DeepARDynamicsModel",
    "SRNNDynamicsModel",
    "VRNNDynamicsModel",
]

_LOG_2PI = math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)
_POWER_SAMPLES = ("gaussian", "uniform", "mean")


class DVAELatent(NamedTuple):
    """What E-Z hands to E-S: the ``z`` sample and the normalisation frame, folded.

    ``sample``: ``z`` and ``q(z)``, each ``(batch·source, time, z_dim)`` (``None`` without
    latents); ``reference``: per-sequence frame, ``(batch·source, state)`` (``None``: none).
    """

    sample: LatentSample | None
    reference: Reference | None


def fold(x: Tensor) -> Tensor:
    """``(batch, time, source, state)`` → ``(batch·source, time, state)``."""
    n_batch, n_steps, n_sources, dim = x.shape
    return x.permute(0, 2, 1, 3).reshape(n_batch * n_sources, n_steps, dim)


def unfold(x: Tensor, n_batch: int, n_sources: int) -> Tensor:
    """``(batch·source, time, state)`` → ``(batch, time, source, state)``."""
    _, n_steps, dim = x.shape
    return x.reshape(n_batch, n_sources, n_steps, dim).permute(0, 2, 1, 3)


def fold_mask(time_mask: Tensor, n_sources: int) -> Tensor:
    """``(batch, time)`` → ``(batch·source, time)``."""
    n_batch, n_steps = time_mask.shape
    return time_mask[:, None, :].expand(n_batch, n_sources, n_steps).reshape(n_batch * n_sources, n_steps)


class DVAEDynamicsModel(DynamicsModel):
    """Dynamics given by a trained sequence network (any of SRNN, VRNN, DKF, Deep AR).

    Parameters
    ----------
    checkpoint
        A pretrained name (``"srnn-mot"``), a checkpoint path, or a loaded
        :class:`~mixseq_dvae.checkpoint.Checkpoint`.
    config
        Build an untrained network from this config instead (tests, training from scratch).
    network
        Use this network as is.
    power_sample
        Complex states: how the next input power is formed (``"gaussian"``, paper;
        ``"uniform"``, released code; ``"mean"``, no sampling).
    variance_scale, min_variance
        Calibration of the prediction in state units: ``σ² ← variance_scale·σ² +
        min_variance`` (1 and 0: as trained).
    finetune_steps, finetune_lr, finetune_kl_weight
        Optional fine-tuning during EM: ``finetune_steps`` Adam steps on the network loss of
        the current posterior per :meth:`m_step` (0: off). Weights are restored by
        :meth:`end_fit`.
    seed
        Seeds the initialisation of an untrained network (in a forked RNG; the global RNG
        is left alone).
    """

    model_name: str | None = None
    default_checkpoint: str | None = None

    def __init__(
        self,
        *,
        checkpoint: str | os.PathLike[str] | Checkpoint | None = None,
        config: DVAEConfig | None = None,
        network: SequenceNetwork | None = None,
        power_sample: str = "gaussian",
        variance_scale: float = 1.0,
        min_variance: float = 0.0,
        finetune_steps: int = 0,
        finetune_lr: float = 1e-4,
        finetune_kl_weight: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        given = [
            name for name, v in (("checkpoint", checkpoint), ("config", config), ("network", network)) if v is not None
        ]
        if len(given) > 1:
            raise InputError(f"expected at most one of checkpoint, config, network; got {given}")
        if not given and self.default_checkpoint is not None:
            checkpoint = self.default_checkpoint
        self.checkpoint_info: dict[str, Any] = {}
        if checkpoint is not None:
            loaded = resolve_checkpoint(checkpoint)
            network = loaded.network
            self.checkpoint_info = {
                "model": loaded.model,
                "path": loaded.path,
                "version": loaded.version,
                "validation_loss": loaded.validation_loss,
            }
        elif network is None:
            if config is None:
                raise InputError(f"{type(self).__name__}: expected checkpoint=, config= or network=")
            with torch.random.fork_rng(devices=[]):
                if seed is not None:
                    torch.manual_seed(seed)
                network = build_network(config)
        if self.model_name is not None and network.name != self.model_name:
            raise InputError(f"{type(self).__name__}: expected a {self.model_name!r} network, got {network.name!r}")
        if power_sample not in _POWER_SAMPLES:
            raise InputError(f"power_sample: expected one of {_POWER_SAMPLES}, got {power_sample!r}")
        if variance_scale <= 0 or min_variance < 0 or finetune_steps < 0:
            raise InputError(
                f"expected variance_scale > 0, min_variance >= 0, finetune_steps >= 0; got "
                f"{variance_scale}, {min_variance}, {finetune_steps}"
            )
        network.eval()
        self.network = network
        self.state_dim = network.config.x_dim
        self.is_complex = network.config.decoder == "complex"
        self.power_sample = power_sample
        self.variance_scale = variance_scale
        self.min_variance = min_variance
        self.finetune_steps = finetune_steps
        self.finetune_lr = finetune_lr
        self.finetune_kl_weight = finetune_kl_weight
        self._saved_state: dict[str, Tensor] | None = None
        self._optimizer: torch.optim.Optimizer | None = None

    # -- helpers ------------------------------------------------------------------------------

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.network.parameters()).dtype

    def _check(self, x: Tensor, name: str, time_mask: Tensor) -> None:
        if x.dim() != 4 or x.shape[-1] != self.state_dim:
            raise ShapeError(f"{name}: expected dims (batch, time, source, {self.state_dim}), got {tuple(x.shape)}")
        if time_mask.shape != x.shape[:2]:
            raise ShapeError(f"time_mask: expected shape {tuple(x.shape[:2])}, got {tuple(time_mask.shape)}")

    def _network_input(self, posterior: Gaussian) -> Tensor:
        """What the network reads: means (real) or expected powers (complex). Folded."""
        x = posterior.second_moment() if self.is_complex else posterior.mean
        return fold(x).to(self._dtype)

    # -- E-Z ----------------------------------------------------------------------------------

    def e_z_step(self, posterior: Gaussian, time_mask: Tensor, *, generator: torch.Generator | None) -> DVAELatent:
        """Encode the current ``q(s)`` (shape ``(batch, time, source, state)``); one ``z`` sample."""
        self._check(posterior.mean, "posterior", time_mask)
        x = self._network_input(posterior)
        mask = fold_mask(time_mask, posterior.mean.shape[2])
        reference = self.network.reference(x)
        x_model = reference.to_model(x) if reference is not None else x
        sample = self.network.encode(x_model, lengths=mask.sum(1), generator=generator)
        return DVAELatent(sample, reference)

    # -- E-S ----------------------------------------------------------------------------------

    def _reference(
        self, latent: DVAELatent | None, initial: Gaussian | None, prec: Tensor, h: Tensor
    ) -> Reference | None:
        if self.network.config.normalization == "none":
            return None
        if latent is not None and latent.reference is not None:
            return latent.reference
        if initial is not None:
            return box_reference(initial.mean)
        # No E-Z yet and no initial state: the first step's message mean (zero where empty).
        first = torch.where(prec[:, 0] > 0, h[:, 0] / prec[:, 0].clamp_min(1e-30), torch.zeros_like(h[:, 0]))
        return box_reference(first.real.to(self._dtype))

    def _next_power(self, m: Tensor, v: Tensor, generator: torch.Generator | None) -> Tensor:
        if self.power_sample == "mean":
            return m.abs().square() + v
        real_shape = v.shape
        if self.power_sample == "gaussian":
            noise = torch.randn((2, *real_shape), generator=generator, dtype=v.dtype, device=v.device)
        else:  # the released code's uniform noise, kept for reproduction
            noise = torch.rand((2, *real_shape), generator=generator, dtype=v.dtype, device=v.device)
        sample = m + torch.sqrt(0.5 * v) * torch.complex(noise[0], noise[1])
        return sample.abs().square()

    def e_s_step(
        self,
        message: GaussianMessage,
        time_mask: Tensor,
        *,
        latent: Any,
        initial_state: Gaussian | None,
        generator: torch.Generator | None,
    ) -> DynamicsResult:
        """Filter-like forward pass; returns ``q(s)``, shape ``(batch, time, source, state)``."""
        self._check(message.precision, "message", time_mask)
        n_batch, n_steps, n_sources, _ = message.precision.shape
        real_dtype = message.precision.dtype
        mask = fold_mask(time_mask, n_sources)
        maskf = mask.to(real_dtype)[..., None]
        prec = fold(message.precision) * maskf  # masked steps carry no message
        h = fold(message.precision_mean) * maskf
        init = None
        if initial_state is not None:
            if initial_state.mean.shape != (n_batch, n_sources, self.state_dim):
                raise ShapeError(
                    f"initial_state: expected shape {(n_batch, n_sources, self.state_dim)}, got "
                    f"{tuple(initial_state.mean.shape)}"
                )
            init = Gaussian(
                mean=initial_state.mean.reshape(n_batch * n_sources, -1),
                variance=initial_state.variance.reshape(n_batch * n_sources, -1),
            )
        latent = latent if isinstance(latent, DVAELatent) else None
        reference = self._reference(latent, init, prec, h)
        sample = latent.sample if latent is not None else None
        n = n_batch * n_sources
        net = self.network
        carry = net.initial_carry(n, torch.zeros((), dtype=self._dtype, device=prec.device))
        prev = torch.zeros(n, net.config.x_dim, dtype=self._dtype, device=prec.device)
        means, variances, mus, vars_, p_means, p_logvars = [], [], [], [], [], []
        for t in range(n_steps):
            step = net.step(prev, None if sample is None else sample.z[:, t], carry, generator=generator)
            carry = step.carry
            var = torch.exp(step.logvar).to(real_dtype)
            mu = step.mean.to(real_dtype) if step.mean is not None else torch.zeros_like(var)
            if reference is not None:
                mu, var = reference.from_model(mu, var)
                if t == 0 and init is None:
                    # The first frame defines the reference and is never predicted: a broad
                    # prior of one box size around the reference.
                    mu, var = reference.offset.to(real_dtype), reference.scale.square().to(real_dtype)
            var = self.variance_scale * var + self.min_variance
            if t == 0 and init is not None:
                mu, var = init.mean.to(mu.dtype if init.mean.is_complex() else real_dtype), init.variance.to(real_dtype)
            v_post = 1.0 / (prec[:, t] + 1.0 / var)
            m_post = v_post * (h[:, t] + mu / var)
            means.append(m_post)
            variances.append(v_post)
            mus.append(mu)
            vars_.append(var)
            p_means.append(step.p_mean)
            p_logvars.append(step.p_logvar)
            if self.is_complex:
                x_next = self._next_power(m_post, v_post, generator).to(self._dtype)
            else:
                x_next = m_post.to(self._dtype)
                if reference is not None:
                    x_next = reference.to_model(x_next)
            prev = net.features(x_next)
        m_all, v_all = torch.stack(means, 1), torch.stack(variances, 1)
        mu_all, var_all = torch.stack(mus, 1), torch.stack(vars_, 1)
        sq = (m_all - mu_all).abs().square() + v_all
        if self.is_complex:
            per = -_LOG_PI - torch.log(var_all) - sq / var_all + (_LOG_PI + 1.0 + torch.log(v_all))
        else:
            per = -0.5 * (_LOG_2PI + torch.log(var_all) + sq / var_all) + 0.5 * (_LOG_2PI + 1.0 + torch.log(v_all))
        per_step = per.sum(-1)
        if sample is not None and all(p is not None for p in p_means + p_logvars):
            p_mean_all = torch.stack([p for p in p_means if p is not None], 1)
            p_logvar_all = torch.stack([p for p in p_logvars if p is not None], 1)
            kl = gaussian_kl(sample.q_mean, sample.q_logvar, p_mean_all, p_logvar_all)
            per_step = per_step - kl.sum(-1).to(real_dtype)
        elbo = (per_step * mask.to(real_dtype)).sum(1).reshape(n_batch, n_sources).sum(1)
        posterior = Gaussian(mean=unfold(m_all, n_batch, n_sources), variance=unfold(v_all, n_batch, n_sources))
        return DynamicsResult(posterior=posterior, elbo=elbo)

    # -- fine-tuning --------------------------------------------------------------------------

    def begin_fit(self) -> None:
        """Remember the weights (fine-tuning never leaks from one fit into the next)."""
        self._saved_state = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
        self._optimizer = None

    def end_fit(self) -> None:
        """Restore the weights saved by :meth:`begin_fit`."""
        if self._saved_state is not None:
            self.network.load_state_dict(self._saved_state)
        self._saved_state = None
        self._optimizer = None
        self.network.eval()

    def m_step(self, posterior: Gaussian, time_mask: Tensor, latent: Any) -> None:
        """Fine-tune the network on the current posterior (``finetune_steps`` Adam steps)."""
        if self.finetune_steps == 0:
            return
        self._check(posterior.mean, "posterior", time_mask)
        if self._saved_state is None:  # called outside begin_fit/end_fit: protect the weights anyway
            self.begin_fit()
        x = self._network_input(posterior.detach())
        mask = fold_mask(time_mask, posterior.mean.shape[2])
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam(self.network.parameters(), lr=self.finetune_lr)
        with torch.enable_grad():
            for _ in range(self.finetune_steps):
                self._optimizer.zero_grad(set_to_none=True)
                self.network.loss(x, mask=mask, kl_weight=self.finetune_kl_weight).loss.backward()
                self._optimizer.step()

    def extra_repr(self) -> str:
        source = self.checkpoint_info.get("path") or "untrained"
        return f"model={self.network.name}, state_dim={self.state_dim}, complex={self.is_complex}, checkpoint={source}"


class SRNNDynamicsModel(DVAEDynamicsModel):
    """SRNN dynamics (the MixDVAE default); without arguments, the pretrained ``srnn-mot``."""

    model_name = "srnn"
    default_checkpoint = "srnn-mot"


class DeepARDynamicsModel(DVAEDynamicsModel):
    """Deep AR dynamics (baseline); without arguments, the pretrained ``deep_ar-mot``."""

    model_name = "deep_ar"
    default_checkpoint = "deep_ar-mot"


class VRNNDynamicsModel(DVAEDynamicsModel):
    """VRNN dynamics; pass ``checkpoint=`` (trained with ``train_dynamics``) or ``config=``."""

    model_name = "vrnn"


class DKFDynamicsModel(DVAEDynamicsModel):
    """DKF dynamics; pass ``checkpoint=`` (trained with ``train_dynamics``) or ``config=``."""

    model_name = "dkf"
