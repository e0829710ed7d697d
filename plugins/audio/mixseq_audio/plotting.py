"""Spectrogram figures of a mixture, its sources and the separation masks (PNG, no display)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # never needs a display; must precede pyplot

import matplotlib.pyplot as plt
import torch
from torch import Tensor

from mixseq.errors import ShapeError
from mixseq.fileio import atomic_path
from mixseq_audio.transforms import STFTConfig

__all__ = ["plot_separation", "plot_spectrogram"]

#: Power below this many dB under a panel's maximum is drawn as the floor colour.
DYNAMIC_RANGE_DB = 80.0


def _decibels(spectrogram: Tensor) -> Tensor:
    """``10·log10 |X|²`` limited to :data:`DYNAMIC_RANGE_DB` below the maximum."""
    values = spectrogram.detach().to("cpu")
    power = values.abs().square().double() if values.is_complex() else values.double()
    # the tiny constant keeps log10 finite on digital silence
    db = 10 * torch.log10(power + 1e-20)
    return db.clamp(min=float(db.max()) - DYNAMIC_RANGE_DB)


def _check(name: str, array: Tensor) -> Tensor:
    if array.dim() != 2:
        raise ShapeError(f"{name}: expected dims (freq, frames), got {tuple(array.shape)}")
    return array


def _draw(ax: plt.Axes, image: Tensor, config: STFTConfig, title: str, **style: object) -> None:
    """Show a ``(freq, frames)`` image with time (s) and frequency (kHz) axes and a colour bar."""
    label = str(style.pop("label", ""))
    extent = (0.0, image.shape[1] * config.hop_length / config.sample_rate, 0.0, config.sample_rate / 2000)
    shown = ax.imshow(image.numpy(), origin="lower", aspect="auto", extent=extent, **style)  # type: ignore[arg-type]
    ax.set_title(title)
    ax.set_ylabel("kHz")
    ax.figure.colorbar(shown, ax=ax, label=label)


def plot_spectrogram(ax: plt.Axes, spectrogram: Tensor, config: STFTConfig, *, title: str = "") -> None:
    """Draw one spectrogram in dB on ``ax``.

    ``spectrogram``: shape ``(freq, frames)``, complex STFT or real power.
    """
    _draw(ax, _decibels(_check("spectrogram", spectrogram)), config, title, cmap="magma", label="dB")


def plot_separation(
    path: str | os.PathLike[str],
    mixture: Tensor,
    sources: Mapping[str, Tensor],
    *,
    masks: Mapping[str, Tensor] | None = None,
    references: Mapping[str, Tensor] | None = None,
    config: STFTConfig | None = None,
    title: str = "",
) -> Path:
    """Save a figure: the mixture, each estimated source, its reference and its mask.

    ``mixture`` and every source/reference: shape ``(freq, frames)``, complex STFT or power.
    ``masks``: values in ``[0, 1]`` (e.g. ``|ŝ|² / |x|²`` or assignment probabilities), shape
    ``(freq, frames)``. Written atomically as PNG; returns the path.
    """
    config = config if config is not None else STFTConfig()
    masks = masks or {}
    references = references or {}
    panels: list[tuple[str, Tensor, bool]] = [("mixture", mixture, False)]
    for name, source in sources.items():
        if name in references:
            panels.append((f"{name} (reference)", references[name], False))
        panels.append((f"{name} (estimate)", source, False))
        if name in masks:
            panels.append((f"{name} mask", masks[name], True))
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.2 * len(panels)), sharex=True, squeeze=False)
    try:
        for ax, (label, array, is_mask) in zip(axes[:, 0], panels, strict=True):
            if is_mask:
                mask = _check(label, array).detach().to("cpu", torch.float64)
                _draw(ax, mask, config, label, cmap="viridis", vmin=0, vmax=1)
            else:
                plot_spectrogram(ax, array, config, title=label)
        axes[-1, 0].set_xlabel("time (s)")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return Path(path)
