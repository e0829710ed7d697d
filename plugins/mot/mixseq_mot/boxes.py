"""Box conversions and intersection-over-union, vectorised over any leading dimensions.

Conventions: ``ltwh`` is MOTChallenge's ``(left, top, width, height)`` in pixels with
1-based coordinates (the top-left pixel is ``(1, 1)``); ``xyxy`` is
``(x1, y1, x2, y2)`` = ``(left, top, right, bottom)``. Normalised ``xyxy`` boxes divide
``x`` by the image width and ``y`` by the image height, so the image spans ``[0, 1]``
on both axes whatever its resolution.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "iou_matrix",
    "ltwh_to_normalized_xyxy",
    "ltwh_to_xyxy",
    "normalized_xyxy_to_ltwh",
    "xyxy_to_ltwh",
]


def ltwh_to_xyxy(boxes: ArrayLike) -> NDArray[np.float64]:
    """``(left, top, width, height)`` to ``(x1, y1, x2, y2)``. Shape ``(..., 4)``."""
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_ltwh(boxes: ArrayLike) -> NDArray[np.float64]:
    """``(x1, y1, x2, y2)`` to ``(left, top, width, height)``. Shape ``(..., 4)``."""
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def ltwh_to_normalized_xyxy(boxes: ArrayLike, width: float, height: float) -> NDArray[np.float64]:
    """Pixel ``ltwh`` (1-based, MOTChallenge) to normalised ``xyxy``. Shape ``(..., 4)``.

    ``x ↦ (x - 1) / width`` and ``y ↦ (y - 1) / height``: the image spans ``[0, 1]``.
    """
    xyxy = ltwh_to_xyxy(boxes)
    offset = np.array([1.0, 1.0, 1.0, 1.0])
    scale = np.array([width, height, width, height], dtype=np.float64)
    return (xyxy - offset) / scale


def normalized_xyxy_to_ltwh(boxes: ArrayLike, width: float, height: float) -> NDArray[np.float64]:
    """Normalised ``xyxy`` to pixel ``ltwh`` (1-based); inverse of the above. Shape ``(..., 4)``."""
    b = np.asarray(boxes, dtype=np.float64)
    scale = np.array([width, height, width, height], dtype=np.float64)
    return xyxy_to_ltwh(b * scale + 1.0)


def iou_matrix(a: ArrayLike, b: ArrayLike, *, fmt: str = "xyxy") -> NDArray[np.float64]:
    """Intersection over union between every box of ``a`` and every box of ``b``.

    Parameters
    ----------
    a
        Boxes, shape ``(..., n, 4)``.
    b
        Boxes, shape ``(..., m, 4)``; leading dimensions broadcast against ``a``'s.
    fmt
        ``"xyxy"`` or ``"ltwh"``.

    Returns
    -------
    numpy.ndarray
        IoU in ``[0, 1]``, shape ``(..., n, m)``; 0 where a union is empty.
    """
    if fmt not in ("xyxy", "ltwh"):
        raise ValueError(f"fmt: expected 'xyxy' or 'ltwh', got {fmt!r}")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if fmt == "ltwh":
        a = ltwh_to_xyxy(a)
        b = ltwh_to_xyxy(b)
    a = a[..., :, None, :]
    b = b[..., None, :, :]
    inter_w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    inter_h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0, None)
    inter = inter_w * inter_h
    area_a = np.clip(a[..., 2] - a[..., 0], 0.0, None) * np.clip(a[..., 3] - a[..., 1], 0.0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0.0, None) * np.clip(b[..., 3] - b[..., 1], 0.0, None)
    union = area_a + area_b - inter
    # Degenerate boxes have an empty union: their IoU with anything is 0, not NaN.
    safe = np.where(union > 0.0, union, 1.0)
    return np.where(union > 0.0, inter / safe, 0.0)
