"""Synthetic box trajectories for pre-training box dynamics (MixDVAE recipe).

A box is ``(x1, y1, x2, y2)`` = (left, top, right, bottom) in coordinates normalised by the
image width and height. The recipe (``REFERENCE.md`` §3), for 60-frame sequences:

* ``x(t)`` (left edge) and ``y(t)`` (top edge) are drawn independently as 1–3 pieces, split
  points drawn without replacement from ``{3, 6, …, 57}``. Each piece is static (p .15),
  linear (.30), parabolic (.30) or sinusoidal (.25) and continues from the value where the
  previous piece ended. Velocity σ x .00125 / y .0006; acceleration σ x 3.7e-5 / y 2e-5;
  sinusoid ``v0·sin(ωτ+φ)/sin(φ)`` with ω σ x .003 / y .001 and phase σ 3.2.
* Start ``x0, y0 ~ U(0, 1)``.
* Width: one piece (static .25, linear .60, parabolic .15; velocity σ 3.2e-4, acceleration
  σ 1e-5) from ``w0 ~ LogNormal(-3.8, 0.7)``; height ``h = r·w`` with ``r ~ N(5.26, 0.77²)``
  drawn once per trajectory.
* A trajectory that leaves the image (any coordinate outside ``[0, 1]``) or whose width
  becomes non-positive is rejected.

A parabolic piece is ``v0 + v·τ + a·τ²/2`` with ``v`` and ``a`` drawn with the velocity and
acceleration standard deviations; ``τ`` counts frames from the start of the piece.
Everything is vectorised over trajectories; the only loop is over the (at most three) pieces.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from mixseq.errors import InputError
from mixseq.fileio import atomic_path

__all__ = [
    "DEFAULT_N_STEPS",
    "sample_box_trajectories",
    "synthetic_box_trajectories",
    "write_box_training_data",
]

DEFAULT_N_STEPS = 60

# Piece kinds and their probabilities.
_STATIC, _LINEAR, _PARABOLIC, _SINUSOID = 0, 1, 2, 3
_POSITION_KIND_PROBS = (0.15, 0.30, 0.30, 0.25)
_WIDTH_KIND_PROBS = (0.25, 0.60, 0.15, 0.0)

# Per-axis standard deviations: (velocity, acceleration, sinusoid frequency).
_X_STD = (0.00125, 3.7e-5, 0.003)
_Y_STD = (0.0006, 2e-5, 0.001)
_WIDTH_STD = (3.2e-4, 1e-5, 0.0)
_PHASE_STD = 3.2
_LOG_WIDTH_MEAN, _LOG_WIDTH_STD = -3.8, 0.7
_RATIO_MEAN, _RATIO_STD = 5.26, 0.77


def _piece_values(
    rng: np.random.Generator,
    start: np.ndarray,
    tau: np.ndarray,
    kind_probs: tuple[float, ...],
    stds: tuple[float, float, float],
) -> np.ndarray:
    """Values of one piece per trajectory at local times ``tau``.

    ``start``: shape ``(n,)``; ``tau``: shape ``(n, time)`` (may be negative, ignored by the
    caller). Returns shape ``(n, time)``.
    """
    n = start.shape[0]
    kind = rng.choice(len(kind_probs), size=(n,), p=np.asarray(kind_probs))
    velocity = rng.normal(0.0, stds[0], size=(n,))
    acceleration = rng.normal(0.0, stds[1], size=(n,))
    omega = rng.normal(0.0, stds[2], size=(n,)) if stds[2] > 0 else np.zeros((n,))
    phase = rng.normal(0.0, _PHASE_STD, size=(n,))
    v0, v, a = start[:, None], velocity[:, None], acceleration[:, None]
    linear = v0 + v * tau
    parabolic = linear + 0.5 * a * tau**2
    sin_phase = np.sin(phase)[:, None]
    # A phase with sin(φ) = 0 exactly would divide by zero; it has probability zero, and the
    # rejection step removes the (huge) trajectories a nearly-zero sin(φ) produces.
    sin_phase = np.where(sin_phase == 0.0, 1e-12, sin_phase)
    sinusoid = v0 * np.sin(omega[:, None] * tau + phase[:, None]) / sin_phase
    k = kind[:, None]
    return np.where(
        k == _STATIC,
        np.broadcast_to(v0, tau.shape),
        np.where(k == _LINEAR, linear, np.where(k == _PARABOLIC, parabolic, sinusoid)),
    )


def _axis(rng: np.random.Generator, start: np.ndarray, n_steps: int, stds: tuple[float, float, float]) -> np.ndarray:
    """One coordinate as 1–3 continuous pieces. Shape ``(n, time)``."""
    n = start.shape[0]
    candidates = np.arange(3, n_steps - 2, 3)  # {3, 6, …, 57} for 60 frames
    n_pieces = rng.integers(1, 4, size=(n,))
    if candidates.size < 2:
        n_pieces = np.ones(n, dtype=np.int64)
        candidates = np.array([n_steps, n_steps + 1])
    # Two distinct split points per trajectory (argsort of uniforms = random permutation).
    picks = np.sort(candidates[rng.random((n, candidates.size)).argsort(axis=1)[:, :2]], axis=1)
    never = n_steps  # a split point at n_steps never starts a piece
    split1 = np.where(n_pieces >= 2, picks[:, 0], never)
    split2 = np.where(n_pieces >= 3, picks[:, 1], never)
    split1, split2 = np.minimum(split1, split2), np.maximum(split1, split2)
    starts = np.stack([np.zeros(n, dtype=np.int64), split1, split2], axis=1)  # (n, 3)
    t = np.arange(n_steps)[None, :]
    piece = (t >= split1[:, None]).astype(np.int64) + (t >= split2[:, None])
    values = np.empty((n, n_steps))
    value_start = start.astype(np.float64)
    for j in range(3):
        tau = (t - starts[:, j : j + 1]).astype(np.float64)
        piece_j = _piece_values(rng, value_start, tau, _POSITION_KIND_PROBS, stds)
        values = np.where(piece == j, piece_j, values)
        if j < 2:
            # The next piece continues from this piece's value at the next split point.
            # A split point equal to n_steps never starts a piece: its value is unused.
            idx = np.clip(starts[:, j + 1], 0, n_steps - 1)
            value_start = np.take_along_axis(piece_j, idx[:, None], axis=1)[:, 0]
    return values


def sample_box_trajectories(n_attempts: int, *, n_steps: int = DEFAULT_N_STEPS, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n_attempts`` trajectories and keep those that stay inside the image.

    Parameters
    ----------
    n_attempts
        How many trajectories to draw before rejection.
    n_steps
        Frames per trajectory.
    rng
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        The accepted boxes ``(x1, y1, x2, y2)``. Shape ``(n_accepted, time, 4)``, float32.
    """
    if n_attempts < 0 or n_steps < 1:
        raise InputError(f"expected n_attempts >= 0 and n_steps >= 1, got {n_attempts} and {n_steps}")
    x = _axis(rng, rng.uniform(0.0, 1.0, size=n_attempts), n_steps, _X_STD)
    y = _axis(rng, rng.uniform(0.0, 1.0, size=n_attempts), n_steps, _Y_STD)
    w0 = rng.lognormal(_LOG_WIDTH_MEAN, _LOG_WIDTH_STD, size=n_attempts)
    tau = np.broadcast_to(np.arange(n_steps, dtype=np.float64)[None, :], (n_attempts, n_steps))
    w = _piece_values(rng, w0, tau, _WIDTH_KIND_PROBS, _WIDTH_STD)
    h = rng.normal(_RATIO_MEAN, _RATIO_STD, size=n_attempts)[:, None] * w
    boxes = np.stack([x, y, x + w, y + h], axis=-1)
    inside = (boxes >= 0.0).all(axis=(1, 2)) & (boxes <= 1.0).all(axis=(1, 2))
    valid = inside & (w > 0).all(axis=1) & (h > 0).all(axis=1)
    return boxes[valid].astype(np.float32)


def synthetic_box_trajectories(
    n: int, *, n_steps: int = DEFAULT_N_STEPS, generator: np.random.Generator | int | None = None
) -> torch.Tensor:
    """Exactly ``n`` accepted synthetic box trajectories.

    Parameters
    ----------
    n
        Number of trajectories to return.
    n_steps
        Frames per trajectory.
    generator
        A numpy ``Generator`` or an integer seed (``None``: fresh entropy).

    Returns
    -------
    torch.Tensor
        Boxes ``(x1, y1, x2, y2)`` normalised by the image size. Shape ``(n, time, 4)``.
    """
    rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)
    chunks: list[np.ndarray] = []
    have = 0
    while have < n:
        # Roughly half the attempts are accepted; draw a little more than needed.
        batch = sample_box_trajectories(max(2 * (n - have), 64), n_steps=n_steps, rng=rng)
        chunks.append(batch)
        have += batch.shape[0]
    out = np.concatenate(chunks, axis=0)[:n] if chunks else np.zeros((0, n_steps, 4), np.float32)
    return torch.from_numpy(np.ascontiguousarray(out))


def write_box_training_data(
    path: str | os.PathLike[str],
    *,
    n_train: int = 20_000,
    n_validation: int = 5_000,
    n_steps: int = DEFAULT_N_STEPS,
    seed: int = 0,
) -> dict[str, Any]:
    """Write a training data file for box dynamics.

    The file (``torch.save``, loadable with ``weights_only=True``) holds ``"train"``,
    shape ``(n_train, time, 4)``, ``"validation"``, shape ``(n_validation, time, 4)``, both
    float32 boxes ``(x1, y1, x2, y2)`` normalised by the image size, and ``"description"``, a
    dict of plain values saying how they were made. Returns the description.
    """
    rng = np.random.default_rng(seed)
    train = synthetic_box_trajectories(n_train, n_steps=n_steps, generator=rng)
    validation = synthetic_box_trajectories(n_validation, n_steps=n_steps, generator=rng)
    description: dict[str, Any] = {
        "kind": "synthetic-boxes",
        "generator": "mixseq_mot.synthetic.write_box_training_data",
        "recipe": "MixDVAE synthetic pre-training trajectories (REFERENCE.md section 3)",
        "box_format": "x1,y1,x2,y2 normalised by image width/height",
        "n_train": n_train,
        "n_validation": n_validation,
        "n_steps": n_steps,
        "seed": seed,
    }
    with atomic_path(path) as tmp:
        torch.save({"train": train, "validation": validation, "description": description}, tmp)
    return description


def main(argv: list[str] | None = None) -> int:
    """``python -m mixseq_mot.synthetic OUT.pt [--n-train N] [--n-validation N] [--seed S]``."""
    import argparse

    parser = argparse.ArgumentParser(description="Write synthetic box trajectories for dynamics training.")
    parser.add_argument("output", help="output file (.pt)")
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--n-validation", type=int, default=5_000)
    parser.add_argument("--n-steps", type=int, default=DEFAULT_N_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_box_training_data(
        args.output, n_train=args.n_train, n_validation=args.n_validation, n_steps=args.n_steps, seed=args.seed
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
