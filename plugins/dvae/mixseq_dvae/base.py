"""The base class of every sequence network and its training loss.

A network maps a sequence ``x`` (``(batch, time, x_dim)``, real; a power ``|s|²`` for the
complex decoder) to a per-step predictive distribution. It offers three things:

* :meth:`SequenceNetwork.loss` — reconstruction + ``kl_weight``·KL per frame, with scheduled
  sampling;
* :meth:`SequenceNetwork.step` — one step of the generative recursion with the input at
  ``t`` (``x_{t-1}``) and the latent ``z_t`` supplied from outside (the E-S forward pass);
* :meth:`SequenceNetwork.encode` — one reparameterised sample of ``z`` from the encoder
  (the E-Z step).

Scheduled sampling is done in two passes: a teacher-forced pass without gradients gives
the model's own one-step predictions, then each input ``x_{t-1}`` is replaced by the model's
prediction of it with probability ``sampling_prob`` (independently per sequence and step).
This works for causal and backward (non-causal) encoders alike and keeps the recurrences in
one LSTM call.
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from mixseq.errors import InputError, ShapeError
from mixseq_dvae.config import DVAEConfig
from mixseq_dvae.layers import floor_logvar, gaussian_kl, gaussian_nll, itakura_saito, shift_right
from mixseq_dvae.normalization import Reference, box_reference

__all__ = ["LatentSample", "LossTerms", "Pass", "SequenceNetwork", "Step"]


class Pass(NamedTuple):
    """Distributions of a full pass, each ``(batch, time, ·)``; ``None`` where absent.

    ``mean``/``logvar``: decoder (``mean`` is ``None`` for the complex decoder);
    ``q_*``: encoder; ``p_*``: prior; ``z``: the latent sample used.
    """

    mean: Tensor | None
    logvar: Tensor
    q_mean: Tensor | None = None
    q_logvar: Tensor | None = None
    p_mean: Tensor | None = None
    p_logvar: Tensor | None = None
    z: Tensor | None = None


class Step(NamedTuple):
    """One step of the recursion: decoder and prior at ``t``, shape ``(batch, ·)``.

    ``q_mean``/``q_logvar``: the encoder's distribution when ``z`` was drawn from it; ``z``:
    the latent used (``None`` without latents).
    """

    mean: Tensor | None
    logvar: Tensor
    p_mean: Tensor | None
    p_logvar: Tensor | None
    carry: tuple[Tensor, ...]
    q_mean: Tensor | None = None
    q_logvar: Tensor | None = None
    z: Tensor | None = None


class LatentSample(NamedTuple):
    """An encoder sample ``z`` and the encoder's distribution, each ``(batch, time, z_dim)``."""

    z: Tensor
    q_mean: Tensor
    q_logvar: Tensor


class LossTerms(NamedTuple):
    """Per-frame averages over the valid frames of a batch (scalars).

    ``loss = reconstruction + kl_weight · kl``.
    """

    loss: Tensor
    reconstruction: Tensor
    kl: Tensor


class SequenceNetwork(nn.Module, abc.ABC):
    """A sequence model over ``(batch, time, x_dim)`` inputs; subclasses fill the passes."""

    name: ClassVar[str] = ""
    has_latent: ClassVar[bool] = True
    config: DVAEConfig

    def __init__(self, config: DVAEConfig) -> None:
        super().__init__()
        self.config = config
        self._log_min_variance = math.log(config.min_variance)

    # -- hooks for subclasses -------------------------------------------------------------

    @abc.abstractmethod
    def _full_pass(self, inp: Tensor, x: Tensor, lengths: Tensor | None, *, generator: torch.Generator | None) -> Pass:
        """All steps at once from the recurrent inputs ``inp`` and the encoder inputs ``x``."""

    @abc.abstractmethod
    def _initial_carry(self, n: int, like: Tensor) -> tuple[Tensor, ...]:
        """The network's own recurrent state before ``t = 0``."""

    #: Whether :meth:`step` can draw ``z_t`` from a causal encoder ``q(z_t | x_{≤t}, z_{t-1})``.
    causal_encoder: bool = False

    @abc.abstractmethod
    def _step(
        self,
        inp: Tensor,
        z: Tensor | None,
        carry: tuple[Tensor, ...],
        *,
        generator: torch.Generator | None,
        x: Tensor | None = None,
    ) -> Step:
        """One step of the network from its recurrent input ``inp``, shape ``(batch, x_dim)``.

        ``x`` (encoder input at ``t``): draw ``z`` from the causal encoder instead of the prior.
        """

    # -- the recursion, with the optional relative (displacement) form --------------------------

    def full_pass(self, prev: Tensor, x: Tensor, lengths: Tensor | None, *, generator: torch.Generator | None) -> Pass:
        """All steps at once: inputs ``prev`` (``x_{t-1}``) and ``x`` (for the encoder).

        Both in network features (after :meth:`features`); shape ``(batch, time, x_dim)``.
        ``lengths``: valid steps per sequence (backward encoders), shape ``(batch,)`` or ``None``.
        """
        if not self.config.relative:
            return self._full_pass(prev, x, lengths, generator=generator)
        steps = torch.arange(prev.shape[1], device=prev.device)[None, :, None]
        # x_{t-2} does not exist before t = 2: no displacement there (translation invariance).
        displacement = torch.where(steps >= 2, prev - shift_right(prev), torch.zeros_like(prev))
        out = self._full_pass(displacement, x - prev, lengths, generator=generator)
        return out._replace(mean=None if out.mean is None else out.mean + prev)

    def initial_carry(self, n: int, like: Tensor) -> tuple[Tensor, ...]:
        """The recurrent state before ``t = 0`` for ``n`` sequences (each tensor ``(n, ·)``)."""
        carry = self._initial_carry(n, like)
        if self.config.relative:  # the last input and a step counter, to form displacements
            zeros = torch.zeros(n, self.config.x_dim, dtype=like.dtype, device=like.device)
            carry = (*carry, zeros, torch.zeros(n, 1, dtype=like.dtype, device=like.device))
        return carry

    def step(
        self,
        prev: Tensor,
        z: Tensor | None,
        carry: tuple[Tensor, ...],
        *,
        generator: torch.Generator | None,
        x: Tensor | None = None,
    ) -> Step:
        """One step: ``prev`` = features of ``x_{t-1}``, shape ``(batch, x_dim)``.

        ``z``: the latent at ``t``, shape ``(batch, z_dim)``; ``None`` samples it from the
        prior, or from the causal encoder given ``x`` (features of ``x_t``) when
        :attr:`causal_encoder`. Equal to the same step of :meth:`full_pass` given the same
        inputs and ``z``.
        """
        if x is not None and not self.causal_encoder:
            raise InputError(f"{type(self).__name__}: no causal encoder to draw z from x_t")
        if not self.config.relative:
            return self._step(prev, z, carry, generator=generator, x=x)
        x_enc = None if x is None else x - prev
        last, count = carry[-2], carry[-1]
        displacement = torch.where(count >= 2, prev - last, torch.zeros_like(prev))
        out = self._step(displacement, z, carry[:-2], generator=generator, x=x_enc)
        mean = None if out.mean is None else out.mean + prev
        return out._replace(mean=mean, carry=(*out.carry, prev, count + 1))

    # -- shared logic -----------------------------------------------------------------------

    @property
    def z_dim(self) -> int:
        """Size of the latent per step (0 without latents)."""
        return int(getattr(self.config, "z_dim", 0)) if self.has_latent else 0

    def floor(self, raw_logvar: Tensor) -> Tensor:
        """Apply the config's variance floor to a raw log-variance."""
        return floor_logvar(raw_logvar, self.config.min_variance)

    def features(self, x: Tensor) -> Tensor:
        """Network input features of states/powers ``x`` (``input_transform``). Same shape."""
        if self.config.input_transform == "log":
            return torch.log(x.clamp_min(0.0) + 1e-8)  # powers are >= 0; 1e-8 keeps log finite
        return x

    def reference(self, x: Tensor) -> Reference | None:
        """The normalisation frame of sequences ``x``, shape ``(batch, time, x_dim)``."""
        if self.config.normalization == "first_box":
            return box_reference(x[:, 0])
        return None

    def prediction(self, out: Pass | Step) -> Tensor:
        """The point prediction of ``x``: decoder mean, or expected power ``exp(logvar)``."""
        if out.mean is not None:
            return out.mean
        return torch.exp(out.logvar)

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`ShapeError` unless ``x`` is ``(batch, time, x_dim)``, real."""
        if x.dim() != 3 or x.shape[-1] != self.config.x_dim or x.is_complex():
            raise ShapeError(
                f"x: expected real dims (batch, time, {self.config.x_dim}), got {tuple(x.shape)} {x.dtype}"
            )

    def loss(
        self,
        x: Tensor,
        *,
        mask: Tensor | None = None,
        kl_weight: float = 1.0,
        sampling_prob: float = 0.0,
        input_noise: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> LossTerms:
        """Training loss per valid frame: reconstruction + ``kl_weight``·KL.

        Parameters
        ----------
        x
            States (boxes) or powers ``|s|²``. Shape ``(batch, time, x_dim)``.
        mask
            ``True`` at valid frames (a prefix of each sequence). Shape ``(batch, time)``.
        kl_weight
            Weight of the KL term (β times the warm-up factor).
        sampling_prob
            Probability of feeding the model's own prediction instead of ``x_{t-1}``.
        input_noise
            Denoising: the network reads ``x + σ·ε`` (recurrent and encoder inputs, network
            units) with ``σ ~ U(0, input_noise)`` per sequence, and is scored on the clean
            ``x``. Mimics the E-S step, where its inputs are posterior means with errors.
        generator
            Randomness for ``z`` and scheduled sampling.
        """
        self.check_input(x)
        n_batch, n_steps, _ = x.shape
        if mask is None:
            mask = torch.ones(n_batch, n_steps, dtype=torch.bool, device=x.device)
        lengths = mask.sum(1)
        reference = self.reference(x)
        target = reference.to_model(x) if reference is not None else x
        recon_mask = mask.clone()
        if reference is not None:
            recon_mask[:, 0] = False  # the first frame defines the frame: always zero
        noisy = target
        if input_noise > 0.0:
            level = torch.rand((n_batch, 1, 1), generator=generator, device=x.device, dtype=x.dtype) * input_noise
            noisy = target + level * torch.randn(target.shape, generator=generator, device=x.device, dtype=x.dtype)
        feats = self.features(noisy)
        prev = shift_right(feats)
        if sampling_prob > 0.0:
            with torch.no_grad():
                own = self.features(self.prediction(self.full_pass(prev, feats, lengths, generator=generator)))
            u = torch.rand((n_batch, n_steps, 1), generator=generator, device=x.device, dtype=x.dtype)
            prev = torch.where(u < sampling_prob, shift_right(own), prev)
        out = self.full_pass(prev, feats, lengths, generator=generator)
        if out.mean is not None:
            recon = gaussian_nll(target, out.mean, out.logvar).sum(-1)
        else:
            recon = itakura_saito(target, out.logvar).sum(-1)
        if out.q_mean is not None and out.q_logvar is not None and out.p_logvar is not None:
            assert out.p_mean is not None
            kl = gaussian_kl(out.q_mean, out.q_logvar, out.p_mean, out.p_logvar).sum(-1)
        else:
            kl = torch.zeros_like(recon)
        maskf = mask.to(x.dtype)
        n_frames = maskf.sum().clamp_min(1.0)  # an all-masked batch gives zero, not NaN
        recon_total = (recon * recon_mask.to(x.dtype)).sum() / n_frames
        kl_total = (kl * maskf).sum() / n_frames
        return LossTerms(recon_total + kl_weight * kl_total, recon_total.detach(), kl_total.detach())

    def encode(
        self, x: Tensor, *, lengths: Tensor | None = None, generator: torch.Generator | None = None
    ) -> LatentSample | None:
        """E-Z: one reparameterised sample of ``z`` given ``x`` (network units).

        ``x``: shape ``(batch, time, x_dim)``, already normalised (see :meth:`reference`).
        Returns ``None`` for networks without latents.
        """
        if not self.has_latent:
            return None
        feats = self.features(x)
        out = self.full_pass(shift_right(feats), feats, lengths, generator=generator)
        assert out.z is not None and out.q_mean is not None and out.q_logvar is not None
        return LatentSample(out.z, out.q_mean, out.q_logvar)

    def extra_repr(self) -> str:
        n_params = sum(p.numel() for p in self.parameters())
        return f"params={n_params}"


def lstm_state(n: int, hidden: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Zero ``(h, c)`` for :func:`~mixseq_dvae.layers.lstm_step`, each ``(n, hidden)``."""
    zeros = torch.zeros(n, hidden, dtype=like.dtype, device=like.device)
    return zeros, zeros.clone()
