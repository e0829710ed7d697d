from __future__ import annotations

import numpy as np
import pytest
import torch

from mixseq.errors import InputError
from mixseq_mot.plotting import plot_tracks


def test_plot_tracks_writes_a_png(tmp_path):
    t = np.arange(30)[:, None]
    x = np.array([0.1, 0.5])[None] + 0.01 * t
    tracks = np.stack([x, 0.2 + 0 * x, x + 0.1, 0.6 + 0 * x], axis=-1)
    mask = np.ones((30, 2), dtype=bool)
    mask[10:15, 1] = False
    path = plot_tracks(tmp_path / "figs" / "tracks.png", torch.as_tensor(tracks), track_mask=mask,
                       detections=tracks + 0.005, detection_mask=mask, ground_truth=tracks, title="demo")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "no temporary file left"


def test_plot_tracks_checks_shapes(tmp_path):
    with pytest.raises(InputError, match="tracks"):
        plot_tracks(tmp_path / "x.png", np.zeros((3, 4)))
    with pytest.raises(InputError, match="detections"):
        plot_tracks(tmp_path / "x.png", np.zeros((3, 1, 4)), detections=np.zeros((2, 1, 4)))
    with pytest.raises(InputError, match="track_mask"):
        plot_tracks(tmp_path / "x.png", np.zeros((3, 1, 4)), track_mask=np.ones((3, 2)))
    assert not (tmp_path / "x.png").exists()
