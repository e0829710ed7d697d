"""A sequence folder as it would be at another image resolution (for scale checks).

:func:`resample_sequence` copies a MOTChallenge sequence folder, multiplying the image
size in ``seqinfo.ini`` and every box of every ``det/*.txt`` and ``gt/gt.txt`` by the same
factor (pixel ``x ↦ (x - 1)·s + 1`` for the 1-based corner, sizes ``↦ s·size``). Other
columns are kept as they are. A tracker whose inputs are normalised by the image size must
give the same tracks (in normalised units) on the copy.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

import numpy as np

from mixseq.errors import InputError
from mixseq.fileio import atomic_path, write_text_atomic
from mixseq_mot.io import read_seqinfo

__all__ = ["resample_sequence"]


def _scale_rows(source: Path, target: Path, sx: float, sy: float) -> None:
    text = source.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.strip()]
    if not rows:
        raise InputError(f"{source}: empty file")
    table = np.loadtxt(rows, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    table[:, 2] = (table[:, 2] - 1.0) * sx + 1.0
    table[:, 3] = (table[:, 3] - 1.0) * sy + 1.0
    table[:, 4] *= sx
    table[:, 5] *= sy
    fmt = ["%d", "%d"] + ["%.10g"] * (table.shape[1] - 2)
    with atomic_path(target) as tmp:
        np.savetxt(tmp, table, fmt=fmt, delimiter=",")


def resample_sequence(
    folder: str | os.PathLike[str], output: str | os.PathLike[str], scale: float | tuple[float, float]
) -> Path:
    """Write ``folder`` resampled by ``scale`` (one factor, or ``(x, y)``) to ``output``; returns it.

    Copies ``seqinfo.ini`` (``imWidth``/``imHeight`` scaled and rounded; the factor actually
    applied to the boxes is the rounded size over the original), ``gt/gt.txt`` and every
    ``det/*.txt``.
    """
    src, dst = Path(folder), Path(output)
    sx, sy = (scale, scale) if isinstance(scale, (int, float)) else scale
    if not (sx > 0 and sy > 0):
        raise InputError(f"scale: expected positive factors, got {scale!r}")
    info = read_seqinfo(src)
    width, height = round(info.width * sx), round(info.height * sy)
    sx, sy = width / info.width, height / info.height  # exactly what the image size says
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep MOTChallenge's key case
    parser.read(src / "seqinfo.ini", encoding="utf-8")
    section = parser["Sequence"]
    for key in list(section):
        if key.lower() == "imwidth":
            section[key] = str(width)
        elif key.lower() == "imheight":
            section[key] = str(height)
    lines = ["[Sequence]"] + [f"{k}={v}" for k, v in section.items()]
    write_text_atomic(dst / "seqinfo.ini", "\n".join(lines) + "\n")
    files = sorted((src / "det").glob("*.txt")) + ([src / "gt" / "gt.txt"] if (src / "gt" / "gt.txt").is_file() else [])
    for file in files:
        _scale_rows(file, dst / file.relative_to(src), sx, sy)
    return dst
