"""Fixtures: small MOTChallenge sequences written to temporary folders (MOT17 layout)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest


def _shared_data() -> Path | None:
    here = Path(__file__).resolve()
    for candidate in (here.parents[3].parent / "shared" / "data", Path("/work/shared/data")):
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture
def shared_data() -> Path:
    """The real MOTChallenge data kept beside the repository (skip when absent)."""
    path = _shared_data()
    if path is None or not (path / "mot15").is_dir():
        pytest.skip("shared/data/mot15 is not available")
    return path


SequenceWriter = Callable[..., Path]


@pytest.fixture
def write_sequence(tmp_path: Path) -> SequenceWriter:
    """``write_sequence(name, gt_rows, det_rows, width=, height=, length=)`` → the folder.

    Rows are iterables of numbers written comma-separated; ``None`` skips that file.
    """

    def write(
        name: str,
        gt_rows: Iterable[Iterable[float]] | None,
        det_rows: Iterable[Iterable[float]] | None,
        *,
        width: int = 640,
        height: int = 480,
        length: int | None = None,
        root: Path | None = None,
    ) -> Path:
        folder = (root or tmp_path) / name
        (folder / "gt").mkdir(parents=True, exist_ok=True)
        (folder / "det").mkdir(parents=True, exist_ok=True)
        ini = f"[Sequence]\nname={name}\nimDir=img1\nframeRate=25\nimWidth={width}\nimHeight={height}\n"
        if length is not None:
            ini += f"seqLength={length}\n"
        (folder / "seqinfo.ini").write_text(ini)
        for rows, rel in ((gt_rows, "gt/gt.txt"), (det_rows, "det/det.txt")):
            if rows is not None:
                text = "".join(",".join(_fmt(v) for v in row) + "\n" for row in rows)
                (folder / rel).write_text(text)
        return folder

    return write


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6f}"


def linear_objects(n_frames: int, n_objects: int, *, seed: int = 0) -> np.ndarray:
    """Pixel ``ltwh`` boxes of objects walking in straight lines. Shape ``(time, object, 4)``."""
    rng = np.random.default_rng(seed)
    start = np.column_stack([
        60 + 120 * np.arange(n_objects), rng.uniform(100, 200, n_objects),
        rng.uniform(30, 50, n_objects), rng.uniform(90, 140, n_objects),
    ])
    velocity = np.column_stack([rng.uniform(-0.5, 0.5, n_objects), rng.uniform(-0.3, 0.3, n_objects),
                                np.zeros(n_objects), np.zeros(n_objects)])
    t = np.arange(n_frames)[:, None, None]
    return start[None] + t * velocity[None]


@pytest.fixture
def make_objects() -> Callable[..., np.ndarray]:
    """:func:`linear_objects` as a fixture (test modules cannot import conftest)."""
    return linear_objects
