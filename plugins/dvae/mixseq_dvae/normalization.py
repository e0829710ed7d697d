"""The optional scale-free input normalisation of box sequences (``"first_box"``).

A box sequence ``(x1, y1, x2, y2)`` becomes ``(b_t − b_0) / (w_0, h_0, w_0, h_0)``: relative
to its first box, x in units of the first box's width and y in units of its height. The map
is affine per sequence, so Gaussian predictions map back exactly:
``mean = offset + scale·mean'``, ``variance = scale²·variance'``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["Reference", "box_reference", "identity_reference"]

# A degenerate first box (zero or negative width or height) would divide by zero or flip
# the axes: sizes are floored at 0.1 % of the image size (2 px at 1920 px), below any box of
# the synthetic training data or the MOT benchmarks.
_MIN_BOX_SIZE = 1e-3


class Reference:
    """An affine frame per sequence: ``model = (state − offset) / scale``.

    ``offset`` and ``scale``: shape ``(batch, state)`` (broadcast over time).
    """

    def __init__(self, offset: Tensor, scale: Tensor) -> None:
        self.offset = offset
        self.scale = scale

    def to_model(self, x: Tensor) -> Tensor:
        """State → network units. ``x``: shape ``(batch, time, state)`` or ``(batch, state)``."""
        if x.dim() == 3:
            return (x - self.offset[:, None]) / self.scale[:, None]
        return (x - self.offset) / self.scale

    def from_model(self, mean: Tensor, variance: Tensor) -> tuple[Tensor, Tensor]:
        """Network-unit mean and variance → state units. Shapes ``(batch, state)``."""
        return self.offset + self.scale * mean, self.scale.square() * variance

    def log_jacobian(self) -> Tensor:
        """``Σ log scale`` per sequence (converts densities between units). Shape ``(batch,)``."""
        return torch.log(self.scale).sum(-1)


def box_reference(first: Tensor) -> Reference:
    """The ``"first_box"`` frame of boxes ``first``, shape ``(batch, 4)``."""
    width = (first[:, 2] - first[:, 0]).clamp_min(_MIN_BOX_SIZE)
    height = (first[:, 3] - first[:, 1]).clamp_min(_MIN_BOX_SIZE)
    return Reference(first, torch.stack([width, height, width, height], dim=-1))


def identity_reference(like: Tensor) -> Reference:
    """The identity frame for states like ``like``, shape ``(batch, state)`` (real)."""
    return Reference(torch.zeros_like(like), torch.ones_like(like))
