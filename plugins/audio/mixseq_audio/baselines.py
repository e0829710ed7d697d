"""Supervised NMF baselines: vanilla NMF and temporal NMF with Wiener masks.

The weak supervision is the same as MixDVAE's: one single-source corpus per class. A
dictionary ``W_n`` (``freq × components``) is learned on each corpus; a mixture's spectrogram
is then factorised with the dictionaries fixed, ``V ≈ Σ_n W_n H_n``, and source ``n`` is
recovered with the Wiener mask ``W_n H_n / Σ_m W_m H_m`` applied to the complex STFT.

Divergences (multiplicative updates, Févotte & Idier 2011): Itakura–Saito on power spectra
(``"is"``, ``V = |X|²``) or Kullback–Leibler on magnitude spectra (``"kl"``, ``V = |X|``).

*Temporal NMF* adds Virtanen's (2007) temporal-continuity penalty on the activations,
``λ Σ_k Σ_t (h_kt − h_k,t−1)² / σ_k²`` with ``σ_k² = mean_t h_kt²`` (scale invariant), to
both dictionary learning and separation; ``temporal_weight = 0`` is vanilla NMF.

Everything is batched: a batch of spectrograms ``(batch, freq, time)`` shares ``W``; there is
no loop but over iterations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import attrs
import torch
from torch import Tensor, nn

from mixseq.errors import InputError, ShapeError

__all__ = ["NMFConfig", "NMFSeparator", "beta_divergence", "nmf"]

#: Floor added to spectra and models after scaling each item to unit mean: keeps IS/KL
#: finite on digital silence.
RELATIVE_FLOOR = 1e-10


def _beta(divergence: str) -> float:
    return {"is": 0.0, "kl": 1.0}[divergence]


@attrs.frozen(kw_only=True)
class NMFConfig:
    """Settings of the NMF baselines.

    Parameters
    ----------
    n_components
        Dictionary atoms per source.
    divergence
        ``"is"`` (power spectra) or ``"kl"`` (magnitude spectra).
    temporal_weight
        Weight ``λ`` of the temporal-continuity penalty; 0 is vanilla NMF.
    n_iter_fit
        Multiplicative-update iterations when learning a dictionary.
    n_iter_separate
        Iterations when factorising a mixture with fixed dictionaries.
    max_fit_frames
        Frames drawn at random from a corpus for dictionary learning (the rest adds time,
        little accuracy).
    """

    n_components: int = attrs.field(default=32, validator=attrs.validators.gt(0))
    divergence: Literal["is", "kl"] = attrs.field(default="is", validator=attrs.validators.in_(("is", "kl")))
    temporal_weight: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    n_iter_fit: int = attrs.field(default=200, validator=attrs.validators.gt(0))
    n_iter_separate: int = attrs.field(default=100, validator=attrs.validators.gt(0))
    max_fit_frames: int = attrs.field(default=20000, validator=attrs.validators.gt(0))

    @property
    def spectrum_power(self) -> float:
        """Exponent ``p`` of the modelled spectrum ``|X|^p``: 2 for IS, 1 for KL."""
        return 2.0 if self.divergence == "is" else 1.0


def beta_divergence(target: Tensor, model: Tensor, beta: float) -> Tensor:
    """``Σ d_β(V | Λ)`` per item: IS (β=0), KL (β=1) or squared Euclidean (β=2).

    ``target``, ``model``: shape ``(batch, freq, time)``, positive. Returns shape ``(batch,)``.
    """
    if beta == 0:
        ratio = target / model
        d = ratio - torch.log(ratio) - 1
    elif beta == 1:
        d = target * torch.log(target / model) - target + model
    else:
        d = (target**beta + (beta - 1) * model**beta - beta * target * model ** (beta - 1)) / (beta * (beta - 1))
    return d.sum(dim=(-2, -1))


def _temporal_gradient(h: Tensor) -> tuple[Tensor, Tensor]:
    """Positive and negative parts of the temporal-continuity gradient (Virtanen 2007).

    ``h``: shape ``(batch, components, time)``. Returns two tensors of the same shape.
    """
    n_steps = h.shape[-1]
    energy = h.square().sum(dim=-1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)
    diff = h[..., 1:] - h[..., :-1]
    change = diff.square().sum(dim=-1, keepdim=True)
    neighbours = torch.nn.functional.pad(h[..., :-1], (1, 0)) + torch.nn.functional.pad(h[..., 1:], (0, 1))
    # interior frames have two neighbours; the 4·h term counts each difference h appears in
    count = torch.full_like(h, 4.0)
    count[..., 0] = 2.0
    count[..., -1] = 2.0
    positive = n_steps * count * h / energy
    negative = 2 * n_steps * neighbours / energy + 2 * n_steps * h * change / energy.square()
    return positive, negative


def nmf(
    spectra: Tensor,
    n_components: int,
    *,
    divergence: Literal["is", "kl"] = "is",
    n_iter: int = 200,
    dictionary: Tensor | None = None,
    update_dictionary: bool = True,
    temporal_weight: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Factorise non-negative spectra ``V ≈ W H`` with multiplicative updates.

    Parameters
    ----------
    spectra
        ``V``, shape ``(batch, freq, time)``, non-negative.
    n_components
        Columns of ``W`` (ignored when ``dictionary`` is given).
    dictionary
        Initial (or fixed, with ``update_dictionary=False``) ``W``, shape
        ``(freq, components)``.
    generator
        Draws the random initialisation.

    Returns
    -------
    dictionary, activations
        ``W`` shape ``(freq, components)`` with unit-sum columns; ``H`` shape
        ``(batch, components, time)``.
    """
    if spectra.dim() != 3:
        raise ShapeError(f"spectra: expected dims (batch, freq, time), got {tuple(spectra.shape)}")
    if bool((spectra < 0).any()) or not bool(torch.isfinite(spectra).all()):
        raise InputError("spectra: expected finite non-negative values")
    beta = _beta(divergence)
    n_batch, n_bins, n_steps = spectra.shape
    dtype, device = spectra.dtype, spectra.device
    # each item is brought to unit mean (silence keeps scale 1), so the floor is relative and
    # nothing under- or overflows however quiet the input; H is scaled back on return
    level = spectra.mean(dim=(-2, -1), keepdim=True)
    level = torch.where(level > 0, level, torch.ones_like(level))
    floor = RELATIVE_FLOOR
    v = spectra / level + floor
    if dictionary is None:
        w = torch.rand(n_bins, n_components, generator=generator, dtype=dtype).to(device) + 0.1
    else:
        if dictionary.dim() != 2 or dictionary.shape[0] != n_bins:
            raise ShapeError(f"dictionary: expected dims ({n_bins}, components), got {tuple(dictionary.shape)}")
        w = dictionary.to(device=device, dtype=dtype).clone()
    w = w / w.sum(dim=0, keepdim=True)
    h = (torch.rand(n_batch, w.shape[1], n_steps, generator=generator, dtype=dtype).to(device) + 0.1) * (
        n_bins / w.shape[1]
    )
    for _ in range(n_iter):
        model = w @ h + floor
        numerator = w.T @ (v * model ** (beta - 2))
        denominator = w.T @ model ** (beta - 1)
        if temporal_weight > 0 and n_steps > 1:  # one frame has no temporal change
            positive, negative = _temporal_gradient(h)
            numerator = numerator + temporal_weight * negative
            denominator = denominator + temporal_weight * positive
        h = h * numerator / denominator
        if update_dictionary:
            model = w @ h + floor
            w = w * torch.einsum("bft,bkt->fk", v * model ** (beta - 2), h) / torch.einsum(
                "bft,bkt->fk", model ** (beta - 1), h
            )
            norm = w.sum(dim=0, keepdim=True)
            w = w / norm
            h = h * norm.T
    return w, h * level


class NMFSeparator(nn.Module):
    """Separation with one fixed NMF dictionary per source and Wiener masks.

    Parameters
    ----------
    dictionaries
        One ``W_n`` per source, each shape ``(freq, components)``.
    config
        Divergence, iterations, temporal weight.
    """

    def __init__(self, dictionaries: Sequence[Tensor], *, config: NMFConfig | None = None) -> None:
        super().__init__()
        if not dictionaries:
            raise InputError("NMFSeparator: expected at least one dictionary")
        n_bins = dictionaries[0].shape[0]
        for w in dictionaries:
            if w.dim() != 2 or w.shape[0] != n_bins:
                raise ShapeError(f"dictionaries: expected dims ({n_bins}, components), got {tuple(w.shape)}")
        self.config = config if config is not None else NMFConfig()
        self.dictionary: Tensor
        self.register_buffer("dictionary", torch.cat(list(dictionaries), dim=1))
        self.sizes = [int(w.shape[1]) for w in dictionaries]

    @classmethod
    def fit(
        cls,
        corpora: Sequence[Tensor],
        *,
        config: NMFConfig | None = None,
        generator: torch.Generator | None = None,
    ) -> NMFSeparator:
        """Learn one dictionary per single-source corpus.

        ``corpora``: per source, power-spectrum chunks as stored by
        :mod:`mixseq_audio.data`, shape ``(chunks, time, freq)``.
        """
        config = config if config is not None else NMFConfig()
        dictionaries = []
        for power in corpora:
            if power.dim() != 3:
                raise ShapeError(f"corpus: expected dims (chunks, time, freq), got {tuple(power.shape)}")
            n_chunks, n_steps, _ = power.shape
            keep = max(min(n_chunks, config.max_fit_frames // n_steps), 1)
            index = torch.randperm(n_chunks, generator=generator)[:keep]
            spectra = power[index].transpose(1, 2).to(torch.float32) ** (config.spectrum_power / 2)
            w, _ = nmf(
                spectra,
                config.n_components,
                divergence=config.divergence,
                n_iter=config.n_iter_fit,
                temporal_weight=config.temporal_weight,
                generator=generator,
            )
            dictionaries.append(w)
        return cls(dictionaries, config=config)

    def masks(self, mixture: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Wiener masks of every source.

        ``mixture``: complex STFT, shape ``(batch, freq, time)``. Returns shape
        ``(batch, source, freq, time)``, in ``[0, 1]``, summing to one over sources.
        """
        if mixture.dim() != 3 or not mixture.is_complex():
            raise ShapeError(
                f"mixture: expected complex dims (batch, freq, time), got {mixture.dtype} {tuple(mixture.shape)}"
            )
        w = self.dictionary.to(mixture.real.dtype)
        spectra = mixture.abs() ** self.config.spectrum_power
        _, h = nmf(
            spectra,
            w.shape[1],
            divergence=self.config.divergence,
            n_iter=self.config.n_iter_separate,
            dictionary=w,
            update_dictionary=False,
            temporal_weight=self.config.temporal_weight,
            generator=generator,
        )
        parts = torch.stack(
            [wn @ hn for wn, hn in zip(w.split(self.sizes, dim=1), h.split(self.sizes, dim=1), strict=True)], dim=1
        )
        # the tiny floor makes an all-zero model share the bin equally instead of 0/0
        parts = parts + torch.finfo(parts.dtype).tiny
        return parts / parts.sum(dim=1, keepdim=True)

    def forward(self, mixture: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Source STFTs: the Wiener masks applied to the mixture.

        ``mixture``: shape ``(batch, freq, time)``, complex. Returns shape
        ``(batch, source, freq, time)``.
        """
        return self.masks(mixture, generator=generator) * mixture.unsqueeze(1)
