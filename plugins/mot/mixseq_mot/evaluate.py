"""MOTChallenge metrics with py-motmetrics (IoU ≥ 0.5), plus HOTA when ``trackeval`` is installed.

The distance matrices are computed here (``mixseq_mot.boxes.iou_matrix``), because
``motmetrics.distances.iou_matrix`` does not run on numpy 2. Columns follow the MixDVAE
paper: MOTA, MOTP, IDF1, #IDS, %IDS, MT, ML, #FP, %FP, #FN, %FN, where the percentages are
of the number of ground-truth boxes. **MOTP is the mean IoU of matched pairs** (higher is
better, as in the paper); motmetrics' own ``motp`` is the mean distance ``1 - IoU``.

Ground-truth rows whose flag (seventh column) is 0 are dropped, and, where the file has
a class column, rows of other classes than ``gt_classes``. Predictions matched to
distractor classes are *not* removed (the official MOTChallenge devkit does that).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import motmetrics as mm
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixseq.errors import InputError
from mixseq_mot.boxes import iou_matrix, ltwh_to_xyxy
from mixseq_mot.io import MotRecords, read_mot_file

__all__ = [
    "Evaluation",
    "accumulate",
    "evaluate_arrays",
    "evaluate_paths",
    "evaluate_sequences",
    "filter_ground_truth",
    "hota_available",
]

OVERALL = "OVERALL"
_MM_METRICS = [
    "mota", "motp", "idf1", "num_switches", "mostly_tracked", "mostly_lost",
    "num_false_positives", "num_misses", "num_objects", "num_unique_objects",
    "num_fragmentations", "precision", "recall",
]
_DISPLAY = [
    ("MOTA", "mota", "pct"), ("MOTP", "motp", "pct"), ("IDF1", "idf1", "pct"),
    ("#IDS", "num_switches", "int"), ("%IDS", "switch_rate", "pct"),
    ("MT", "mostly_tracked", "int"), ("ML", "mostly_lost", "int"),
    ("#FP", "num_false_positives", "int"), ("%FP", "false_positive_rate", "pct"),
    ("#FN", "num_misses", "int"), ("%FN", "miss_rate", "pct"),
]
JSON_KEYS = (
    "mota", "motp", "idf1", "num_switches", "mostly_tracked", "mostly_lost",
    "num_false_positives", "num_misses",
)


def hota_available() -> bool:
    """Whether ``trackeval`` (for HOTA) can be imported."""
    return importlib.util.find_spec("trackeval") is not None


@attrs.frozen(kw_only=True, eq=False)
class _HotaData:
    """What ``trackeval.metrics.HOTA.eval_sequence`` needs for one sequence."""

    data: dict[str, Any]


@attrs.frozen(kw_only=True, eq=False)
class Evaluation:
    """Metrics per sequence and overall.

    ``table``: one row per sequence plus ``"OVERALL"``; columns ``mota, motp, idf1,
    num_switches, switch_rate, mostly_tracked, mostly_lost, num_false_positives,
    false_positive_rate, num_misses, miss_rate, num_objects, ...`` and ``hota`` when
    ``trackeval`` is installed. Rates are fractions; MOTP is the mean IoU of matches.
    """

    table: pd.DataFrame

    @property
    def overall(self) -> dict[str, float]:
        """The overall row as a dict of plain Python numbers."""
        row = self.table.loc[OVERALL]
        return {k: (int(v) if float(v).is_integer() and k.startswith(("num_", "mostly")) else float(v))
                for k, v in row.items()}

    def to_json_dict(self) -> dict[str, float]:
        """The overall row restricted to the documented JSON keys (plus ``hota``, ``num_objects``)."""
        overall = self.overall
        keys = [*JSON_KEYS, "num_objects", *(["hota"] if "hota" in overall else [])]
        return {k: overall[k] for k in keys}

    def to_text(self) -> str:
        """The paper's columns (percentages shown as percent), one row per sequence."""
        shown = pd.DataFrame(index=self.table.index)
        columns = list(_DISPLAY) + ([("HOTA", "hota", "pct")] if "hota" in self.table else [])
        for label, key, kind in columns:
            values = self.table[key]
            shown[label] = [f"{100 * v:.1f}" if kind == "pct" else f"{int(v)}" for v in values]
        return shown.to_string()


# --------------------------------------------------------------------------- core


def accumulate(
    gt_frame: NDArray[np.integer],
    gt_id: NDArray[np.integer],
    gt_xyxy: NDArray[np.floating],
    pred_frame: NDArray[np.integer],
    pred_id: NDArray[np.integer],
    pred_xyxy: NDArray[np.floating],
    *,
    iou_threshold: float = 0.5,
    with_hota: bool = False,
) -> tuple[mm.MOTAccumulator, _HotaData | None]:
    """Match one sequence frame by frame into a motmetrics accumulator.

    ``*_frame``, ``*_id``: shape ``(rows,)``; ``*_xyxy``: boxes in any common unit
    (pixels or normalised — IoU does not depend on it), shape ``(rows, 4)``.
    Pairs with IoU below ``iou_threshold`` may not be matched.
    """
    max_distance = 1.0 - iou_threshold
    go = np.argsort(gt_frame, kind="stable")
    po = np.argsort(pred_frame, kind="stable")
    gf, gi, gb = gt_frame[go], gt_id[go], np.asarray(gt_xyxy, dtype=np.float64)[go]
    pf, pi, pb = pred_frame[po], pred_id[po], np.asarray(pred_xyxy, dtype=np.float64)[po]
    frames = np.union1d(gf, pf)
    g_lo, g_hi = np.searchsorted(gf, frames, "left"), np.searchsorted(gf, frames, "right")
    p_lo, p_hi = np.searchsorted(pf, frames, "left"), np.searchsorted(pf, frames, "right")

    acc = mm.MOTAccumulator(auto_id=False)
    hota: dict[str, Any] | None = None
    if with_hota:
        gt_uniq, gt_idx = np.unique(gi, return_inverse=True)
        pr_uniq, pr_idx = np.unique(pi, return_inverse=True)
        hota = {
            "gt_ids": [], "tracker_ids": [], "similarity_scores": [],
            "num_gt_ids": len(gt_uniq), "num_tracker_ids": len(pr_uniq),
            "num_gt_dets": len(gi), "num_tracker_dets": len(pi), "num_timesteps": len(frames),
        }
    # motmetrics' API is one update per frame: this loop is inherent to it.
    for f, a, b, c, d in zip(frames, g_lo, g_hi, p_lo, p_hi, strict=True):
        iou = iou_matrix(gb[a:b], pb[c:d])
        dist = 1.0 - iou
        dist[dist > max_distance] = np.nan  # motmetrics' "do not pair"
        acc.update(gi[a:b], pi[c:d], dist, frameid=int(f))
        if hota is not None:
            hota["gt_ids"].append(gt_idx[a:b])
            hota["tracker_ids"].append(pr_idx[c:d])
            hota["similarity_scores"].append(iou)
    return acc, (None if hota is None else _HotaData(data=hota))


def filter_ground_truth(gt: MotRecords, *, gt_classes: Sequence[int] | None = (1,)) -> MotRecords:
    """Drop rows flagged 0 and, where the file has a class column, other classes."""
    keep = gt.score != 0
    if gt.has_class and gt_classes is not None:
        keep &= np.isin(gt.cls, np.asarray(gt_classes))
    return gt.select(keep)


def evaluate_sequences(
    sequences: Mapping[str, tuple[MotRecords, MotRecords]],
    *,
    iou_threshold: float = 0.5,
    gt_classes: Sequence[int] | None = (1,),
    hota: bool | None = None,
) -> Evaluation:
    """Evaluate ``{name: (ground_truth, prediction)}`` and add an overall row.

    ``hota``: compute HOTA (``None``: when ``trackeval`` is installed).
    """
    if not sequences:
        raise InputError("evaluate_sequences: expected at least one sequence, got none")
    with_hota = hota_available() if hota is None else hota
    accs, hotas = [], []
    for gt, pred in sequences.values():
        g = filter_ground_truth(gt, gt_classes=gt_classes)
        acc, h = accumulate(
            g.frame, g.track_id, ltwh_to_xyxy(g.ltwh), pred.frame, pred.track_id,
            ltwh_to_xyxy(pred.ltwh), iou_threshold=iou_threshold, with_hota=with_hota,
        )
        accs.append(acc)
        hotas.append(h)
    return _summarize(accs, list(sequences), hotas if with_hota else None)


def evaluate_arrays(
    gt_boxes: NDArray[np.floating],
    pred_boxes: NDArray[np.floating],
    *,
    gt_mask: NDArray[np.bool_] | None = None,
    pred_mask: NDArray[np.bool_] | None = None,
    gt_ids: NDArray[np.integer] | None = None,
    names: Sequence[str] | None = None,
    iou_threshold: float = 0.5,
    hota: bool | None = None,
) -> Evaluation:
    """Evaluate a batch of tracking results given as arrays (e.g. MOT-3T and the posterior means).

    Parameters
    ----------
    gt_boxes
        Ground truth ``xyxy``, shape ``(batch, time, object, 4)``.
    pred_boxes
        Track boxes ``xyxy`` (hypothesis id = source index), shape ``(batch, time, source, 4)``.
    gt_mask, pred_mask
        Where boxes exist, shapes ``(batch, time, object)`` and ``(batch, time, source)``;
        default everywhere.
    gt_ids
        Object ids, shape ``(batch, object)``; default the object index.
    names
        One name per batch element; default ``"0", "1", ...``.

    A predicted box with non-positive width or height counts as no box, as in
    :func:`mixseq_mot.io.write_tracks` (the same result from arrays and from files).
    """
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64)
    pred_boxes = np.asarray(pred_boxes, dtype=np.float64)
    if gt_boxes.ndim != 4 or gt_boxes.shape[-1] != 4:
        raise InputError(f"gt_boxes: expected dims (batch, time, object, 4), got {gt_boxes.shape}")
    if pred_boxes.ndim != 4 or pred_boxes.shape[:2] != gt_boxes.shape[:2] or pred_boxes.shape[-1] != 4:
        raise InputError(
            f"pred_boxes: expected dims {(*gt_boxes.shape[:2], 'source', 4)}, got {pred_boxes.shape}"
        )
    n_batch, _, n_obj, _ = gt_boxes.shape
    gm = np.ones(gt_boxes.shape[:3], bool) if gt_mask is None else np.asarray(gt_mask, bool)
    pm = np.ones(pred_boxes.shape[:3], bool) if pred_mask is None else np.asarray(pred_mask, bool)
    pm = pm & (pred_boxes[..., 2] > pred_boxes[..., 0]) & (pred_boxes[..., 3] > pred_boxes[..., 1])
    ids = np.broadcast_to(np.arange(n_obj), (n_batch, n_obj)) if gt_ids is None else np.asarray(gt_ids)
    names = [str(b) for b in range(n_batch)] if names is None else list(names)
    if len(names) != n_batch or len(set(names)) != n_batch:
        raise InputError(f"names: expected {n_batch} distinct names, got {len(set(names))}")
    with_hota = hota_available() if hota is None else hota
    accs, hotas = [], []
    for b in range(n_batch):  # one motmetrics accumulator per sequence
        gt_t, gt_k = np.nonzero(gm[b])
        pr_t, pr_n = np.nonzero(pm[b])
        acc, h = accumulate(
            gt_t + 1, ids[b][gt_k], gt_boxes[b, gt_t, gt_k], pr_t + 1, pr_n, pred_boxes[b, pr_t, pr_n],
            iou_threshold=iou_threshold, with_hota=with_hota,
        )
        accs.append(acc)
        hotas.append(h)
    return _summarize(accs, names, hotas if with_hota else None)


def evaluate_paths(
    gt: str | os.PathLike[str],
    pred: str | os.PathLike[str],
    *,
    iou_threshold: float = 0.5,
    gt_classes: Sequence[int] | None = (1,),
    hota: bool | None = None,
) -> Evaluation:
    """Evaluate files or folders.

    * ``gt`` a file, ``pred`` a file: one sequence.
    * ``gt`` a sequence folder (with ``gt/gt.txt``), ``pred`` a file: one sequence.
    * ``gt`` a folder of sequence folders, ``pred`` a folder of ``<sequence>.txt``
      (the MOTChallenge submission layout): every sequence with a prediction file; a
      sequence without one is an error.
    """
    g, p = Path(gt), Path(pred)
    if not g.exists():
        raise InputError(f"{g}: ground truth not found")
    if not p.exists():
        raise InputError(f"{p}: prediction not found")
    pairs: dict[str, tuple[Path, Path]] = {}
    if g.is_file() or (g / "gt" / "gt.txt").is_file():
        gt_file = g if g.is_file() else g / "gt" / "gt.txt"
        name = g.parent.parent.name if g.is_file() and g.parent.name == "gt" else g.stem if g.is_file() else g.name
        if p.is_dir():
            candidate = p / f"{name}.txt"
            if not candidate.is_file():
                raise InputError(f"{p}: expected a prediction file {candidate.name} for sequence {name}")
            p = candidate
        pairs[name] = (gt_file, p)
    else:
        seqs = sorted(d for d in g.iterdir() if (d / "gt" / "gt.txt").is_file())
        if not seqs:
            raise InputError(f"{g}: expected a gt.txt, a sequence folder or a folder of sequences with gt/gt.txt")
        if not p.is_dir():
            raise InputError(f"{p}: expected a folder of <sequence>.txt files for {len(seqs)} sequences")
        for d in seqs:
            candidate = p / f"{d.name}.txt"
            if not candidate.is_file():
                raise InputError(f"{p}: expected a prediction file {candidate.name} for sequence {d.name}")
            pairs[d.name] = (d / "gt" / "gt.txt", candidate)
    loaded = {n: (read_mot_file(a), read_mot_file(b)) for n, (a, b) in pairs.items()}
    return evaluate_sequences(loaded, iou_threshold=iou_threshold, gt_classes=gt_classes, hota=hota)


# --------------------------------------------------------------------------- summary


def _summarize(accs: list[mm.MOTAccumulator], names: list[str], hotas: list[_HotaData | None] | None) -> Evaluation:
    mh = mm.metrics.create()
    # motmetrics logs its timings with logging.info on the root logger: silence them here.
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.INFO))
    try:
        summary = mh.compute_many(accs, metrics=_MM_METRICS, names=names, generate_overall=True)
    finally:
        logging.disable(previous)
    summary = summary.rename(index={"OVERALL": OVERALL}).astype(float)
    # The paper's MOTP is the mean IoU of matches; motmetrics reports the mean distance.
    summary["motp"] = 1.0 - summary["motp"].fillna(1.0)
    objects = summary["num_objects"].where(summary["num_objects"] > 0, np.nan)
    summary["switch_rate"] = (summary["num_switches"] / objects).fillna(0.0)
    summary["false_positive_rate"] = (summary["num_false_positives"] / objects).fillna(0.0)
    summary["miss_rate"] = (summary["num_misses"] / objects).fillna(0.0)
    if hotas is not None:
        summary["hota"] = _hota_column(hotas, names)
    return Evaluation(table=summary)


def _hota_column(hotas: list[_HotaData | None], names: list[str]) -> pd.Series:
    from trackeval.metrics import HOTA  # optional dependency

    metric = HOTA()
    per_seq = {n: metric.eval_sequence(h.data) for n, h in zip(names, hotas, strict=True) if h is not None}
    combined = metric.combine_sequences(per_seq)
    values = {n: float(np.mean(r["HOTA"])) for n, r in per_seq.items()}
    values[OVERALL] = float(np.mean(combined["HOTA"]))
    return pd.Series(values)
