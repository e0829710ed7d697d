"""The paper's MOT-3T data sets: three-target windows cut from MOTChallenge training sequences.

For every sequence folder (``seqinfo.ini``, ``gt/gt.txt``, ``det/det.txt``):

1. ground-truth rows are kept when flagged 1 (``flag != 0``), of the pedestrian class when
   the file has a class column, and with ``visibility >= min_visibility``;
2. in every frame, detections are matched one-to-one to the kept ground truth by the
   Hungarian algorithm on IoU, pairs with IoU ≥ ``iou_threshold`` (0.5) counting;
3. windows of ``T`` frames start every ``stride`` frames; an object is *eligible* in a
   window when it has a ground-truth box in every frame, a matched detection in at least
   ``min_detected_fraction`` (65 %) of them and in each of the first ``n_first_detected``
   (5) frames;
4. per window with at least three eligible objects, ``n_triplets`` (20) distinct random
   triplets (all of them when there are fewer).

Each sample holds the three objects' matched detections as observations (per frame in
``det.txt`` order, detected ones first, the rest masked), their ground-truth boxes and
ids. The paper states stride 40 for ``T = 60``; the stride for 120 and 300 is not
published, and defaults to 40 as well (``stride=`` takes one number or one per length).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import numpy as np
import torch
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from mixseq.errors import InputError
from mixseq.fileio import atomic_path
from mixseq_mot.boxes import iou_matrix, ltwh_to_normalized_xyxy
from mixseq_mot.io import MotSequence, read_sequence

__all__ = [
    "Mot3TConfig",
    "Mot3TDataset",
    "SequenceTracks",
    "build_mot3t",
    "load_mot3t",
    "match_sequence",
    "write_mot3t",
]


@attrs.frozen(kw_only=True)
class Mot3TConfig:
    """Settings of the MOT-3T builder (defaults: the paper's)."""

    lengths: tuple[int, ...] = attrs.field(default=(60, 120, 300), converter=tuple)
    stride: int | Mapping[int, int] = 40
    n_objects: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    n_triplets: int = attrs.field(default=20, validator=attrs.validators.ge(1))
    iou_threshold: float = attrs.field(default=0.5, validator=[attrs.validators.gt(0), attrs.validators.le(1)])
    min_detected_fraction: float = attrs.field(default=0.65, validator=[attrs.validators.ge(0), attrs.validators.le(1)])
    n_first_detected: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    min_visibility: float = 0.0
    pedestrian_class: int | None = 1

    def stride_for(self, length: int) -> int:
        """The window stride for windows of ``length`` frames."""
        stride = self.stride[length] if isinstance(self.stride, Mapping) else self.stride
        if stride < 1:
            raise InputError(f"stride: expected a positive number of frames, got {stride}")
        return int(stride)


@attrs.frozen(kw_only=True, eq=False)
class SequenceTracks:
    """Ground truth and matched detections of one sequence on a dense grid.

    ``gt_boxes``, ``det_boxes``: normalised ``xyxy``, shape ``(time, object, 4)``.
    ``present``: a kept ground-truth box exists, ``detected``: a detection was matched,
    ``det_order``: the matched detection's row within its frame (for ordering), all
    shape ``(time, object)``. ``ids``: shape ``(object,)``.
    """

    name: str
    width: int
    height: int
    ids: NDArray[np.int64]
    gt_boxes: NDArray[np.float64]
    present: NDArray[np.bool_]
    det_boxes: NDArray[np.float64]
    detected: NDArray[np.bool_]
    det_order: NDArray[np.int64]


@attrs.frozen(kw_only=True, eq=False)
class Mot3TDataset:
    """One MOT-3T data set (all samples of one window length).

    ``obs``: detections, normalised ``xyxy``, shape ``(sample, time, obs, 4)``;
    ``obs_mask``: ``(sample, time, obs)``; ``obs_object``: which of the sample's objects
    each detection belongs to (-1 where masked), ``(sample, time, obs)``;
    ``gt_boxes``: ``(sample, time, object, 4)``; ``gt_mask``: ``(sample, time, object)``;
    ``gt_ids``: ``(sample, object)``; ``sequence``: ``(sample,)`` names;
    ``start_frame``: 1-based first frame, ``(sample,)``; ``image_size``: (width, height),
    ``(sample, 2)``. ``n_windows``: windows that gave at least one sample.
    """

    length: int
    obs: NDArray[np.float64]
    obs_mask: NDArray[np.bool_]
    obs_object: NDArray[np.int64]
    gt_boxes: NDArray[np.float64]
    gt_mask: NDArray[np.bool_]
    gt_ids: NDArray[np.int64]
    sequence: NDArray[np.str_]
    start_frame: NDArray[np.int64]
    image_size: NDArray[np.int64]
    n_windows: int
    config: str = ""

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    def tensors(self, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """``(obs, obs_mask)`` as tensors, shapes ``(sample, time, obs, 4)`` and ``(sample, time, obs)``."""
        return torch.as_tensor(self.obs, dtype=dtype), torch.as_tensor(self.obs_mask)


# --------------------------------------------------------------------------- matching


def match_sequence(seq: MotSequence, config: Mot3TConfig | None = None) -> SequenceTracks:
    """Filter a sequence's ground truth and match its detections to it frame by frame."""
    config = config or Mot3TConfig()
    if seq.ground_truth is None or seq.detections is None:
        raise InputError(f"{seq.path}: MOT-3T needs gt/gt.txt and det/det.txt")
    gt = seq.ground_truth
    keep = (gt.score != 0) & (gt.visibility >= config.min_visibility)
    if gt.has_class and config.pedestrian_class is not None:
        keep &= gt.cls == config.pedestrian_class
    gt = gt.select(keep)
    det = seq.detections
    n_steps = seq.n_frames
    width, height = seq.info.width, seq.info.height
    gt = gt.select(gt.frame <= n_steps)
    det = det.select(det.frame <= n_steps)

    ids, obj = np.unique(gt.track_id, return_inverse=True)
    t_gt = gt.frame - 1
    flat = t_gt * len(ids) + obj
    if len(np.unique(flat)) != len(flat):
        dup = int(np.flatnonzero(np.bincount(flat) > 1)[0])
        raise InputError(f"{gt.source}: frame {dup // len(ids) + 1} has two rows for id "
                         f"{ids[dup % len(ids)]}; expected one box per id and frame")
    n_obj = len(ids)
    gt_boxes = np.zeros((n_steps, n_obj, 4))
    present = np.zeros((n_steps, n_obj), dtype=bool)
    gt_boxes[t_gt, obj] = ltwh_to_normalized_xyxy(gt.ltwh, width, height)
    present[t_gt, obj] = True

    det_xyxy = ltwh_to_normalized_xyxy(det.ltwh, width, height)
    det_boxes = np.zeros((n_steps, n_obj, 4))
    detected = np.zeros((n_steps, n_obj), dtype=bool)
    det_order = np.full((n_steps, n_obj), np.iinfo(np.int64).max, dtype=np.int64)
    # Row ranges of each frame (rows are sorted by frame). Within a frame, detections are
    # sorted by id, which is -1 for all of them: their order is the file's.
    g_edge = np.searchsorted(gt.frame, np.arange(1, n_steps + 2))
    d_edge = np.searchsorted(det.frame, np.arange(1, n_steps + 2))
    for t in range(n_steps):  # one Hungarian problem per frame
        a, b, c, d = g_edge[t], g_edge[t + 1], d_edge[t], d_edge[t + 1]
        if a == b or c == d:
            continue
        iou = iou_matrix(gt_boxes[t, obj[a:b]], det_xyxy[c:d])
        rows, cols = linear_sum_assignment(iou, maximize=True)
        ok = iou[rows, cols] >= config.iou_threshold
        objects = obj[a:b][rows[ok]]
        det_boxes[t, objects] = det_xyxy[c:d][cols[ok]]
        detected[t, objects] = True
        det_order[t, objects] = cols[ok]
    return SequenceTracks(
        name=seq.info.name or seq.path.name, width=width, height=height, ids=ids,
        gt_boxes=gt_boxes, present=present, det_boxes=det_boxes, detected=detected, det_order=det_order,
    )


# --------------------------------------------------------------------------- windows


def _eligible(tracks: SequenceTracks, length: int, stride: int, config: Mot3TConfig) -> tuple[NDArray, NDArray]:
    """Window starts ``(window,)`` and eligibility ``(window, object)``, from cumulative sums."""
    n_steps = tracks.present.shape[0]
    starts = np.arange(0, n_steps - length + 1, stride)
    zero = np.zeros((1, tracks.present.shape[1]), dtype=np.int64)
    cum_present = np.concatenate([zero, np.cumsum(tracks.present, axis=0)])
    cum_detected = np.concatenate([zero, np.cumsum(tracks.detected, axis=0)])
    ends = starts + length
    visible = (cum_present[ends] - cum_present[starts]) == length
    n_det = cum_detected[ends] - cum_detected[starts]
    first = min(config.n_first_detected, length)
    early = (cum_detected[starts + first] - cum_detected[starts]) == first
    enough = n_det >= config.min_detected_fraction * length
    return starts, visible & enough & early


def _sample_groups(
    objects: NDArray[np.int64], config: Mot3TConfig, generator: torch.Generator | None
) -> list[tuple[int, ...]]:
    combos = list(itertools.combinations(objects.tolist(), config.n_objects))
    if len(combos) <= config.n_triplets:
        return combos
    pick = torch.randperm(len(combos), generator=generator)[: config.n_triplets]
    return [combos[i] for i in sorted(pick.tolist())]


def build_windows(
    tracks: SequenceTracks, length: int, config: Mot3TConfig, *, generator: torch.Generator | None = None
) -> tuple[dict[str, NDArray], int]:
    """Samples of one sequence for windows of ``length`` frames, and the number of windows used."""
    starts, eligible = _eligible(tracks, length, config.stride_for(length), config)
    groups: list[tuple[int, ...]] = []
    group_start: list[int] = []
    n_windows = 0
    for w, s in enumerate(starts):  # a few dozen windows per sequence
        objects = np.flatnonzero(eligible[w])
        chosen = _sample_groups(objects, config, generator) if len(objects) >= config.n_objects else []
        n_windows += bool(chosen)
        groups.extend(chosen)
        group_start.extend([int(s)] * len(chosen))
    n_obj = config.n_objects
    if not groups:
        return _empty(length, n_obj), 0
    g = np.asarray(groups, dtype=np.int64)  # (sample, object)
    t = np.asarray(group_start)[:, None] + np.arange(length)[None, :]  # (sample, time)
    tt, gg = t[:, :, None], g[:, None, :]
    detected = tracks.detected[tt, gg]  # (sample, time, object)
    order = np.where(detected, tracks.det_order[tt, gg], np.iinfo(np.int64).max)
    # slot[s, t, j]: position in the triplet of the sample's j-th detection at t;
    # detected objects first, in det.txt order.
    slot = np.argsort(order, axis=-1, kind="stable")
    obs_mask = np.take_along_axis(detected, slot, axis=-1)
    obj_of_slot = np.take_along_axis(np.broadcast_to(gg, slot.shape), slot, axis=-1)
    obs = np.where(obs_mask[..., None], tracks.det_boxes[tt, obj_of_slot], 0.0)
    n = len(g)
    return {
        "obs": obs,
        "obs_mask": obs_mask,
        "obs_object": np.where(obs_mask, slot, -1),
        "gt_boxes": tracks.gt_boxes[tt, gg],
        "gt_mask": tracks.present[tt, gg],
        "gt_ids": tracks.ids[g],
        "sequence": np.full(n, tracks.name),
        "start_frame": np.asarray(group_start, dtype=np.int64) + 1,
        "image_size": np.tile(np.array([tracks.width, tracks.height], dtype=np.int64), (n, 1)),
    }, n_windows


def _empty(length: int, n_obj: int) -> dict[str, NDArray]:
    return {
        "obs": np.zeros((0, length, n_obj, 4)), "obs_mask": np.zeros((0, length, n_obj), bool),
        "obs_object": np.zeros((0, length, n_obj), np.int64), "gt_boxes": np.zeros((0, length, n_obj, 4)),
        "gt_mask": np.zeros((0, length, n_obj), bool), "gt_ids": np.zeros((0, n_obj), np.int64),
        "sequence": np.zeros(0, dtype="<U1"), "start_frame": np.zeros(0, np.int64),
        "image_size": np.zeros((0, 2), np.int64),
    }


# --------------------------------------------------------------------------- data sets


def _sequence_dirs(root: Path, detector: str | None, sequences: Sequence[str] | None) -> list[Path]:
    if (root / "seqinfo.ini").is_file():
        dirs = [root]
    else:
        dirs = sorted(d for d in root.iterdir() if (d / "seqinfo.ini").is_file()) if root.is_dir() else []
    if sequences is not None:
        dirs = [d for d in dirs if d.name in set(sequences)]
    if detector is not None:
        dirs = [d for d in dirs if d.name.endswith(f"-{detector}")]
    if not dirs:
        raise InputError(
            f"{root}: expected sequence folders with seqinfo.ini, gt/gt.txt and det/det.txt"
            + (f" named *-{detector}" if detector else "")
        )
    return dirs


def build_mot3t(
    root: str | os.PathLike[str],
    *,
    config: Mot3TConfig | None = None,
    detector: str | None = None,
    sequences: Sequence[str] | None = None,
    det_file: str = "det/det.txt",
    generator: torch.Generator | None = None,
) -> dict[int, Mot3TDataset]:
    """Build one MOT-3T data set per window length from a MOTChallenge training folder.

    Parameters
    ----------
    root
        A folder of sequence folders (MOT17 ``train/``), or one sequence folder.
    detector
        Keep only folders named ``*-<detector>`` (the paper: ``"SDP"``); ``None``: all.
    sequences
        Keep only these folder names.
    det_file
        The detections inside each sequence folder.
    generator
        Draws the triplets.
    """
    config = config or Mot3TConfig()
    dirs = _sequence_dirs(Path(root), detector, sequences)
    matched = [
        match_sequence(read_sequence(d, detections=det_file, require=("detections", "ground_truth")), config)
        for d in dirs
    ]
    out: dict[int, Mot3TDataset] = {}
    for length in config.lengths:
        parts, windows = [], 0
        for tracks in matched:
            arrays, n = build_windows(tracks, length, config, generator=generator)
            parts.append(arrays)
            windows += n
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        out[length] = Mot3TDataset(
            length=length, n_windows=windows, config=json.dumps(attrs.asdict(config), default=str), **merged
        )
    return out


def write_mot3t(dataset: Mot3TDataset, path: str | os.PathLike[str]) -> Path:
    """Write a data set to one compressed ``.npz`` atomically (no pickled objects)."""
    fields = attrs.asdict(dataset, recurse=False)
    fields = {k: np.asarray(v) for k, v in fields.items()}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **fields)
    return Path(path)


def load_mot3t(path: str | os.PathLike[str]) -> Mot3TDataset:
    """Read a data set written by :func:`write_mot3t`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: MOT-3T file not found")
    try:
        with np.load(p, allow_pickle=False) as data:
            fields = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: not a MOT-3T .npz file: {exc}") from exc
    names = {f.name for f in attrs.fields(Mot3TDataset)}
    if set(fields) != names:
        raise InputError(f"{p}: expected arrays {sorted(names)}, got {sorted(fields)}")
    for key in ("length", "n_windows"):
        fields[key] = int(fields[key])
    fields["config"] = str(fields["config"])
    return Mot3TDataset(**fields)
