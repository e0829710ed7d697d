"""The same sequence at another image resolution gives the same tracks.

Boxes are normalised by the image size, the box noise is proportional to the box, the linker
and the evaluation use IoU, and the shipped dynamics read boxes relative to the first box
(``first_box``). Resampling a sequence (detections, ground truth and ``seqinfo.ini`` scaled
together) must therefore change nothing. The shipped SRNN is used when it is installed,
VKF otherwise.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest
import torch

from mixseq_mot import (
    Mot3TConfig,
    build_mot3t,
    evaluate_arrays,
    get_preset,
    make_tracker,
    read_mot_file,
    read_sequence,
)
from mixseq_mot.boxes import ltwh_to_normalized_xyxy
from mixseq_mot.resample import resample_sequence

from .test_track_inputs import FAST


def _shipped_srnn() -> bool:
    try:
        from mixseq_dvae.checkpoint import pretrained_names
    except ImportError:
        return False
    return "srnn-mot" in pretrained_names()


DYNAMICS = "srnn" if _shipped_srnn() else "vkf"


@pytest.mark.skipif(not _shipped_srnn(), reason="the shipped srnn-mot checkpoint is not installed")
def test_the_shipped_dynamics_read_boxes_relative_to_the_first_box() -> None:
    from mixseq_dvae.checkpoint import load_pretrained

    assert load_pretrained("srnn-mot").config.normalization == "first_box"


def test_resample_sequence_scales_boxes_and_image(tmp_path, write_sequence, make_objects) -> None:
    boxes = make_objects(5, 2)
    rows = [[t + 1, n + 1, *boxes[t, n], 1, 1, 0.5] for t in range(5) for n in range(2)]
    folder = write_sequence("S", rows, [[r[0], -1, *r[2:6], 0.8] for r in rows], length=5)
    double = read_sequence(resample_sequence(folder, tmp_path / "x2" / "S", 2.0))
    original = read_sequence(folder)
    assert (double.info.width, double.info.height, double.info.length) == (1280, 960, 5)
    for a, b in ((original.ground_truth, double.ground_truth), (original.detections, double.detections)):
        assert a is not None and b is not None
        np.testing.assert_allclose(ltwh_to_normalized_xyxy(b.ltwh, 1280, 960),
                                   ltwh_to_normalized_xyxy(a.ltwh, 640, 480), atol=1e-12)
        np.testing.assert_array_equal(a.visibility, b.visibility)
        np.testing.assert_array_equal(a.score, b.score)


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_track_command_is_resolution_free(tmp_path, write_sequence, make_objects, factor) -> None:
    from mixseq.cli import main

    boxes = make_objects(16, 3)
    gt = [[t + 1, n + 1, *boxes[t, n], 1, 1, 1.0] for t in range(16) for n in range(3)]
    det = [[t + 1, -1, *(boxes[t, n] + (t % 3) - 1), 0.9] for t in range(16) for n in range(3) if (t * 3 + n) % 7]
    folder = write_sequence("S", gt, det, length=16)
    scaled = resample_sequence(folder, tmp_path / "scaled" / "S", factor)
    engine = ["--dynamics", DYNAMICS, *FAST[2:]]
    assert main(["track", str(folder), "--output-dir", str(tmp_path / "a"), "--n-sources", "3", *engine]) == 0
    assert main(["track", str(scaled), "--output-dir", str(tmp_path / "b"), "--n-sources", "3", *engine]) == 0
    a, b = read_mot_file(tmp_path / "a" / "S.txt"), read_mot_file(tmp_path / "b" / "S.txt")
    np.testing.assert_array_equal(a.track_id, b.track_id)
    w, h = 640 * factor, 480 * factor
    np.testing.assert_allclose(ltwh_to_normalized_xyxy(b.ltwh, w, h), ltwh_to_normalized_xyxy(a.ltwh, 640, 480),
                               atol=1e-7)  # the files hold 10 significant digits


def _windows(root: Path) -> tuple:
    config = Mot3TConfig(lengths=(60,), stride=40)
    data = build_mot3t(root, config=config, det_file="det/det-frcnn.txt", sequences=["TUD-Stadtmitte"],
                       generator=torch.Generator().manual_seed(0))[60]
    obs, mask = data.tensors(torch.float64)
    return data, obs, mask


def test_mot15_windows_are_resolution_free(tmp_path, shared_data) -> None:
    """Real detections: TUD-Stadtmitte resampled to 1280×960 and 320×240, default preset."""
    torch.set_num_threads(1)
    source = shared_data / "mot15" / "TUD-Stadtmitte"
    preset = attrs.evolve(get_preset("default"), starts=("first-frame", "link"))  # two starts: faster
    tracker = make_tracker(preset, dynamics=DYNAMICS, max_iterations=6)
    results = {}
    for factor in (1.0, 2.0, 0.5):
        folder = resample_sequence(source, tmp_path / f"x{factor}" / "TUD-Stadtmitte", factor)
        data, obs, mask = _windows(folder.parent)
        assert data.image_size[0].tolist() == [640 * factor, 480 * factor] and len(data) >= 2
        result = tracker.track(obs, mask, n_sources=3, generator=0)
        scores = evaluate_arrays(data.gt_boxes, result.boxes.numpy(), gt_mask=data.gt_mask, gt_ids=data.gt_ids,
                                 hota=False).overall
        results[factor] = (data, result.boxes.numpy(), scores)
    reference = results[1.0]
    for factor in (2.0, 0.5):
        data, boxes, scores = results[factor]
        np.testing.assert_allclose(data.obs, reference[0].obs, atol=1e-12)
        np.testing.assert_allclose(boxes, reference[1], atol=1e-9)
        assert scores == pytest.approx(reference[2], rel=1e-9)
