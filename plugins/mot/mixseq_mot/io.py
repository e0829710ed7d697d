"""Reading and writing MOTChallenge files, and padding boxes into tensors.

A MOTChallenge text file has one box per line::

    frame, id, left, top, width, height[, score/flag[, class[, visibility]]]    (MOT16/17)
    frame, id, left, top, width, height[, score[, x, y, z]]                     (MOT15)

Frames are 1-based, boxes in pixels with a 1-based top-left corner. Detections have
``id = -1``. The seventh column is a confidence for detections and a "considered" flag
(0 = ignore) for ground truth. A file with exactly nine columns (or eight) is read as the
MOT16/17 layout, with a class and a visibility column; ten columns as the MOT15 layout,
whose last three (world coordinates) are ignored. Pass ``layout=`` to override.

Rows are returned sorted by frame, then by id; rows with equal frame and id keep their
order in the file. A file whose frames are out of order is therefore accepted.
"""

from __future__ import annotations

import configparser
import math
import os
import warnings
from pathlib import Path
from typing import Literal

import attrs
import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from mixseq.errors import InputError, InputWarning
from mixseq.fileio import atomic_path
from mixseq_mot.boxes import ltwh_to_normalized_xyxy, normalized_xyxy_to_ltwh

__all__ = [
    "BoxBatch",
    "MotRecords",
    "MotSequence",
    "PaddedBoxes",
    "SequenceInfo",
    "batch_sequences",
    "read_mot_file",
    "read_seqinfo",
    "read_sequence",
    "to_padded",
    "write_mot_file",
    "write_tracks",
]

Layout = Literal["auto", "mot16", "mot15"]
_COLUMN_NAMES = ("frame", "id", "left", "top", "width", "height", "score", "class", "visibility", "z")


@attrs.frozen(kw_only=True)
class SequenceInfo:
    """The ``[Sequence]`` section of a ``seqinfo.ini``."""

    name: str
    width: int = attrs.field(validator=attrs.validators.gt(0))
    height: int = attrs.field(validator=attrs.validators.gt(0))
    length: int | None = None
    frame_rate: float | None = None


@attrs.frozen(kw_only=True, eq=False)
class MotRecords:
    """The rows of one MOTChallenge file, sorted by frame then id.

    ``frame``, ``track_id``, ``cls``: int64, shape ``(rows,)``. ``ltwh``: float64 pixels,
    shape ``(rows, 4)``. ``score``: the seventh column (1.0 where the file has none),
    shape ``(rows,)``. ``cls``: -1 where the file has no class column. ``visibility``:
    1.0 where the file has no visibility column. ``line``: the 1-based line of each row
    in its file (0 for rows not read from a file).
    """

    frame: NDArray[np.int64]
    track_id: NDArray[np.int64]
    ltwh: NDArray[np.float64]
    score: NDArray[np.float64]
    cls: NDArray[np.int64]
    visibility: NDArray[np.float64]
    line: NDArray[np.int64]
    has_class: bool = False
    source: str = ""

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    def select(self, keep: NDArray[np.bool_]) -> MotRecords:
        """The rows where ``keep`` is true. ``keep``: shape ``(rows,)``."""
        return attrs.evolve(
            self,
            frame=self.frame[keep],
            track_id=self.track_id[keep],
            ltwh=self.ltwh[keep],
            score=self.score[keep],
            cls=self.cls[keep],
            visibility=self.visibility[keep],
            line=self.line[keep],
        )

    @classmethod
    def from_arrays(
        cls,
        frame: NDArray[np.integer],
        track_id: NDArray[np.integer],
        ltwh: NDArray[np.floating],
        score: NDArray[np.floating] | None = None,
    ) -> MotRecords:
        """Records from in-memory arrays (sorted on the way). Shapes ``(rows,)`` and ``(rows, 4)``."""
        n = len(frame)
        return _sorted_records(
            frame=np.asarray(frame, dtype=np.int64),
            track_id=np.asarray(track_id, dtype=np.int64),
            ltwh=np.asarray(ltwh, dtype=np.float64).reshape(n, 4),
            score=np.ones(n) if score is None else np.asarray(score, dtype=np.float64),
            cls=np.full(n, -1, dtype=np.int64),
            visibility=np.ones(n),
            line=np.zeros(n, dtype=np.int64),
            has_class=False,
            source="<arrays>",
        )


@attrs.frozen(kw_only=True, eq=False)
class MotSequence:
    """One sequence folder: its ``seqinfo.ini`` and, where present, detections and ground truth."""

    path: Path
    info: SequenceInfo
    detections: MotRecords | None
    ground_truth: MotRecords | None

    @property
    def n_frames(self) -> int:
        """``seqLength``, or the last frame that any file mentions."""
        if self.info.length is not None:
            return self.info.length
        last = [int(r.frame.max()) for r in (self.detections, self.ground_truth) if r is not None and len(r)]
        return max(last, default=0)


@attrs.frozen(kw_only=True, eq=False)
class PaddedBoxes:
    """One sequence's boxes, padded per frame (numpy).

    ``obs``: normalised ``xyxy``, shape ``(time, obs, 4)``, zero where padded.
    ``obs_mask``: shape ``(time, obs)``. ``ids``: track ids, shape ``(time, obs)``, -1 where
    padded. ``scores``: shape ``(time, obs)``. ``first_frame``: the frame number of ``time = 0``.
    """

    obs: NDArray[np.float64]
    obs_mask: NDArray[np.bool_]
    ids: NDArray[np.int64]
    scores: NDArray[np.float64]
    first_frame: int = 1
    width: int = 1
    height: int = 1
    name: str = ""


@attrs.frozen(kw_only=True, eq=False)
class BoxBatch:
    """Several sequences padded to one tensor.

    ``obs``: shape ``(batch, time, obs, 4)``; ``obs_mask``: ``(batch, time, obs)``;
    ``time_mask``: ``(batch, time)``, false after a sequence's end; ``ids``:
    ``(batch, time, obs)``; ``image_size``: ``(batch, 2)`` as (width, height).
    """

    obs: Tensor
    obs_mask: Tensor
    time_mask: Tensor
    ids: Tensor
    image_size: Tensor
    names: tuple[str, ...]
    first_frames: tuple[int, ...]


# --------------------------------------------------------------------------- reading


def read_seqinfo(path: str | os.PathLike[str]) -> SequenceInfo:
    """Read a ``seqinfo.ini`` (or the one inside the sequence folder ``path``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "seqinfo.ini"
    if not p.is_file():
        raise InputError(f"{p}: seqinfo.ini not found (needed for the image size imWidth/imHeight)")
    parser = configparser.ConfigParser()
    try:
        parser.read(p, encoding="utf-8")
    except configparser.Error as exc:
        raise InputError(f"{p}: not a valid ini file: {exc}") from exc
    if not parser.has_section("Sequence"):
        raise InputError(f"{p}: expected a [Sequence] section, found {parser.sections()}")
    sec = parser["Sequence"]

    def _number(key: str, kind: type, required: bool) -> float | int | None:
        if key not in sec:
            if required:
                raise InputError(f"{p}: expected key {key!r} in [Sequence], found {list(sec)}")
            return None
        try:
            value = kind(float(sec[key])) if kind is int else kind(sec[key])
        except ValueError:
            raise InputError(f"{p}: {key} must be a number, got {sec[key]!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise InputError(f"{p}: {key} must be positive, got {sec[key]!r}")
        return value

    width = _number("imwidth", int, True)
    height = _number("imheight", int, True)
    length = _number("seqlength", int, False)
    rate = _number("framerate", float, False)
    return SequenceInfo(
        name=sec.get("name", p.parent.name),
        width=int(width),  # type: ignore[arg-type]
        height=int(height),  # type: ignore[arg-type]
        length=None if length is None else int(length),
        frame_rate=None if rate is None else float(rate),
    )


def read_mot_file(path: str | os.PathLike[str], *, layout: Layout = "auto") -> MotRecords:
    """Read and validate a MOTChallenge ``det.txt``, ``gt.txt`` or tracker output.

    Parameters
    ----------
    path
        The text file.
    layout
        ``"auto"`` (by the number of columns, see the module docstring), ``"mot16"``
        (columns 8-9 are class and visibility) or ``"mot15"`` (columns 8-10 ignored).

    Raises
    ------
    mixseq.errors.InputError
        Naming the file, the line and what was expected: missing or empty file, a row that
        does not have 6-10 numeric fields or has a different number of fields than the
        first, NaN or infinite values, non-integer or non-positive frame, non-integer id,
        zero or negative width or height.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    text = p.read_text(encoding="utf-8", errors="replace")
    lines = np.array(text.splitlines(), dtype=str)
    nonblank = np.char.str_len(np.char.strip(lines)) > 0 if lines.size else np.zeros(0, dtype=bool)
    line_no = np.flatnonzero(nonblank).astype(np.int64) + 1
    content: list[str] = lines[nonblank].tolist()
    if not content:
        raise InputError(f"{p}: empty file, expected rows 'frame,id,left,top,width,height,...'")
    try:
        table = np.loadtxt(content, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        _raise_parse_error(p, content, line_no)
        raise  # pragma: no cover - _raise_parse_error always raises
    n_cols = table.shape[1]
    if not 6 <= n_cols <= 10:
        raise InputError(
            f"{p}: line {line_no[0]}: expected 6 to 10 comma-separated fields "
            f"({', '.join(_COLUMN_NAMES[:6])}, ...), got {n_cols}: {content[0]!r}"
        )
    if layout == "auto":
        layout = "mot16" if n_cols in (8, 9) else "mot15"
    if layout not in ("mot16", "mot15"):
        raise InputError(f"layout: expected 'auto', 'mot16' or 'mot15', got {layout!r}")
    used = min(n_cols, 9 if layout == "mot16" else 7)
    _validate_table(p, table[:, :used], line_no, content)

    n = table.shape[0]
    has_class = layout == "mot16" and n_cols >= 8
    return _sorted_records(
        frame=table[:, 0].astype(np.int64),
        track_id=table[:, 1].astype(np.int64),
        ltwh=table[:, 2:6].copy(),
        score=table[:, 6].copy() if n_cols >= 7 else np.ones(n),
        cls=table[:, 7].astype(np.int64) if has_class else np.full(n, -1, dtype=np.int64),
        visibility=table[:, 8].copy() if layout == "mot16" and n_cols >= 9 else np.ones(n),
        line=line_no,
        has_class=has_class,
        source=str(p),
    )


def _raise_parse_error(p: Path, content: list[str], line_no: NDArray[np.int64]) -> None:
    """Find the first malformed line (slow path, only taken on error) and raise."""
    expected: int | None = None
    for text, no in zip(content, line_no, strict=True):
        fields = text.split(",")
        if not 6 <= len(fields) <= 10:
            raise InputError(
                f"{p}: line {no}: expected 6 to 10 comma-separated fields "
                f"(frame,id,left,top,width,height,...), got {len(fields)}: {text!r}"
            )
        if expected is None:
            expected = len(fields)
        elif len(fields) != expected:
            raise InputError(
                f"{p}: line {no}: expected {expected} fields like the first row, "
                f"got {len(fields)}: {text!r}"
            )
        for col, field in enumerate(fields):
            try:
                float(field)
            except ValueError:
                name = _COLUMN_NAMES[col]
                raise InputError(
                    f"{p}: line {no}: field {col + 1} ({name}) must be a number, got {field.strip()!r}"
                ) from None
    raise InputError(f"{p}: could not parse the file as comma-separated numbers")


def _validate_table(
    p: Path, table: NDArray[np.float64], line_no: NDArray[np.int64], content: list[str]
) -> None:
    """Raise on the first row that breaks a rule; all checks are vectorised."""

    def fail(bad: NDArray[np.bool_], what: str) -> None:
        rows = np.flatnonzero(bad.any(axis=1) if bad.ndim == 2 else bad)
        if rows.size:
            r = int(rows[0])
            raise InputError(f"{p}: line {line_no[r]}: {what}, got {content[r]!r}")

    finite = np.isfinite(table)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        raise InputError(
            f"{p}: line {line_no[r]}: field {c + 1} ({_COLUMN_NAMES[c]}) must be a finite number, "
            f"got {content[r]!r}"
        )
    frame, ident = table[:, 0], table[:, 1]
    fail(frame != np.round(frame), "frame (field 1) must be an integer")
    fail(frame < 1, "frame (field 1) must be >= 1 (MOTChallenge frames are 1-based)")
    fail(ident != np.round(ident), "id (field 2) must be an integer")
    fail(table[:, 4] <= 0, "box width (field 5) must be > 0")
    fail(table[:, 5] <= 0, "box height (field 6) must be > 0")
    if table.shape[1] >= 8:
        cls = table[:, 7]
        fail(cls != np.round(cls), "class (field 8) must be an integer")


def _sorted_records(**fields: object) -> MotRecords:
    frame = fields["frame"]
    track_id = fields["track_id"]
    order = np.lexsort((track_id, frame))  # type: ignore[arg-type]
    arrays = {k: (v[order] if isinstance(v, np.ndarray) else v) for k, v in fields.items()}
    return MotRecords(**arrays)  # type: ignore[arg-type]


def read_sequence(
    path: str | os.PathLike[str],
    *,
    detections: str | None = "det/det.txt",
    ground_truth: str | None = "gt/gt.txt",
    require: tuple[str, ...] = (),
    layout: Layout = "auto",
) -> MotSequence:
    """Read a sequence folder in MOTChallenge layout.

    ``detections`` / ``ground_truth``: paths relative to the folder (``None``: skip);
    a missing file is skipped unless its kind (``"detections"``, ``"ground_truth"``) is in
    ``require``. ``seqinfo.ini`` is always required: it gives the image size.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{root}: expected a sequence folder (with seqinfo.ini), not found")
    info = read_seqinfo(root)
    loaded: dict[str, MotRecords | None] = {}
    for kind, rel in (("detections", detections), ("ground_truth", ground_truth)):
        file = None if rel is None else root / rel
        if file is not None and file.is_file():
            loaded[kind] = read_mot_file(file, layout=layout)
        elif kind in require:
            raise InputError(f"{root}: expected {kind} file {rel!r}, not found")
        else:
            loaded[kind] = None
    return MotSequence(path=root, info=info, **loaded)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- padding


def to_padded(
    records: MotRecords,
    *,
    width: float,
    height: float,
    n_frames: int | None = None,
    first_frame: int = 1,
    n_obs: int | None = None,
    name: str = "",
) -> PaddedBoxes:
    """Pad one sequence's boxes per frame: ``time = frame - first_frame``.

    ``n_frames`` defaults to the last frame present; rows outside
    ``[first_frame, first_frame + n_frames)`` are dropped. ``n_obs`` defaults to the
    largest number of boxes in a frame; a frame with more raises :class:`InputError`.
    Boxes keep their file order within a frame (sorted by id).
    """
    frame = records.frame
    if n_frames is None:
        n_frames = int(frame.max()) - first_frame + 1 if len(records) else 0
    keep = (frame >= first_frame) & (frame < first_frame + n_frames)
    rec = records.select(keep) if not keep.all() else records
    t = rec.frame - first_frame
    # Slot of each row within its frame: rows are sorted by frame, so it is the row's
    # index minus the index of its frame's first row.
    starts = np.searchsorted(t, t, side="left")
    slot = np.arange(len(rec)) - starts
    counts = np.bincount(t, minlength=n_frames) if len(rec) else np.zeros(n_frames, dtype=np.int64)
    most = int(counts.max()) if n_frames else 0
    if n_obs is None:
        n_obs = most
    elif most > n_obs:
        raise InputError(f"{records.source}: a frame has {most} boxes, more than n_obs={n_obs}")
    obs = np.zeros((n_frames, n_obs, 4))
    mask = np.zeros((n_frames, n_obs), dtype=bool)
    ids = np.full((n_frames, n_obs), -1, dtype=np.int64)
    scores = np.zeros((n_frames, n_obs))
    obs[t, slot] = ltwh_to_normalized_xyxy(rec.ltwh, width, height)
    mask[t, slot] = True
    ids[t, slot] = rec.track_id
    scores[t, slot] = rec.score
    return PaddedBoxes(
        obs=obs, obs_mask=mask, ids=ids, scores=scores, first_frame=first_frame,
        width=int(width), height=int(height), name=name,
    )


def batch_sequences(
    sequences: list[PaddedBoxes], *, dtype: torch.dtype = torch.float32
) -> BoxBatch:
    """Stack padded sequences of different lengths and box counts into one batch."""
    if not sequences:
        raise InputError("batch_sequences: expected at least one sequence, got none")
    n_batch = len(sequences)
    n_steps = max(s.obs.shape[0] for s in sequences)
    n_obs = max(s.obs.shape[1] for s in sequences)
    obs = np.zeros((n_batch, n_steps, n_obs, 4))
    mask = np.zeros((n_batch, n_steps, n_obs), dtype=bool)
    time_mask = np.zeros((n_batch, n_steps), dtype=bool)
    ids = np.full((n_batch, n_steps, n_obs), -1, dtype=np.int64)
    for b, s in enumerate(sequences):  # one copy per sequence, not per row
        t, k = s.obs_mask.shape
        obs[b, :t, :k] = s.obs
        mask[b, :t, :k] = s.obs_mask
        ids[b, :t, :k] = s.ids
        time_mask[b, :t] = True
    return BoxBatch(
        obs=torch.as_tensor(obs, dtype=dtype),
        obs_mask=torch.as_tensor(mask),
        time_mask=torch.as_tensor(time_mask),
        ids=torch.as_tensor(ids),
        image_size=torch.tensor([[s.width, s.height] for s in sequences], dtype=torch.int64),
        names=tuple(s.name for s in sequences),
        first_frames=tuple(s.first_frame for s in sequences),
    )


# --------------------------------------------------------------------------- writing


def write_mot_file(path: str | os.PathLike[str], records: MotRecords) -> Path:
    """Write rows ``frame,id,left,top,width,height,score,-1,-1,-1`` atomically."""
    table = np.column_stack(
        [records.frame, records.track_id, records.ltwh, records.score]
    ) if len(records) else np.zeros((0, 7))
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            # savetxt ends every row with ``newline``: that appends the three unused columns.
            np.savetxt(fh, table, fmt=["%d", "%d", "%.10g", "%.10g", "%.10g", "%.10g", "%.10g"],
                       delimiter=",", newline=",-1,-1,-1\n")
    return Path(path)


def write_tracks(
    path: str | os.PathLike[str],
    boxes: NDArray[np.floating] | Tensor,
    *,
    width: float,
    height: float,
    mask: NDArray[np.bool_] | Tensor | None = None,
    track_ids: NDArray[np.integer] | None = None,
    scores: NDArray[np.floating] | Tensor | None = None,
    first_frame: int = 1,
) -> Path:
    """Write a tracker's output in MOTChallenge format, atomically.

    Parameters
    ----------
    boxes
        Normalised ``xyxy`` track boxes, shape ``(time, source, 4)`` (e.g. the posterior
        means ``m_tn`` of one sequence).
    width, height
        The image size in pixels.
    mask
        Where a track has a box, shape ``(time, source)``; default everywhere.
    track_ids
        Id of each source, shape ``(source,)``; default ``1..N``.
    scores
        Confidence per box, shape ``(time, source)``; default 1.
    first_frame
        Frame number of ``time = 0``.

    A box whose width or height is not positive (a lost source can invert its corners) is
    not a box: it is left out of the file, with an :class:`~mixseq.errors.InputWarning`.
    """
    b = _numpy(boxes).astype(np.float64)
    if b.ndim != 3 or b.shape[-1] != 4:
        raise InputError(f"boxes: expected dims (time, source, 4), got {b.shape}")
    n_steps, n_sources, _ = b.shape
    m = np.ones((n_steps, n_sources), dtype=bool) if mask is None else _numpy(mask).astype(bool)
    ids = np.arange(1, n_sources + 1) if track_ids is None else np.asarray(track_ids)
    sc = np.ones((n_steps, n_sources)) if scores is None else _numpy(scores).astype(np.float64)
    if m.shape != (n_steps, n_sources) or sc.shape != m.shape or ids.shape != (n_sources,):
        raise InputError(
            f"write_tracks: mask/scores must have shape {(n_steps, n_sources)} and track_ids "
            f"{(n_sources,)}, got {m.shape}, {sc.shape}, {ids.shape}"
        )
    if not np.isfinite(b[m]).all():
        raise InputError("write_tracks: boxes contain NaN or infinite values where mask is true")
    degenerate = m & ((b[..., 2] <= b[..., 0]) | (b[..., 3] <= b[..., 1]))
    if degenerate.any():
        warnings.warn(
            f"write_tracks: left out {int(degenerate.sum())} boxes with non-positive width or height",
            InputWarning, stacklevel=2,
        )
        m = m & ~degenerate
    t, n = np.nonzero(m)
    records = MotRecords.from_arrays(
        frame=t + first_frame, track_id=ids[n], ltwh=normalized_xyxy_to_ltwh(b[t, n], width, height),
        score=sc[t, n],
    )
    return write_mot_file(path, records)


def _numpy(x: NDArray[np.generic] | Tensor) -> NDArray[np.generic]:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
