"""Detections simulated from ground truth, for sequences published without detector output.

Model (every draw from ``generator``):

* each considered ground-truth box (flag ≠ 0, pedestrian class where the file has a class
  column) is detected with probability ``detect_probability · min(1, visibility /
  full_visibility)``: occluded people are missed more often;
* a detected box is the true box with its centre moved by ``N(0, (jitter·w)², (jitter·h)²)``
  and its width and height multiplied by ``exp(N(0, jitter²))``;
* each frame gets ``Poisson(false_alarm_rate)`` false alarms: a ground-truth-sized box from
  the same sequence at a uniformly random place in the image;
* scores are uniform in ``[0.5, 1)`` and ids are -1, as in MOTChallenge ``det.txt``.
"""

from __future__ import annotations

import attrs
import numpy as np
import torch

from mixseq.errors import InputError
from mixseq_mot.io import MotRecords

__all__ = ["DetectionNoise", "simulate_detections"]


@attrs.frozen(kw_only=True)
class DetectionNoise:
    """Parameters of :func:`simulate_detections`."""

    detect_probability: float = attrs.field(default=0.9, validator=[attrs.validators.ge(0), attrs.validators.le(1)])
    full_visibility: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    jitter: float = attrs.field(default=0.05, validator=attrs.validators.ge(0))
    false_alarm_rate: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))


def _uniform(n: int, generator: torch.Generator | None) -> np.ndarray:
    return torch.rand(n, generator=generator, dtype=torch.float64).numpy()


def _normal(shape: tuple[int, ...], generator: torch.Generator | None) -> np.ndarray:
    return torch.randn(shape, generator=generator, dtype=torch.float64).numpy()


def simulate_detections(
    ground_truth: MotRecords,
    *,
    width: int,
    height: int,
    n_frames: int,
    noise: DetectionNoise | None = None,
    pedestrian_class: int | None = 1,
    generator: torch.Generator | None = None,
) -> MotRecords:
    """Detections drawn from ``ground_truth`` (pixels, MOTChallenge rows; see module docstring)."""
    noise = noise or DetectionNoise()
    keep = ground_truth.score != 0
    if ground_truth.has_class and pedestrian_class is not None:
        keep &= ground_truth.cls == pedestrian_class
    gt = ground_truth.select(keep & (ground_truth.frame <= n_frames))
    if len(gt) == 0:
        raise InputError(f"{ground_truth.source}: no considered ground-truth boxes to simulate detections from")
    p = noise.detect_probability * np.minimum(1.0, gt.visibility / noise.full_visibility)
    hit = _uniform(len(gt), generator) < p
    true = gt.ltwh[hit]
    eps = _normal((len(true), 4), generator) * noise.jitter
    w = true[:, 2] * np.exp(eps[:, 2])
    h = true[:, 3] * np.exp(eps[:, 3])
    cx = true[:, 0] + true[:, 2] / 2 + eps[:, 0] * true[:, 2]
    cy = true[:, 1] + true[:, 3] / 2 + eps[:, 1] * true[:, 3]
    boxes = np.column_stack([cx - w / 2, cy - h / 2, w, h])
    frames = gt.frame[hit]

    counts = torch.poisson(torch.full((n_frames,), noise.false_alarm_rate, dtype=torch.float64),
                           generator=generator).numpy().astype(np.int64)
    n_fa = int(counts.sum())
    sizes = gt.ltwh[torch.randint(len(gt), (n_fa,), generator=generator).numpy(), 2:]
    corner = _uniform(2 * n_fa, generator).reshape(n_fa, 2) * np.maximum([width, height] - sizes, 1.0) + 1.0
    boxes = np.concatenate([boxes, np.column_stack([corner, sizes])])
    frames = np.concatenate([frames, np.repeat(np.arange(1, n_frames + 1), counts)])
    scores = 0.5 + 0.5 * _uniform(len(frames), generator)
    return MotRecords.from_arrays(frames, np.full(len(frames), -1), boxes, scores)
