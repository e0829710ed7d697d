"""The synthetic box trajectories of mixseq_mot.synthetic (used to pre-train box dynamics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

synthetic = pytest.importorskip("mixseq_mot.synthetic")


def test_trajectories_stay_inside_and_are_seeded() -> None:
    boxes = synthetic.synthetic_box_trajectories(300, generator=1)
    again = synthetic.synthetic_box_trajectories(300, generator=1)
    assert boxes.shape == (300, 60, 4) and boxes.dtype == torch.float32
    torch.testing.assert_close(boxes, again)
    assert bool((boxes >= 0).all()) and bool((boxes <= 1).all())
    width = boxes[..., 2] - boxes[..., 0]
    height = boxes[..., 3] - boxes[..., 1]
    assert bool((width > 0).all())
    ratio = (height / width)[:, 0]
    assert 4.5 < float(ratio.mean()) < 6.0  # r ~ N(5.26, 0.77²), shifted a little by rejection


def test_rejection_and_recipe_statistics() -> None:
    rng = np.random.default_rng(0)
    accepted = synthetic.sample_box_trajectories(4000, rng=rng)
    assert 0.3 < accepted.shape[0] / 4000 < 0.9
    # Height is proportional to width at every frame (one ratio per trajectory).
    w = accepted[..., 2] - accepted[..., 0]
    h = accepted[..., 3] - accepted[..., 1]
    np.testing.assert_allclose(h / w, (h / w)[:, :1].repeat(60, axis=1), rtol=2e-2)  # float32 corners
    # Some x trajectories are exactly static over the whole sequence (p = .15 per piece).
    static = (np.abs(np.diff(accepted[..., 0], axis=1)) < 1e-7).all(axis=1).mean()
    assert 0.03 < static < 0.3


def test_training_file(tmp_path: Path) -> None:
    description = synthetic.write_box_training_data(tmp_path / "d.pt", n_train=40, n_validation=10, seed=3)
    raw = torch.load(tmp_path / "d.pt", weights_only=True)
    assert raw["train"].shape == (40, 60, 4) and raw["validation"].shape == (10, 60, 4)
    assert raw["description"] == description and description["seed"] == 3
