"""Plots of tracks and detections over time (matplotlib's Agg canvas; no global pyplot state)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mixseq.errors import InputError
from mixseq.fileio import atomic_path

__all__ = ["plot_tracks"]


def _centres(boxes: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return (boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2


def plot_tracks(
    path: str | os.PathLike[str],
    tracks: ArrayLike,
    *,
    track_mask: ArrayLike | None = None,
    detections: ArrayLike | None = None,
    detection_mask: ArrayLike | None = None,
    ground_truth: ArrayLike | None = None,
    ground_truth_mask: ArrayLike | None = None,
    first_frame: int = 1,
    title: str | None = None,
) -> Path:
    """Draw x-centre and y-centre against the frame number and save a PNG atomically.

    Parameters
    ----------
    path
        Where the PNG goes.
    tracks
        Track boxes ``xyxy`` (normalised or pixels), shape ``(time, source, 4)``; one colour
        per source, solid lines.
    track_mask
        Where a track has a box, shape ``(time, source)``; default everywhere.
    detections
        Detections ``xyxy``, shape ``(time, obs, 4)``, drawn as grey dots.
    detection_mask
        Shape ``(time, obs)``; default everywhere.
    ground_truth
        Ground-truth boxes ``xyxy``, shape ``(time, object, 4)``, drawn as thin dashed lines.
    ground_truth_mask
        Shape ``(time, object)``.
    first_frame
        Frame number of ``time = 0``.
    title
        Figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    trk = _boxes("tracks", tracks)
    n_steps, n_sources, _ = trk.shape
    tmask = _mask("track_mask", track_mask, trk.shape[:2])
    frames = np.arange(n_steps) + first_frame

    figure = Figure(figsize=(8, 5.5))
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 1, sharex=True)
    colours = [f"C{n % 10}" for n in range(n_sources)]
    if detections is not None:
        det = _boxes("detections", detections)
        if det.shape[0] != n_steps:
            raise InputError(f"detections: expected {n_steps} frames like tracks, got {det.shape[0]}")
        dmask = _mask("detection_mask", detection_mask, det.shape[:2])
        dx, dy = _centres(det)
        t_idx, k_idx = np.nonzero(dmask)
        for axis, values in zip(axes, (dx, dy), strict=True):
            axis.scatter(frames[t_idx], values[t_idx, k_idx], s=6, c="0.55", label="detections", zorder=1)
    if ground_truth is not None:
        gt = _boxes("ground_truth", ground_truth)
        if gt.shape[0] != n_steps:
            raise InputError(f"ground_truth: expected {n_steps} frames like tracks, got {gt.shape[0]}")
        gmask = _mask("ground_truth_mask", ground_truth_mask, gt.shape[:2])
        gx, gy = _centres(gt)
        for axis, values in zip(axes, (gx, gy), strict=True):
            for k in range(gt.shape[1]):  # one line per object
                axis.plot(frames, np.where(gmask[:, k], values[:, k], np.nan), "k--", lw=0.8,
                          label="ground truth" if k == 0 else None, zorder=2)
    tx, ty = _centres(trk)
    for axis, values in zip(axes, (tx, ty), strict=True):
        for n in range(n_sources):  # one line per source
            # NaN breaks the line where the track has no box (drawing only, no arithmetic).
            axis.plot(frames, np.where(tmask[:, n], values[:, n], np.nan), color=colours[n], lw=1.6,
                      label=f"track {n + 1}", zorder=3)
    axes[0].set_ylabel("x centre")
    axes[1].set_ylabel("y centre")
    axes[1].set_xlabel("frame")
    axes[1].invert_yaxis()  # image coordinates: y grows downwards
    handles, labels = axes[0].get_legend_handles_labels()
    if len(labels) <= 12:
        axes[0].legend(handles, labels, fontsize="small", loc="best")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return Path(path)


def _boxes(name: str, value: ArrayLike) -> NDArray[np.float64]:
    arr = _to_numpy(value).astype(np.float64)
    if arr.ndim != 3 or arr.shape[-1] != 4:
        raise InputError(f"{name}: expected dims (time, source, 4), got {arr.shape}")
    return arr


def _mask(name: str, value: ArrayLike | None, shape: tuple[int, ...]) -> NDArray[np.bool_]:
    if value is None:
        return np.ones(shape, dtype=bool)
    arr = _to_numpy(value).astype(bool)
    if arr.shape != shape:
        raise InputError(f"{name}: expected shape {shape}, got {arr.shape}")
    return arr


def _to_numpy(value: ArrayLike) -> NDArray[np.generic]:
    detach = getattr(value, "detach", None)
    if detach is not None:  # a torch tensor
        return detach().cpu().numpy()  # type: ignore[no-any-return]
    return np.asarray(value)
