"""Reading and checking the input of ``mixseq track``, with a clear message for every problem.

What is an error (:class:`~mixseq.errors.InputError`, nothing is written):

* a path that is neither a sequence folder nor a detection file; a missing detection file;
* no ``seqinfo.ini`` and no ``--image-size`` (boxes are normalised by the image size);
* a malformed detection row: fewer than 6 or more than 10 fields, a field that is not a
  number, NaN or infinity, a non-integer or non-positive frame, a zero or negative width
  or height (:func:`mixseq_mot.io.read_mot_file` names the file and the line);
* an empty detection file, or no detection left after ``--min-score``.

What is accepted, with an :class:`~mixseq.errors.InputWarning` where it may be a mistake:

* rows in any frame order (they are sorted by frame);
* rows after the sequence's last frame (``seqLength``) are dropped, with a warning;
* detections entirely outside the image (a wrong image size?), kept, with a warning;
* ``--n-sources`` larger than the largest number of detections in any frame: the extra
  sources are seeded on later tracks or a centred box (see
  :meth:`~mixseq_mot.observation.BoxObservationModel.initialize`) and will emit boxes
  that match nobody, with a warning;
* ``--image-size`` given and different from ``seqinfo.ini``: the command line wins, with a
  warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import attrs

from mixseq.errors import InputError, InputWarning
from mixseq_mot.io import MotRecords, PaddedBoxes, SequenceInfo, read_mot_file, read_seqinfo, to_padded

__all__ = ["TrackInput", "read_track_input"]


@attrs.frozen(kw_only=True, eq=False)
class TrackInput:
    """One checked input sequence: its name, image size, padded detections and any ground truth."""

    path: Path
    name: str
    width: int
    height: int
    padded: PaddedBoxes
    ground_truth: MotRecords | None


def _warn(message: str) -> None:
    warnings.warn(message, InputWarning, stacklevel=3)


def _image_info(folder: Path | None, name: str, image_size: tuple[int, int] | None) -> SequenceInfo:
    ini = None if folder is None else folder / "seqinfo.ini"
    if image_size is not None:
        width, height = (int(v) for v in image_size)
        if width <= 0 or height <= 0:
            raise InputError(f"--image-size: expected two positive integers WIDTH HEIGHT, got {width} {height}")
    if ini is not None and ini.is_file():
        info = read_seqinfo(ini)
        if image_size is not None and (info.width, info.height) != (width, height):
            _warn(f"{ini}: image size {info.width}x{info.height} differs from --image-size {width}x{height}; "
                  f"using --image-size")
            info = attrs.evolve(info, width=width, height=height)
        return info
    if image_size is None:
        where = f"{ini} not found" if ini is not None else "a bare detection file has no seqinfo.ini"
        raise InputError(f"{name}: {where}; the image size is needed to normalise the boxes: "
                         f"pass --image-size WIDTH HEIGHT")
    return SequenceInfo(name=name, width=width, height=height)


def read_track_input(
    path: str | Path,
    *,
    det_file: str = "det/det.txt",
    image_size: tuple[int, int] | None = None,
    min_score: float | None = None,
    n_sources: int | None = None,
) -> TrackInput:
    """Read one input of ``mixseq track``: a sequence folder, or a detection file.

    A folder holds ``seqinfo.ini`` (optional with ``image_size``), ``det_file`` and, for
    scoring, ``gt/gt.txt``. A file is read as the detections (its name is the folder's when
    it sits in ``<folder>/det/``); it needs ``image_size``. See the module docstring for
    what is checked.
    """
    p = Path(path)
    if p.is_dir():
        folder: Path | None = p
        det_path = p / det_file
        name = p.name
    elif p.is_file():
        folder = p.parent.parent if p.parent.name == "det" else None
        det_path = p
        name = folder.name if folder is not None else p.stem
    else:
        raise InputError(f"{p}: expected a sequence folder (seqinfo.ini, {det_file}) or a detection file, "
                         f"not found")
    info = _image_info(folder, name, image_size)
    if not det_path.is_file():
        raise InputError(f"{p}: expected the detection file {det_file!r}, not found (see --det-file)")
    detections = read_mot_file(det_path)
    if min_score is not None:
        detections = detections.select(detections.score >= min_score)
        if len(detections) == 0:
            raise InputError(f"{det_path}: no detection has a score >= --min-score {min_score}")
    n_frames = info.length if info.length is not None else int(detections.frame.max())
    late = detections.frame > n_frames
    if late.any():
        _warn(f"{det_path}: {int(late.sum())} detections after the last frame {n_frames} (seqLength) are ignored")
        detections = detections.select(~late)
        if len(detections) == 0:
            raise InputError(f"{det_path}: every detection lies after the last frame {n_frames}")
    padded = to_padded(detections, width=info.width, height=info.height, n_frames=n_frames, name=name)
    boxes = padded.obs[padded.obs_mask]
    outside = (boxes[:, 2] < 0) | (boxes[:, 0] > 1) | (boxes[:, 3] < 0) | (boxes[:, 1] > 1)
    if outside.any():
        _warn(f"{det_path}: {int(outside.sum())} of {len(boxes)} detections lie entirely outside the "
              f"{info.width}x{info.height} image; is the image size right?")
    most = int(padded.obs_mask.sum(axis=1).max())
    if n_sources is not None and n_sources > most:
        _warn(f"{det_path}: --n-sources {n_sources} but no frame has more than {most} detections; the extra "
              f"sources are seeded on later tracks or a centred box and may match nobody")
    ground_truth = None
    if folder is not None and (folder / "gt" / "gt.txt").is_file():
        ground_truth = read_mot_file(folder / "gt" / "gt.txt")
    return TrackInput(path=folder if folder is not None else p, name=name, width=info.width, height=info.height,
                      padded=padded, ground_truth=ground_truth)
