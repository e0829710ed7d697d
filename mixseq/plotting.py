"""Figures drawn with matplotlib's Agg back end, written atomically to PNG."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mixseq.fileio import atomic_path

__all__ = ["plot_elbo", "plot_source_tracks", "save_figure"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: str | os.PathLike[str]) -> None:
    """Save ``figure`` as PNG atomically and close it."""
    plt = _pyplot()
    try:
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(figure)


def plot_elbo(elbo: Any, path: str | os.PathLike[str], *, title: str = "ELBO per iteration") -> None:
    """Plot an ELBO trace, shape ``(iteration,)`` or ``(iteration, batch)`` (summed over batch)."""
    values = np.asarray(elbo, dtype=float)
    if values.ndim == 2:
        values = values.sum(axis=1)
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3)
    axis.set_xlabel("EM iteration")
    axis.set_ylabel("ELBO")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    save_figure(figure, path)


def plot_source_tracks(
    obs: Any, obs_mask: Any, mean: Any, path: str | os.PathLike[str], *,
    labels: Any = None, axis_index: int = 0, title: str = "sources over time",
) -> None:
    """Observations (dots) and posterior means (lines) of one sequence along one state axis.

    ``obs``: shape ``(time, obs, dim)``; ``obs_mask``: ``(time, obs)``; ``mean``:
    ``(time, source, dim)``; ``labels`` (optional): ``(time, obs)`` colours the dots.
    """
    obs, obs_mask, mean = np.asarray(obs), np.asarray(obs_mask, dtype=bool), np.asarray(mean)
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 3.5))
    frames = np.broadcast_to(np.arange(obs.shape[0])[:, None], obs_mask.shape)
    colours = None if labels is None else np.asarray(labels)[obs_mask]
    axis.scatter(frames[obs_mask], obs[..., axis_index][obs_mask], c=colours, s=8, cmap="tab10",
                 alpha=0.6, label="observations")
    for source in range(mean.shape[1]):
        axis.plot(np.arange(mean.shape[0]), mean[:, source, axis_index], linewidth=2, label=f"source {source}")
    axis.set_xlabel("time")
    axis.set_ylabel(f"state[{axis_index}]")
    axis.set_title(title)
    axis.legend(fontsize=7, loc="best")
    save_figure(figure, path)
